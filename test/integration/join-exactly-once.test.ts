import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaEventLog } from '../../src/adapters/kafka/kafka-event-log.js';
import { createRedisOnlineStore } from '../../src/adapters/redis/redis-online-store.js';
import type { AnyEvent } from '../../src/events/event-types.js';
import { topicSpecs, type Topics } from '../../src/events/topics.js';
import { hours, minutes } from '../../src/features/definitions.js';
import { createEventProducer } from '../../src/ingest/producer.js';
import { JoinerFencedError } from '../../src/joiner/checkpoint.js';
import { readJoinedSamples } from '../../src/joiner/joined-samples.js';
import { createJoinerKeys } from '../../src/joiner/joiner-keys.js';
import { startJoiner, type JoinerOptions } from '../../src/joiner/joiner.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { EventLog } from '../../src/ports/event-log.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import type { OnlineStore } from '../../src/ports/online-store.js';
import { labelRule } from '../../src/samples/labels.js';
import { featureSpec, type Sample } from '../../src/samples/sample.js';
import { TEST_KAFKA_BROKERS, TEST_PROJECT_ENV, TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { exited, spawnTessera } from '../helpers/pipeline.js';
import { compareSamples, joinStream, naiveSamples } from '../unit/joiner/join-streams.js';
import { REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../helpers/reference.js';

const GROUPS = REFERENCE_GROUPS;
const RULE = labelRule({ orderWindowMs: hours(4) });
const LATENESS = minutes(10);
const PARTITIONS = 3;

/**
 * The streaming joiner on the real broker and Redis: a clean run equals the naive join; the
 * compiled `tessera join` SIGKILLed several times mid-run and then finished writes, once
 * re-sent records are dropped by the readers' rule, exactly the clean run's samples; an
 * instance started mid-run takes over from a running one, with the same result.
 */
describe('join: exactly once in effect on real Kafka + Redis', () => {
  const registry = referenceRegistry();
  const base = randomName('jn');
  const prefixes = { clean: `${base}c`, crash: `${base}k`, takeover: `${base}t` };
  let log: EventLog;
  let store: OnlineStore;
  let events: AnyEvent[];
  let clean: Sample[];

  beforeAll(async () => {
    log = createKafkaEventLog({ brokers: TEST_KAFKA_BROKERS, clientId: 'tessera-test', logger: SILENT_LOGGER });
    store = createRedisOnlineStore({ url: TEST_REDIS_URL });
    events = joinStream(41, 700, { orderWindowMs: hours(4), users: 40, items: 60 });
    for (const prefix of Object.values(prefixes)) {
      const topics = referenceTopics(prefix);
      await log.ensureTopics(topicSpecs(topics, PARTITIONS));
      const producer = createEventProducer({ log, registry, topics, clock: Date.now });
      for (let i = 0; i < events.length; i += 1000) expect((await producer.send(events.slice(i, i + 1000))).rejected).toEqual([]);
    }
  });
  afterAll(async () => {
    for (const prefix of Object.values(prefixes)) {
      await store.deleteByPrefix(`${prefix}:`);
      await log.deleteTopics(topicSpecs(referenceTopics(prefix), PARTITIONS).map((s) => s.name));
    }
    await store.close();
    await log.close();
  });

  const run = (topics: Topics, prefix: string, options: JoinerOptions = {}) => {
    const metrics = new Metrics();
    const sub = startJoiner(
      { log, store, registry, topics, keys: createJoinerKeys(prefix, 'join'), groups: GROUPS, logger: SILENT_LOGGER, metrics, clock: Date.now },
      { rule: RULE, untilIdle: true, idleMs: 1500, maxBatchRecords: 150, checkpointIntervalMs: 0, ...options },
    );
    return { sub, metrics };
  };

  it('a clean run equals the naive join', async () => {
    const topics = referenceTopics(prefixes.clean);
    const { sub, metrics } = run(topics, prefixes.clean);
    await sub.done;
    const read = await readJoinedSamples(log, topics.samples(), { specHash: featureSpec(GROUPS).hash });
    const want = naiveSamples(events, GROUPS, RULE, Math.max(...events.map((e) => e.eventTime)) - LATENESS);
    expect(want.size).toBeGreaterThan(1000);
    expect(compareSamples(read.samples, want)).toBeNull();
    expect(read.duplicates).toBe(0);
    expect(metrics.total('tessera_join_samples_emitted_total')).toBe(want.size);
    clean = read.samples;
  });

  it('`tessera join` stopped with SIGTERM, killed with SIGKILL three times mid-run, then finished, writes the clean run\'s samples', async () => {
    const prefix = prefixes.crash;
    const topics = referenceTopics(prefix);
    const env = { ...TEST_PROJECT_ENV, TESSERA_KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','), TESSERA_REDIS_URL: TEST_REDIS_URL, TESSERA_TOPIC_PREFIX: prefix, TESSERA_PARTITIONS: String(PARTITIONS) };
    const args = ['join', '--order-window', '4h', '--max-batch', '25', '--checkpoint-ms', '0'];
    const keys = createJoinerKeys(prefix, 'join');
    const progress = async () => {
      const [fence, parts] = await store.read([
        { kind: 'hmget', key: keys.fence(), fields: ['seq'] },
        { kind: 'hgetall', key: keys.partitions() },
      ]);
      const seq = fence?.kind === 'hmget' && fence.value[0] != null ? Number(fence.value[0]) : -1;
      const consumed = parts?.kind === 'hgetall' ? Object.values(parts.value).reduce((s, v) => s + (JSON.parse(v) as { next: number }).next, 0) : 0;
      return { seq, consumed };
    };
    // SIGTERM: stops after the batch in flight, with a last checkpoint and the summary
    const first = spawnTessera(args, env);
    while ((await progress()).seq < 2 && first.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    first.kill('SIGTERM');
    expect(await exited(first), first.output()).toBe(0);
    expect(first.output()).toMatch(/SIGTERM: stopping[\s\S]*emitted \d+ samples/);
    let killedMidway = 0;
    for (let round = 0; round < 3; round++) {
      const before = await progress();
      const child = spawnTessera(args, env);
      const deadline = Date.now() + 60_000;
      while ((await progress()).seq <= before.seq + 2 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
      child.kill('SIGKILL');
      expect(await exited(child), child.output()).toBe('SIGKILL');
      if ((await progress()).consumed < events.length) killedMidway++;
    }
    expect(killedMidway).toBeGreaterThan(0);
    const finisher = spawnTessera([...args, '--until-idle', '--idle-ms', '1000'], env);
    expect(await exited(finisher), finisher.output()).toBe(0);
    expect(finisher.output()).toMatch(/emitted \d+ samples/);
    const read = await readJoinedSamples(log, topics.samples(), { specHash: featureSpec(GROUPS).hash });
    expect(read.samples).toEqual(clean);
  });

  it('an instance started mid-run takes over; the first stops fenced; the samples equal the clean run', async () => {
    const prefix = prefixes.takeover;
    const topics = referenceTopics(prefix);
    let batchesA = 0;
    let started!: () => void;
    const underWay = new Promise<void>((r) => (started = r));
    const a = run(topics, prefix, {
      maxBatchRecords: 40,
      onBatchJoined: async () => {
        if (++batchesA === 5) started();
        await new Promise((r) => setTimeout(r, 30)); // slow enough that the takeover lands mid-run
      },
    });
    await underWay;
    const b = run(topics, prefix);
    await expect(a.sub.done).rejects.toBeInstanceOf(JoinerFencedError);
    await b.sub.done;
    const read = await readJoinedSamples(log, topics.samples(), { specHash: featureSpec(GROUPS).hash });
    expect(read.samples).toEqual(clean);
  });
});
