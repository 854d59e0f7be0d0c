import { describe, expect, it } from 'vitest';
import { defineJob, type JobDefinition } from '../../../src/jobs/job-definition.js';
import { JobScheduler, type SchedulerClock } from '../../../src/jobs/scheduler.js';

const at = (s: string) => Date.parse(s);
const iso = (t: number) => new Date(t).toISOString();

/** A clock moved by the test: sleepers wake when it passes their time. No wall-clock waits. */
class ManualClock implements SchedulerClock {
  private sleepers: { until: number; resolve: () => void }[] = [];
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  sleepUntil(until: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (until <= this.t || signal.aborted) return resolve();
      const s = { until, resolve };
      this.sleepers.push(s);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }
  /** Moves to t, waking whoever is due, and lets the scheduler react. */
  async set(t: number): Promise<void> {
    this.t = t;
    const due = this.sleepers.filter((s) => s.until <= t);
    this.sleepers = this.sleepers.filter((s) => s.until > t);
    for (const s of due) s.resolve();
    await settle();
  }
}

/** Lets pending promise callbacks and immediates run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

function def(name: string, schedule: string, timezone = 'UTC'): JobDefinition {
  return defineJob({ name, description: 'x', schedule, timezone, partition: 'single', run: async () => ({}) }, { source: 'test', resolveTask: () => ({ problems: [] }) });
}

/** A fire function whose runs the test finishes by hand. */
function controllableFire() {
  const runs: { job: string; firedAt: number; finish: () => void; signal: AbortSignal }[] = [];
  let running = 0;
  let maxRunning = 0;
  const fire = (d: JobDefinition, firedAt: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs.push({
        job: d.name,
        firedAt,
        signal,
        finish: () => {
          running--;
          resolve();
        },
      });
    });
  return { fire, runs, maxRunning: () => maxRunning };
}

