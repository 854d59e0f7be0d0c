import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import type { AnyEvent } from '../../../src/events/event-types.js';
import { topicSpecs } from '../../../src/events/topics.js';
import { oracleFeatures } from '../../../src/features/oracle.js';
import { createEventProducer } from '../../../src/ingest/producer.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import { FeatureReader } from '../../../src/serving/feature-reader.js';
import { flipAlias } from '../../../src/streaming/online-catalog.js';
import { createStreamKeys } from '../../../src/streaming/stream-keys.js';
import { startStream } from '../../../src/streaming/stream-processor.js';
import { sameFeatures } from '../../helpers/feature-streams.js';
import { REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../../helpers/reference.js';

const T0 = Date.UTC(2026, 0, 5, 12);
const impression = (i: number, itemId: string, t: number): AnyEvent =>
  ({ type: 'impression', eventId: `imp-${i}`, eventTime: t, requestId: `r${i}`, userId: `u${i % 3}`, itemId, categoryId: 'c1', position: 0, context: { device: 'ios', os: null, country: null, city: null, page: 'home', timezone: null } }) as unknown as AnyEvent;

describe('the item cache of the feature reader', () => {
  it('answers item features from memory within the bounded staleness, reads them again after it, and drops them when the catalog moves', async () => {
    const log = new MemoryEventLog();
    const topics = referenceTopics('ic');
    await log.ensureTopics(topicSpecs(topics, 1));
    const registry = referenceRegistry();
    const producer = createEventProducer({ log, registry, topics, clock: () => T0 });
    const store = new MemoryOnlineStore();
    const keys = createStreamKeys('t');
    const stream = () => startStream({ log, store, registry, topics, keys, groups: REFERENCE_GROUPS, logger: SILENT_LOGGER, metrics: new Metrics(), clock: () => T0 }, { untilIdle: true, idleMs: 20 }).done;
    const first = [0, 1, 2].map((i) => impression(i, 'i1', T0 - 60_000 + i));
    expect((await producer.send(first)).sent).toBe(3);
    await stream();

    let now = T0;
    const metrics = new Metrics();
    const reader = new FeatureReader({ store, keys, groups: REFERENCE_GROUPS, clock: () => now, cache: { maxAgeMs: 1000, metrics } });
    const item = REFERENCE_GROUPS.find((g) => g.name === 'item')!;
    const read = async () => (await reader.read([{ group: 'user', key: 'u0' }, { group: 'item', key: 'i1' }], 'now')).entities;
    const a = await read();
    expect(sameFeatures(a[1]!.values, oracleFeatures(item, first, 'i1', now))).toBeNull();
    expect(metrics.total('tessera_reader_cache_misses_total')).toBe(1);

    // two more impressions of the item: within the staleness the cached value (the exact value 500 ms ago) is served
    const more = [3, 4].map((i) => impression(i, 'i1', T0 + i));
    expect((await producer.send(more)).sent).toBe(2);
    await stream();
    now = T0 + 500;
    const b = await read();
    expect(b[1]).toBe(a[1]);
    expect(b[1]!.values['item_impression_count_1h']).toBe(3);
    // the user group is not cached: it always reads the store
    expect(b[0]).not.toBe(a[0]);
    expect(metrics.total('tessera_reader_cache_hits_total')).toBe(1);
    expect(metrics.count('tessera_reader_cache_age_seconds')).toBe(1);

    // past the staleness: read again, exact
    now = T0 + 1001;
    const c = await read();
    expect(c[1]!.values['item_impression_count_1h']).toBe(5);
    expect(sameFeatures(c[1]!.values, oracleFeatures(item, [...first, ...more], 'i1', now))).toBeNull();

    // a moved catalog (a flip) drops what was cached under the old revision: the read that learns
    // of it (through the user's round trip) still answers the item from memory, the next one reads it
    await flipAlias(store, 't', 'user', 'live', 60_000, now);
    const hits = metrics.total('tessera_reader_cache_hits_total');
    const misses = metrics.total('tessera_reader_cache_misses_total');
    await read();
    expect(metrics.total('tessera_reader_cache_hits_total')).toBe(hits + 1);
    await read();
    expect(metrics.total('tessera_reader_cache_misses_total')).toBe(misses + 1);
    await read();
    expect(metrics.total('tessera_reader_cache_hits_total')).toBe(hits + 2);

    // reads at an explicit time never use it
    const later = await reader.read([{ group: 'item', key: 'i1' }], T0 + 2 * 3_600_000);
    expect(later.entities[0]!.values['item_impression_count_1h']).toBe(0);
    expect(later.entities[0]!.values['item_impression_count_24h']).toBe(5);
  });

  it('is off by default and refuses an unknown group', () => {
    const store = new MemoryOnlineStore();
    expect(() => new FeatureReader({ store, keys: createStreamKeys('t'), groups: REFERENCE_GROUPS, clock: Date.now, cache: { maxAgeMs: 10, groups: ['nope'] } })).toThrow(/cache: unknown feature group "nope"/);
  });
});
