import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { AttemptEntry, JobLedger, RunRecord } from '../../../src/jobs/ledger.js';

/** What a contract run needs: a prepared ledger and a way to dispose of it. */
export interface LedgerUnderTest {
  ledger: JobLedger;
  close(): Promise<void>;
}

const T0 = Date.parse('2026-01-05T00:00:00Z');
const H = 3_600_000;

const job = () => `job-${randomBytes(4).toString('hex')}`;

function attempt(j: string, hour: number, n: number, state: AttemptEntry['state'], extra: Partial<AttemptEntry> = {}): AttemptEntry {
  const from = T0 + hour * H;
  return { job: j, key: new Date(from).toISOString().slice(0, 16) + 'Z', from, to: from + H, attempt: n, state, runId: `r${n}`, owner: 'host:1', at: T0 + 100 * H + n * 1000 + (state === 'started' ? 0 : 500), ...extra };
}

function run(j: string, id: string, extra: Partial<RunRecord> = {}): RunRecord {
  return { job: j, runId: id, trigger: 'manual', firedAt: T0, from: T0, to: T0 + 2 * H, owner: 'host:1', startedAt: T0, finishedAt: null, state: 'running', done: 0, skipped: 0, failed: 0, pending: 0, message: '', ...extra };
}

/**
 * The JobLedger contract (see src/jobs/ledger.ts), run against the memory ledger in the unit
 * suite and against the OfflineStore ledger on chDB in the integration suite.
 */
