import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/ingest/rng.js';
import { defineJob, type JobDefinition, type JobTask } from '../../../src/jobs/job-definition.js';
import { JobTaskUnboundError } from '../../../src/jobs/job-errors.js';
import type { JobLedger } from '../../../src/jobs/ledger.js';
import { MemoryJobLedger } from '../../../src/jobs/memory-job-ledger.js';
import { runJob, type RunEvent, type RunJobOptions } from '../../../src/jobs/runner.js';
import type { OfflineStore } from '../../../src/ports/offline-store.js';
import type { OnlineStore } from '../../../src/ports/online-store.js';

const T0 = Date.parse('2026-01-05T00:00:00Z');
const H = 3_600_000;
const RANGE = { from: T0, to: T0 + 4 * H };
const NOW = T0 + 100 * H;
const noPorts = { offline: (): Promise<OfflineStore> => Promise.reject(new Error('no offline store in this test')), online: (): OnlineStore => { throw new Error('no online store in this test'); } };

function job(run: JobTask, extra: Record<string, unknown> = {}): JobDefinition {
  return defineJob(
    { name: 'test-job', description: 'writes rows per hour', schedule: '0 * * * *', partition: 'hour', run, ...extra },
    { source: 'test', resolveTask: () => ({ problems: ['no built-in tasks here'] }) },
  );
}

function options(ledger: JobLedger, extra: Partial<RunJobOptions> = {}): RunJobOptions {
  return { ledger, owner: 'host:1', clock: () => NOW, ports: noPorts, ...extra };
}

/**
 * Kills a run at its n-th side effect: that step and every later one never complete (a promise
 * that never settles), as if the process died right before it. Steps are the ledger's calls and
 * the task's writes.
 */
class Killer {
  steps = 0;
  private dead = false;
  private onKill!: () => void;
  readonly killed = new Promise<void>((r) => (this.onKill = r));
  constructor(readonly at = Number.POSITIVE_INFINITY) {}
  step<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.dead) return new Promise<T>(() => {});
    if (++this.steps >= this.at) {
      this.dead = true;
      this.onKill();
      return new Promise<T>(() => {});
    }
    return Promise.resolve(fn());
  }
}

/** The ledger as seen by one (mortal) process. */
function mortal(inner: JobLedger, k: Killer): JobLedger {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (...args: unknown[]) => k.step(() => (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)) : v;
    },
  });
}

/** An output table: rows per partition, written delete-then-insert (idempotent per partition). */
class Output {
  readonly rows = new Map<string, number[]>();
  readonly inserts = new Map<string, number>();
  task(k: () => Killer): JobTask {
    return async (p, ctx) => {
      await k().step(() => this.rows.delete(p.key));
      for (let i = 0; i < 3; i++) {
        await k().step(() => {
          this.rows.set(p.key, [...(this.rows.get(p.key) ?? []), (p.from / H) * 10 + i]);
          this.inserts.set(p.key, (this.inserts.get(p.key) ?? 0) + 1);
        });
        ctx.progress(i + 1, 3);
      }
      return { rows: 3, summary: `${p.key} written` };
    };
  }
}

async function cleanOutput(): Promise<Map<string, number[]>> {
  const out = new Output();
  const killer = new Killer();
  const report = await runJob(job(out.task(() => killer)), RANGE, options(new MemoryJobLedger()));
  expect(report.state).toBe('succeeded');
  return out.rows;
}

