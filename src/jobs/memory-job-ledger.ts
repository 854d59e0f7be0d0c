import { randomUUID } from 'node:crypto';
import {
  foldAttempts,
  newestFirst,
  type AcquireResult,
  type AttemptEntry,
  type JobLedger,
  type Lease,
  type LeaseRequest,
  type PartitionStatus,
  type RunRecord,
} from './ledger.js';

/**
 * The run ledger in process memory: for tests and for `tessera demo`, where nothing outlives the
 * process anyway. Same contract as the OfflineStore ledger.
 */
export class MemoryJobLedger implements JobLedger {
  private readonly attempts: AttemptEntry[] = [];
  private readonly runRecords = new Map<string, RunRecord>();
  private readonly leaseTable = new Map<string, Lease & { released: boolean }>();

  async prepare(): Promise<void> {}

  async partitions(job: string, keys?: readonly string[]): Promise<PartitionStatus[]> {
    const wanted = keys ? new Set(keys) : undefined;
    return foldAttempts(this.attempts.filter((a) => a.job === job && (!wanted || wanted.has(a.key))));
  }

  async recordAttempt(entry: AttemptEntry): Promise<void> {
    this.attempts.push({ ...entry });
  }

  async recordRun(run: RunRecord): Promise<void> {
    this.runRecords.set(`${run.job}\u0000${run.runId}`, { ...run });
  }

  async runs(job: string, limit: number): Promise<RunRecord[]> {
    return [...this.runRecords.values()].filter((r) => r.job === job).sort(newestFirst).slice(0, limit).map((r) => ({ ...r }));
  }

  async latestRuns(): Promise<RunRecord[]> {
    const latest = new Map<string, RunRecord>();
    for (const r of [...this.runRecords.values()].sort(newestFirst)) if (!latest.has(r.job)) latest.set(r.job, { ...r });
    return [...latest.values()].sort((a, b) => (a.job < b.job ? -1 : 1));
  }

  async lastScheduledFire(job: string): Promise<number | undefined> {
    let best: number | undefined;
    for (const r of this.runRecords.values()) {
      if (r.job === job && r.trigger === 'schedule' && (r.state === 'succeeded' || r.state === 'failed') && (best === undefined || r.firedAt > best)) best = r.firedAt;
    }
    return best;
  }

  async acquire(req: LeaseRequest): Promise<AcquireResult> {
    const holder = this.live(req.job, req.partition, req.now)[0];
    if (holder) return { ok: false, holder: strip(holder) };
    const lease: Lease = { job: req.job, partition: req.partition, token: randomUUID(), owner: req.owner, expiresAt: req.now + req.ttlMs, version: 1 };
    this.leaseTable.set(lease.token, { ...lease, released: false });
    return { ok: true, lease };
  }

  async renew(lease: Lease, ttlMs: number, now: number): Promise<Lease | undefined> {
    if (this.live(lease.job, lease.partition, now).some((l) => l.token !== lease.token)) return undefined;
    const row = this.leaseTable.get(lease.token);
    if (!row || row.released) return undefined;
    const renewed: Lease = { ...lease, expiresAt: now + ttlMs, version: row.version + 1 };
    this.leaseTable.set(lease.token, { ...renewed, released: false });
    return renewed;
  }

  async release(lease: Lease): Promise<void> {
    const row = this.leaseTable.get(lease.token);
    if (row) row.released = true;
  }

  async leases(job: string, now: number): Promise<Lease[]> {
    return [...this.leaseTable.values()].filter((l) => l.job === job && !l.released && l.expiresAt > now).map(strip);
  }

  private live(job: string, partition: string, now: number): (Lease & { released: boolean })[] {
    return [...this.leaseTable.values()].filter((l) => l.job === job && l.partition === partition && !l.released && l.expiresAt > now).sort((a, b) => b.expiresAt - a.expiresAt);
  }
}

function strip(l: Lease & { released?: boolean }): Lease {
  return { job: l.job, partition: l.partition, token: l.token, owner: l.owner, expiresAt: l.expiresAt, version: l.version };
}
