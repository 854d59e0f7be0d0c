import { ClickHouseLogLevel, createClient, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseServerOfflineStore } from '../../src/adapters/clickhouse/clickhouse-server-offline-store.js';
import { buildSamples } from '../../src/batch/build-samples.js';
import { offlineFeatures } from '../../src/batch/offline-features.js';
import { readSamples } from '../../src/batch/read-samples.js';
import { recomputeStates } from '../../src/batch/recompute.js';
import { days, hours } from '../../src/features/definitions.js';
import { oracleFeatures } from '../../src/features/oracle.js';
import { assembleGroup } from '../../src/features/window-assembly.js';
import type { Sample } from '../../src/samples/sample.js';
import { sameFeatures } from '../helpers/feature-streams.js';
import { REFERENCE_CATALOG, REFERENCE_GROUPS, USER_GROUP } from '../helpers/reference.js';
import { expectedSamples, loadRawEvents, sampleDiff, sampleStream } from './batch-fixtures.js';

/**
 * The batch layer through the production adapter (ClickHouseServerOfflineStore, @clickhouse/client)
 * on a current engine: the project's only ClickHouse server is 18.16 (no window functions, ASOF or
 * DateTime64), so the client is carried by chDB's Connection, as in the adapter's own contract run.
 * Every statement the batch layer sends (temporary tables across statements, INSERT ... SELECT,
 * lightweight DELETE, JSONCompactEachRow reads) goes through the server adapter's code.
 */
describe('batch layer through the ClickHouse server adapter (on chDB)', () => {
  let store: ClickHouseServerOfflineStore;
  beforeAll(async () => {
    const connection = createChdbConnection({ path: ':memory:' }) as unknown as NonNullable<ClickHouseClientConfigOptions['connection']>;
    const client = createClient({ connection, log: { level: ClickHouseLogLevel.OFF } });
    store = new ClickHouseServerOfflineStore(client, 'chdb-connection');
  });
  afterAll(async () => {
    await store?.close();
  });

  it('samples, reads, recompute and offline reads equal the oracle', async () => {
    const start = Date.UTC(2026, 2, 27, 12);
    const events = sampleStream(51, 250, { start, spanMs: days(2), maxSlate: 4 });
    // chdb's Connection turns a request body into text, so RowBinary cannot pass: JSON rows instead
    await loadRawEvents(store, events, { asRows: true });
    const completeThrough = Math.max(...events.map((e) => e.eventTime));
    const from = start;
    const to = start + days(1);
    const r = await buildSamples({ offline: store }, { from, to, catalog: REFERENCE_CATALOG, groups: REFERENCE_GROUPS });
    const want = expectedSamples(events, REFERENCE_GROUPS, { from, to, completeThrough });
    expect(r.samples).toBe(want.length);
    const got: Sample[] = [];
    for await (const s of readSamples(store, { from, to, groups: REFERENCE_GROUPS, pageSize: 17 })) got.push(s);
    const byId = new Map(want.map((w) => [w.impression.eventId, w]));
    expect(got.length).toBe(want.length);
    for (const s of got) {
      const diff = sampleDiff(s, byId.get(s.impressionId) as (typeof want)[number]);
      if (diff !== null) expect.fail(`${s.impressionId}: ${diff}`);
    }
    // a rerun over the same range replaces it
    await buildSamples({ offline: store }, { from, to, catalog: REFERENCE_CATALOG, groups: REFERENCE_GROUPS });
    expect(await store.query('SELECT count() AS n FROM samples')).toEqual([{ n: want.length }]);

    const until = start + hours(30);
    const before = events.filter((e) => e.eventTime < until);
    let entities = 0;
    for await (const e of recomputeStates(store, REFERENCE_GROUPS, { until, entitiesPerPage: 3 })) {
      const group = REFERENCE_GROUPS.find((g) => g.name === e.group) ?? USER_GROUP;
      expect(sameFeatures(assembleGroup(group, e, until + 1), oracleFeatures(group, before, e.entityKey, until + 1))).toBeNull();
      entities++;
    }
    expect(entities).toBeGreaterThan(10);
    const q = start + hours(20) + 123;
    const one = await offlineFeatures(store, USER_GROUP, 'u1', q);
    expect(sameFeatures(one.values, oracleFeatures(USER_GROUP, events, 'u1', q))).toBeNull();
  });
});
