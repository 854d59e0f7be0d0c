/**
 * Issue 4 benchmark: the batch layer on chDB with the reference feature set (examples/reference,
 * see bench/project.ts).
 *
 * - loads the seeded generator's events (1 M impressions by default, with their clicks, orders and
 *   profiles) into the raw tables through the sink's row mapping and insert path, then merges the
 *   parts (not timed);
 * - floors, in the same run on the same tables: a plain `SELECT count()` scan of the deduplicated
 *   activity tables, and a plain sliding-window SQL (each impression's count of its user's
 *   impressions in the preceding hour, a window function) over the same impressions;
 * - `buildSamples` over the whole range: end to end, its stages, and the impressions/s of the
 *   statements that run inside ClickHouse alone (every stage but the general path's JS fold);
 * - `readSamples` of everything written: samples/s as the trainer would consume them;
 * - the full recompute (`recomputeStates` of every reference group at the end watermark);
 * - peak RSS of the process (chDB runs inside it).
 *
 *   bash bench/run.sh batch [--events 1000000] [--users 20000] [--items 100000] [--path <dir>]
 *
 * `--path` keeps the chDB directory (loaded once, reused by later runs); default a temporary one.
 * Results go to bench/results/batch.json.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { createChdbOfflineStore } from '../src/adapters/chdb/chdb-offline-store.js';
import { buildSamples } from '../src/batch/build-samples.js';
import { readSampleBatches, readSamples } from '../src/batch/read-samples.js';
import { recomputeStates } from '../src/batch/recompute.js';
import type { EventType } from '../src/events/event-types.js';
import { generateEvents } from '../src/ingest/generator.js';
import { prepareRawStore } from '../src/sink/raw-sink.js';
import { createRawBatches, dedupedSource, rawTable, type RawColumnBatch } from '../src/sink/raw-tables.js';
import { CATALOG, GROUPS, PROJECT } from './project.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    users: { type: 'string', default: '20000' },
    items: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '3' },
    path: { type: 'string' },
  },
});
const impressions = Number(values.events);
const days = 7;
const start = Date.UTC(2026, 0, 5);
const store = await createChdbOfflineStore(values.path === undefined ? {} : { path: values.path });
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const timed = async <T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> => {
  const t0 = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
};

// 1. load (not timed as a result; printed)
await prepareRawStore(store, CATALOG);
const newBatch = createRawBatches(CATALOG);
const [existing] = await store.query<{ n: number }>(`SELECT count() AS n FROM ${rawTable('impression')}`);
let loaded = 0;
const load = await timed(async () => {
  if (Number(existing?.n ?? 0) > 0) return; // a persistent --path already holds the data
  const buffers = new Map<EventType, RawColumnBatch>();
  const flush = async (type: EventType) => {
    const rows = buffers.get(type);
    if (rows !== undefined && rows.size > 0) await store.insertColumns(rawTable(type), rows.columns());
    buffers.set(type, newBatch(type));
  };
  for (const { event } of generateEvents({ users: Number(values.users), items: Number(values.items), events: impressions, seed: Number(values.seed), start, days })) {
    let rows = buffers.get(event.type);
    if (rows === undefined) buffers.set(event.type, (rows = newBatch(event.type)));
    rows.add(event, { topic: `bench.${event.type}`, partition: 0, offset: loaded++, logTime: event.eventTime });
    if (rows.size >= 100_000) await flush(event.type);
  }
  for (const type of [...buffers.keys()]) await flush(type);
  // the steady state of a sink that has kept up: parts merged (not timed), so no background merge
  // of the load competes with the measurements
  for (const type of CATALOG.types) await store.command(`OPTIMIZE TABLE ${rawTable(type)} FINAL`);
});
const counts = Object.fromEntries(
  await Promise.all(
    CATALOG.types.map(async (t) => {
      const [r] = await store.query<{ n: number }>(`SELECT count() AS n FROM ${dedupedSource(t)}`);
      return [t, Number(r?.n ?? 0)] as const;
    }),
  ),
);
console.error(`loaded ${loaded} events in ${load.seconds.toFixed(1)} s:`, counts);

// 2. floors: a count() scan and a plain sliding window over the same impressions
const countScan = await timed(() =>
  store.query(`SELECT (SELECT count() FROM ${dedupedSource('impression')}) + (SELECT count() FROM ${dedupedSource('click')}) + (SELECT count() FROM ${dedupedSource('order')}) AS n`),
);
const sliding = await timed(() =>
  store.query(
    `SELECT sum(c) AS s FROM (SELECT count() OVER (PARTITION BY userId ORDER BY toUnixTimestamp64Milli(eventTime) RANGE BETWEEN 3600000 PRECEDING AND 1 PRECEDING) AS c FROM ${dedupedSource('impression')})`,
  ),
);
console.error(`floors: count() ${countScan.seconds.toFixed(3)} s, sliding window ${sliding.seconds.toFixed(3)} s`);

// 3. samples: the whole simulated period, complete through its last event
const end = start + days * 86_400_000;
await store.command('DROP TABLE IF EXISTS samples');
const build = await timed(() => buildSamples({ offline: store }, { from: start, to: end + 86_400_000, catalog: CATALOG, groups: GROUPS, rule: PROJECT.labels }));
const r = build.value;
const computeSeconds = r.phases.prepare + r.phases.features;
console.error(`buildSamples: ${r.samples} samples in ${r.seconds.toFixed(2)} s (${Math.round(r.samples / r.seconds)}/s); phases`, r.phases);

// 4. read them back as the trainer would
let read = 0;
let checksum = 0;
const rssBeforeRead = process.memoryUsage().rss;
const reading = await timed(async () => {
  for await (const s of readSamples(store, { from: start, to: end + 86_400_000, groups: GROUPS })) {
    read++;
    checksum += s.clickLabel + (s.features.user_impression_count_24h as number);
  }
});
console.error(`readSamples: ${read} in ${reading.seconds.toFixed(2)} s (${Math.round(read / reading.seconds)}/s)`);
let readBatched = 0;
const readingBatches = await timed(async () => {
  for await (const batch of readSampleBatches(store, { from: start, to: end + 86_400_000, groups: GROUPS })) {
    for (const s of batch) checksum -= s.clickLabel + (s.features.user_impression_count_24h as number);
    readBatched += batch.length;
  }
});
console.error(`readSampleBatches: ${readBatched} in ${readingBatches.seconds.toFixed(2)} s (${Math.round(readBatched / readingBatches.seconds)}/s)`);

// 5. full recompute of the same data
let entities = 0;
let tiles = 0;
const recompute = await timed(async () => {
  for await (const e of recomputeStates(store, GROUPS, { until: end + 86_400_000 })) {
    entities++;
    for (const _ of e.tileEntries()) tiles++;
  }
});
console.error(`recompute: ${entities} entities, ${tiles} tiles in ${recompute.seconds.toFixed(2)} s`);

const peakRssMb = process.resourceUsage().maxRSS / 1024;
const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown'}`,
  node: process.version,
  engine: store.engine,
  data: { impressions: counts.impression, clicks: counts.click, orders: counts.order, itemProfiles: counts.item_profile, userProfiles: counts.user_profile, days },
  floors: {
    countScan: { what: 'SELECT count() of raw_impressions, raw_clicks, raw_orders FINAL', seconds: round(countScan.seconds) },
    slidingWindow: {
      what: "count of the user's impressions in the preceding hour, one window function over the same impressions",
      seconds: round(sliding.seconds),
      impressionsPerSecond: Math.round((counts.impression ?? 0) / sliding.seconds),
    },
  },
  samples: {
    samples: r.samples,
    impressions: r.impressions,
    immature: r.immature,
    clickPositives: r.clickPositives,
    orderPositives: r.orderPositives,
    endToEnd: { what: 'buildSamples: checks, features, labels, the samples table written and counted', seconds: round(r.seconds), impressionsPerSecond: Math.round(r.samples / r.seconds) },
    computed: {
      what: 'the SQL that computes every sample (phases prepare + features), before the final INSERT ... SELECT into the samples table',
      seconds: round(computeSeconds),
      impressionsPerSecond: Math.round(r.samples / computeSeconds),
    },
    phases: Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, round(v)])),
    stages: { note: 'fast passes and labels run concurrently: their stage times overlap', ...Object.fromEntries(Object.entries(r.stages).map(([k, v]) => [k, round(v)])) },
    generalPoints: r.generalPoints,
    recheckedPoints: r.recheckedPoints,
    target: { impressionsPerSecond: 500_000 },
  },
  read: {
    perSample: { what: 'readSamples, one Sample per async iteration', samples: read, seconds: round(reading.seconds), samplesPerSecond: Math.round(read / reading.seconds) },
    batches: { what: 'readSampleBatches, an array of Samples per page', samples: readBatched, seconds: round(readingBatches.seconds), samplesPerSecond: Math.round(readBatched / readingBatches.seconds) },
    rssGrowthMb: Math.round((process.memoryUsage().rss - rssBeforeRead) / 1048576),
    checksumZero: checksum === 0,
    target: { samplesPerSecond: 200_000 },
  },
  recompute: { groups: GROUPS.map((g) => g.name), entities, tiles, seconds: round(recompute.seconds) },
  peakRssMb: Math.round(peakRssMb),
};
writeFileSync(new URL('./results/batch.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
await store.close();