describe('runJob', () => {
  it('runs every partition once, oldest first, and records it', async () => {
    const ledger = new MemoryJobLedger();
    const out = new Output();
    const events: RunEvent[] = [];
    const report = await runJob(job(out.task(() => new Killer())), RANGE, options(ledger, { onEvent: (e) => events.push(e) }));
    expect(report.state).toBe('succeeded');
    expect(report.counts).toEqual({ total: 4, done: 4, skipped: 0, failed: 0, pending: 0 });
    expect([...out.rows.keys()]).toEqual(['2026-01-05T00:00Z', '2026-01-05T01:00Z', '2026-01-05T02:00Z', '2026-01-05T03:00Z']);
    const parts = await ledger.partitions('test-job');
    expect(parts.map((p) => [p.state, p.attempts, p.rows, p.summary])).toEqual(parts.map((p) => ['done', 1, 3, `${p.key} written`]));
    const [r] = await ledger.runs('test-job', 5);
    expect(r).toMatchObject({ state: 'succeeded', done: 4, skipped: 0, trigger: 'manual', finishedAt: NOW });
    expect(events[0]).toMatchObject({ type: 'planned', total: 4, todo: 4, skipped: 0 });
    expect(events.filter((e) => e.type === 'partition-progress')).toHaveLength(12);
    expect(await ledger.leases('test-job', NOW)).toEqual([]); // released
  });

  it('skips done partitions on a rerun, and --force reruns them', async () => {
    const ledger = new MemoryJobLedger();
    const out = new Output();
    const def = job(out.task(() => new Killer()));
    await runJob(def, RANGE, options(ledger));
    const again = await runJob(def, RANGE, options(ledger));
    expect(again.counts).toMatchObject({ done: 0, skipped: 4 });
    expect([...out.inserts.values()]).toEqual([3, 3, 3, 3]);
    const forced = await runJob(def, RANGE, options(ledger, { force: true }));
    expect(forced.counts).toMatchObject({ done: 4, skipped: 0 });
    expect((await ledger.partitions('test-job')).map((p) => p.attempts)).toEqual([2, 2, 2, 2]);
    expect(out.rows).toEqual(await cleanOutput());
  });

  it('killed at any step and rerun: the output equals a clean run, finished partitions are not redone', async () => {
    const clean = await cleanOutput();
    const probe = new Killer();
    await runJob(job(new Output().task(() => probe)), RANGE, options(mortal(new MemoryJobLedger(), probe)));
    const total = probe.steps;
    expect(total).toBeGreaterThan(40);
    for (let at = 1; at <= total; at++) {
      const ledger = new MemoryJobLedger();
      const out = new Output();
      const k1 = new Killer(at);
      const first = runJob(job(out.task(() => k1)), RANGE, options(mortal(ledger, k1), { owner: 'host:111' }));
      await Promise.race([k1.killed, first]);
      const doneBefore = new Set((await ledger.partitions('test-job')).filter((p) => p.state === 'done').map((p) => p.key));
      const insertsBefore = new Map(out.inserts);
      const k2 = new Killer();
      const second = await runJob(job(out.task(() => k2)), RANGE, options(ledger, { owner: 'host:222', isOwnerAlive: (o) => (o === 'host:111' ? false : undefined) }));
      expect(second.state, `killed at step ${at}`).toBe('succeeded');
      expect(out.rows, `killed at step ${at}`).toEqual(clean);
      expect(second.counts.skipped).toBe(doneBefore.size);
      for (const p of await ledger.partitions('test-job')) {
        if (doneBefore.has(p.key)) {
          expect(p.attempts, `${p.key} killed at step ${at}`).toBe(1);
          expect(out.inserts.get(p.key)).toBe(insertsBefore.get(p.key));
        } else expect(p.attempts).toBeLessThanOrEqual(2);
      }
    }
  });

  it('survives repeated kills at random steps (seeded) with the same output', async () => {
    const clean = await cleanOutput();
    const rng = new Rng(7, 'runner-kills');
    for (let trial = 0; trial < 25; trial++) {
      const ledger = new MemoryJobLedger();
      const out = new Output();
      let owner = 1000;
      for (let kill = 0; kill < 3; kill++) {
        const k = new Killer(rng.int(1, 30));
        const o = `host:${++owner}`;
        const started = runJob(job(out.task(() => k)), RANGE, options(mortal(ledger, k), { owner: o, isOwnerAlive: (x) => (x === o ? true : false) }));
        await Promise.race([k.killed, started]);
      }
      const last = await runJob(job(out.task(() => new Killer())), RANGE, options(ledger, { owner: 'host:1', isOwnerAlive: () => false }));
      expect(last.state).toBe('succeeded');
      expect(out.rows).toEqual(clean);
      const attempts = (await ledger.partitions('test-job')).map((p) => p.attempts);
      expect(attempts.every((a) => a >= 1 && a <= 4)).toBe(true);
    }
  });

  it('leaves a partition whose lease another live run holds (busy), takes over an expired one', async () => {
    const ledger = new MemoryJobLedger();
    const held = await ledger.acquire({ job: 'test-job', partition: '2026-01-05T01:00Z', owner: 'otherhost:7', ttlMs: 60_000, now: NOW - 1000 });
    expect(held.ok).toBe(true);
    const out = new Output();
    const def = job(out.task(() => new Killer()));
    const report = await runJob(def, RANGE, options(ledger));
    expect(report.state).toBe('incomplete');
    expect(report.partitions[1]).toEqual({ key: '2026-01-05T01:00Z', outcome: 'busy', holder: 'otherhost:7', until: NOW + 59_000 });
    expect(report.counts).toMatchObject({ done: 3, pending: 1 });
    // a minute later the lease has expired: the partition is taken over
    const later = await runJob(def, RANGE, options(ledger, { clock: () => NOW + 60_000 }));
    expect(later.state).toBe('succeeded');
    expect(later.counts).toMatchObject({ done: 1, skipped: 3 });
  });

  it('two concurrent runs of the same range never run a partition twice', async () => {
    const ledger = new MemoryJobLedger();
    const out = new Output();
    const slow: JobTask = async (p, ctx) => {
      await new Promise((r) => setImmediate(r));
      return out.task(() => new Killer())(p, ctx);
    };
    const [a, b] = await Promise.all([runJob(job(slow), RANGE, options(ledger, { owner: 'host:a' })), runJob(job(slow), RANGE, options(ledger, { owner: 'host:b' }))]);
    expect([...out.inserts.values()]).toEqual([3, 3, 3, 3]);
    for (let i = 0; i < 4; i++) {
      // one run did it, the other found it leased (busy) or already done (skipped)
      const pair = [a.partitions[i]?.outcome, b.partitions[i]?.outcome];
      expect(pair.filter((o) => o === 'done')).toHaveLength(1);
      expect(pair.filter((o) => o === 'busy' || o === 'skipped')).toHaveLength(1);
    }
    expect((await ledger.partitions('test-job')).map((p) => p.attempts)).toEqual([1, 1, 1, 1]);
  });

  it('does not mark a partition done when its lease was taken over while the task ran', async () => {
    const ledger = new MemoryJobLedger();
    let thief: Promise<unknown> | undefined;
    const def = job(async (p) => {
      if (p.key === '2026-01-05T02:00Z') {
        // another process breaks our lease (it thinks we are dead) and takes the partition
        const [mine] = await ledger.leases('test-job', NOW);
        await ledger.release(mine!);
        thief = ledger.acquire({ job: 'test-job', partition: p.key, owner: 'host:thief', ttlMs: 60_000, now: NOW });
        await thief;
      }
      return { rows: 1 };
    });
    const report = await runJob(def, RANGE, options(ledger));
    expect(report.partitions[2]).toEqual({ key: '2026-01-05T02:00Z', outcome: 'lost' });
    expect(report.state).toBe('incomplete');
    const status = (await ledger.partitions('test-job')).find((p) => p.key === '2026-01-05T02:00Z');
    expect(status?.state).toBe('started');
  });

  it('records a failed partition, goes on with the others, and redoes only it next time', async () => {
    const ledger = new MemoryJobLedger();
    let fail = true;
    const def = job(async (p) => {
      if (fail && p.key === '2026-01-05T01:00Z') throw new Error('disk full');
      return { rows: 1 };
    });
    const report = await runJob(def, RANGE, options(ledger));
    expect(report.state).toBe('failed');
    expect(report.partitions[1]).toEqual({ key: '2026-01-05T01:00Z', outcome: 'failed', attempt: 1, error: 'disk full' });
    expect(report.counts).toMatchObject({ done: 3, failed: 1 });
    const [run] = await ledger.runs('test-job', 1);
    expect(run?.message).toMatch(/first error \(2026-01-05T01:00Z\): disk full/);
    fail = false;
    const retry = await runJob(def, RANGE, options(ledger));
    expect(retry.counts).toMatchObject({ done: 1, skipped: 3 });
    expect((await ledger.partitions('test-job', ['2026-01-05T01:00Z']))[0]).toMatchObject({ state: 'done', attempts: 2 });
  });

  it('leaves unsettled partitions for later without recording them', async () => {
    const ledger = new MemoryJobLedger();
    const def = job(async () => ({ rows: 1 }), { settle: 'PT2H' });
    const report = await runJob(def, RANGE, options(ledger, { clock: () => T0 + 4.5 * H }));
    expect(report.partitions.map((p) => p.outcome)).toEqual(['done', 'done', 'unsettled', 'unsettled']);
    expect(report.partitions[2]).toEqual({ key: '2026-01-05T02:00Z', outcome: 'unsettled', readyAt: T0 + 5 * H }); // end 03:00 + 2 h
    expect(report.state).toBe('incomplete');
    expect((await ledger.partitions('test-job')).map((p) => p.key)).toEqual(['2026-01-05T00:00Z', '2026-01-05T01:00Z']);
  });

  it('stops after the partition in flight when signalled; the rest is left for a rerun', async () => {
    const ledger = new MemoryJobLedger();
    const stop = new AbortController();
    const def = job(async (p) => {
      if (p.key === '2026-01-05T01:00Z') stop.abort(new Error('SIGTERM'));
      return { rows: 1 };
    });
    const report = await runJob(def, RANGE, options(ledger, { signal: stop.signal }));
    expect(report.partitions.map((p) => p.outcome)).toEqual(['done', 'done', 'interrupted', 'interrupted']);
    expect(report.state).toBe('incomplete');
    const resumed = await runJob(def, RANGE, options(ledger));
    expect(resumed.counts).toMatchObject({ done: 2, skipped: 2 });
  });

  it('a task that gives up on the signal is recorded and counted as interrupted', async () => {
    const ledger = new MemoryJobLedger();
    const stop = new AbortController();
    const def = job(async (_p, ctx) => {
      stop.abort(new Error('SIGTERM'));
      ctx.signal.throwIfAborted();
      return { rows: 1 };
    });
    const report = await runJob(def, RANGE, options(ledger, { signal: stop.signal }));
    expect(report.partitions.map((p) => p.outcome)).toEqual(['interrupted', 'interrupted', 'interrupted', 'interrupted']);
    expect((await ledger.partitions('test-job')).map((p) => p.state)).toEqual(['failed']);
  });

  it('stops at the first partition when the task is not bound in this build', async () => {
    const def = job(async () => {
      throw new JobTaskUnboundError('test-job', 'samples', 'not here');
    });
    const report = await runJob(def, RANGE, options(new MemoryJobLedger()));
    expect(report.partitions.map((p) => p.outcome)).toEqual(['failed', 'interrupted', 'interrupted', 'interrupted']);
    expect(report.state).toBe('failed');
  });
});
