import type { Command } from '../command.js';
import { numberOption, stringOption } from '../command.js';
import { UsageError } from '../../errors.js';
import { formatInstant, parseInstant } from '../../events/time.js';
import { checkFeatureConsistency, checkSampleConsistency, type FeatureAgreement } from '../../batch/consistency.js';
import { readSamples } from '../../batch/read-samples.js';
import { readJoinedSamples } from '../../joiner/joined-samples.js';
import { featureSpec, type Sample } from '../../samples/sample.js';
import { FeatureReader } from '../../serving/feature-reader.js';
import { createStreamKeys } from '../../streaming/stream-keys.js';
import { withRuntime } from '../with-runtime.js';

function instant(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseInstant(/^-?\d+$/.test(text) ? Number(text) : text);
  } catch (err) {
    throw new UsageError(`--${name} "${text}": ${(err as Error).message}`);
  }
}

const pct = (x: number) => `${(100 * x).toFixed(3)} %`;

export const checkCommand: Command = {
  name: 'check',
  summary: 'Measure consistency: online values (stream + batch view) vs the batch layer, joiner samples vs batch samples.',
  usage: 'tessera check consistency [--sample N] [--at <ISO>|watermark] [--samples-from <ISO> --samples-to <ISO>] [--seed N] [--json]',
  details: `Features: N random entities of each group (a seeded hash order over the raw tables' entities) are read
online (the serving reader: the catalog's versions, the lambda merge) and recomputed by the batch layer at
the same query time (the online watermark by default); per feature the mismatch rate (numbers beyond a
relative 1e-9) and the entities known on one side only. Samples (with --samples-from/--samples-to and
TESSERA_KAFKA_BROKERS): the joiner's samples in the range are matched with the batch samples table on
impressionId; labels and every feature compared, and the samples each side lacks. Exit 1 when anything
differs. Needs TESSERA_REDIS_URL and the offline store (chDB or TESSERA_CLICKHOUSE_URL).`,
  options: {
    sample: { type: 'string', description: 'Entities per group', defaultText: '1000' },
    at: { type: 'string', description: 'Query time', defaultText: 'watermark' },
    seed: { type: 'string', description: 'Seed of the entity sample', defaultText: '1' },
    'samples-from': { type: 'string', description: 'Compare the samples of impressions from this time' },
    'samples-to': { type: 'string', description: 'Up to this time (excluded)' },
    json: { type: 'boolean', description: 'Print the report as JSON' },
  },
  allowPositionals: true,
  async run(ctx) {
    if (ctx.positionals[0] !== 'consistency') throw new UsageError('usage: tessera check consistency (see tessera check --help)');
    const atText = stringOption(ctx, 'at');
    const q = atText === undefined || atText === 'watermark' ? 'watermark' : (instant('at', atText) as number);
    const samplesFrom = instant('samples-from', stringOption(ctx, 'samples-from'));
    const samplesTo = instant('samples-to', stringOption(ctx, 'samples-to'));
    if ((samplesFrom === undefined) !== (samplesTo === undefined)) throw new UsageError('give both --samples-from and --samples-to');
    return withRuntime(ctx, {}, async (rt) => {
      if (!rt.config.redisUrl) throw new UsageError('check consistency reads the online state: set TESSERA_REDIS_URL');
      const groups = await rt.servingGroups();
      const offline = await rt.offline();
      const reader = new FeatureReader({ store: rt.online(), keys: createStreamKeys(rt.config.topicPrefix), groups: rt.project.groups, ...(rt.definitions ? { definitions: rt.definitions } : {}), clock: rt.clock });
      const features = await checkFeatureConsistency({ offline, reader, groups }, { perGroup: numberOption(ctx, 'sample', 1000, { min: 1 }), q, seed: numberOption(ctx, 'seed', 1) });
      let samples: ReturnType<typeof checkSampleConsistency> | null = null;
      if (samplesFrom !== undefined && samplesTo !== undefined) {
        const spec = featureSpec(groups);
        const joined = (await readJoinedSamples(rt.log(), rt.topics.samples(), { specHash: spec.hash })).samples.filter((s) => s.eventTime >= samplesFrom && s.eventTime < samplesTo);
        const batch: Sample[] = [];
        for await (const s of readSamples(offline, { from: samplesFrom, to: samplesTo, groups })) batch.push(s);
        samples = checkSampleConsistency(joined, batch);
      }
      const failed = features.totalMismatches > 0 || Object.values(features.groups).some((g) => g.missingOnline + g.missingOffline > 0) || (samples !== null && (samples.totalMismatches > 0 || samples.missingInBatch + samples.missingInJoiner > 0));
      if (ctx.values.json === true) {
        ctx.stdout.write(JSON.stringify({ q: formatInstant(features.q), features, samples, consistent: !failed }, null, 2) + '\n');
        return failed ? 1 : 0;
      }
      ctx.stdout.write(`features at ${formatInstant(features.q)}\n`);
      for (const [name, g] of Object.entries(features.groups)) {
        const bad = Object.entries(g.features).filter(([, a]) => a.mismatches > 0);
        ctx.stdout.write(`  ${name.padEnd(14)} ${g.entities} entities, missing online ${g.missingOnline}, missing in batch ${g.missingOffline}, ${bad.length === 0 ? 'every feature equal' : `${bad.length} feature(s) differ`}\n`);
        for (const [f, a] of bad) ctx.stdout.write(`    ${f.padEnd(34)} ${pct(a.mismatchRate)} (${a.mismatches}/${a.compared}) e.g. ${a.examples.map((e) => `${e.key}: online ${JSON.stringify(e.online)} batch ${JSON.stringify(e.batch)}`).join('; ')}\n`);
      }
      if (samples !== null) {
        const bad = Object.entries(samples.features).filter(([, a]: [string, FeatureAgreement]) => a.mismatches > 0);
        ctx.stdout.write(`samples: joiner ${samples.joiner}, batch ${samples.batch}, matched ${samples.matched}, missing in joiner ${samples.missingInJoiner}, missing in batch ${samples.missingInBatch}; click labels ${pct(samples.labels.click.mismatchRate)}, order labels ${pct(samples.labels.order.mismatchRate)} differ; ${bad.length} feature(s) differ\n`);
        for (const [f, a] of bad) ctx.stdout.write(`    ${f.padEnd(34)} ${pct(a.mismatchRate)} (${a.mismatches}/${a.compared})\n`);
      }
      ctx.stdout.write(failed ? 'INCONSISTENT\n' : 'consistent\n');
      return failed ? 1 : 0;
    });
  },
};
