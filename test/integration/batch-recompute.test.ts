import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbOfflineStore, type ChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import { offlineFeatures } from '../../src/batch/offline-features.js';
import { recomputeStates } from '../../src/batch/recompute.js';
import type { AnyEvent } from '../../src/events/event-types.js';
import { days, hours } from '../../src/features/definitions.js';
import { oracleFeatures } from '../../src/features/oracle.js';
import { assembleGroup } from '../../src/features/window-assembly.js';
import { Rng } from '../../src/ingest/rng.js';
import { TEST_GROUPS, entitiesOf, randomStream, sameFeatures } from '../helpers/feature-streams.js';
import { dropRawTables, loadRawEvents } from './batch-fixtures.js';

describe('batch recompute and offline reads == naive oracle (chDB)', () => {
  let store: ChdbOfflineStore;
  beforeAll(async () => {
    store = await createChdbOfflineStore();
  });
  afterAll(async () => {
    await store?.close();
  });

  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: recomputeStates assembled at q >= until, and offlineFeatures at random past q`, async () => {
      await dropRawTables(store);
      const start = Date.UTC(2026, 0, 5);
      const events: AnyEvent[] = randomStream(seed, 1500, { start, spanMs: days(3), dupRate: 0.1 });
      await loadRawEvents(store, events);
      const rng = new Rng(seed, 'batch-recompute-test');
      const until = start + Math.floor(rng.uniform(days(1), days(3)));
      // the batch view holds the events before its watermark; a read at q >= until sees exactly those
      const before = events.filter((e) => e.eventTime < until);
      let compared = 0;
      for (const group of TEST_GROUPS) {
        const seen = new Set<string>();
        for await (const entity of recomputeStates(store, [group], { until, entitiesPerPage: 2 })) {
          expect(seen.has(entity.entityKey)).toBe(false);
          seen.add(entity.entityKey);
          for (const dq of [0, 1, 59_999, hours(1) + 7, hours(13), days(2) + 3]) {
            const q = until + dq;
            const diff = sameFeatures(assembleGroup(group, entity, q), oracleFeatures(group, before, entity.entityKey, q));
            expect(diff, `${group.name}:${entity.entityKey} at until + ${dq}`).toBeNull();
            compared++;
          }
        }
        // every entity with events before until (that some window or lifetime still sees) was yielded
        for (const [key, latest] of entitiesOf(group, before)) {
          if (!seen.has(key)) {
            expect(sameFeatures(oracleFeatures(group, before, key, until), oracleFeatures(group, [], key, until)), `${group.name}:${key} (latest ${latest}) missing`).toBeNull();
          }
        }
        const keys = [...entitiesOf(group, events).keys()];
        for (let j = 0; j < 6; j++) {
          const key = keys[rng.int(0, keys.length)] as string;
          const q = start + Math.floor(rng.uniform(-hours(1), days(3) + hours(2)));
          const got = await offlineFeatures(store, group, key, q);
          expect(sameFeatures(got.values, oracleFeatures(group, events, key, q)), `${group.name}:${key} at ${q}`).toBeNull();
          const times = [...entitiesOf(group, events.filter((e) => e.eventTime < q)).entries()].find(([k]) => k === key)?.[1];
          expect(got.latestEventTime).toBe(times ?? null);
        }
        const unknown = await offlineFeatures(store, group, 'nobody:none', until);
        expect(unknown.values).toEqual(oracleFeatures(group, [], 'nobody:none', until));
      }
      expect(compared).toBeGreaterThan(50);
    });
  }
});
