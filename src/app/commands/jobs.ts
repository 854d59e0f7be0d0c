import { resolve } from 'node:path';
import { DateTime } from 'luxon';
import type { Command, CommandContext } from '../command.js';
import { numberOption, stringOption } from '../command.js';
import { writeBatchFeatures } from '../../batch/batch-features.js';
import { checkFeatureConsistency } from '../../batch/consistency.js';
import { FeatureReader } from '../../serving/feature-reader.js';
import { createStreamKeys } from '../../streaming/stream-keys.js';
import { STREAM_DEFAULTS } from '../../streaming/stream-processor.js';
import { buildSamples } from '../../batch/build-samples.js';
import { TesseraError, UsageError } from '../../errors.js';
import { JobTaskUnboundError, PartitionNotReadyError } from '../../jobs/job-errors.js';
import { formatInstant, tryParseInstant } from '../../events/time.js';
import type { JobDefinition } from '../../jobs/job-definition.js';
import type { JobLedger, RunRecord } from '../../jobs/ledger.js';
import { loadJobDefinitions } from '../../jobs/load-jobs.js';
import { OfflineStoreJobLedger } from '../../jobs/offline-job-ledger.js';
import { isLocalOwnerAlive, processOwner } from '../../jobs/owner.js';
import { instantKey, type TimeRange } from '../../jobs/partitions.js';
import { runJob, type PartitionOutcome, type RunEvent, type RunReport } from '../../jobs/runner.js';
import { JobScheduler, SYSTEM_SCHEDULER_CLOCK } from '../../jobs/scheduler.js';
import { boundKinds, builtinTaskResolver, TASK_KINDS, type BatchTaskBindings, type TaskKind } from '../../jobs/tasks.js';
import { serveMetrics } from '../../observability/metrics-server.js';
import { formatCount, formatDuration, ProgressBar } from '../../observability/progress.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { Runtime } from '../runtime.js';
import { onShutdownSignal } from '../signals.js';
import { withRuntime } from '../with-runtime.js';

/** Exit code of `jobs run` when partitions were left for later (busy, not settled, interrupted). */
export const EXIT_INCOMPLETE = 3;

/**
 * The batch work the shipped job definitions call (see src/jobs/tasks.ts), bound to this
 * runtime. A kind left out here still lists and schedules; running it fails with
 * `JOB_TASK_UNBOUND`. Still to bind when they land:
 * - recompute: the full recompute of `tessera batch features --until <ISO>` (batch view into the
 *   online store as of `until`);
 * - consistency: the check of `tessera check consistency --sample N`, throwing on mismatches so
 *   the run fails.
 */
export function jobTaskBindings(rt: Runtime): BatchTaskBindings {
  // each run takes the versions serving at its start (docs/architecture.md, The registry)
  const serving = () => rt.servingGroups();
  return {
    samples: async ({ from, to, completeThrough }, ctx) => {
      const r = await buildSamples({ offline: await ctx.offline(), logger: ctx.logger }, { catalog: rt.project.catalog, groups: await serving(), rule: rt.project.labels, from, to, completeThrough });
      if (r.immature > 0) {
        // written so far is replaced by the rerun; marking the hour done would lose these for good
        throw new PartitionNotReadyError(
          `${r.immature} of the hour's ${r.impressions} impressions still have open label windows at ${formatInstant(completeThrough)}; raise the job's settle above the longest label window plus the allowed lateness`,
        );
      }
      return { rows: r.samples, summary: `${formatCount(r.samples)} samples, ${formatCount(r.clickPositives)} clicked, ${formatCount(r.orderPositives)} ordered, ${r.seconds.toFixed(1)}s` };
    },
    // a rerun writes a fresh namespace and flips the view again: idempotent per partition
    recompute: async ({ until }, ctx) => {
      if (!rt.config.redisUrl) throw new UsageError('the recompute writes batch views into Redis: set TESSERA_REDIS_URL');
      const views = await writeBatchFeatures(
        { offline: await ctx.offline(), store: ctx.online(), prefix: rt.config.topicPrefix, now: ctx.now },
        { until, groups: await serving(), graceMs: 86_400_000, latenessMs: STREAM_DEFAULTS.latenessMs, versions: await rt.servingVersions(), onProgress: (_g, n) => ctx.progress(n) },
      );
      const entities = views.reduce((n, v) => n + v.entities, 0);
      return { rows: entities, summary: views.map((v) => `${v.group} ${formatCount(v.entities)}`).join(', ') };
    },
    consistency: async ({ sample }, ctx) => {
      if (!rt.config.redisUrl) throw new UsageError('the consistency check reads the online state: set TESSERA_REDIS_URL');
      const groups = await serving();
      const reader = new FeatureReader({ store: ctx.online(), keys: createStreamKeys(rt.config.topicPrefix), groups: rt.project.groups, ...(rt.definitions ? { definitions: rt.definitions } : {}), clock: ctx.now });
      const report = await checkFeatureConsistency({ offline: await ctx.offline(), reader, groups }, { perGroup: sample, q: 'watermark' });
      const compared = Object.values(report.groups).reduce((n, g) => n + g.entities, 0);
      if (report.totalMismatches > 0) throw new Error(`consistency: ${report.totalMismatches} mismatching values over ${compared} entities (run tessera check consistency --json for the details)`);
      return { rows: compared, summary: `${compared} entities at ${formatInstant(report.q)}, no mismatch` };
    },
  };
}

