import { referenceRegistry, referenceTopics } from '../../helpers/reference.js';
import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import type { AnyEvent, ReferenceEvent } from '../../../src/events/event-types.js';
import { topicSpecs, type Topics } from '../../../src/events/topics.js';
import { days, hours, minutes } from '../../../src/features/definitions.js';
import { oracleFeatures } from '../../../src/features/oracle.js';
import { createEventProducer } from '../../../src/ingest/producer.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import type { OnlineStore } from '../../../src/ports/online-store.js';
import { FeatureReader, InexactQueryError } from '../../../src/serving/feature-reader.js';
import { createStreamKeys } from '../../../src/streaming/stream-keys.js';
import { startStream } from '../../../src/streaming/stream-processor.js';
import { TEST_GROUPS, entitiesOf, randomStream, sameFeatures } from '../../helpers/feature-streams.js';

const registry = referenceRegistry();

async function runStream(events: readonly AnyEvent[], store: OnlineStore, options: { latenessMs?: number; maxBatchRecords?: number } = {}) {
  const log = new MemoryEventLog();
  const topics = referenceTopics('p');
  await log.ensureTopics(topicSpecs(topics, 3));
  await createEventProducer({ log, registry, topics, clock: Date.now }).send(events);
  const metrics = new Metrics();
  const keys = createStreamKeys('t', 'live');
  const sub = startStream(
    { log, store, registry, topics, keys, groups: TEST_GROUPS, logger: SILENT_LOGGER, metrics, clock: Date.now },
    { untilIdle: true, idleMs: 50, maxBatchRecords: options.maxBatchRecords ?? 37, ...(options.latenessMs !== undefined ? { latenessMs: options.latenessMs } : {}) },
  );
  await sub.done;
  const late: AnyEvent[] = [];
  for (const p of await log.endOffsets(topics.late())) {
    for (const r of await log.read(topics.late(), p.partition, 0, p.offset)) late.push(registry.decode(r.value));
  }
  await log.close();
  return { metrics, keys, late };
}

describe('online state is bounded in event time', () => {
  it('prunes tiles, per-tile latest fields and HyperLogLog tiles that every window has left, however long the stream runs', async () => {
    // one user for 20 days, an event every ~7 min: without pruning the 1-min tiles alone would be thousands
    const start = Date.UTC(2026, 0, 5);
    const events: AnyEvent[] = randomStream(9, 4000, { start, spanMs: days(20), disorderMs: 0, dupRate: 0 }).map((e) => ({ ...e, userId: 'u0' }) as AnyEvent);
    const store = new MemoryOnlineStore();
    const { keys } = await runStream(events, store, { maxBatchRecords: 200 });
    const latest = Math.max(...events.map((e) => e.eventTime));
    const probe = TEST_GROUPS.find((g) => g.name === 'probe')!;
    const [hash] = await store.read([{ kind: 'hgetall', key: keys.entity('probe', 'u0') }]);
    const fields = Object.keys(hash?.kind === 'hgetall' ? hash.value : {});
    // slack: pruning runs once per hour of the entity's event time, so a tile may outlive its retention by that much
    const slack = hours(1);
    const retention = new Map<number, number>(); // hop -> longest window + lateness + hop
    for (const a of probe.aggregations) for (const t of a.tiles) retention.set(t.hopMs, Math.max(retention.get(t.hopMs) ?? 0, Math.max(...t.windowsMs) + minutes(10) + t.hopMs));
    let tiles = 0;
    for (const f of fields) {
      const parts = f.split('|');
      if (parts.length < 3 || parts[1] === 'L' || Number(parts[1]) === hours(1) && probe.aggregations[Number(parts[0])]?.def.op === 'decayed_count') continue;
      const hop = Number(parts[1]);
      const keep = retention.get(hop);
      expect(keep, f).toBeDefined();
      expect(Number(parts[2]), f).toBeGreaterThanOrEqual(latest - keep! - slack - hop);
      tiles++;
    }
    expect(tiles).toBeGreaterThan(0);
    const hllKeys = store.keysWithPrefix(`${keys.root}:h:probe:`);
    expect(hllKeys.length).toBeGreaterThan(0);
    for (const k of hllKeys) {
      const label = k.split(':').slice(-2, -1)[0]!;
      if (label === 'L') continue;
      const [hop, s] = label.split('|').map(Number) as [number, number];
      expect(s, k).toBeGreaterThanOrEqual(latest - retention.get(hop)! - slack - hop);
    }
    // the 1-min HyperLogLog tiles left are about (1 h window + lateness + slack) / 1 min, not 20 days' worth
    expect(hllKeys.filter((k) => k.includes(`:${minutes(1)}|`)).length).toBeLessThanOrEqual((hours(1) + minutes(10) + slack) / minutes(1) + 3);
  });
});

