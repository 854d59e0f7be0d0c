import { DateTime, Duration } from 'luxon';
import type { Logger } from '../ports/logger.js';
import type { OfflineStore } from '../ports/offline-store.js';
import type { OnlineStore } from '../ports/online-store.js';
import { parseCron, type CronSchedule } from './cron.js';
import { JobDefinitionError } from './job-errors.js';
import { PARTITION_UNITS, Partitioning, type Partition, type PartitionUnit, type TimeRange } from './partitions.js';

/** What a task reports about a finished partition; shown by `tessera jobs status`. */
export interface TaskResult {
  /** Output rows the partition produced, when the task counts them. */
  rows?: number;
  /** One line for humans, e.g. `12,345 samples, 3.1 % clicked`. */
  summary?: string;
}

/**
 * What a task gets besides its partition. The ports are opened lazily by the composition root,
 * so a task only opens what it uses.
 */
export interface JobTaskContext {
  readonly job: string;
  /**
   * Aborted on shutdown (SIGTERM) or when the run loses its lease. A task may stop early and
   * throw; one that ignores it is simply waited for (the partition then still counts).
   */
  readonly signal: AbortSignal;
  /** Reports progress inside the partition (rows, steps: any unit); drives the progress bar. */
  progress(done: number, total?: number): void;
  readonly logger: Logger;
  offline(): Promise<OfflineStore>;
  online(): OnlineStore;
  /** The run's clock, epoch ms. */
  now(): number;
}

/**
 * Runs one partition. It must be idempotent per partition: running it again replaces the
 * partition's output (delete-then-insert, `REPLACE PARTITION`, a versioned namespace...), because
 * a crash after the output is written but before the ledger records it makes the next run redo
 * the partition.
 */
export type JobTask = (partition: Partition, ctx: JobTaskContext) => Promise<TaskResult | void>;

/**
 * A job as written in `jobs/<name>.json` (or exported by `jobs/<name>.mjs`, with `run` instead of
 * `task`). Durations are ISO 8601 (`PT1H`, `P1D`).
 */
export interface JobSpec {
  /** kebab-case; equal to the file name without extension. */
  name: string;
  description: string;
  /** 5-field cron, matched against the wall clock of `timezone`. */
  schedule: string;
  /** IANA zone of the schedule and of `day` partitions. Default `UTC`. */
  timezone?: string;
  partition: PartitionUnit;
  /** How long after a partition ends its input is complete. Default `PT0S`. */
  settle?: string;
  /** How far back one scheduled run reaches (catching up what missed runs left). Default: one partition. */
  lookback?: string;
  /** How long a partition lease lasts without renewal (renewed every third of it). Default `PT1M`. */
  leaseTtl?: string;
  /** A built-in task kind (`samples`, `recompute`, `consistency`). */
  task?: string;
  /** The task kind's options. */
  options?: Record<string, unknown>;
  /** A task in code (JavaScript job modules). */
  run?: JobTask;
}

/** A validated job: what the runner, the scheduler and the CLI use. */
export interface JobDefinition {
  readonly name: string;
  readonly description: string;
  readonly schedule: CronSchedule;
  readonly partitioning: Partitioning;
  readonly settle: Duration;
  readonly lookback: Duration;
  readonly leaseTtlMs: number;
  /** The task kind, or `custom` for a task in code. */
  readonly task: string;
  /** Where the definition came from (file name), for messages. */
  readonly source: string;
  readonly run: JobTask;
  /** When a partition's input is complete and it may run: its end plus `settle`. */
  settledAt(partition: Partition): number;
  /** The range a scheduled firing at `firedAt` covers. */
  scheduledRange(firedAt: number): TimeRange;
  /** The partitions of a range, oldest first. */
  partitions(range: TimeRange): Partition[];
}

/** Turns a task kind and its options into a task, or explains why it cannot (see tasks.ts). */
export type TaskResolver = (
  kind: string,
  options: Record<string, unknown>,
  job: string,
  /** When a partition ending at `to` has complete input (end plus the job's settle, in its zone). */
  settledAt: (to: number) => number,
) => { task: JobTask } | { problems: string[] };

const NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const SPEC_FIELDS = new Set(['name', 'description', 'schedule', 'timezone', 'partition', 'settle', 'lookback', 'leaseTtl', 'task', 'options', 'run']);
const MIN_LEASE_MS = 5_000;

/**
 * Validates a job spec and builds its definition. Every problem is collected, so a file with
 * three mistakes reports three sentences, each saying what to write instead.
 *
 * @throws JobDefinitionError
 * @example defineJob({ name: 'hourly-samples', description: '...', schedule: '15 * * * *', partition: 'hour',
 *   settle: 'PT25H', lookback: 'PT48H', task: 'samples' }, { source: 'jobs/hourly-samples.json', resolveTask })
 */
