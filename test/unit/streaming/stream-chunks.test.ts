import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import type { AnyEvent } from '../../../src/events/event-types.js';
import { topicSpecs } from '../../../src/events/topics.js';
import { hours } from '../../../src/features/definitions.js';
import { oracleFeatures } from '../../../src/features/oracle.js';
import { createEventProducer } from '../../../src/ingest/producer.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import type { ApplyResult, Fence, OnlineStore, StoreOp } from '../../../src/ports/online-store.js';
import { FeatureReader } from '../../../src/serving/feature-reader.js';
import { createStreamKeys } from '../../../src/streaming/stream-keys.js';
import { startStream, type StreamOptions } from '../../../src/streaming/stream-processor.js';
import { TEST_GROUPS, entitiesOf, randomStream, sameFeatures } from '../../helpers/feature-streams.js';
import { referenceRegistry, referenceTopics } from '../../helpers/reference.js';

/**
 * A batch goes to the store as several atomic applies of at most maxApplyRecords records, each
 * fenced at its own last offset (issue 13: one apply script must not hold Redis for long). The
 * features must still equal the oracle, and a crash between two chunks of one batch must neither
 * lose nor double-apply anything.
 */
const registry = referenceRegistry();
const keys = createStreamKeys('t', 'live');

async function logOf(events: readonly AnyEvent[]): Promise<{ log: MemoryEventLog; topics: ReturnType<typeof referenceTopics> }> {
  const log = new MemoryEventLog();
  const topics = referenceTopics('p');
  await log.ensureTopics(topicSpecs(topics, 3));
  await createEventProducer({ log, registry, topics, clock: Date.now }).send(events);
  return { log, topics };
}

function run(log: MemoryEventLog, topics: ReturnType<typeof referenceTopics>, store: OnlineStore, options: StreamOptions, metrics = new Metrics()) {
  return startStream({ log, store, registry, topics, keys, groups: TEST_GROUPS, logger: SILENT_LOGGER, metrics, clock: Date.now }, { untilIdle: true, idleMs: 50, ...options });
}

async function expectOracle(store: OnlineStore, events: readonly AnyEvent[]): Promise<void> {
  const reader = new FeatureReader({ store, keys, groups: TEST_GROUPS, clock: Date.now });
  for (const group of TEST_GROUPS) {
    for (const [entity, lastApplied] of entitiesOf(group, events)) {
      const q = lastApplied + hours(1);
      const { entities } = await reader.read([{ group: group.name, key: entity }], q);
      expect(sameFeatures(entities[0]!.values, oracleFeatures(group, events, entity, q)), `${group.name} ${entity}`).toBeNull();
    }
  }
}

describe('stream applies in bounded chunks', () => {
  const events = randomStream(21, 900, { spanMs: hours(30) });

  it('chunks of 7 records equal the oracle, and read the same as one apply per batch', async () => {
    const chunked = new MemoryOnlineStore();
    const metrics = new Metrics();
    const a = await logOf(events);
    await run(a.log, a.topics, chunked, { maxBatchRecords: 400, maxApplyRecords: 7 }, metrics).done;
    await expectOracle(chunked, events);
    // more applies than batches: the batches really were cut
    expect(metrics.total('tessera_stream_applies_total')).toBeGreaterThanOrEqual(Math.ceil(events.length / 7));
    // the stored fields may differ (a chunk prunes at its own latest event: tiles can outlive their
    // retention by one prune period, never less), the values read do not
    const whole = new MemoryOnlineStore();
    const b = await logOf(events);
    await run(b.log, b.topics, whole, { maxBatchRecords: 400, maxApplyRecords: 400 }).done;
    const read = (store: OnlineStore) => new FeatureReader({ store, keys, groups: TEST_GROUPS, clock: Date.now });
    for (const group of TEST_GROUPS) {
      const refs = [...entitiesOf(group, events).keys()].map((key) => ({ group: group.name, key }));
      const values = async (store: OnlineStore) => (await read(store).read(refs, 'watermark')).entities.map((e) => ({ key: e.key, values: e.values, latest: e.latestEventTime }));
      expect(await values(chunked)).toEqual(await values(whole));
    }
  });

  it('a crash between the chunks of one batch, then a restart: nothing lost, nothing applied twice', async () => {
    const inner = new MemoryOnlineStore();
    let calls = 0;
    // the store dies at its 5th apply: chunks before it are stored, it and the ones after are not
    const dying: OnlineStore = {
      apply: async (ops: readonly StoreOp[], fence?: Fence): Promise<ApplyResult> => {
        if (++calls >= 5 && calls <= 8) throw new Error('connection lost (test)');
        return inner.apply(ops, fence);
      },
      read: (q) => inner.read(q),
      deleteByPrefix: (p) => inner.deleteByPrefix(p),
      close: async () => undefined,
    };
    const { log, topics } = await logOf(events);
    await expect(run(log, topics, dying, { maxBatchRecords: 300, maxApplyRecords: 40, concurrentPartitions: 1 }).done).rejects.toThrow(/connection lost/);
    // some of the batch in flight was applied (its first chunks), not all of it
    // the batch in flight went out as several chunks: those before the 5th apply are stored
    expect(calls).toBeGreaterThan(5);
    await run(log, topics, inner, { maxBatchRecords: 300, maxApplyRecords: 40 }).done;
    await expectOracle(inner, events);
  });
});