describe('JobScheduler', () => {
  it('fires at each cron time as the clock moves, and only then', async () => {
    const clock = new ManualClock(at('2026-01-05T10:20:00Z'));
    const fired: string[] = [];
    const s = new JobScheduler([def('hourly', '15 * * * *')], {
      clock,
      lastFired: async () => at('2026-01-05T10:15:00Z'), // already done: no catch-up
      fire: async (d, firedAt) => void fired.push(`${d.name}@${iso(firedAt)}`),
    });
    const done = s.run();
    await settle();
    expect(fired).toEqual([]);
    await clock.set(at('2026-01-05T11:14:59Z'));
    expect(fired).toEqual([]);
    await clock.set(at('2026-01-05T11:15:00Z'));
    await clock.set(at('2026-01-05T12:15:30Z'));
    expect(fired).toEqual(['hourly@2026-01-05T11:15:00.000Z', 'hourly@2026-01-05T12:15:00.000Z']);
    s.stop();
    await done;
  });

  it('catches up a missed firing once at start, not once per missed time', async () => {
    const clock = new ManualClock(at('2026-01-05T10:20:00Z'));
    const fired: number[] = [];
    const s = new JobScheduler([def('hourly', '15 * * * *'), def('fresh', '15 * * * *'), def('never-ran', '15 * * * *')], {
      clock,
      lastFired: async (job) => (job === 'hourly' ? at('2026-01-05T06:15:00Z') : job === 'fresh' ? at('2026-01-05T10:15:00Z') : undefined),
      fire: async (d, firedAt) => void fired.push(firedAt),
    });
    const done = s.run();
    await settle();
    expect(s.fired.map((f) => [f.job, iso(f.firedAt)])).toEqual([
      ['hourly', '2026-01-05T10:15:00.000Z'],
      ['never-ran', '2026-01-05T10:15:00.000Z'],
    ]);
    s.stop();
    await done;
  });

  it('collapses firings missed while asleep into one, for the latest time', async () => {
    const clock = new ManualClock(at('2026-01-05T10:20:00Z'));
    const s = new JobScheduler([def('hourly', '15 * * * *')], { clock, lastFired: async () => at('2026-01-05T10:15:00Z'), fire: async () => {} });
    const done = s.run();
    await settle();
    await clock.set(at('2026-01-05T16:40:00Z')); // slept through five firings
    expect(s.fired.map((f) => iso(f.firedAt))).toEqual(['2026-01-05T16:15:00.000Z']);
    await clock.set(at('2026-01-05T17:15:00Z'));
    expect(s.fired.map((f) => iso(f.firedAt))).toEqual(['2026-01-05T16:15:00.000Z', '2026-01-05T17:15:00.000Z']);
    s.stop();
    await done;
  });

  it('never runs two instances of a job; a firing due meanwhile runs right after, once', async () => {
    const clock = new ManualClock(at('2026-01-05T10:00:30Z'));
    const f = controllableFire();
    const s = new JobScheduler([def('slow', '* * * * *'), def('other', '* * * * *')], { clock, lastFired: async () => at('2026-01-05T10:00:00Z'), fire: f.fire });
    const done = s.run();
    await settle();
    await clock.set(at('2026-01-05T10:01:00Z'));
    expect(f.runs.map((r) => r.job)).toEqual(['slow', 'other']); // different jobs run side by side
    f.runs[1]!.finish();
    await clock.set(at('2026-01-05T10:02:00Z'));
    await clock.set(at('2026-01-05T10:03:00Z'));
    // 'other' fired at 10:02 and is still running at 10:03 (deferred); 'slow' has fired only once
    expect(f.runs.map((r) => `${r.job}@${iso(r.firedAt).slice(11, 16)}`)).toEqual(['slow@10:01', 'other@10:01', 'other@10:02']);
    f.runs[0]!.finish(); // slow ends: its deferred firing runs now, once, for the latest time
    await settle();
    expect(f.runs.map((r) => `${r.job}@${iso(r.firedAt).slice(11, 16)}`)).toEqual(['slow@10:01', 'other@10:01', 'other@10:02', 'slow@10:03']);
    expect(f.maxRunning()).toBe(2);
    s.stop();
    for (const r of f.runs.slice(2)) r.finish();
    await done;
  });

  it('stops gracefully: no new firing, running jobs see the signal, run() waits for them', async () => {
    const clock = new ManualClock(at('2026-01-05T10:00:30Z'));
    const f = controllableFire();
    const s = new JobScheduler([def('job', '* * * * *')], { clock, lastFired: async () => undefined, fire: f.fire });
    let finished = false;
    const done = s.run().then(() => (finished = true));
    await settle();
    expect(f.runs).toHaveLength(1); // the catch-up for 10:00
    s.stop();
    await settle();
    expect(f.runs[0]!.signal.aborted).toBe(true);
    expect(finished).toBe(false); // still waiting for the run in flight
    await clock.set(at('2026-01-05T10:05:00Z'));
    expect(f.runs).toHaveLength(1);
    f.runs[0]!.finish();
    await done;
    expect(finished).toBe(true);
  });

  it('fires in the job zone across daylight saving: 02:30 Berlin runs at 03:00 on the spring-forward day', async () => {
    const clock = new ManualClock(at('2026-03-27T12:00:00Z'));
    const s = new JobScheduler([def('nightly', '30 2 * * *', 'Europe/Berlin')], { clock, lastFired: async () => at('2026-03-27T01:30:00Z'), fire: async () => {} });
    const done = s.run();
    await settle();
    for (let t = at('2026-03-27T12:00:00Z'); t <= at('2026-03-31T00:00:00Z'); t += 15 * 60_000) await clock.set(t);
    expect(s.fired.map((f) => iso(f.firedAt))).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    s.stop();
    await done;
  });

  it('keeps going when a run throws', async () => {
    const clock = new ManualClock(at('2026-01-05T10:00:30Z'));
    let calls = 0;
    const s = new JobScheduler([def('flaky', '* * * * *')], {
      clock,
      lastFired: async () => at('2026-01-05T10:00:00Z'),
      fire: async () => {
        calls++;
        throw new Error('boom');
      },
    });
    const done = s.run();
    await clock.set(at('2026-01-05T10:01:00Z'));
    await clock.set(at('2026-01-05T10:02:00Z'));
    expect(calls).toBe(2);
    s.stop();
    await done;
  });
});
