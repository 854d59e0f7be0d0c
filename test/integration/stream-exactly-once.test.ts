import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaEventLog } from '../../src/adapters/kafka/kafka-event-log.js';
import { createRedisOnlineStore } from '../../src/adapters/redis/redis-online-store.js';
import type { AnyEvent } from '../../src/events/event-types.js';
import { topicSpecs } from '../../src/events/topics.js';
import type { CompiledGroup } from '../../src/features/definitions.js';
import { oracleFeatures } from '../../src/features/oracle.js';
import { createEventProducer } from '../../src/ingest/producer.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { EventLog } from '../../src/ports/event-log.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import type { OnlineStore } from '../../src/ports/online-store.js';
import { FeatureReader } from '../../src/serving/feature-reader.js';
import { createStreamKeys } from '../../src/streaming/stream-keys.js';
import { startStream, type StreamOptions } from '../../src/streaming/stream-processor.js';
import { TEST_KAFKA_BROKERS, TEST_PROJECT_ENV, TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { TEST_GROUPS, entitiesOf, randomStream, sameFeatures } from '../helpers/feature-streams.js';
import { exited, spawnTessera } from '../helpers/pipeline.js';
import { REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../helpers/reference.js';

const GROUPS = REFERENCE_GROUPS;

/**
 * The streaming layer on the real broker and Redis: a clean single run, a run whose process is
 * SIGKILLed three times, a run with a rebalance mid-stream, and a re-read of every partition from
 * offset 0 all end with the same feature values, equal to the naive oracle.
 */
describe('stream: exactly once on real Kafka + Redis', () => {
  const registry = referenceRegistry();
  const prefix = randomName('st');
  const topics = referenceTopics(prefix);
  let log: EventLog;
  let store: OnlineStore;
  let events: AnyEvent[];

  beforeAll(async () => {
    log = createKafkaEventLog({ brokers: TEST_KAFKA_BROKERS, clientId: 'tessera-test', logger: SILENT_LOGGER });
    store = createRedisOnlineStore({ url: TEST_REDIS_URL });
    await log.ensureTopics(topicSpecs(topics, 3));
    events = randomStream(31, 4000, { dupRate: 0.05 });
    const producer = createEventProducer({ log, registry, topics, clock: Date.now });
    for (let i = 0; i < events.length; i += 1000) expect((await producer.send(events.slice(i, i + 1000))).rejected).toEqual([]);
  });
  afterAll(async () => {
    await store.deleteByPrefix(`${prefix}:`);
    await store.close();
    await log.deleteTopics(topicSpecs(topics, 3).map((s) => s.name));
    await log.close();
  });

  const run = async (namespace: string, groupId: string, options: StreamOptions = {}, groups: readonly CompiledGroup[] = GROUPS) => {
    const metrics = new Metrics();
    const sub = startStream(
      { log, store, registry, topics, keys: createStreamKeys(prefix, namespace), groups, logger: SILENT_LOGGER, metrics, clock: Date.now },
      { groupId, untilIdle: true, idleMs: 1500, maxBatchRecords: 150, ...options },
    );
    return { sub, metrics };
  };

  /** Every entity's features at (its latest event + 1 ms), from the given namespace. */
  const snapshot = async (namespace: string, groups: readonly CompiledGroup[] = GROUPS) => {
    const reader = new FeatureReader({ store, keys: createStreamKeys(prefix, namespace), groups, clock: Date.now });
    const out = new Map<string, Record<string, unknown>>();
    for (const group of groups) {
      for (const [key, latest] of entitiesOf(group, events)) {
        const { entities } = await reader.read([{ group: group.name, key }], latest + 1);
        const values = entities[0]!.values;
        expect(sameFeatures(values, oracleFeatures(group, events, key, latest + 1)), `${group.name}:${key}`).toBeNull();
        out.set(`${group.name}:${key}`, values);
      }
    }
    return out;
  };

  let clean: Map<string, Record<string, unknown>>;

  it('a clean single run equals the oracle; re-reading every partition from offset 0 changes nothing', async () => {
    const { sub, metrics } = await run('clean', 'g-clean');
    await sub.done;
    const unique = new Set(events.map((e) => e.eventId)).size;
    expect(metrics.total('tessera_stream_events_applied_total')).toBe(unique);
    expect(metrics.total('tessera_stream_duplicates_total')).toBe(events.length - unique);
    clean = await snapshot('clean');
    const again = await run('clean', 'g-clean', { rereadFromStart: true });
    await again.sub.done;
    expect(again.metrics.total('tessera_stream_events_applied_total')).toBe(0);
    expect(again.metrics.total('tessera_stream_redelivered_batches_total')).toBeGreaterThan(0);
    expect(await snapshot('clean')).toEqual(clean);
  });

  it('the `tessera stream` process killed with SIGKILL three times, then finished, equals the clean run', async () => {
    const env = { ...TEST_PROJECT_ENV, TESSERA_KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','), TESSERA_REDIS_URL: TEST_REDIS_URL, TESSERA_TOPIC_PREFIX: prefix, TESSERA_KAFKA_SESSION_TIMEOUT_MS: '6000' };
    const args = ['stream', '--namespace', 'crash', '--group', 'g-crash', '--max-batch', '100'];
    const offsetsKey = createStreamKeys(prefix, 'crash').offsets('g-crash');
    const applied = async () => {
      const [h] = await store.read([{ kind: 'hgetall', key: offsetsKey }]);
      return h?.kind === 'hgetall' ? Object.values(h.value).reduce((s, v) => s + Number(v), 0) : 0;
    };
    let killedMidway = 0;
    for (let round = 0; round < 3; round++) {
      const before = await applied();
      const child = spawnTessera(args, env);
      const deadline = Date.now() + 60_000;
      while ((await applied()) <= before && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 30));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 100)));
      child.kill('SIGKILL');
      expect(await exited(child)).toBe('SIGKILL');
      if ((await applied()) < events.length) killedMidway++;
    }
    expect(killedMidway).toBeGreaterThan(0);
    const finisher = spawnTessera([...args, '--until-idle', '--idle-ms', '1000'], env);
    expect(await exited(finisher), finisher.output()).toBe(0);
    expect(await snapshot('crash')).toEqual(clean);
  });

  it('two members with a rebalance mid-stream equal the clean run', async () => {
    let batchesA = 0;
    let batchesB = 0;
    let started!: () => void;
    const underWay = new Promise<void>((r) => (started = r));
    const a = await run('rebalance', 'g-rebalance', {
      onBatchApplied: async () => {
        if (++batchesA === 3) started();
        await new Promise((r) => setTimeout(r, 100)); // slow enough that the second member's join lands mid-stream
      },
    });
    await underWay;
    const b = await run('rebalance', 'g-rebalance', { onBatchApplied: async () => void batchesB++ });
    await Promise.all([a.sub.done, b.sub.done]);
    expect(batchesB).toBeGreaterThan(0);
    expect(await snapshot('rebalance')).toEqual(clean);
  });

  it('every aggregation op, approx_distinct (Redis HyperLogLog tiles) included, equals the oracle on real Redis', async () => {
    const { sub } = await run('all-ops', 'g-all-ops', {}, TEST_GROUPS);
    await sub.done;
    const values = await snapshot('all-ops', TEST_GROUPS);
    expect([...values.keys()].filter((k) => k.startsWith('probe:')).length).toBeGreaterThan(0);
  });
});
