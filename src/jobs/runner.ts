import { randomBytes } from 'node:crypto';
import { TesseraError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import { SILENT_LOGGER, type Logger } from '../ports/logger.js';
import type { OfflineStore } from '../ports/offline-store.js';
import type { OnlineStore } from '../ports/online-store.js';
import type { JobDefinition, JobTaskContext, TaskResult } from './job-definition.js';
import { LeaseLostError } from './job-errors.js';
import type { JobLedger, Lease, RunRecord, RunState, RunTrigger } from './ledger.js';
import type { Partition, TimeRange } from './partitions.js';

/** What happened to one partition in a run. */
export type PartitionOutcome =
  | { key: string; outcome: 'done'; attempt: number; rows: number | null; summary: string; ms: number }
  /** Already done by an earlier run (no `--force`). */
  | { key: string; outcome: 'skipped' }
  | { key: string; outcome: 'failed'; attempt: number; error: string; code?: string }
  /** Another live run holds the partition's lease. */
  | { key: string; outcome: 'busy'; holder: string; until: number }
  /** Its input is not complete yet (end + settle is in the future). */
  | { key: string; outcome: 'unsettled'; readyAt: number }
  /** Not started: the run was asked to stop. */
  | { key: string; outcome: 'interrupted' }
  /** The lease was taken over while the task ran; the partition is the new holder's. */
  | { key: string; outcome: 'lost' };

/** The result of {@link runJob}. */
export interface RunReport {
  job: string;
  runId: string;
  trigger: RunTrigger;
  firedAt: number;
  range: TimeRange;
  state: Exclude<RunState, 'running'>;
  startedAt: number;
  finishedAt: number;
  counts: { total: number; done: number; skipped: number; failed: number; pending: number };
  partitions: PartitionOutcome[];
}

/** Progress of a run, for progress bars and logs. */
export type RunEvent =
  | { type: 'planned'; job: string; runId: string; total: number; todo: number; skipped: number; unsettled: number }
  | { type: 'partition-started'; partition: Partition; index: number; attempt: number }
  | { type: 'partition-progress'; partition: Partition; index: number; done: number; total: number | undefined }
  | { type: 'partition-finished'; partition: Partition; index: number; outcome: PartitionOutcome };

/** Options of {@link runJob}. */
export interface RunJobOptions {
  ledger: JobLedger;
  /** `host:pid` of this process (see owner.ts). */
  owner: string;
  /** Epoch ms; drives settle checks, lease expiry and ledger times. */
  clock: () => number;
  /** The ports a task may open. */
  ports: { offline(): Promise<OfflineStore>; online(): OnlineStore };
  trigger?: RunTrigger;
  /** The scheduled time this run belongs to. Default: its start. */
  firedAt?: number;
  /** Rerun partitions that are already done. */
  force?: boolean;
  /** Stops the run after the partition in flight (the task sees it too). */
  signal?: AbortSignal;
  logger?: Logger;
  metrics?: Metrics;
  onEvent?: (event: RunEvent) => void;
  /** `false` when a lease owner is known to be dead (its lease is then broken at once). */
  isOwnerAlive?: (owner: string) => boolean | undefined;
  /** How often the lease is renewed while a task runs, ms. Default: a third of the lease. */
  renewEveryMs?: number;
  runId?: string;
}

/**
 * Runs a job over a range, partition by partition, oldest first, so that a crash at any moment
 * costs at most the partition in flight:
 *
 * 1. partitions already `done` in the ledger are skipped (unless `force`), partitions whose input
 *    is not settled yet are left for later;
 * 2. each remaining partition is leased (a live lease of another run: `busy`, left alone; the
 *    lease of a dead local process: broken), re-checked under the lease, recorded `started`, run
 *    with the lease renewed in the background, and recorded `done` only after the task returned
 *    and the lease was confirmed still ours;
 * 3. a failed partition is recorded `failed` and the run goes on with the next one.
 *
 * The run's own record is written when it starts and when it ends; a crashed run stays
 * `running` in the ledger, and rerunning it with the same range redoes only what was unfinished.
 */
export async function runJob(def: JobDefinition, range: TimeRange, options: RunJobOptions): Promise<RunReport> {
  const { ledger, owner, clock } = options;
  const logger = options.logger ?? SILENT_LOGGER;
  const emit = options.onEvent ?? (() => {});
  const trigger = options.trigger ?? 'manual';
  const startedAt = clock();
  const firedAt = options.firedAt ?? startedAt;
  const runId = options.runId ?? `${startedAt.toString(36)}-${randomBytes(3).toString('hex')}`;
  const partitions = def.partitions(range);
  const known = new Map((await ledger.partitions(def.name, partitions.map((p) => p.key))).map((s) => [s.key, s]));

  const outcomes = new Map<string, PartitionOutcome>();
  const todo: Partition[] = [];
  let unsettled = 0;
  for (const p of partitions) {
    const readyAt = def.settledAt(p);
    if (!options.force && known.get(p.key)?.state === 'done') outcomes.set(p.key, { key: p.key, outcome: 'skipped' });
    else if (readyAt > startedAt) {
      outcomes.set(p.key, { key: p.key, outcome: 'unsettled', readyAt });
      unsettled++;
    } else todo.push(p);
  }
  const record = (state: RunState, finishedAt: number | null, message = ''): RunRecord => {
    const c = count(partitions, outcomes);
    return { job: def.name, runId, trigger, firedAt, from: range.from, to: range.to, owner, startedAt, finishedAt, state, done: c.done, skipped: c.skipped, failed: c.failed, pending: c.pending, message };
  };
  await ledger.recordRun(record('running', null));
  logger.info('jobs.run_started', { job: def.name, runId, trigger, partitions: partitions.length, todo: todo.length });
  emit({ type: 'planned', job: def.name, runId, total: partitions.length, todo: todo.length, skipped: partitions.length - todo.length - unsettled, unsettled });

  let fatal: unknown;
  try {
    for (const [index, p] of todo.entries()) {
      if (options.signal?.aborted) {
        outcomes.set(p.key, { key: p.key, outcome: 'interrupted' });
        continue;
      }
      const outcome = await runPartition(def, p, index, { ...options, logger, emit, runId });
      outcomes.set(p.key, outcome);
      options.metrics?.inc('tessera_jobs_partitions_total', { job: def.name, outcome: outcome.outcome }, 1, 'Partitions handled by job runs, by outcome');
      emit({ type: 'partition-finished', partition: p, index, outcome });
      // every other partition would fail the same way: leave them for a build that has the task
      if (outcome.outcome === 'failed' && outcome.code === 'JOB_TASK_UNBOUND') break;
    }
  } catch (err) {
    // the ledger itself failed: nothing more can be recorded reliably
    fatal = err;
  }
  for (const p of todo) if (!outcomes.has(p.key)) outcomes.set(p.key, { key: p.key, outcome: 'interrupted' });
  const c = count(partitions, outcomes);
  const state: Exclude<RunState, 'running'> = fatal !== undefined || c.failed > 0 ? 'failed' : c.pending > 0 ? 'incomplete' : 'succeeded';
  const finishedAt = clock();
  const message = fatal !== undefined ? `ledger error: ${(fatal as Error).message}` : summarize(outcomes);
  if (fatal === undefined) await ledger.recordRun(record(state, finishedAt, message));
  options.metrics?.inc('tessera_jobs_runs_total', { job: def.name, state }, 1, 'Job runs, by final state');
  if (state === 'succeeded') options.metrics?.set('tessera_jobs_last_success_seconds', finishedAt / 1000, { job: def.name }, 'When the job last finished every partition of a run');
  logger.info('jobs.run_finished', { job: def.name, runId, state, ...c, ms: finishedAt - startedAt });
  if (fatal !== undefined) throw fatal;
  return { job: def.name, runId, trigger, firedAt, range, state, startedAt, finishedAt, counts: c, partitions: partitions.map((p) => outcomes.get(p.key) as PartitionOutcome) };
}

async function runPartition(
  def: JobDefinition,
  p: Partition,
  index: number,
  o: RunJobOptions & { logger: Logger; emit: (e: RunEvent) => void; runId: string },
): Promise<PartitionOutcome> {
  const { ledger, owner, clock, logger } = o;
  const ttl = def.leaseTtlMs;
  const request = { job: def.name, partition: p.key, owner, ttlMs: ttl, now: clock() };
  let acquired = await ledger.acquire(request);
  if (!acquired.ok && o.isOwnerAlive?.(acquired.holder.owner) === false) {
    logger.warn('jobs.lease_broken', { job: def.name, partition: p.key, deadOwner: acquired.holder.owner });
    await ledger.release(acquired.holder);
    acquired = await ledger.acquire({ ...request, now: clock() });
  }
  if (!acquired.ok) return { key: p.key, outcome: 'busy', holder: acquired.holder.owner, until: acquired.holder.expiresAt };
  let lease: Lease = acquired.lease;
  try {
    const [status] = await ledger.partitions(def.name, [p.key]);
    if (!o.force && status?.state === 'done') return { key: p.key, outcome: 'skipped' };
    const attempt = (status?.attempts ?? 0) + 1;
    const base = { job: def.name, key: p.key, from: p.from, to: p.to, attempt, runId: o.runId, owner };
    const started = clock();
    await ledger.recordAttempt({ ...base, state: 'started', at: started });
    o.emit({ type: 'partition-started', partition: p, index, attempt });

    const abort = new AbortController();
    const onStop = () => abort.abort(o.signal?.reason);
    o.signal?.addEventListener('abort', onStop, { once: true });
    let lost = false;
    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      renewing = renewing.then(async () => {
        if (lost) return;
        const next = await ledger.renew(lease, ttl, clock()).catch((err: unknown) => {
          logger.warn('jobs.lease_renew_failed', { job: def.name, partition: p.key, error: err });
          return lease; // a failed round trip is not a lost lease; the next renewal or the final check decides
        });
        if (next) lease = next;
        else {
          lost = true;
          abort.abort(new LeaseLostError(def.name, p.key));
        }
      });
    }, o.renewEveryMs ?? Math.max(1000, Math.floor(ttl / 3)));
    timer.unref?.();
    const ctx: JobTaskContext = {
      job: def.name,
      signal: abort.signal,
      progress: (done, total) => o.emit({ type: 'partition-progress', partition: p, index, done, total }),
      logger,
      offline: () => o.ports.offline(),
      online: () => o.ports.online(),
      now: clock,
    };
    let result: TaskResult | void;
    try {
      result = await def.run(p, ctx);
    } catch (err) {
      clearInterval(timer);
      await renewing;
      if (lost) return lostOutcome(def, p, logger);
      const message = err instanceof Error ? err.message : String(err);
      await ledger.recordAttempt({ ...base, state: 'failed', at: clock(), error: message });
      logger.error('jobs.partition_failed', { job: def.name, partition: p.key, attempt, error: err });
      if (o.signal?.aborted && abort.signal.reason === o.signal.reason) return { key: p.key, outcome: 'interrupted' };
      const code = err instanceof TesseraError ? err.code : undefined;
      return { key: p.key, outcome: 'failed', attempt, error: message, ...(code ? { code } : {}) };
    } finally {
      clearInterval(timer);
      o.signal?.removeEventListener('abort', onStop);
    }
    await renewing;
    // the output is complete; confirm the partition is still ours before saying so
    const confirmed = lost ? undefined : await ledger.renew(lease, ttl, clock());
    if (!confirmed) return lostOutcome(def, p, logger);
    lease = confirmed;
    const rows = result && typeof result.rows === 'number' ? result.rows : null;
    const summary = (result && result.summary) ?? '';
    const finished = clock();
    await ledger.recordAttempt({ ...base, state: 'done', at: finished, rows, summary });
    logger.info('jobs.partition_done', { job: def.name, partition: p.key, attempt, rows, ms: finished - started });
    return { key: p.key, outcome: 'done', attempt, rows, summary, ms: finished - started };
  } finally {
    await ledger.release(lease).catch((err: unknown) => logger.warn('jobs.lease_release_failed', { job: def.name, partition: p.key, error: err }));
  }
}

function lostOutcome(def: JobDefinition, p: Partition, logger: Logger): PartitionOutcome {
  logger.warn('jobs.lease_lost', { job: def.name, partition: p.key });
  return { key: p.key, outcome: 'lost' };
}

function count(partitions: readonly Partition[], outcomes: ReadonlyMap<string, PartitionOutcome>): RunReport['counts'] {
  const c = { total: partitions.length, done: 0, skipped: 0, failed: 0, pending: 0 };
  for (const p of partitions) {
    const o = outcomes.get(p.key)?.outcome;
    if (o === 'done') c.done++;
    else if (o === 'skipped') c.skipped++;
    else if (o === 'failed') c.failed++;
    else c.pending++;
  }
  return c;
}

function summarize(outcomes: ReadonlyMap<string, PartitionOutcome>): string {
  const by = new Map<string, number>();
  for (const o of outcomes.values()) by.set(o.outcome, (by.get(o.outcome) ?? 0) + 1);
  const firstError = [...outcomes.values()].find((o) => o.outcome === 'failed');
  const parts = [...by.entries()].map(([k, n]) => `${n} ${k}`);
  return parts.join(', ') + (firstError && firstError.outcome === 'failed' ? `; first error (${firstError.key}): ${firstError.error}` : '');
}