export function jobLedgerContract(name: string, open: () => Promise<LedgerUnderTest>): void {
  describe(`JobLedger contract: ${name}`, () => {
    let sut: LedgerUnderTest;
    let ledger: JobLedger;
    beforeAll(async () => {
      sut = await open();
      ledger = sut.ledger;
      await ledger.prepare(); // twice: idempotent
    });
    afterAll(async () => sut.close());

    it('starts empty', async () => {
      const j = job();
      expect(await ledger.partitions(j)).toEqual([]);
      expect(await ledger.partitions(j, [])).toEqual([]);
      expect(await ledger.runs(j, 10)).toEqual([]);
      expect(await ledger.lastScheduledFire(j)).toBeUndefined();
      expect(await ledger.leases(j, T0)).toEqual([]);
    });

    it("folds the attempt log into each partition's latest attempt, sorted by key", async () => {
      const j = job();
      await ledger.recordAttempt(attempt(j, 1, 1, 'started'));
      await ledger.recordAttempt(attempt(j, 0, 1, 'started'));
      await ledger.recordAttempt(attempt(j, 0, 1, 'done', { rows: 42, summary: '42 rows' }));
      await ledger.recordAttempt(attempt(j, 1, 1, 'failed', { error: 'boom' }));
      await ledger.recordAttempt(attempt(j, 1, 2, 'started', { runId: 'r2', owner: 'host:2' }));
      await ledger.recordAttempt(attempt(j, 2, 1, 'started'));
      const all = await ledger.partitions(j);
      expect(all.map((p) => [p.key, p.state, p.attempts])).toEqual([
        ['2026-01-05T00:00Z', 'done', 1],
        ['2026-01-05T01:00Z', 'started', 2],
        ['2026-01-05T02:00Z', 'started', 1],
      ]);
      const [done, running] = all;
      expect(done).toMatchObject({ job: j, from: T0, to: T0 + H, rows: 42, summary: '42 rows', error: '', runId: 'r1', startedAt: attempt(j, 0, 1, 'started').at, finishedAt: attempt(j, 0, 1, 'done').at });
      expect(running).toMatchObject({ runId: 'r2', owner: 'host:2', finishedAt: null, rows: null, error: '' });
      await ledger.recordAttempt(attempt(j, 1, 2, 'done', { runId: 'r2', owner: 'host:2', rows: 0 }));
      const only = await ledger.partitions(j, ['2026-01-05T01:00Z', '2026-01-05T09:00Z']);
      expect(only.map((p) => [p.key, p.state, p.attempts, p.rows])).toEqual([['2026-01-05T01:00Z', 'done', 2, 0]]);
    });

    it('upserts runs by id and answers newest first, latest per job and the last finished scheduled firing', async () => {
      const j = job();
      const k = job();
      await ledger.recordRun(run(j, 'a', { startedAt: T0 }));
      await ledger.recordRun(run(j, 'b', { startedAt: T0 + H, trigger: 'schedule', firedAt: T0 + H }));
      await ledger.recordRun(run(j, 'a', { startedAt: T0, finishedAt: T0 + 10, state: 'succeeded', done: 2 }));
      await ledger.recordRun(run(k, 'c', { startedAt: T0 + 5 * H }));
      const runs = await ledger.runs(j, 10);
      expect(runs.map((r) => [r.runId, r.state])).toEqual([
        ['b', 'running'],
        ['a', 'succeeded'],
      ]);
      expect(runs[1]).toEqual(run(j, 'a', { startedAt: T0, finishedAt: T0 + 10, state: 'succeeded', done: 2 }));
      expect(await ledger.runs(j, 1)).toHaveLength(1);
      const latest = (await ledger.latestRuns()).filter((r) => r.job === j || r.job === k);
      expect(latest.map((r) => [r.job, r.runId])).toEqual([j, k].sort().map((x) => [x, x === j ? 'b' : 'c']));
      // a scheduled run counts once it went through its range; manual, running and incomplete runs do not
      expect(await ledger.lastScheduledFire(j)).toBeUndefined();
      await ledger.recordRun(run(j, 'b', { startedAt: T0 + H, trigger: 'schedule', firedAt: T0 + H, state: 'incomplete', finishedAt: T0 + H + 1 }));
      expect(await ledger.lastScheduledFire(j)).toBeUndefined();
      await ledger.recordRun(run(j, 'd', { startedAt: T0 + 2 * H, trigger: 'schedule', firedAt: T0 + 2 * H, state: 'failed', finishedAt: T0 + 2 * H + 1 }));
      await ledger.recordRun(run(j, 'e', { startedAt: T0 + 3 * H, trigger: 'manual', firedAt: T0 + 3 * H, state: 'succeeded', finishedAt: T0 + 3 * H + 1 }));
      expect(await ledger.lastScheduledFire(j)).toBe(T0 + 2 * H);
    });

    it('grants one live lease per partition and frees it on release or expiry', async () => {
      const j = job();
      const req = { job: j, partition: 'p1', owner: 'host:1', ttlMs: 60_000, now: T0 };
      const a = await ledger.acquire(req);
      expect(a.ok).toBe(true);
      if (!a.ok) return;
      expect(a.lease).toMatchObject({ job: j, partition: 'p1', owner: 'host:1', expiresAt: T0 + 60_000 });
      const b = await ledger.acquire({ ...req, owner: 'host:2', now: T0 + 1000 });
      expect(b).toEqual({ ok: false, holder: a.lease });
      // another partition is independent
      expect((await ledger.acquire({ ...req, partition: 'p2', owner: 'host:2' })).ok).toBe(true);
      expect((await ledger.leases(j, T0 + 1)).map((l) => l.partition).sort()).toEqual(['p1', 'p2']);
      // expired: free for the next claimant
      const c = await ledger.acquire({ ...req, owner: 'host:3', now: T0 + 60_000 });
      expect(c.ok).toBe(true);
      if (!c.ok) return;
      // the first holder cannot renew what it lost
      expect(await ledger.renew(a.lease, 60_000, T0 + 61_000)).toBeUndefined();
      await ledger.release(c.lease);
      const d = await ledger.acquire({ ...req, owner: 'host:4', now: T0 + 62_000 });
      expect(d.ok).toBe(true);
    });

    it('renewal extends a lease past its first expiry', async () => {
      const j = job();
      const a = await ledger.acquire({ job: j, partition: 'p', owner: 'host:1', ttlMs: 10_000, now: T0 });
      if (!a.ok) throw new Error('expected the lease');
      const renewed = await ledger.renew(a.lease, 10_000, T0 + 8_000);
      expect(renewed).toMatchObject({ token: a.lease.token, expiresAt: T0 + 18_000 });
      const b = await ledger.acquire({ job: j, partition: 'p', owner: 'host:2', ttlMs: 10_000, now: T0 + 12_000 });
      expect(b.ok).toBe(false);
      if (!b.ok) expect(b.holder.expiresAt).toBe(T0 + 18_000);
      await ledger.release(renewed!);
      expect(await ledger.renew(renewed!, 10_000, T0 + 13_000)).toBeUndefined();
      expect(await ledger.leases(j, T0 + 13_000)).toEqual([]);
    });

    it('never hands out two leases to racing claimants', async () => {
      const j = job();
      for (let round = 0; round < 8; round++) {
        const partition = `race-${round}`;
        const results = await Promise.all([1, 2, 3, 4].map((o) => ledger.acquire({ job: j, partition, owner: `host:${o}`, ttlMs: 60_000, now: T0 })));
        const winners = results.filter((r) => r.ok);
        expect(winners.length).toBeLessThanOrEqual(1);
        const live = await ledger.leases(j, T0 + 1);
        expect(live.filter((l) => l.partition === partition)).toHaveLength(winners.length);
        if (winners.length === 0) expect((await ledger.acquire({ job: j, partition, owner: 'host:9', ttlMs: 60_000, now: T0 })).ok).toBe(true);
      }
    });
  });
}