const SUBCOMMANDS = ['list', 'run', 'schedule', 'status'] as const;

export const jobsCommand: Command = {
  name: 'jobs',
  summary: 'Batch jobs (jobs/): list them, run one over a range (resumable), run the cron scheduler, show a job\'s ledger.',
  usage: 'tessera jobs list | run <name> [--from <ISO> --to <ISO> | --at <ISO>] [--force] | schedule [--jobs a,b] | status <name>',
  details: `Job definitions live in jobs/ (TESSERA_JOBS_DIR): a cron schedule in a zone, a partitioning
(UTC hours, days of the zone, or one partition per run) and a task. See jobs/README.md.

  list             definitions, schedules, next fire times and the last run of each job
  run <name>       run a job over --from/--to (partition boundaries) or, without them, over the
                   range of its latest scheduled time; --at <ISO> for one-partition jobs.
                   Partitions already done are skipped (--force reruns them); a killed run,
                   rerun with the same arguments, redoes only the partition it was in.
                   Exit 0 all done, 1 a partition failed, ${EXIT_INCOMPLETE} some left (busy, not settled, stopped).
  schedule         fire jobs by their cron schedules until SIGTERM/SIGINT (which stop after the
                   partitions in flight); a missed firing is caught up once at start.
  status <name>    the job's recent runs, partitions (state, attempts) and live leases.

The run ledger (tables job_runs, job_partitions, job_leases) lives in the offline store: chDB
(one process at a time: stop \`jobs schedule\` before a manual run) or TESSERA_CLICKHOUSE_URL.`,
  options: {
    from: { type: 'string', description: 'run: range start, ISO-8601 with zone, on a partition boundary' },
    to: { type: 'string', description: 'run: range end (exclusive), ISO-8601 with zone, on a partition boundary' },
    at: { type: 'string', description: 'run: the as-of time of a one-partition job', defaultText: 'its latest scheduled time' },
    force: { type: 'boolean', description: 'run: rerun partitions that are already done' },
    jobs: { type: 'string', description: 'schedule: comma-separated jobs to schedule', defaultText: 'all' },
    limit: { type: 'string', description: 'status: runs and partitions to show', defaultText: '20' },
    'metrics-port': { type: 'string', description: 'schedule: serve Prometheus metrics on 127.0.0.1:<port>/metrics' },
    json: { type: 'boolean', description: 'Print JSON (no progress bar)' },
  },
  allowPositionals: true,
  async run(ctx) {
    const [sub, name, ...extra] = ctx.positionals;
    if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
      throw new UsageError(`expected one of ${SUBCOMMANDS.join(', ')}${sub ? `, got "${sub}"` : ''}`);
    }
    const needsName = sub === 'run' || sub === 'status';
    if (needsName && !name) throw new UsageError(`jobs ${sub} needs a job name (tessera jobs list shows them)`);
    if (extra.length > 0 || (!needsName && name)) throw new UsageError(`unexpected argument "${needsName ? extra[0] : name}"`);
    return withRuntime(ctx, {}, async (rt) => {
      const bindings = jobTaskBindings(rt);
      const dir = rt.config.jobsDir ?? resolve(PACKAGE_ROOT, 'jobs');
      const defs = await loadJobDefinitions(dir, builtinTaskResolver(bindings));
      switch (sub) {
        case 'list':
          return list(ctx, rt, defs, bindings);
        case 'run':
          return run(ctx, rt, find(defs, name as string), bindings);
        case 'schedule':
          return schedule(ctx, rt, defs, bindings);
        default:
          return status(ctx, rt, find(defs, name as string));
      }
    });
  },
};

