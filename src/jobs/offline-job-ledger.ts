import { randomUUID } from 'node:crypto';
import type { OfflineStore } from '../ports/offline-store.js';
import {
  foldAttempts,
  type AcquireResult,
  type AttemptEntry,
  type AttemptState,
  type JobLedger,
  type Lease,
  type LeaseRequest,
  type PartitionStatus,
  type RunRecord,
  type RunState,
  type RunTrigger,
} from './ledger.js';

/** Attempt log: one row per started / done / failed attempt of a partition. */
export const JOB_PARTITIONS_TABLE = 'job_partitions';
/** One row per run, replaced when the run ends. */
export const JOB_RUNS_TABLE = 'job_runs';
/**
 * Partition leases, one key per acquisition, replaced by renewals and the release. A few bytes per
 * partition run (8,760 keys a year for an hourly job), so no TTL: a TTL would judge expiry by the
 * server's clock, while lease expiry is judged by the caller's.
 */
export const JOB_LEASES_TABLE = 'job_leases';

/** Released leases get this version, so a release always wins over a renewal in flight. */
const RELEASED_VERSION = Number.MAX_SAFE_INTEGER;

const DDL = [
  `CREATE TABLE IF NOT EXISTS ${JOB_PARTITIONS_TABLE} (
    job LowCardinality(String),
    partition String,
    partitionFrom DateTime64(3, 'UTC'),
    partitionTo DateTime64(3, 'UTC'),
    attempt UInt32,
    state Enum8('started' = 1, 'done' = 2, 'failed' = 3),
    runId String,
    owner String,
    at DateTime64(3, 'UTC'),
    rows Nullable(UInt64),
    summary String,
    error String
  ) ENGINE = MergeTree ORDER BY (job, partition, attempt, state)`,
  `CREATE TABLE IF NOT EXISTS ${JOB_RUNS_TABLE} (
    job LowCardinality(String),
    runId String,
    trigger Enum8('manual' = 1, 'schedule' = 2),
    firedAt DateTime64(3, 'UTC'),
    rangeFrom DateTime64(3, 'UTC'),
    rangeTo DateTime64(3, 'UTC'),
    owner String,
    startedAt DateTime64(3, 'UTC'),
    finishedAt Nullable(DateTime64(3, 'UTC')),
    state Enum8('running' = 1, 'succeeded' = 2, 'failed' = 3, 'incomplete' = 4),
    done UInt32,
    skipped UInt32,
    failed UInt32,
    pending UInt32,
    message String,
    version UInt8
  ) ENGINE = ReplacingMergeTree(version) ORDER BY (job, runId)`,
  `CREATE TABLE IF NOT EXISTS ${JOB_LEASES_TABLE} (
    job LowCardinality(String),
    partition String,
    token String,
    owner String,
    expiresAt DateTime64(3, 'UTC'),
    released UInt8,
    version UInt64
  ) ENGINE = ReplacingMergeTree(version) ORDER BY (job, partition, token)`,
];

interface AttemptRow {
  job: string;
  key: string;
  fromMs: number;
  toMs: number;
  attempt: number;
  state: AttemptState;
  runId: string;
  owner: string;
  atMs: number;
  rows: number | null;
  summary: string;
  error: string;
}

interface RunRow {
  job: string;
  runId: string;
  trigger: RunTrigger;
  firedAtMs: number;
  fromMs: number;
  toMs: number;
  owner: string;
  startedAtMs: number;
  finishedAtMs: number | null;
  state: RunState;
  done: number;
  skipped: number;
  failed: number;
  pending: number;
  message: string;
}

interface LeaseRow {
  job: string;
  partition: string;
  token: string;
  owner: string;
  expiresAtMs: number;
  version: number;
}

const RUN_COLUMNS = `job, runId, toString(trigger) AS trigger, toUnixTimestamp64Milli(firedAt) AS firedAtMs,
  toUnixTimestamp64Milli(rangeFrom) AS fromMs, toUnixTimestamp64Milli(rangeTo) AS toMs, owner,
  toUnixTimestamp64Milli(startedAt) AS startedAtMs, toUnixTimestamp64Milli(finishedAt) AS finishedAtMs,
  toString(state) AS state, done, skipped, failed, pending, message`;

