import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbOfflineStore, type ChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { createRedisOnlineStore } from '../../src/adapters/redis/redis-online-store.js';
import { checkFeatureConsistency, checkSampleConsistency } from '../../src/batch/consistency.js';
import { recomputeStates } from '../../src/batch/recompute.js';
import type { AnyEvent } from '../../src/events/event-types.js';
import { topicSpecs } from '../../src/events/topics.js';
import { days, hours, minutes } from '../../src/features/definitions.js';
import { createEventProducer } from '../../src/ingest/producer.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import type { OnlineStore } from '../../src/ports/online-store.js';
import type { Sample } from '../../src/samples/sample.js';
import { FeatureReader } from '../../src/serving/feature-reader.js';
import { writeBatchView } from '../../src/streaming/batch-view.js';
import { createStreamKeys } from '../../src/streaming/stream-keys.js';
import { startStream } from '../../src/streaming/stream-processor.js';
import { TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { randomStream } from '../helpers/feature-streams.js';
import { REFERENCE_CATALOG, REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../helpers/reference.js';
import { loadRawEvents } from './batch-fixtures.js';
import { buildSamples } from '../../src/batch/build-samples.js';
import { readSamples } from '../../src/batch/read-samples.js';
import { createJoinerKeys } from '../../src/joiner/joiner-keys.js';
import { startJoiner } from '../../src/joiner/joiner.js';
import { readJoinedSamples } from '../../src/joiner/joined-samples.js';
import { labelRule } from '../../src/samples/labels.js';
import { featureSpec } from '../../src/samples/sample.js';
import { joinStream } from '../unit/joiner/join-streams.js';

const GROUPS = REFERENCE_GROUPS;
const START = Date.UTC(2026, 0, 5);

/**
 * The consistency check on the real engines: the streaming state in Redis against the batch layer
 * in chDB. Zero mismatches when the stream saw everything; a corrupted online value is reported;
 * too-late events show up as mismatches until a batch view (the real recompute, written into
 * Redis) makes the lambda read converge.
 */
describe('check consistency: Redis (stream + lambda) vs chDB (batch)', () => {
  let offline: ChdbOfflineStore;
  let store: OnlineStore;
  const prefix = randomName('cc');
  const onTime = randomStream(51, 2500, { start: START, spanMs: days(3), dupRate: 0.05 });
  const tooLate = onTime.filter((e, i) => e.eventTime < START + days(1) && i % 11 === 0).map((e) => ({ ...e, eventId: `late-${e.eventId}` }) as AnyEvent);
  const reader = () => new FeatureReader({ store, keys: createStreamKeys(prefix), groups: GROUPS, clock: Date.now });

  beforeAll(async () => {
    offline = await createChdbOfflineStore();
    store = createRedisOnlineStore({ url: TEST_REDIS_URL });
    const all = [...onTime, ...tooLate];
    await loadRawEvents(offline, all);
    const log = new MemoryEventLog();
    const topics = referenceTopics(prefix);
    const registry = referenceRegistry();
    await log.ensureTopics(topicSpecs(topics, 3));
    await createEventProducer({ log, registry, topics, clock: Date.now }).send(all);
    const metrics = new Metrics();
    await startStream({ log, store, registry, topics, keys: createStreamKeys(prefix), groups: GROUPS, logger: SILENT_LOGGER, metrics, clock: Date.now }, { untilIdle: true, idleMs: 50, maxBatchRecords: 300 }).done;
    expect(metrics.total('tessera_stream_late_events_total')).toBe(tooLate.length);
  });
  afterAll(async () => {
    await store.deleteByPrefix(`${prefix}:`);
    await store.close();
    await offline.close();
  });

  it('reports the too-late events as mismatches, then zero once the batch view is merged, and a corrupted value after that', async () => {
    const before = await checkFeatureConsistency({ offline, reader: reader(), groups: GROUPS }, { perGroup: 40, q: 'watermark' });
    expect(before.totalMismatches).toBeGreaterThan(0);
    expect(Object.values(before.groups).reduce((n, g) => n + g.entities, 0)).toBeGreaterThan(12); // every user, item and user x category of the stream

    const until = START + days(2);
    for (const group of GROUPS) {
      await writeBatchView(store, group, recomputeStates(offline, [group], { until }), { prefix, until, now: Date.now(), graceMs: hours(1), latenessMs: minutes(10) });
    }
    const after = await checkFeatureConsistency({ offline, reader: reader(), groups: GROUPS }, { perGroup: 40, q: 'watermark' });
    expect(after.totalMismatches, JSON.stringify(after.groups, null, 1).slice(0, 2000)).toBe(0);
    for (const g of Object.values(after.groups)) expect(g.missingRate).toBe(0);

    // corrupt one online counter of a sampled user: the check names the feature and the entity
    const user = Object.values(after.groups.user!.features)[0]!;
    expect(user.compared).toBeGreaterThan(0);
    const keys = createStreamKeys(prefix);
    const victim = 'u1';
    const [hash] = await store.read([{ kind: 'hgetall', key: keys.entity('user', victim) }]);
    // a click tile (24h/7d hop) after the batch watermark: before it the reader takes the batch view's tiles
    const field = Object.keys(hash?.kind === 'hgetall' ? hash.value : {}).find((f) => f.startsWith('1|3600000|') && Number(f.split('|')[2]) >= until);
    expect(field).toBeDefined();
    await store.apply([{ op: 'hincr', key: keys.entity('user', victim), field: field!, by: 1000 }]);
    const corrupted = await checkFeatureConsistency({ offline, reader: reader(), groups: GROUPS }, { perGroup: 40, q: 'watermark' });
    const bad = Object.entries(corrupted.groups.user!.features).filter(([, a]) => a.mismatches > 0);
    expect(bad.map(([n]) => n)).toContain('user_click_count_7d');
    expect(bad.flatMap(([, a]) => a.examples.map((e) => e.key))).toContain(victim);
  });

  it('compares joiner and batch samples: labels, features and missing samples are reported', () => {
    const sample = (id: string, click: 0 | 1, f: number): Sample => ({
      impressionId: id, requestId: 'r', userId: 'u', itemId: 'i', categoryId: null, position: 0, eventTime: START,
      context: { device: null, os: null, country: null, city: null, page: null, timezone: null }, clickLabel: click, orderLabel: 0, features: { user_click_count_1h: f, context_device: 'unknown' },
    });
    const batch = [sample('a', 1, 3), sample('b', 0, 2), sample('c', 0, 1)];
    expect(checkSampleConsistency(batch, batch).totalMismatches).toBe(0);
    const joiner = [sample('a', 0, 3), sample('b', 0, 2.5), sample('d', 0, 1)];
    const r = checkSampleConsistency(joiner, batch);
    expect(r).toMatchObject({ matched: 2, missingInJoiner: 1, missingInBatch: 1, totalMismatches: 2 });
    expect(r.labels.click).toMatchObject({ compared: 2, mismatches: 1 });
    expect(r.features.user_click_count_1h).toMatchObject({ compared: 2, mismatches: 1, examples: [{ key: 'b', online: 2.5, batch: 2 }] });
  });

  it('joiner samples == batch samples on the same events: zero mismatching labels or features, none missing', async () => {
    const rule = labelRule({ orderWindowMs: hours(6) });
    const events = joinStream(77, 400, { orderWindowMs: hours(6), start: START + days(10) });
    // a fresh raw store (chDB allows one data directory per process: reuse it, drop its tables)
    const chdb = offline;
    for (const t of ['raw_impressions', 'raw_clicks', 'raw_orders', 'raw_item_profiles', 'raw_user_profiles']) await chdb.command(`DROP TABLE IF EXISTS ${t}`);
    {
      await loadRawEvents(chdb, events);
      const log = new MemoryEventLog();
      const topics = referenceTopics(`${prefix}j`);
      const registry = referenceRegistry();
      await log.ensureTopics(topicSpecs(topics, 3));
      await createEventProducer({ log, registry, topics, clock: Date.now }).send(events);
      await startJoiner(
        { log, store, registry, topics, keys: createJoinerKeys(prefix, 'j'), groups: GROUPS, logger: SILENT_LOGGER, metrics: new Metrics(), clock: Date.now },
        { untilIdle: true, idleMs: 30, pollIntervalMs: 20, checkpointIntervalMs: 0, rule },
      ).done;
      const joined = (await readJoinedSamples(log, topics.samples(), { specHash: featureSpec(GROUPS).hash })).samples;
      // the joiner releases what is complete through the watermark minus the lateness: give the batch the same bound
      const completeThrough = Math.max(...events.map((e) => e.eventTime)) - minutes(10);
      const from = Math.min(...events.map((e) => e.eventTime));
      const to = Math.max(...events.map((e) => e.eventTime)) + 1;
      await buildSamples({ offline: chdb }, { from, to, catalog: REFERENCE_CATALOG, groups: GROUPS, rule, completeThrough });
      const batch: Sample[] = [];
      for await (const x of readSamples(chdb, { from, to, groups: GROUPS })) batch.push(x);
      expect(joined.length).toBeGreaterThan(200);
      const report = checkSampleConsistency(joined, batch);
      expect(report, JSON.stringify({ ...report, features: Object.fromEntries(Object.entries(report.features).filter(([, a]) => a.mismatches > 0)) }).slice(0, 3000)).toMatchObject({ missingInJoiner: 0, missingInBatch: 0, totalMismatches: 0 });
      expect(report.matched).toBe(joined.length);
    }
  });
});
