import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaEventLog } from '../../src/adapters/kafka/kafka-event-log.js';
import { createRedisOnlineStore } from '../../src/adapters/redis/redis-online-store.js';
import type { AnyEvent } from '../../src/events/event-types.js';
import { topicSpecs } from '../../src/events/topics.js';
import { days, type CompiledGroup } from '../../src/features/definitions.js';
import { oracleFeatures } from '../../src/features/oracle.js';
import { createEventProducer } from '../../src/ingest/producer.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { EventLog } from '../../src/ports/event-log.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import type { OnlineStore } from '../../src/ports/online-store.js';
import { FeatureReader } from '../../src/serving/feature-reader.js';
import { collectGarbage, readCatalog, rollbackAlias, servingNamespace } from '../../src/streaming/online-catalog.js';
import { rebuildGroup } from '../../src/streaming/rebuild.js';
import { createStreamKeys } from '../../src/streaming/stream-keys.js';
import { startStream } from '../../src/streaming/stream-processor.js';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { entitiesOf, randomStream, sameFeatures } from '../helpers/feature-streams.js';
import { REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../helpers/reference.js';

const GROUPS = REFERENCE_GROUPS;
const ITEM = GROUPS.find((g) => g.name === 'item')!;
const USER = GROUPS.find((g) => g.name === 'user')!;

/**
 * Kappa on the real broker and Redis: a rebuild replays the log into a new namespace and flips the
 * group's alias; the reader follows it; the rebuild's deployment keeps the new version live; a
 * rollback flips back; gc drops the replaced version after its grace period; --from applies only
 * later events.
 */
describe('kappa rebuild on real Kafka + Redis', () => {
  const registry = referenceRegistry();
  const prefix = randomName('kp');
  const topics = referenceTopics(prefix);
  const start = Date.UTC(2026, 0, 5);
  let log: EventLog;
  let store: OnlineStore;
  let first: AnyEvent[];
  let second: AnyEvent[];
  const deps = () => ({ log, store, registry, topics, keys: createStreamKeys(prefix), groups: GROUPS, logger: SILENT_LOGGER, metrics: new Metrics(), clock: Date.now, prefix });
  const reader = () => new FeatureReader({ store, keys: createStreamKeys(prefix), groups: GROUPS, clock: Date.now });
  const expectOracle = async (r: FeatureReader, group: CompiledGroup, events: readonly AnyEvent[]) => {
    let n = 0;
    for (const [key, latest] of entitiesOf(group, events)) {
      const got = (await r.read([{ group: group.name, key }], latest + 1)).entities[0]!.values;
      expect(sameFeatures(got, oracleFeatures(group, events, key, latest + 1)), `${group.name}:${key}`).toBeNull();
      n++;
    }
    expect(n).toBeGreaterThan(0);
  };

  beforeAll(async () => {
    log = createKafkaEventLog({ brokers: TEST_KAFKA_BROKERS, clientId: 'tessera-test', logger: SILENT_LOGGER });
    store = createRedisOnlineStore({ url: TEST_REDIS_URL });
    await log.ensureTopics(topicSpecs(topics, 3));
    first = randomStream(41, 1500, { start, spanMs: days(2), dupRate: 0.05 });
    second = randomStream(42, 400, { start: start + days(2) + 60_000, spanMs: days(1), dupRate: 0 });
    expect((await createEventProducer({ log, registry, topics, clock: Date.now }).send(first)).rejected).toEqual([]);
    // the live deployment: every group into the default namespace
    await startStream(deps(), { groupId: 'live', untilIdle: true, idleMs: 1000, maxBatchRecords: 200 }).done;
  });
  afterAll(async () => {
    await store.deleteByPrefix(`${prefix}:`);
    await store.close();
    await log.deleteTopics(topicSpecs(topics, 3).map((s) => s.name));
    await log.close();
  });

  it('replays into a new version, flips the alias, keeps it live, rolls back and collects the old version', async () => {
    const r = reader();
    await expectOracle(r, ITEM, first);
    const result = await rebuildGroup(deps(), ITEM, { namespace: 'item-v2', graceMs: 60_000, continueLive: false, idleMs: 1000, maxBatchRecords: 300 });
    expect(result).toMatchObject({ namespace: 'item-v2', previous: 'live', applied: new Set(first.map((e) => e.eventId)).size });
    expect(servingNamespace(await readCatalog(store, prefix), 'item')).toBe('item-v2');
    // the reader follows the flip (its cached catalog is stale: it notices and reads again)
    await expectOracle(r, ITEM, first);
    const pinnedOld = new FeatureReader({ store, keys: createStreamKeys(prefix, 'live'), groups: GROUPS, clock: Date.now, pinNamespace: true });
    await expectOracle(pinnedOld, ITEM, first);

    // new events: the rebuild's deployment keeps item-v2 live (the old one is not running here)
    expect((await createEventProducer({ log, registry, topics, clock: Date.now }).send(second)).rejected).toEqual([]);
    await startStream({ ...deps(), keys: createStreamKeys(prefix, 'item-v2'), groups: [ITEM] }, { groupId: result.consumerGroup, untilIdle: true, idleMs: 1000 }).done;
    await expectOracle(r, ITEM, [...first, ...second]);

    // rollback: back to the default namespace (which has not seen `second`)
    await rollbackAlias(store, prefix, 'item', 0, Date.now());
    expect(servingNamespace(await readCatalog(store, prefix), 'item')).toBe('live');
    await expectOracle(r, ITEM, first);

    // the version rolled back from had no grace: gc drops it and deletes its keys
    await new Promise((res) => setTimeout(res, 5));
    const expired = await collectGarbage(store, prefix, Date.now());
    expect(expired).toEqual([{ group: 'item', kind: 'stream', namespace: 'item-v2' }]);
    let deleted = 0;
    for (const p of createStreamKeys(prefix, 'item-v2').groupPrefixes('item')) deleted += await store.deleteByPrefix(p);
    expect(deleted).toBeGreaterThan(0);
    expect((await readCatalog(store, prefix)).aliases.get('item')?.previous).toBeNull();
  });

  it('--from applies only events from that event time on', async () => {
    const all = [...first, ...second];
    const from = start + days(1) + 3_600_000;
    const result = await rebuildGroup(deps(), USER, { namespace: 'user-from', fromTime: from, graceMs: 60_000, continueLive: false, idleMs: 1000 });
    const later = all.filter((e) => e.eventTime >= from);
    expect(result.applied).toBe(new Set(later.map((e) => e.eventId)).size);
    await expectOracle(reader(), USER, later);
  });
});