/**
 * The run ledger in the offline store (ClickHouse server or chDB), beside the outputs the jobs
 * write. Keeping it there rather than in a state file means the ledger and the outputs share one
 * lifetime: restoring, moving or wiping the store moves the ledger with it, so the ledger can
 * never claim partitions whose output is gone; and every process that can write the outputs (any
 * host, with a ClickHouse server) sees the same ledger and leases.
 *
 * ClickHouse has no transactions across tables, so "atomic with respect to the output" is
 * obtained by order: the `done` row is one single-row INSERT (atomic in ClickHouse), written only
 * after the task has returned, i.e. after its output is complete; tasks are idempotent per
 * partition, so a crash between the two makes the next run redo the partition, never duplicate it.
 *
 * Leases without compare-and-set: a claimant inserts its claim and then reads every live claim of
 * the partition; it holds the lease only if it sees no other. Of two racing claimants, the one
 * that inserts second reads after the first one's insert and backs off (both may back off; they
 * then retry after a random pause). This needs reads that see completed inserts, which holds for
 * one ClickHouse server and for chDB; on a replicated cluster set `insert_quorum` and
 * `select_sequential_consistency`. Expiry is judged by the caller's clock, so hosts sharing a
 * ledger need clocks within a small fraction of the lease time (NTP).
 */
