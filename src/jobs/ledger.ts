/**
 * The run ledger: what each job has done, partition by partition, and who is working on what.
 *
 * Contract (checked by `test/unit/jobs/ledger.contract.ts` against the memory ledger and the
 * OfflineStore ledger on chDB):
 * - attempts are an append-only log; a partition's status is its latest attempt's (`started`,
 *   then `done` or `failed`); `attempts` counts every attempt ever started;
 * - the runner writes `done` only after the task returned, i.e. after the partition's output is
 *   complete; a crash in between leaves `started`, and the partition is redone (its task is
 *   idempotent), so the ledger never claims output that is not there;
 * - leases: at most one live (unreleased, unexpired at the caller's clock) lease per
 *   (job, partition); `acquire` never hands out a second one, even to racing callers; a released
 *   or expired lease can be acquired again; `renew` fails once someone else holds the partition;
 * - runs are upserted by `runId` (a run is written when it starts and again when it ends).
 */
export interface JobLedger {
  /** Creates the ledger's storage when missing. Idempotent. */
  prepare(): Promise<void>;
  /** Latest status of the job's partitions (of `keys` only, when given), sorted by key. */
  partitions(job: string, keys?: readonly string[]): Promise<PartitionStatus[]>;
  /** Appends one attempt record. */
  recordAttempt(entry: AttemptEntry): Promise<void>;
  /** Inserts or replaces a run record. */
  recordRun(run: RunRecord): Promise<void>;
  /** The job's runs, newest first. */
  runs(job: string, limit: number): Promise<RunRecord[]>;
  /** The newest run of every job that has one. */
  latestRuns(): Promise<RunRecord[]>;
  /**
   * The latest `firedAt` of the job's scheduled runs that went through their whole range
   * (`succeeded` or `failed`); undefined when none. A scheduled run that crashed (still
   * `running`) or was stopped or blocked part-way (`incomplete`) does not count, so the scheduler
   * fires that time again when it starts, and the rerun resumes where that run stopped.
   */
  lastScheduledFire(job: string): Promise<number | undefined>;
  /** Takes the partition's lease for `ttlMs` from `now`, or reports who holds it. */
  acquire(request: LeaseRequest): Promise<AcquireResult>;
  /** Extends a held lease to `now + ttlMs`; undefined when it was lost to someone else. */
  renew(lease: Lease, ttlMs: number, now: number): Promise<Lease | undefined>;
  /** Releases a lease (anyone's: the runner breaks the lease of an owner known to be dead). */
  release(lease: Lease): Promise<void>;
  /** The job's live leases at `now`. */
  leases(job: string, now: number): Promise<Lease[]>;
}

export type AttemptState = 'started' | 'done' | 'failed';

/** One row of the attempt log. */
export interface AttemptEntry {
  job: string;
  key: string;
  from: number;
  to: number;
  /** 1 for the first attempt of the partition, then 2, 3... */
  attempt: number;
  state: AttemptState;
  runId: string;
  owner: string;
  /** When this state was reached, epoch ms. */
  at: number;
  rows?: number | null;
  summary?: string;
  error?: string;
}

/** A partition's latest attempt. */
export interface PartitionStatus {
  job: string;
  key: string;
  from: number;
  to: number;
  state: AttemptState;
  /** Attempts started so far. */
  attempts: number;
  runId: string;
  owner: string;
  startedAt: number;
  /** When the latest attempt ended; null while running (or after a crash). */
  finishedAt: number | null;
  rows: number | null;
  summary: string;
  error: string;
}

export type RunTrigger = 'manual' | 'schedule';
/** `incomplete`: some partitions were left (busy, not settled yet, or interrupted). */
export type RunState = 'running' | 'succeeded' | 'failed' | 'incomplete';

/** One run of a job over a range. */
export interface RunRecord {
  job: string;
  runId: string;
  trigger: RunTrigger;
  /** The scheduled time the run belongs to (manual runs: their start). */
  firedAt: number;
  from: number;
  to: number;
  owner: string;
  startedAt: number;
  finishedAt: number | null;
  state: RunState;
  /** Partitions finished by this run. */
  done: number;
  /** Partitions already done before it. */
  skipped: number;
  failed: number;
  /** Partitions left for a later run: busy, not settled, interrupted. */
  pending: number;
  message: string;
}

/** Who asks for a partition, for how long. */
export interface LeaseRequest {
  job: string;
  partition: string;
  /** `host:pid` of the process. */
  owner: string;
  ttlMs: number;
  now: number;
}

/** A live claim on a partition. */
export interface Lease {
  job: string;
  partition: string;
  /** Unique per acquisition. */
  token: string;
  owner: string;
  expiresAt: number;
  /** Bumped by every renewal (the OfflineStore ledger replaces rows by it). */
  version: number;
}

export type AcquireResult = { ok: true; lease: Lease } | { ok: false; holder: Lease };

/** Sort key for a run list: newest first, ties by id so the order is stable. */
export function newestFirst(a: RunRecord, b: RunRecord): number {
  return b.startedAt - a.startedAt || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0);
}

/**
 * Folds attempt rows (any order) into each partition's latest status. Shared by both ledgers so
 * they agree on what "latest" means: highest attempt number; within it, an end state wins over
 * `started`.
 */
export function foldAttempts(entries: readonly AttemptEntry[]): PartitionStatus[] {
  const byKey = new Map<string, PartitionStatus>();
  const rank = (s: AttemptState) => (s === 'started' ? 0 : 1);
  const sorted = [...entries].sort((a, b) => a.attempt - b.attempt || rank(a.state) - rank(b.state));
  for (const e of sorted) {
    const prev = byKey.get(e.key);
    if (!prev || e.attempt > prev.attempts) {
      byKey.set(e.key, {
        job: e.job,
        key: e.key,
        from: e.from,
        to: e.to,
        state: e.state,
        attempts: e.attempt,
        runId: e.runId,
        owner: e.owner,
        startedAt: e.at,
        finishedAt: e.state === 'started' ? null : e.at,
        rows: e.rows ?? null,
        summary: e.summary ?? '',
        error: e.error ?? '',
      });
    } else {
      prev.state = e.state;
      prev.runId = e.runId;
      prev.owner = e.owner;
      if (e.state !== 'started') {
        prev.finishedAt = e.at;
        prev.rows = e.rows ?? null;
        prev.summary = e.summary ?? '';
        prev.error = e.error ?? '';
      }
    }
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