export function defineJob(raw: unknown, options: { source: string; resolveTask: TaskResolver }): JobDefinition {
  const problems: string[] = [];
  const where = `job definition ${options.source}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new JobDefinitionError(where, ['must be an object with name, description, schedule, partition and task (see jobs/README.md)']);
  }
  const spec = raw as Partial<Record<keyof JobSpec, unknown>>;
  for (const key of Object.keys(spec)) {
    if (!SPEC_FIELDS.has(key)) problems.push(`unknown field "${key}"; the fields are ${[...SPEC_FIELDS].join(', ')}`);
  }
  const name = typeof spec.name === 'string' ? spec.name : '';
  if (!NAME.test(name)) problems.push(`name ${JSON.stringify(spec.name)} must be kebab-case (lower-case letters, digits and single dashes), e.g. "hourly-samples"`);
  const description = typeof spec.description === 'string' ? spec.description.trim() : '';
  if (description === '') problems.push('description is missing: one sentence saying what the job produces');
  const zone = spec.timezone === undefined ? 'UTC' : spec.timezone;
  let schedule: CronSchedule | undefined;
  if (typeof spec.schedule !== 'string') problems.push('schedule is missing: a 5-field cron expression such as "15 * * * *"');
  else if (typeof zone !== 'string') problems.push('timezone must be an IANA zone name such as "UTC" or "Europe/Berlin"');
  else {
    try {
      schedule = parseCron(spec.schedule, zone);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const unit = spec.partition;
  if (typeof unit !== 'string' || !PARTITION_UNITS.includes(unit as PartitionUnit)) {
    problems.push(`partition ${JSON.stringify(unit)} must be one of ${PARTITION_UNITS.map((u) => `"${u}"`).join(', ')}`);
  }
  const settle = duration(spec.settle, 'settle', 'PT0S', problems, { allowZero: true });
  const lookback = duration(spec.lookback, 'lookback', unit === 'day' ? 'P1D' : 'PT1H', problems, { allowZero: false });
  const leaseTtl = duration(spec.leaseTtl, 'leaseTtl', 'PT1M', problems, { allowZero: false });
  if (leaseTtl && leaseTtl.as('milliseconds') < MIN_LEASE_MS) problems.push(`leaseTtl ${spec.leaseTtl as string} is shorter than 5 s; a lease must outlive a slow round trip to the store (e.g. "PT1M")`);
  if (unit === 'single' && spec.lookback !== undefined) problems.push('lookback applies to hour and day partitions only; a single-partition job runs once per firing');

  let run: JobTask | undefined;
  let task = 'custom';
  if (spec.run !== undefined && spec.task !== undefined) problems.push('give either task (a built-in kind) or run (a function), not both');
  else if (spec.run !== undefined) {
    if (typeof spec.run !== 'function') problems.push('run must be a function (partition, ctx) => Promise<{ rows?, summary? }>');
    else run = spec.run as JobTask;
    if (spec.options !== undefined) problems.push('options belong to a built-in task; a job with run reads its own settings');
  } else if (typeof spec.task !== 'string') {
    problems.push('task is missing: one of the built-in kinds (samples, recompute, consistency), or export a run function from a .mjs job module');
  } else {
    task = spec.task;
    const opts = spec.options === undefined ? {} : spec.options;
    if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) problems.push('options must be an object');
    else {
      // validated even when settle is not, so one pass reports every problem
      const settleZone = typeof zone === 'string' ? zone : 'UTC';
      const after = settle ?? Duration.fromMillis(0);
      const resolved = options.resolveTask(task, opts as Record<string, unknown>, name, (to) => DateTime.fromMillis(to, { zone: settleZone }).plus(after).toMillis());
      if ('problems' in resolved) problems.push(...resolved.problems);
      else run = resolved.task;
    }
  }
  if (problems.length > 0 || !schedule || !settle || !lookback || !leaseTtl || !run) {
    throw new JobDefinitionError(name ? `job "${name}" (${options.source})` : where, problems.length > 0 ? problems : ['is incomplete']);
  }
  const partitioning = new Partitioning(unit as PartitionUnit, schedule.zone);
  const settleDuration = settle;
  const lookbackDuration = lookback;
  return {
    name,
    description,
    schedule,
    partitioning,
    settle: settleDuration,
    lookback: lookbackDuration,
    leaseTtlMs: leaseTtl.as('milliseconds'),
    task,
    source: options.source,
    run,
    settledAt: (p) => DateTime.fromMillis(p.to, { zone: schedule.zone }).plus(settleDuration).toMillis(),
    scheduledRange: (firedAt) => partitioning.scheduledRange(firedAt, settleDuration, lookbackDuration),
    partitions: (range) => partitioning.list(range),
  };
}

function duration(value: unknown, field: string, fallback: string, problems: string[], { allowZero }: { allowZero: boolean }): Duration | undefined {
  const text = value === undefined ? fallback : value;
  if (typeof text !== 'string') {
    problems.push(`${field} must be an ISO 8601 duration string such as "PT1H" or "P1D"`);
    return undefined;
  }
  const d = Duration.fromISO(text);
  if (!d.isValid) {
    problems.push(`${field} ${JSON.stringify(text)} is not an ISO 8601 duration; write e.g. "PT30M", "PT25H" or "P1D"`);
    return undefined;
  }
  const ms = d.as('milliseconds');
  if (ms < 0 || (!allowZero && ms === 0)) {
    problems.push(`${field} ${JSON.stringify(text)} must be ${allowZero ? 'zero or positive' : 'positive'}`);
    return undefined;
  }
  return d;
}