describe('streaming features equal the naive oracle', () => {
  it.each([1, 2, 3, 4])('random stream %i: out of order within the lateness, with duplicates, read from just after the last event to 40 days later', async (seed) => {
    const events = randomStream(seed, 700);
    const store = new MemoryOnlineStore();
    const { metrics, keys } = await runStream(events, store);
    const unique = new Set(events.map((e) => e.eventId)).size;
    expect(metrics.total('tessera_stream_events_applied_total')).toBe(unique);
    expect(metrics.total('tessera_stream_duplicates_total')).toBe(events.length - unique);
    expect(metrics.total('tessera_stream_late_events_total')).toBe(0);
    const reader = new FeatureReader({ store, keys, groups: TEST_GROUPS, clock: Date.now });
    let compared = 0;
    for (const group of TEST_GROUPS) {
      for (const [entity, latest] of entitiesOf(group, events)) {
        for (const dt of [1, 17, minutes(1) + 3, hours(1), hours(25) + 7, days(8), days(40)]) {
          const q = latest + dt;
          const { entities } = await reader.read([{ group: group.name, key: entity }], q);
          const got = entities[0]!.values;
          const want = oracleFeatures(group, events, entity, q);
          expect(sameFeatures(got, want), `${group.name}:${entity} at latest+${dt}`).toBeNull();
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('answers earlier query times exactly where the head tiles allow, and refuses otherwise', async () => {
    const random = randomStream(9, 600, { spanMs: hours(20) });
    // an item whose latest event lies just after an hour boundary: at that boundary every head tile starts at q
    const t0 = Date.UTC(2026, 0, 6, 2); // after the random span, so none of these is late
    const edge = [t0 - hours(3), t0 - minutes(30), t0 + minutes(2)].map((t, i): ReferenceEvent => ({
      type: 'impression', eventId: `edge-${i}`, eventTime: t, requestId: `re${i}`, userId: 'u-edge', itemId: 'i-edge', categoryId: null, position: 0,
      context: { device: null, os: null, country: null, city: null, page: null, timezone: null },
    }));
    const events = [...random, ...edge];
    const store = new MemoryOnlineStore();
    const { keys } = await runStream(events, store);
    const item = TEST_GROUPS.find((g) => g.name === 'item')!;
    const reader = new FeatureReader({ store, keys, groups: [item], clock: Date.now });
    let exact = 0;
    let refused = 0;
    for (const [key, last] of entitiesOf(item, events)) {
      // within the lateness: tile-aligned query times, and arbitrary ones
      const candidates = [Math.floor(last / hours(1)) * hours(1), Math.floor(last / minutes(1)) * minutes(1), last - minutes(1) - 7, last - minutes(4), Math.floor((last - minutes(9)) / hours(1)) * hours(1), last - minutes(9), last];
      for (const q of candidates) {
        try {
          const { entities } = await reader.read([{ group: 'item', key }], q);
          expect(sameFeatures(entities[0]!.values, oracleFeatures(item, events, key, q)), `item:${key} at ${q}`).toBeNull();
          exact++;
        } catch (err) {
          if (!(err instanceof InexactQueryError)) throw err;
          expect(err.message).toMatch(/holds events at or after q|more than the allowed lateness/);
          refused++;
        }
      }
      // further back than the lateness: always refused, the tiles may be gone
      await expect(reader.read([{ group: 'item', key }], last - hours(2))).rejects.toThrow(/more than the allowed lateness/);
    }
    expect(exact).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('routes events later than the allowed lateness to the late topic and leaves them out', async () => {
    const base = randomStream(5, 300, { spanMs: hours(10), dupRate: 0 });
    // three stragglers, hours behind the stream, at the very end of the log
    const stragglers = base.slice(0, 3).map((e, i) => ({ ...e, eventId: `late-${i}`, eventTime: Date.UTC(2026, 0, 5) - hours(5) }));
    const events = [...base, ...stragglers];
    const store = new MemoryOnlineStore();
    const { metrics, keys, late } = await runStream(events, store, { latenessMs: minutes(10) });
    expect(metrics.total('tessera_stream_late_events_total')).toBe(3);
    expect(late.map((e) => e.eventId).sort()).toEqual(['late-0', 'late-1', 'late-2']);
    const reader = new FeatureReader({ store, keys, groups: TEST_GROUPS, clock: Date.now });
    for (const group of TEST_GROUPS) {
      for (const [entity, lastApplied] of entitiesOf(group, base)) {
        const q = lastApplied + hours(1);
        const { entities } = await reader.read([{ group: group.name, key: entity }], q);
        expect(sameFeatures(entities[0]!.values, oracleFeatures(group, base, entity, q))).toBeNull();
      }
    }
  });
});