function find(defs: readonly JobDefinition[], name: string): JobDefinition {
  const def = defs.find((d) => d.name === name);
  if (!def) throw new UsageError(`unknown job "${name}"; the jobs are ${defs.map((d) => d.name).join(', ') || '(none)'}`);
  return def;
}

async function openLedger(rt: Runtime): Promise<JobLedger> {
  const ledger = new OfflineStoreJobLedger(await rt.offline());
  await ledger.prepare();
  return ledger;
}

function instantOption(ctx: CommandContext, name: string): number | undefined {
  const text = stringOption(ctx, name);
  if (text === undefined) return undefined;
  const parsed = tryParseInstant(/^-?\d+$/.test(text) ? Number(text) : text);
  if (!parsed.ok) throw new UsageError(`--${name}: ${parsed.error}`);
  return parsed.value;
}

/** The range `jobs run` covers, and the scheduled time it stands for. */
export function runRange(def: JobDefinition, opts: { from?: number; to?: number; at?: number }, now: number): { range: TimeRange; firedAt: number } {
  const latest = def.schedule.prev(now) ?? now;
  if (def.partitioning.unit === 'single') {
    if (opts.from !== undefined || opts.to !== undefined) throw new UsageError(`${def.name} runs as one partition per firing; give --at <ISO> instead of --from/--to`);
    const at = opts.at ?? latest;
    return { range: { from: at, to: at }, firedAt: at };
  }
  if (opts.at !== undefined) throw new UsageError(`--at is for one-partition jobs; ${def.name} has ${def.partitioning.unit} partitions: give --from and --to`);
  if ((opts.from === undefined) !== (opts.to === undefined)) throw new UsageError('give both --from and --to, or neither (the range of the latest scheduled time)');
  if (opts.from !== undefined && opts.to !== undefined) return { range: { from: opts.from, to: opts.to }, firedAt: now };
  return { range: def.scheduledRange(latest), firedAt: latest };
}

/** Refuses a job whose built-in task has no implementation in this build, before touching the ledger. */
function assertBound(def: JobDefinition, bindings: BatchTaskBindings): void {
  if ((TASK_KINDS as readonly string[]).includes(def.task) && !boundKinds(bindings)[def.task as TaskKind]) {
    throw new JobTaskUnboundError(def.name, def.task, 'the batch work it calls has not landed in this build (see jobs/README.md)');
  }
}

async function run(ctx: CommandContext, rt: Runtime, def: JobDefinition, bindings: BatchTaskBindings): Promise<number> {
  assertBound(def, bindings);
  const json = ctx.values.json === true;
  const now = rt.clock();
  const { range, firedAt } = runRange(def, { from: instantOption(ctx, 'from'), to: instantOption(ctx, 'to'), at: instantOption(ctx, 'at') }, now);
  def.partitions(range); // validates the range before opening anything
  const ledger = await openLedger(rt);
  const bar = new ProgressBar({ label: def.name, unit: 'partitions', out: ctx.stderr, mode: json ? 'quiet' : undefined });
  const stop = new AbortController();
  const off = onShutdownSignal(() => stop.abort(new Error('stopped by signal')));
  let report: RunReport;
  try {
    report = await runJob(def, range, {
      ledger,
      owner: processOwner(),
      clock: rt.clock,
      ports: { offline: () => rt.offline(), online: () => rt.online() },
      trigger: 'manual',
      firedAt,
      force: ctx.values.force === true,
      signal: stop.signal,
      logger: rt.logger,
      metrics: rt.metrics,
      isOwnerAlive: isLocalOwnerAlive,
      onEvent: json ? undefined : progressReporter(ctx, def, bar),
    });
  } finally {
    off();
    bar.finish();
  }
  if (json) ctx.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else ctx.stdout.write(`${def.name} ${report.runId}: ${report.state} (${report.counts.done} done, ${report.counts.skipped} already done, ${report.counts.failed} failed, ${report.counts.pending} left)\n`);
  return report.state === 'succeeded' ? 0 : report.state === 'failed' ? 1 : EXIT_INCOMPLETE;
}