export class OfflineStoreJobLedger implements JobLedger {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly store: OfflineStore,
    options: { sleep?: (ms: number) => Promise<void> } = {},
  ) {
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async prepare(): Promise<void> {
    for (const ddl of DDL) await this.store.command(ddl);
  }

  async partitions(job: string, keys?: readonly string[]): Promise<PartitionStatus[]> {
    if (keys && keys.length === 0) return [];
    const keyFilter = keys ? ' AND partition IN {keys:Array(String)}' : '';
    const rows = await this.store.query<AttemptRow>(
      `SELECT job, partition AS key, toUnixTimestamp64Milli(partitionFrom) AS fromMs, toUnixTimestamp64Milli(partitionTo) AS toMs,
         attempt, toString(state) AS state, runId, owner, toUnixTimestamp64Milli(at) AS atMs, rows, summary, error
       FROM ${JOB_PARTITIONS_TABLE}
       WHERE job = {job:String}${keyFilter}
         AND (partition, attempt) IN (SELECT partition, max(attempt) FROM ${JOB_PARTITIONS_TABLE} WHERE job = {job:String}${keyFilter} GROUP BY partition)`,
      keys ? { job, keys: [...keys] } : { job },
    );
    return foldAttempts(
      rows.map((r) => ({
        job: r.job,
        key: r.key,
        from: Number(r.fromMs),
        to: Number(r.toMs),
        attempt: Number(r.attempt),
        state: r.state,
        runId: r.runId,
        owner: r.owner,
        at: Number(r.atMs),
        rows: r.rows === null ? null : Number(r.rows),
        summary: r.summary,
        error: r.error,
      })),
    );
  }

  async recordAttempt(e: AttemptEntry): Promise<void> {
    await this.store.insert(JOB_PARTITIONS_TABLE, [
      {
        job: e.job,
        partition: e.key,
        partitionFrom: e.from,
        partitionTo: e.to,
        attempt: e.attempt,
        state: e.state,
        runId: e.runId,
        owner: e.owner,
        at: e.at,
        rows: e.rows ?? null,
        summary: e.summary ?? '',
        error: e.error ?? '',
      },
    ]);
  }

  async recordRun(r: RunRecord): Promise<void> {
    await this.store.insert(JOB_RUNS_TABLE, [
      {
        job: r.job,
        runId: r.runId,
        trigger: r.trigger,
        firedAt: r.firedAt,
        rangeFrom: r.from,
        rangeTo: r.to,
        owner: r.owner,
        startedAt: r.startedAt,
        finishedAt: r.finishedAt,
        state: r.state,
        done: r.done,
        skipped: r.skipped,
        failed: r.failed,
        pending: r.pending,
        message: r.message,
        version: r.state === 'running' ? 1 : 2,
      },
    ]);
  }

  async runs(job: string, limit: number): Promise<RunRecord[]> {
    const rows = await this.store.query<RunRow>(
      `SELECT ${RUN_COLUMNS} FROM ${JOB_RUNS_TABLE} FINAL WHERE job = {job:String} ORDER BY startedAtMs DESC, runId DESC LIMIT ${Math.max(0, Math.floor(limit))}`,
      { job },
    );
    return rows.map(toRun);
  }

  async latestRuns(): Promise<RunRecord[]> {
    const rows = await this.store.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM ${JOB_RUNS_TABLE} FINAL ORDER BY job, startedAtMs DESC, runId DESC LIMIT 1 BY job`);
    return rows.map(toRun);
  }

  async lastScheduledFire(job: string): Promise<number | undefined> {
    const rows = await this.store.query<{ t: number; n: number }>(
      `SELECT max(toUnixTimestamp64Milli(firedAt)) AS t, count() AS n FROM ${JOB_RUNS_TABLE} FINAL
       WHERE job = {job:String} AND trigger = 'schedule' AND state IN ('succeeded', 'failed')`,
      { job },
    );
    const row = rows[0];
    return row && Number(row.n) > 0 ? Number(row.t) : undefined;
  }

  async acquire(req: LeaseRequest): Promise<AcquireResult> {
    let lastHolder: Lease | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await this.live(req.job, req.partition, req.now);
      if (before[0]) return { ok: false, holder: before[0] };
      const lease: Lease = { job: req.job, partition: req.partition, token: randomUUID(), owner: req.owner, expiresAt: req.now + req.ttlMs, version: 1 };
      await this.write(lease, false);
      const others = (await this.live(req.job, req.partition, req.now)).filter((l) => l.token !== lease.token);
      if (others.length === 0) return { ok: true, lease };
      // A racing claimant: both may see each other, so back off, release ours and look again.
      lastHolder = others[0];
      await this.release(lease);
      await this.sleep(10 + Math.floor(Math.random() * 90));
    }
    return { ok: false, holder: lastHolder as Lease };
  }

  async renew(lease: Lease, ttlMs: number, now: number): Promise<Lease | undefined> {
    const taken = (l: Lease[]) => l.some((x) => x.token !== lease.token);
    if (taken(await this.live(lease.job, lease.partition, now))) return undefined;
    const mine = await this.row(lease);
    if (!mine || mine.released) return undefined;
    const renewed: Lease = { ...lease, expiresAt: now + ttlMs, version: Math.max(lease.version, mine.version) + 1 };
    await this.write(renewed, false);
    if (taken(await this.live(lease.job, lease.partition, now))) return undefined;
    return renewed;
  }

  async release(lease: Lease): Promise<void> {
    await this.write({ ...lease, version: RELEASED_VERSION }, true);
  }

  async leases(job: string, now: number): Promise<Lease[]> {
    const rows = await this.store.query<LeaseRow>(
      `SELECT * FROM (
         SELECT job, partition, token, owner, toUnixTimestamp64Milli(expiresAt) AS expiresAtMs, version, released
         FROM ${JOB_LEASES_TABLE} FINAL WHERE job = {job:String}
       ) WHERE released = 0 AND expiresAtMs > {now:Int64} ORDER BY partition, expiresAtMs DESC`,
      { job, now },
    );
    return rows.map(toLease);
  }

  /** Live claims of one partition, longest-lasting first. */
  private async live(job: string, partition: string, now: number): Promise<Lease[]> {
    const rows = await this.store.query<LeaseRow>(
      `SELECT * FROM (
         SELECT job, partition, token, owner, toUnixTimestamp64Milli(expiresAt) AS expiresAtMs, version, released
         FROM ${JOB_LEASES_TABLE} FINAL WHERE job = {job:String} AND partition = {partition:String}
       ) WHERE released = 0 AND expiresAtMs > {now:Int64} ORDER BY expiresAtMs DESC, token`,
      { job, partition, now },
    );
    return rows.map(toLease);
  }

  private async row(lease: Lease): Promise<{ version: number; released: boolean } | undefined> {
    const rows = await this.store.query<{ version: number; released: number }>(
      `SELECT version, released FROM ${JOB_LEASES_TABLE} FINAL WHERE job = {job:String} AND partition = {partition:String} AND token = {token:String}`,
      { job: lease.job, partition: lease.partition, token: lease.token },
    );
    const r = rows[0];
    return r ? { version: Number(r.version), released: Number(r.released) === 1 } : undefined;
  }

  private async write(lease: Lease, released: boolean): Promise<void> {
    await this.store.insert(JOB_LEASES_TABLE, [
      { job: lease.job, partition: lease.partition, token: lease.token, owner: lease.owner, expiresAt: lease.expiresAt, released: released ? 1 : 0, version: lease.version },
    ]);
  }
}

function toRun(r: RunRow): RunRecord {
  return {
    job: r.job,
    runId: r.runId,
    trigger: r.trigger,
    firedAt: Number(r.firedAtMs),
    from: Number(r.fromMs),
    to: Number(r.toMs),
    owner: r.owner,
    startedAt: Number(r.startedAtMs),
    finishedAt: r.finishedAtMs === null ? null : Number(r.finishedAtMs),
    state: r.state,
    done: Number(r.done),
    skipped: Number(r.skipped),
    failed: Number(r.failed),
    pending: Number(r.pending),
    message: r.message,
  };
}

function toLease(r: LeaseRow): Lease {
  return { job: r.job, partition: r.partition, token: r.token, owner: r.owner, expiresAt: Number(r.expiresAtMs), version: Number(r.version) };
}
