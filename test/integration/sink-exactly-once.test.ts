import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { createKafkaEventLog } from '../../src/adapters/kafka/kafka-event-log.js';
import { createChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import type { AnyEvent } from '../../src/events/event-types.js';
import { topicSpecs } from '../../src/events/topics.js';
import { createEventProducer } from '../../src/ingest/producer.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { EventLog } from '../../src/ports/event-log.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import { prepareRawStore, startRawSink } from '../../src/sink/raw-sink.js';
import { dedupedSource, rawTable } from '../../src/sink/raw-tables.js';
import { TEST_KAFKA_BROKERS, TEST_PROJECT_ENV, randomName } from '../helpers/env.js';
import { countByType, exited, sampleEvents, spawnTessera, tempDir } from '../helpers/pipeline.js';
import { REFERENCE_CATALOG, referenceRegistry, referenceTopics } from '../helpers/reference.js';

/**
 * The raw sink on the real broker and chDB: however it is killed, rebalanced or fed duplicates,
 * the raw tables end up with every produced event exactly once.
 */
describe('raw sink, exactly once in effect (real Kafka + chDB)', () => {
  let log: EventLog;
  const registry = referenceRegistry();
  const created: string[] = [];
  // chDB allows one data directory per process, so every test of this file shares one
  const path = tempDir('tessera-chdb-');

  beforeAll(() => {
    log = createKafkaEventLog({ brokers: TEST_KAFKA_BROKERS, clientId: 'tessera-test', logger: SILENT_LOGGER });
  });
  afterAll(async () => {
    await log.deleteTopics(created);
    await log.close();
    rmSync(path, { recursive: true, force: true });
  });

  async function setUp(events: readonly AnyEvent[], duplicates: number) {
    const prefix = randomName('sink');
    const topics = referenceTopics(prefix);
    const specs = topicSpecs(topics, 3);
    created.push(...specs.map((s) => s.name));
    await log.ensureTopics(specs);
    const producer = createEventProducer({ log, registry, topics, clock: Date.now });
    for (let i = 0; i < events.length; i += 5000) {
      const report = await producer.send(events.slice(i, i + 5000));
      expect(report.rejected).toEqual([]);
    }
    // producer retries: the same events (same eventIds) sent again
    await producer.send(events.slice(0, duplicates));
    return { prefix, topics };
  }

  async function expectExactlyOnce(path: string, events: readonly AnyEvent[]) {
    const store = await createChdbOfflineStore({ path });
    try {
      const expected = countByType(events);
      for (const type of REFERENCE_CATALOG.types) {
        const [r] = await store.query<{ n: number; u: number }>(`SELECT count() AS n, uniqExact(eventId) AS u FROM ${dedupedSource(type)}`);
        expect({ type, n: r?.n, u: r?.u }).toEqual({ type, n: expected[type] ?? 0, u: expected[type] ?? 0 });
      }
      const stored = await store.query<{ eventId: string }>(
        `SELECT eventId FROM (${REFERENCE_CATALOG.types.map((t) => `SELECT eventId FROM ${dedupedSource(t)}`).join(' UNION ALL ')}) ORDER BY eventId`,
      );
      expect(stored.map((r) => r.eventId)).toEqual(events.map((e) => e.eventId).sort());
      // physically too, once merges have run
      for (const type of REFERENCE_CATALOG.types) await store.command(`OPTIMIZE TABLE ${rawTable(type)} FINAL`);
      const [all] = await store.query<{ n: number }>(`SELECT sum(n) AS n FROM (${REFERENCE_CATALOG.types.map((t) => `SELECT count() AS n FROM ${rawTable(t)}`).join(' UNION ALL ')})`);
      expect(all?.n).toBe(events.length);
    } finally {
      await store.close();
    }
  }

  it('survives SIGKILL of the sink process mid-run, three times, and producer duplicates', async () => {
    const events = sampleEvents(12_000, 21);
    const { prefix, topics } = await setUp(events, 2000);
    const total = events.length + 2000;
    const env = { ...TEST_PROJECT_ENV, TESSERA_KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','), TESSERA_TOPIC_PREFIX: prefix, TESSERA_CHDB_PATH: path, TESSERA_PARTITIONS: '3', TESSERA_KAFKA_SESSION_TIMEOUT_MS: '6000' };
    const group = 'sink-crash';
    const committed = async () => {
      let sum = 0;
      for (const t of topics.allEvents()) for (const p of await log.committedOffsets(group, t)) sum += Math.max(p.offset, 0);
      return sum;
    };
    let kills = 0;
    for (let round = 0; round < 3; round++) {
      const before = await committed();
      const child = spawnTessera(['sink', '--group', group, '--max-batch', '250'], env);
      // wait until this run has committed progress, then kill it at a random moment
      const deadline = Date.now() + 60_000;
      while ((await committed()) <= before && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
      const progress = await committed();
      child.kill('SIGKILL');
      expect(await exited(child)).toBe('SIGKILL');
      if (progress < total) kills++;
    }
    expect(kills).toBeGreaterThan(0); // at least one kill landed before the end
    const finisher = spawnTessera(['sink', '--group', group, '--until-idle', '--idle-ms', '500'], env);
    const code = await exited(finisher);
    expect(code, finisher.output()).toBe(0);
    expect(await committed()).toBe(total);
    await expectExactlyOnce(path, events);
  });

  it('loses and duplicates nothing when a second member joins mid-stream and when a batch fails after storing', async () => {
    const events = sampleEvents(8000, 22);
    const { topics } = await setUp(events, 500);
    const store = await createChdbOfflineStore({ path });
    for (const t of REFERENCE_CATALOG.types) await store.command(`DROP TABLE IF EXISTS ${rawTable(t)}`);
    await prepareRawStore(store, REFERENCE_CATALOG);
    const deps = { log, store, registry, topics, logger: SILENT_LOGGER, metrics: new Metrics(), clock: Date.now };
    let failOnce = true;
    let batchesA = 0;
    const a = startRawSink(deps, {
      groupId: 'rebalance', maxBatchRecords: 200,
      onBatchStored: async () => {
        batchesA++;
        if (batchesA === 5 && failOnce) {
          failOnce = false;
          throw new Error('crash after the insert, before the commit');
        }
      },
    });
    await expect(a.done).rejects.toThrow('crash after the insert');
    // a slowed-down member, and a second one joining once it is under way: the group rebalances mid-stream
    let batchesA2 = 0;
    let batchesB = 0;
    let joined!: () => void;
    const underWay = new Promise<void>((r) => (joined = r));
    const slow = (count: () => number) => async () => {
      if (count() === 3) joined();
      await new Promise((r) => setTimeout(r, 60)); // slow enough that the second member's join lands mid-stream
    };
    const a2 = startRawSink(deps, { groupId: 'rebalance', maxBatchRecords: 200, untilIdle: true, idleMs: 1500, onBatchStored: slow(() => ++batchesA2) });
    await underWay;
    const b = startRawSink(deps, { groupId: 'rebalance', maxBatchRecords: 200, untilIdle: true, idleMs: 1500, onBatchStored: async () => void batchesB++ });
    await Promise.all([a2.done, b.done]);
    expect(batchesB).toBeGreaterThan(0); // the second member did take partitions over
    await store.close();
    await expectExactlyOnce(path, events);
  });
});