/** Drives the progress bar and prints one line per partition outcome (stderr). */
function progressReporter(ctx: CommandContext, def: JobDefinition, bar: ProgressBar): (e: RunEvent) => void {
  const say = (line: string) => {
    bar.clear();
    ctx.stderr.write(line + '\n');
  };
  return (e) => {
    switch (e.type) {
      case 'planned':
        bar.setTotal(e.todo);
        say(`${def.name} run ${e.runId}: ${e.total} partitions, ${e.skipped} already done, ${e.unsettled} not settled yet, ${e.todo} to run`);
        bar.update(0);
        break;
      case 'partition-started':
        bar.update(e.index, `${e.partition.key} attempt ${e.attempt}`);
        break;
      case 'partition-progress': {
        const frac = e.total ? Math.min(e.done / e.total, 0.999) : 0;
        bar.update(e.index + frac, `${e.partition.key} ${formatCount(e.done)}${e.total !== undefined ? `/${formatCount(e.total)}` : ''}`);
        break;
      }
      case 'partition-finished':
        say(`  ${e.partition.key} ${describeOutcome(e.outcome)}`);
        bar.update(e.index + 1, `${e.partition.key} ${e.outcome.outcome}`);
        break;
    }
  };
}

function describeOutcome(o: PartitionOutcome): string {
  switch (o.outcome) {
    case 'done':
      return `done (attempt ${o.attempt}${o.rows !== null ? `, ${formatCount(o.rows)} rows` : ''}, ${formatDuration(o.ms)})${o.summary ? `: ${o.summary}` : ''}`;
    case 'failed':
      return `FAILED (attempt ${o.attempt}): ${o.error}`;
    case 'busy':
      return `busy: ${o.holder} holds it until ${formatInstant(o.until)}`;
    case 'unsettled':
      return `not settled until ${formatInstant(o.readyAt)}`;
    case 'lost':
      return 'lease lost to another run; not marked done';
    default:
      return o.outcome;
  }
}

async function schedule(ctx: CommandContext, rt: Runtime, all: readonly JobDefinition[], bindings: BatchTaskBindings): Promise<number> {
  const names = stringOption(ctx, 'jobs')?.split(',').map((s) => s.trim()).filter(Boolean);
  const chosen = names ? names.map((n) => find(all, n)) : [...all];
  if (names) chosen.forEach((d) => assertBound(d, bindings));
  const defs = chosen.filter((d) => {
    try {
      assertBound(d, bindings);
      return true;
    } catch (err) {
      ctx.stderr.write(`not scheduling ${d.name}: ${(err as Error).message}\n`);
      return false;
    }
  });
  if (defs.length === 0) throw new UsageError('no job to schedule: every chosen job has an unbound task');
  const ledger = await openLedger(rt);
  const metricsPort = stringOption(ctx, 'metrics-port');
  const server = metricsPort ? await serveMetrics(rt.metrics, numberOption(ctx, 'metrics-port', 0, { min: 1 })) : null;
  const owner = processOwner();
  const scheduler = new JobScheduler(defs, {
    clock: SYSTEM_SCHEDULER_CLOCK,
    logger: rt.logger,
    lastFired: (job) => ledger.lastScheduledFire(job),
    fire: async (def, firedAt, signal) => {
      const report = await runJob(def, def.scheduledRange(firedAt), {
        ledger,
        owner,
        clock: rt.clock,
        ports: { offline: () => rt.offline(), online: () => rt.online() },
        trigger: 'schedule',
        firedAt,
        signal,
        logger: rt.logger,
        metrics: rt.metrics,
        isOwnerAlive: isLocalOwnerAlive,
      });
      ctx.stdout.write(
        `${formatInstant(rt.clock())} ${def.name} (fired for ${instantKey(firedAt)}): ${report.state}, ${report.counts.done} done, ${report.counts.skipped} already done, ${report.counts.failed} failed, ${report.counts.pending} left\n`,
      );
    },
  });
  const off = onShutdownSignal(() => scheduler.stop());
  const now = rt.clock();
  for (const d of defs) ctx.stdout.write(`scheduling ${d.name} "${d.schedule.expression}" ${d.schedule.zone}, next ${instantKey(d.schedule.next(now))}\n`);
  try {
    await scheduler.run();
  } finally {
    off();
    server?.close();
  }
  ctx.stdout.write(`scheduler stopped after ${scheduler.fired.length} firing${scheduler.fired.length === 1 ? '' : 's'}\n`);
  return 0;
}

