import type { Command, CommandContext } from '../command.js';
import { durationOption, instantOption, stringOption } from '../command.js';
import { UsageError } from '../../errors.js';
import { buildSamples, type BuildSamplesResult } from '../../batch/build-samples.js';
import { DEFAULT_SAMPLES_TABLE } from '../../batch/samples-table.js';
import { formatInstant, parseInstant } from '../../events/time.js';
import { labelRuleOf, withRuntime } from '../with-runtime.js';
import { writeBatchFeatures } from '../../batch/batch-features.js';
import { STREAM_DEFAULTS } from '../../streaming/stream-processor.js';
import { selectGroups } from './stream.js';

/**
 * `tessera batch <job>`: the batch layer's one-shot jobs over the offline store. Each job is one
 * entry of {@link BATCH_JOBS} (a usage line and a run function); the command's options are the
 * union of the jobs' options, so adding a job is adding an entry and its options.
 */
interface BatchJob {
  readonly usage: string;
  readonly summary: string;
  run(ctx: CommandContext): Promise<number>;
}

const count = (n: number): string => n.toLocaleString('en-US');

function printSamples(ctx: CommandContext, r: BuildSamplesResult, table: string): void {
  if (ctx.values.json === true) {
    ctx.stdout.write(
      JSON.stringify(
        { ...r, table, from: formatInstant(r.from), to: formatInstant(r.to), completeThrough: r.completeThrough === null ? null : formatInstant(r.completeThrough) },
        null,
        2,
      ) + '\n',
    );
    return;
  }
  const through = r.completeThrough === null ? 'the raw tables are empty' : `input complete through ${formatInstant(r.completeThrough)}`;
  ctx.stdout.write(
    `samples [${formatInstant(r.from)}, ${formatInstant(r.to)}) -> ${table} (${through})\n` +
      `  impressions      ${count(r.impressions)}\n` +
      `  samples          ${count(r.samples)}${r.immature > 0 ? ` (${count(r.immature)} immature: label windows still open)` : ''}\n` +
      `  click positives  ${count(r.clickPositives)}\n` +
      `  order positives  ${count(r.orderPositives)}\n` +
      `  seconds          ${r.seconds.toFixed(2)}\n`,
  );
}

const samplesJob: BatchJob = {
  usage: 'tessera batch samples --from <ISO> --to <ISO> [--click-window <d>] [--order-window <d>] [--complete-through <ISO>] [--table samples] [--json]',
  summary: 'point-in-time training samples of the impressions in [from, to), written to the samples table',
  async run(ctx) {
    const from = instantOption(ctx, 'from', true);
    const to = instantOption(ctx, 'to', true);
    if (to < from) throw new UsageError(`--to (${formatInstant(to)}) is before --from (${formatInstant(from)})`);
    const completeThrough = instantOption(ctx, 'complete-through', false);
    const table = stringOption(ctx, 'table') ?? DEFAULT_SAMPLES_TABLE;
    return withRuntime(ctx, {}, async (rt) => {
      const rule = labelRuleOf(ctx, rt);
      const offline = await rt.offline();
      const { catalog } = rt.project;
      const groups = await rt.servingGroups();
      const result = await buildSamples({ offline, logger: rt.logger }, { catalog, groups, from, to, rule, table, ...(completeThrough === undefined ? {} : { completeThrough }) });
      printSamples(ctx, result, table);
      return 0;
    });
  },
};

const featuresJob: BatchJob = {
  usage: 'tessera batch features --until <ISO> [--groups a,b] [--grace 24h] [--json]',
  summary: 'lambda: every state as of --until recomputed from the raw tables and written into the online store as the groups\' batch views',
  async run(ctx) {
    const until = instantOption(ctx, 'until', true);
    return withRuntime(ctx, {}, async (rt) => {
      if (!rt.config.redisUrl) throw new UsageError('batch features writes the online store: set TESSERA_REDIS_URL');
      const groups = selectGroups(await rt.servingGroups(), stringOption(ctx, 'groups'));
      const results = await writeBatchFeatures(
        { offline: await rt.offline(), store: rt.online(), prefix: rt.config.topicPrefix, now: rt.clock },
        { until, groups, graceMs: durationOption(ctx, 'grace', 86_400_000), latenessMs: rt.project.latenessMs, versions: await rt.servingVersions() },
      );
      if (ctx.values.json === true) ctx.stdout.write(JSON.stringify({ until: formatInstant(until), views: results }, null, 2) + '\n');
      else for (const r of results) ctx.stdout.write(`batch view of ${r.group} as of ${formatInstant(until)}: ${count(r.entities)} entities -> ${r.namespace} (${r.seconds.toFixed(2)} s)\n`);
      return 0;
    });
  },
};

/** The batch jobs by sub-command name. */
const BATCH_JOBS: Readonly<Record<string, BatchJob>> = { samples: samplesJob, features: featuresJob };

export const batchCommand: Command = {
  name: 'batch',
  summary: 'Batch jobs over the offline store: point-in-time training samples, lambda batch views.',
  usage: `tessera batch <${Object.keys(BATCH_JOBS).join('|')}> [options]`,
  details: `${Object.entries(BATCH_JOBS)
    .map(([name, job]) => `${name}: ${job.summary}.\n  ${job.usage}`)
    .join('\n')}

samples: every impression with from <= t < to whose label windows have closed (by --complete-through,
default the latest event time in the raw tables), with its click label (a click of the same request and
item within --click-window), its conversion label (an order of the same user and item within
--order-window), every reference feature as of t (events strictly before t, duplicates of an eventId
once, late events included) and its context features. Rerunning a range replaces its samples. Runs on
chDB (TESSERA_CHDB_PATH) or the ClickHouse server of TESSERA_CLICKHOUSE_URL.

features: --until must be a multiple of each group's largest tile (UTC midnight for a group with a window over 12 days, e.g. the reference project's 30 days).
The views are written into fresh namespaces and then made current in the catalog in one step each; the
replaced views stay for --grace. Needs TESSERA_REDIS_URL.`,
  options: {
    from: { type: 'string', description: 'First impression time (ISO-8601 with a zone, or epoch ms)' },
    to: { type: 'string', description: 'End of the range, excluded' },
    'click-window': { type: 'string', description: 'Click label window after the impression (30m, 24h, 90s, 2d or ms)', defaultText: '30m' },
    'order-window': { type: 'string', description: 'Order label window after the impression', defaultText: '24h' },
    'complete-through': { type: 'string', description: 'The input is complete for every eventTime up to this instant', defaultText: 'latest eventTime stored' },
    table: { type: 'string', description: 'Samples table', defaultText: DEFAULT_SAMPLES_TABLE },
    until: { type: 'string', description: 'features: the batch watermark (events before it)' },
    groups: { type: 'string', description: 'features: comma-separated groups', defaultText: 'every reference group' },
    grace: { type: 'string', description: 'features: how long a replaced view is kept', defaultText: '24h' },
    json: { type: 'boolean', description: 'Print the result as JSON' },
  },
  allowPositionals: true,
  async run(ctx) {
    const [name, ...extra] = ctx.positionals;
    const job = name === undefined ? undefined : BATCH_JOBS[name];
    if (job === undefined) {
      throw new UsageError(`${name === undefined ? 'a batch job is required' : `unknown batch job "${name}"`}; use one of: ${Object.keys(BATCH_JOBS).join(', ')} (see tessera batch --help)`);
    }
    if (extra.length > 0) throw new UsageError(`unexpected argument(s) after "${name}": ${extra.join(' ')}`);
    return job.run(ctx);
  },
};
