import { SILENT_LOGGER, type Logger } from '../ports/logger.js';
import type { JobDefinition } from './job-definition.js';

/**
 * Time for the scheduler: "now" and a sleep that a stop can cut short. Injected, so tests drive
 * the scheduler through days of firings without waiting on the wall clock.
 */
export interface SchedulerClock {
  now(): number;
  /** Resolves at `until` (epoch ms) or as soon as `signal` aborts, whichever comes first. */
  sleepUntil(until: number, signal: AbortSignal): Promise<void>;
}

/** The wall clock. Long sleeps are taken in slices, so a suspended machine catches up on waking. */
export const SYSTEM_SCHEDULER_CLOCK: SchedulerClock = {
  now: () => Date.now(),
  sleepUntil: (until, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const wait = Math.max(0, Math.min(until - Date.now(), 60_000));
      const timer = setTimeout(done, wait);
      signal.addEventListener('abort', done, { once: true });
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
    }),
};

/** How the scheduler runs one firing of a job; returns when the run has ended. */
export type FireJob = (def: JobDefinition, firedAt: number, signal: AbortSignal) => Promise<unknown>;

/** Options of {@link JobScheduler}. */
export interface JobSchedulerOptions {
  clock: SchedulerClock;
  fire: FireJob;
  /** The latest scheduled firing of a job that went through its range (`JobLedger.lastScheduledFire`). */
  lastFired: (job: string) => Promise<number | undefined>;
  logger?: Logger;
}

interface JobState {
  def: JobDefinition;
  nextFire: number;
  running: Promise<void> | null;
  /** A firing that came due while the previous run was still going (the latest one only). */
  pending: number | null;
}

/**
 * Fires jobs by their cron schedules, in their zones, in this process.
 *
 * - **Catch-up once.** At start, a job whose latest scheduled time has no scheduled run in the
 *   ledger that went through its range (the scheduler was down, or that run crashed or was
 *   stopped part-way) fires once for that time, resuming what was left; older
 *   missed times are not replayed one by one: the run's lookback covers what they left undone.
 *   The same holds while running: when several firings fall due at once (the machine slept),
 *   the job fires once, for the latest.
 * - **One instance per job.** A firing that falls due while the job's previous run is still
 *   going waits and runs right after it (coalesced with any later one). Different jobs run
 *   concurrently. Across processes, partition leases keep runs from interleaving.
 * - **Graceful stop.** `stop()` fires nothing more, aborts the running jobs' signals (they stop
 *   after the partition in flight) and `run()` resolves once they have ended.
 */
export class JobScheduler {
  private readonly states: JobState[];
  private readonly stopper = new AbortController();
  private readonly logger: Logger;
  /** Firings made so far, for tests and logs: job name and the scheduled time. */
  readonly fired: { job: string; firedAt: number; at: number }[] = [];

  constructor(
    defs: readonly JobDefinition[],
    private readonly options: JobSchedulerOptions,
  ) {
    this.logger = options.logger ?? SILENT_LOGGER;
    this.states = defs.map((def) => ({ def, nextFire: Number.POSITIVE_INFINITY, running: null, pending: null }));
  }

  /** True once stop() was called. */
  get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  /** Asks the scheduler to stop; `run()` resolves when the running jobs have ended. */
  stop(): void {
    if (!this.stopper.signal.aborted) {
      this.logger.info('jobs.scheduler_stopping', { running: this.states.filter((s) => s.running).map((s) => s.def.name) });
      this.stopper.abort();
    }
  }

  /** Runs until `stop()`. */
  async run(): Promise<void> {
    const { clock } = this.options;
    const start = clock.now();
    for (const s of this.states) {
      const due = s.def.schedule.prev(start);
      const last = await this.options.lastFired(s.def.name);
      if (due !== undefined && (last === undefined || last < due)) {
        this.logger.info('jobs.catch_up', { job: s.def.name, firedAt: new Date(due).toISOString(), lastFired: last === undefined ? null : new Date(last).toISOString() });
        this.trigger(s, due);
      }
      s.nextFire = s.def.schedule.next(start);
    }
    this.logger.info('jobs.scheduler_started', { jobs: this.states.map((s) => ({ job: s.def.name, next: new Date(s.nextFire).toISOString() })) });
    while (!this.stopped) {
      const wake = Math.min(...this.states.map((s) => s.nextFire));
      if (!Number.isFinite(wake)) break;
      await clock.sleepUntil(wake, this.stopper.signal);
      if (this.stopped) break;
      const now = clock.now();
      for (const s of this.states) {
        if (s.nextFire > now) continue;
        // the latest due time, so firings missed while asleep collapse into one
        this.trigger(s, s.def.schedule.prev(now) ?? s.nextFire);
        s.nextFire = s.def.schedule.next(now);
      }
    }
    await Promise.all(this.states.map((s) => s.running));
    this.logger.info('jobs.scheduler_stopped', {});
  }

  private trigger(s: JobState, firedAt: number): void {
    if (this.stopped) return;
    if (s.running) {
      s.pending = Math.max(s.pending ?? firedAt, firedAt);
      this.logger.warn('jobs.fire_deferred', { job: s.def.name, firedAt: new Date(firedAt).toISOString(), reason: 'the previous run is still going' });
      return;
    }
    this.fired.push({ job: s.def.name, firedAt, at: this.options.clock.now() });
    this.logger.info('jobs.fired', { job: s.def.name, firedAt: new Date(firedAt).toISOString() });
    s.running = (async () => {
      try {
        await this.options.fire(s.def, firedAt, this.stopper.signal);
      } catch (err) {
        this.logger.error('jobs.run_error', { job: s.def.name, firedAt: new Date(firedAt).toISOString(), error: err });
      }
    })().then(() => {
      s.running = null;
      const next = s.pending;
      s.pending = null;
      if (next !== null) this.trigger(s, next);
    });
  }
}