function describeDef(def: JobDefinition, now: number, bound: Record<TaskKind, boolean>) {
  const next = def.schedule.next(now);
  const isKind = (TASK_KINDS as readonly string[]).includes(def.task);
  return {
    name: def.name,
    description: def.description,
    schedule: def.schedule.expression,
    timezone: def.schedule.zone,
    partition: def.partitioning.unit,
    settle: def.settle.toISO(),
    lookback: def.partitioning.unit === 'single' ? null : def.lookback.toISO(),
    task: def.task,
    bound: isKind ? bound[def.task as TaskKind] : true,
    source: def.source,
    nextFire: formatInstant(next),
    nextFireLocal: DateTime.fromMillis(next, { zone: def.schedule.zone }).toFormat("yyyy-MM-dd HH:mm ZZZZ"),
  };
}

function runLine(r: RunRecord | undefined): string {
  if (!r) return 'never run';
  const when = instantKey(r.finishedAt ?? r.startedAt);
  if (r.state === 'running') return `running or crashed (started ${instantKey(r.startedAt)} by ${r.owner})`;
  return `${r.state} ${when} (${r.trigger}; ${r.done} done, ${r.skipped} already done, ${r.failed} failed, ${r.pending} left)`;
}

async function list(ctx: CommandContext, rt: Runtime, defs: readonly JobDefinition[], bindings: BatchTaskBindings): Promise<number> {
  const now = rt.clock();
  const bound = boundKinds(bindings);
  let latest: RunRecord[] | undefined;
  let unavailable: string | undefined;
  try {
    latest = await (await openLedger(rt)).latestRuns();
  } catch (err) {
    if (!(err instanceof TesseraError)) throw err;
    unavailable = err.message;
  }
  const rows = defs.map((d) => ({ ...describeDef(d, now, bound), lastRun: latest?.find((r) => r.job === d.name) ?? null }));
  if (ctx.values.json === true) {
    ctx.stdout.write(JSON.stringify({ jobs: rows, ledger: unavailable ? { unavailable } : 'ok' }, null, 2) + '\n');
    return 0;
  }
  for (const r of rows) {
    ctx.stdout.write(`${r.name}  "${r.schedule}" ${r.timezone}  ${r.partition} partitions  task ${r.task}${r.bound ? '' : ' (not bound in this build)'}\n`);
    ctx.stdout.write(`    ${r.description}\n`);
    ctx.stdout.write(`    next ${r.nextFire} (${r.nextFireLocal}); last: ${latest ? runLine(r.lastRun ?? undefined) : 'ledger unavailable'}\n`);
  }
  if (unavailable) ctx.stdout.write(`(last results unavailable: ${unavailable})\n`);
  return 0;
}

async function status(ctx: CommandContext, rt: Runtime, def: JobDefinition): Promise<number> {
  const limit = numberOption(ctx, 'limit', 20, { min: 1 });
  const ledger = await openLedger(rt);
  const now = rt.clock();
  const runs = await ledger.runs(def.name, limit);
  const all = await ledger.partitions(def.name);
  const partitions = all.slice(-limit);
  const leases = await ledger.leases(def.name, now);
  if (ctx.values.json === true) {
    ctx.stdout.write(JSON.stringify({ job: describeDef(def, now, boundKinds(jobTaskBindings(rt))), partitionCount: all.length, runs, partitions, leases }, null, 2) + '\n');
    return 0;
  }
  ctx.stdout.write(`${def.name}: ${def.description}\n  "${def.schedule.expression}" ${def.schedule.zone}, next ${instantKey(def.schedule.next(now))}; ${def.partitioning.unit} partitions, ${all.length} in the ledger\n`);
  ctx.stdout.write(`runs (newest first):\n`);
  if (runs.length === 0) ctx.stdout.write('  none\n');
  for (const r of runs) ctx.stdout.write(`  ${r.runId}  ${instantKey(r.from)} .. ${instantKey(r.to)}  ${runLine(r)}${r.message ? `  ${r.message}` : ''}\n`);
  ctx.stdout.write(`partitions (latest ${partitions.length}):\n`);
  for (const p of partitions) {
    const took = p.finishedAt !== null ? `, ${formatDuration(p.finishedAt - p.startedAt)}` : '';
    const extra = p.state === 'failed' ? `: ${p.error}` : p.summary ? `: ${p.summary}` : '';
    ctx.stdout.write(`  ${p.key}  ${p.state.padEnd(7)} attempts ${p.attempts}${p.rows !== null ? `, ${formatCount(p.rows)} rows` : ''}${took}${extra}\n`);
  }
  if (leases.length > 0) {
    ctx.stdout.write('leases:\n');
    for (const l of leases) ctx.stdout.write(`  ${l.partition}  ${l.owner} until ${formatInstant(l.expiresAt)}\n`);
  }
  return 0;
}
