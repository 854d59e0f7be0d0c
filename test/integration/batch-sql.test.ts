import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbOfflineStore, type ChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import { BatchError } from '../../src/batch/batch-errors.js';
import { contextCategorySql, contextTimeSql } from '../../src/batch/context-sql.js';
import { floorDivSql, sqlString } from '../../src/batch/sql.js';
import { contextFeatures } from '../../src/features/context.js';
import { tileStart } from '../../src/features/windows.js';
import { Rng } from '../../src/ingest/rng.js';

/** The SQL fragments against the real engine: what ClickHouse reads back is what JavaScript meant. */
describe('batch SQL fragments on chDB', () => {
  let store: ChdbOfflineStore;
  beforeAll(async () => {
    store = await createChdbOfflineStore();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('string literals round-trip any text', async () => {
    const hostile = ["'", '\\', "\\'", 'a\nb\r\tc', '\u0000\u0001\u001f\u007f', 'é€😀\uE000', "x' OR 1 = 1 --", '', '%_'];
    for (const s of hostile) {
      const [row] = await store.query<{ v: string }>(`SELECT ${sqlString(s)} AS v`);
      expect(row?.v).toBe(s);
    }
  });

  it('floor division matches tileStart for negative and positive instants', async () => {
    const rng = new Rng(3, 'floor-div');
    const values = [0, -1, 1, -60_000, 60_000, -59_999, 59_999, 1_704_067_200_123, -1_704_067_200_123];
    for (let i = 0; i < 40; i++) values.push(Math.floor(rng.uniform(-4e12, 4e12)));
    for (const hop of [60_000, 300_000, 3_600_000, 86_400_000]) {
      const rows = await store.query<{ s: number }>(`SELECT ${floorDivSql('x', hop)} * ${hop} AS s FROM (SELECT arrayJoin([${values.map((v) => `toInt64(${v})`).join(', ')}]) AS x)`);
      expect(rows.map((r) => r.s)).toEqual(values.map((v) => tileStart(v, hop)));
    }
  });

  it('hour and weekday in each impression zone equal contextFeatures, across DST changes, fixed offsets and bad zones', async () => {
    const zones = ['Europe/London', 'America/New_York', 'Asia/Shanghai', 'Asia/Kolkata', 'Australia/Lord_Howe', 'UTC', 'UTC+5:30', 'UTC-3', 'Not/AZone', null];
    const rng = new Rng(8, 'context-zones');
    const instants: number[] = [];
    // around the 2026 DST changes of London (Mar 29, Oct 25) and New York (Mar 8, Nov 1), and at random
    for (const base of [Date.UTC(2026, 2, 29, 0, 30), Date.UTC(2026, 9, 25, 0, 30), Date.UTC(2026, 2, 8, 6, 30), Date.UTC(2026, 10, 1, 5, 30)]) {
      for (let m = -120; m <= 120; m += 15) instants.push(base + m * 60_000);
    }
    for (let i = 0; i < 100; i++) instants.push(Math.floor(rng.uniform(Date.UTC(2000, 0, 1), Date.UTC(2030, 0, 1))));
    const rows = zones.flatMap((z) => instants.map((t) => ({ z, t })));
    await store.command("CREATE TABLE ctx (z LowCardinality(Nullable(String)), t DateTime64(3, 'UTC'), d Nullable(String)) ENGINE = Memory");
    await store.insert('ctx', rows.map(({ z, t }, i) => ({ z, t, d: [null, '', 'ios'][i % 3] ?? null })));
    const sql = await contextTimeSql(store, zones, 't', 'z');
    const got = await store.query<{ h: number; w: number; dev: string; ms: number; z: string | null }>(`SELECT ${sql.hour} AS h, ${sql.day} AS w, ${contextCategorySql('d')} AS dev, toUnixTimestamp64Milli(t) AS ms, z FROM ctx`);
    expect(got.length).toBe(rows.length);
    for (const row of got) {
      const want = contextFeatures({ device: null, os: null, country: null, city: null, page: null, timezone: row.z }, row.ms);
      expect({ z: row.z, t: row.ms, h: row.h, w: row.w }).toEqual({ z: row.z, t: row.ms, h: want.context_hour_of_day, w: want.context_day_of_week });
    }
    expect(new Set(got.map((r) => r.dev))).toEqual(new Set(['unknown', 'ios']));
  });

  it('refuses a zone luxon knows and the engine does not, instead of reading it wrongly', async () => {
    // luxon accepts any IANA name Intl knows; a made-up alias of the engine's database cannot be tested
    // without one, so the refusal is checked on the engine's answer for an unknown name
    const err = await contextTimeSql(
      { ...store, query: async () => [] } as unknown as ChdbOfflineStore,
      ['Europe/Paris'],
      't',
      'z',
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatchError);
    expect(err).toMatchObject({ code: 'UNSUPPORTED_TIMEZONE' });
  });
});
