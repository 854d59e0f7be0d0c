import { referenceRegistry, referenceTopics } from '../../helpers/reference.js';
import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import type { AnyEvent } from '../../../src/events/event-types.js';
import { topicSpecs, type Topics } from '../../../src/events/topics.js';
import { days, hours, minutes, type CompiledGroup } from '../../../src/features/definitions.js';
import type { FeatureValue } from '../../../src/features/aggregators.js';
import { oracleFeatures } from '../../../src/features/oracle.js';
import { createEventProducer } from '../../../src/ingest/producer.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import { FeatureReader } from '../../../src/serving/feature-reader.js';
import { batchAlignmentMs, writeBatchView } from '../../../src/streaming/batch-view.js';
import { readCatalog } from '../../../src/streaming/online-catalog.js';
import { createStreamKeys } from '../../../src/streaming/stream-keys.js';
import { startStream } from '../../../src/streaming/stream-processor.js';
import { TEST_GROUPS, entitiesOf, foldDumps, randomStream, sameFeatures } from '../../helpers/feature-streams.js';

const registry = referenceRegistry();
const START = Date.UTC(2026, 0, 5);

/** Lifetime count, sum and avg come from the stream alone in the lambda merge (see lambda-merge.ts). */
function streamOnly(group: CompiledGroup): Set<string> {
  return new Set(group.features.filter((f) => f.kind === 'lifetime' && ['count', 'sum', 'avg'].includes(f.op)).map((f) => f.name));
}

function pick(values: Record<string, FeatureValue>, names: Set<string>, keep: boolean): Record<string, FeatureValue> {
  return Object.fromEntries(Object.entries(values).filter(([n]) => names.has(n) === keep));
}

describe('lambda: batch view + streaming tiles', () => {
  it.each([1, 2])('converges to the batch values, too-late events included (seed %i)', async (seed) => {
    const onTime = randomStream(seed, 800, { start: START, spanMs: days(3) });
    // events of the first day that reach the log only at its end: far behind every watermark
    const tooLate = onTime.filter((e, i) => e.eventTime < START + days(1) && i % 9 === 0).map((e) => ({ ...e, eventId: `late-${e.eventId}` }) as AnyEvent);
    const log = new MemoryEventLog();
    const topics = referenceTopics('lam');
    await log.ensureTopics(topicSpecs(topics, 2));
    await createEventProducer({ log, registry, topics, clock: Date.now }).send([...onTime, ...tooLate]);
    const store = new MemoryOnlineStore();
    const keys = createStreamKeys('t', 'live');
    const metrics = new Metrics();
    await startStream({ log, store, registry, topics, keys, groups: TEST_GROUPS, logger: SILENT_LOGGER, metrics, clock: Date.now }, { untilIdle: true, idleMs: 50, maxBatchRecords: 50 }).done;
    expect(metrics.total('tessera_stream_late_events_total')).toBe(tooLate.length);
    expect(tooLate.length).toBeGreaterThan(5);

    const all = [...onTime, ...tooLate];
    const until = START + days(2);
    const reader = new FeatureReader({ store, keys, groups: TEST_GROUPS, clock: Date.now });
    const readAll = async () => {
      let differs = 0;
      const out: { group: CompiledGroup; key: string; q: number; got: Record<string, FeatureValue> }[] = [];
      for (const group of TEST_GROUPS) {
        for (const [key, latest] of entitiesOf(group, all)) {
          for (const dt of [1, hours(2), days(3)]) {
            const q = latest + dt;
            const got = (await reader.read([{ group: group.name, key }], q)).entities[0]!.values;
            if (sameFeatures(got, oracleFeatures(group, all, key, q)) !== null) differs++;
            out.push({ group, key, q, got });
          }
        }
      }
      return { differs, out };
    };
    // without a batch view the stream misses the too-late events: some values differ from the batch truth
    expect((await readAll()).differs).toBeGreaterThan(0);

    for (const group of TEST_GROUPS) {
      expect(until % batchAlignmentMs(group)).toBe(0);
      await writeBatchView(store, group, foldDumps(group, all, until), { prefix: keys.prefix, until, now: Date.now(), graceMs: hours(1), latenessMs: minutes(10) });
    }
    expect((await readCatalog(store, keys.prefix)).batchViews.size).toBe(TEST_GROUPS.length);
    // the same reader notices the new catalog and merges the views
    const { out } = await readAll();
    for (const { group, key, q, got } of out) {
      const only = streamOnly(group);
      expect(sameFeatures(pick(got, only, false), pick(oracleFeatures(group, all, key, q), only, false)), `${group.name}:${key}@${q}`).toBeNull();
      expect(sameFeatures(pick(got, only, true), pick(oracleFeatures(group, onTime, key, q), only, true)), `${group.name}:${key}@${q} (stream-only)`).toBeNull();
    }
    expect(out.length).toBeGreaterThan(60);
  });

  it('refuses a batch watermark that is not aligned to the largest tile, saying which one would be', async () => {
    const store = new MemoryOnlineStore();
    const user = TEST_GROUPS.find((g) => g.name === 'user')!;
    await expect(writeBatchView(store, user, [], { prefix: 't', until: START + hours(5), now: 0, graceMs: 0, latenessMs: 0 })).rejects.toThrow(/must be a multiple of 86400000 ms .* e\.g\. 2026-01-05T00:00:00\.000Z/);
  });
});
