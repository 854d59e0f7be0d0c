import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceError } from '../../src/errors.js';
import type { OfflineStore } from '../../src/ports/offline-store.js';

/**
 * What an engine can do beyond the smoke subset (connect, create, insert, select, drop). A current
 * ClickHouse and chDB can do everything; the ClickHouse 18.16 smoke server cannot.
 */
export interface OfflineStoreCapabilities {
  /** DateTime64 columns (ClickHouse >= 20.1). */
  dateTime64: boolean;
  /** Server-side `{name:Type}` query parameters (ClickHouse >= 19.x). */
  boundParams: boolean;
  /** LowCardinality columns without `allow_experimental_low_cardinality_type` (ClickHouse >= 19.x). */
  lowCardinality: boolean;
  /** The JSONCompactEachRow output format (ClickHouse >= 20.x). */
  jsonCompactEachRow: boolean;
  /** `non_replicated_deduplication_window`: repeated insert blocks dropped by a MergeTree (ClickHouse >= 20.x). */
  insertDeduplication: boolean;
  /** A binary insert body reaches the engine intact (not so through chdb's @clickhouse/client Connection, which makes it text). */
  binaryInsert: boolean;
  /** Printed for every case a missing capability skips. */
  reason?: string;
}

/** Every capability, for engines that are current (chDB, ClickHouse >= 23.x). */
export const ALL_CAPABILITIES: OfflineStoreCapabilities = {
  dateTime64: true,
  boundParams: true,
  lowCardinality: true,
  jsonCompactEachRow: true,
  insertDeduplication: true,
  binaryInsert: true,
};

/**
 * The OfflineStore contract (see `src/ports/offline-store.ts`), run against every adapter. One
 * store serves the whole suite, since chDB opens one data directory per process; each case
 * creates its own randomly named table and drops it, pass or fail. The last case closes the store.
 *
 * @param make opens a fresh store; the suite closes it.
 */
export function offlineStoreContract(name: string, make: () => Promise<OfflineStore>, capabilities: OfflineStoreCapabilities): void {
  describe(`OfflineStore contract: ${name}`, () => {
    let store: OfflineStore;
    beforeAll(async () => {
      store = await make();
    });
    afterAll(async () => {
      await store?.close();
    });

    /** `it`, skipped (with a printed reason) when the engine lacks a capability the case needs. */
    const itNeeds = (needs: (keyof Omit<OfflineStoreCapabilities, 'reason'>)[], title: string, fn: () => Promise<void>): void => {
      const missing = needs.filter((c) => !capabilities[c]);
      const why = `needs ${missing.join(', ')}${capabilities.reason === undefined ? '' : `: ${capabilities.reason}`}`;
      if (missing.length > 0) console.info(`[offline-store contract: ${name}] skipping "${title}" (${why})`);
      it.skipIf(missing.length > 0)(missing.length > 0 ? `${title} [skipped: ${why}]` : title, fn);
    };

    /** Creates a table named `t_<random>` from `columns`, runs `fn`, and drops the table. */
    const withTable = async (columns: string, orderBy: string, fn: (table: string) => Promise<void>): Promise<void> => {
      const table = `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
      // `MergeTree() ORDER BY` is understood from ClickHouse 18.x (the smoke server) to today.
      await store.command(`CREATE TABLE ${table} (${columns}) ENGINE = MergeTree() ORDER BY ${orderBy}`);
      try {
        await fn(table);
      } finally {
        await store.command(`DROP TABLE IF EXISTS ${table}`);
      }
    };

    it('names its engine and version', () => {
      expect(store.engine).toMatch(/^(chdb|clickhouse) \d+\.\d+/);
    });

    it('command runs DDL: CREATE, then DROP', async () => {
      let created = '';
      await withTable('id UInt32', 'id', async (table) => {
        created = table;
        expect(await store.query(`EXISTS TABLE ${table}`)).toEqual([{ result: 1 }]);
      });
      expect(await store.query(`EXISTS TABLE ${created}`)).toEqual([{ result: 0 }]);
    });

    it('round-trips String, Nullable(String), Float64, Int32, UInt64 and Array(String) exactly', async () => {
      const rows = [
        { id: 1, s: 'plain', ns: 'x', f: 0.1, i: -2147483648, u: 0, a: [] },
        { id: 2, s: 'quote " backslash \\ newline \n tab \t unicode é€😀 nul \u0000', ns: null, f: 1 / 3, i: 2147483647, u: 9007199254740991, a: ['a', 'b,c', '"[x]"', ''] },
        { id: 3, s: '', ns: '', f: -2.5e-300, i: 0, u: 4294967296, a: ['only'] },
        { id: 4, s: 'big', ns: 'y', f: 1.7976931348623157e308, i: -1, u: 1, a: ['é', '😀'] },
      ];
      await withTable('id UInt32, s String, ns Nullable(String), f Float64, i Int32, u UInt64, a Array(String)', 'id', async (table) => {
        await store.insert(table, rows);
        expect(await store.query(`SELECT id, s, ns, f, i, u, a FROM ${table} ORDER BY id`)).toEqual(rows);
      });
    });

    it('reads 64-bit integers as JSON numbers and writes bigint exactly', async () => {
      await withTable('id UInt32, u UInt64, i Int64', 'id', async (table) => {
        await store.insert(table, [
          { id: 1, u: 18446744073709551615n, i: -9223372036854775808n },
          { id: 2, u: 123, i: -456 },
        ]);
        const rows = await store.query<{ id: number; u: unknown; i: unknown; su: string; si: string }>(
          `SELECT id, u, i, toString(u) AS su, toString(i) AS si FROM ${table} ORDER BY id`,
        );
        expect(rows[0]).toMatchObject({ su: '18446744073709551615', si: '-9223372036854775808' });
        expect(rows[1]).toEqual({ id: 2, u: 123, i: -456, su: '123', si: '-456' });
        // Numbers, not strings: the documented 2^53 precision caveat applies above that.
        expect(typeof rows[0]?.u).toBe('number');
      });
    });

    it('refuses a key that names no column, rather than dropping it', async () => {
      await withTable('id UInt32', 'id', async (table) => {
        const err = await store.insert(table, [{ id: 1, idd: 2 }]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ServiceError);
        expect((err as ServiceError).message).toMatch(/Code: 117\b.*idd/s);
        expect(await store.query(`SELECT count() AS n FROM ${table}`)).toEqual([{ n: 0 }]);
      });
    });

    it('refuses NaN and Infinity (JSON cannot carry them) with a non-retriable ServiceError, writing nothing', async () => {
      await withTable('id UInt32, f Float64', 'id', async (table) => {
        const err = await store.insert(table, [{ id: 1, f: 1 }, { id: 2, f: Infinity }]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ServiceError);
        expect(err).toMatchObject({ retriable: false });
        expect((err as ServiceError).message).toContain('row 1: f = Infinity');
        expect(await store.query(`SELECT count() AS n FROM ${table}`)).toEqual([{ n: 0 }]);
      });
    });

    it('time text is read the same way by every engine: ISO-8601 with T/Z is refused (date_time_input_format = basic)', async () => {
      await withTable("id UInt32, t DateTime('UTC')", 'id', async (table) => {
        // A Date's JSON form; chDB alone (best_effort by default) would take it.
        const err = await store.insert(table, [{ id: 1, t: new Date(1704164645678) }]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ServiceError);
        expect((err as ServiceError).message).toMatch(/Code: 27\b/);
        await store.insert(table, [
          { id: 2, t: 1704164645 },
          { id: 3, t: '2024-01-02 03:04:05' },
        ]);
        expect(await store.query(`SELECT id, t, toUnixTimestamp(t) AS s FROM ${table} ORDER BY id`)).toEqual([
          { id: 2, t: '2024-01-02 03:04:05', s: 1704164645 },
          { id: 3, t: '2024-01-02 03:04:05', s: 1704164645 },
        ]);
      });
    });

    itNeeds(['dateTime64'], "time columns: DateTime64(3, 'UTC') takes epoch-ms numbers exactly and reads back as UTC text", async () => {
      const ms = 1704164645678; // 2024-01-02T03:04:05.678Z
      await withTable("id UInt32, t DateTime64(3, 'UTC')", 'id', async (table) => {
        await store.insert(table, [
          { id: 1, t: ms },
          { id: 2, t: 0 },
          { id: 3, t: -1000 },
          // Small values are ticks too, not seconds: 1704164645 ms is in January 1970.
          { id: 4, t: 1704164645 },
          // Decimal epoch seconds as text, small and negative included.
          { id: 5, t: '1704164645.678' },
          { id: 6, t: '0.005' },
          { id: 7, t: '-1.000' },
        ]);
        expect(await store.query(`SELECT id, t, toUnixTimestamp64Milli(t) AS ms FROM ${table} ORDER BY id`)).toEqual([
          { id: 1, t: '2024-01-02 03:04:05.678', ms },
          { id: 2, t: '1970-01-01 00:00:00.000', ms: 0 },
          { id: 3, t: '1969-12-31 23:59:59.000', ms: -1000 },
          { id: 4, t: '1970-01-20 17:22:44.645', ms: 1704164645 },
          { id: 5, t: '2024-01-02 03:04:05.678', ms },
          { id: 6, t: '1970-01-01 00:00:00.005', ms: 5 },
          { id: 7, t: '1969-12-31 23:59:59.000', ms: -1000 },
        ]);
      });
    });

    itNeeds(['lowCardinality'], 'round-trips LowCardinality(String)', async () => {
      const rows = [1, 2, 3, 4, 5, 6].map((id) => ({ id, c: ['ios', 'android', 'web', ''][id % 4] }));
      await withTable('id UInt32, c LowCardinality(String)', 'id', async (table) => {
        await store.insert(table, rows);
        expect(await store.query(`SELECT id, c FROM ${table} ORDER BY id`)).toEqual(rows);
        expect(await store.query(`SELECT toTypeName(c) AS type FROM ${table} LIMIT 1`)).toEqual([{ type: 'LowCardinality(String)' }]);
      });
    });

    it('an empty insert is a no-op that sends no statement', async () => {
      // No statement: a table that does not exist is never looked up.
      await expect(store.insert(`t_missing_${randomUUID().replaceAll('-', '')}`, [])).resolves.toBeUndefined();
      await withTable('id UInt32', 'id', async (table) => {
        await store.insert(table, []);
        expect(await store.query(`SELECT count() AS n FROM ${table}`)).toEqual([{ n: 0 }]);
      });
    });

    itNeeds(['boundParams', 'dateTime64'], 'query binds {name:Type} parameters on the server', async () => {
      const hostile = "x' OR 1 = 1 -- \\";
      await withTable("id UInt32, user String, tags Array(String), t DateTime64(3, 'UTC')", 'id', async (table) => {
        await store.insert(table, [
          { id: 1, user: hostile, tags: ['a', 'b'], t: 1704164645678 },
          { id: 2, user: 'u2', tags: ['b'], t: 1704164645679 },
          { id: 3, user: 'u3', tags: [], t: 1704164645680 },
        ]);
        const byUser = await store.query(`SELECT id FROM ${table} WHERE user = {user:String} ORDER BY id`, { user: hostile });
        expect(byUser).toEqual([{ id: 1 }]);
        const byTime = await store.query(
          `SELECT id FROM ${table} WHERE t >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND id <= {max:UInt64} ORDER BY id`,
          { since: 1704164645679, max: 3 },
        );
        expect(byTime).toEqual([{ id: 2 }, { id: 3 }]);
        const byTags = await store.query(`SELECT id FROM ${table} WHERE hasAny(tags, {tags:Array(String)}) ORDER BY id`, { tags: ['b', 'z'] });
        expect(byTags).toEqual([{ id: 1 }, { id: 2 }]);
      });
    });

    itNeeds(['binaryInsert'], 'insertColumns round-trips strings, nulls, every integer width, 64-bit bigints and floats exactly', async () => {
      const text = ['plain', 'quote " backslash \\ newline \n tab \t unicode é€😀 nul \u0000', '', 'x'.repeat(300)];
      await withTable(
        'id UInt32, s String, ns Nullable(String), u8 UInt8, i8 Int8, u16 UInt16, i16 Int16, i32 Int32, u64 UInt64, i64 Int64, f32 Float32, f64 Float64, nf Nullable(Float64)',
        'id',
        async (table) => {
          await store.insertColumns(table, [
            { name: 'id', type: 'UInt32', values: [1, 2, 3, 4294967295] },
            { name: 's', type: 'String', values: text },
            { name: 'ns', type: 'Nullable(String)', values: ['a', null, '', null] },
            { name: 'u8', type: 'UInt8', values: [0, 255, 1, 7] },
            { name: 'i8', type: 'Int8', values: [-128, 127, 0, -1] },
            { name: 'u16', type: 'UInt16', values: [0, 65535, 1, 2] },
            { name: 'i16', type: 'Int16', values: [-32768, 32767, 0, -1] },
            { name: 'i32', type: 'Int32', values: [-2147483648, 2147483647, 0, -1] },
            { name: 'u64', type: 'UInt64', values: [18446744073709551615n, 0, 9007199254740991, 1n] },
            { name: 'i64', type: 'Int64', values: [-9223372036854775808n, 9223372036854775807n, -9007199254740991, 0] },
            { name: 'f32', type: 'Float32', values: [0.5, -2, 0, 1e10] },
            { name: 'f64', type: 'Float64', values: [0.1, 1 / 3, -2.5e-300, 1.7976931348623157e308] },
            { name: 'nf', type: 'Nullable(Float64)', values: [null, 2.5, null, -0.25] },
          ]);
          const rows = await store.query(
            `SELECT id, s, ns, u8, i8, u16, i16, i32, toString(u64) AS u64, toString(i64) AS i64, f32, f64, nf FROM ${table} ORDER BY id`,
          );
          expect(rows).toEqual([
            { id: 1, s: text[0], ns: 'a', u8: 0, i8: -128, u16: 0, i16: -32768, i32: -2147483648, u64: '18446744073709551615', i64: '-9223372036854775808', f32: 0.5, f64: 0.1, nf: null },
            { id: 2, s: text[1], ns: null, u8: 255, i8: 127, u16: 65535, i16: 32767, i32: 2147483647, u64: '0', i64: '9223372036854775807', f32: -2, f64: 1 / 3, nf: 2.5 },
            { id: 3, s: text[2], ns: '', u8: 1, i8: 0, u16: 1, i16: 0, i32: 0, u64: '9007199254740991', i64: '-9007199254740991', f32: 0, f64: -2.5e-300, nf: null },
            { id: 4294967295, s: text[3], ns: null, u8: 7, i8: -1, u16: 2, i16: -1, i32: -1, u64: '1', i64: '0', f32: 1e10, f64: 1.7976931348623157e308, nf: -0.25 },
          ]);
        },
      );
    });

    itNeeds(['binaryInsert', 'dateTime64', 'lowCardinality'], 'insertColumns writes epoch-ms instants into DateTime64 of any precision and LowCardinality columns', async () => {
      const ms = 1704164645678; // 2024-01-02T03:04:05.678Z
      await withTable(
        "id UInt32, t DateTime64(3, 'UTC'), nt Nullable(DateTime64(3, 'UTC')), t6 DateTime64(6, 'UTC'), t0 DateTime64(0, 'UTC'), c LowCardinality(String), nc LowCardinality(Nullable(String))",
        'id',
        async (table) => {
          await store.insertColumns(table, [
            { name: 'id', type: 'UInt32', values: [1, 2, 3] },
            { name: 't', type: "DateTime64(3, 'UTC')", values: [ms, 0, -1001] },
            { name: 'nt', type: "Nullable(DateTime64(3, 'UTC'))", values: [null, ms, -1] },
            { name: 't6', type: "DateTime64(6, 'UTC')", values: [ms, 1, -1] },
            { name: 't0', type: "DateTime64(0, 'UTC')", values: [1704164645000, 0, -2000] },
            { name: 'c', type: 'LowCardinality(String)', values: ['ios', 'web', 'ios'] },
            { name: 'nc', type: 'LowCardinality(Nullable(String))', values: [null, 'CN', 'CN'] },
          ]);
          expect(
            await store.query(
              `SELECT id, toUnixTimestamp64Milli(t) AS t, toUnixTimestamp64Milli(nt) AS nt, toUnixTimestamp64Micro(t6) AS t6, toUnixTimestamp64Milli(toDateTime64(t0, 3)) AS t0, c, nc, toTypeName(nc) AS type FROM ${table} ORDER BY id`,
            ),
          ).toEqual([
            { id: 1, t: ms, nt: null, t6: ms * 1000, t0: 1704164645000, c: 'ios', nc: null, type: 'LowCardinality(Nullable(String))' },
            { id: 2, t: 0, nt: ms, t6: 1000, t0: 0, c: 'web', nc: 'CN', type: 'LowCardinality(Nullable(String))' },
            { id: 3, t: -1001, nt: -1, t6: -1000, t0: -2000, c: 'ios', nc: 'CN', type: 'LowCardinality(Nullable(String))' },
          ]);
        },
      );
    });

    itNeeds(['binaryInsert', 'insertDeduplication'], 'insertColumns: an identical batch inserted again is dropped by a table with a deduplication window', async () => {
      const table = `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
      await store.command(`CREATE TABLE ${table} (id UInt32, s String) ENGINE = MergeTree() ORDER BY id SETTINGS non_replicated_deduplication_window = 100`);
      try {
        const batch = [
          { name: 'id', type: 'UInt32', values: [1, 2] },
          { name: 's', type: 'String', values: ['a', 'b'] },
        ];
        await store.insertColumns(table, batch);
        await store.insertColumns(table, batch);
        expect(await store.query(`SELECT count() AS n FROM ${table}`)).toEqual([{ n: 2 }]);
        await store.insertColumns(table, [batch[0]!, { name: 's', type: 'String', values: ['a', 'c'] }]);
        expect(await store.query(`SELECT count() AS n FROM ${table}`)).toEqual([{ n: 4 }]);
      } finally {
        await store.command(`DROP TABLE IF EXISTS ${table}`);
      }
    });

    itNeeds(['binaryInsert'], 'insertColumns refuses a value its type cannot hold, a type it cannot carry and ragged columns, writing nothing', async () => {
      await withTable('id UInt32, s String', 'id', async (table) => {
        const refusals: [Parameters<OfflineStore['insertColumns']>[1], RegExp][] = [
          [[{ name: 'id', type: 'UInt32', values: [1, -1] }], /column id \(UInt32\), row 1: -1 is outside UInt32/],
          [[{ name: 'id', type: 'UInt32', values: [1.5] }], /row 0: 1\.5 is not a safe integer/],
          [[{ name: 'id', type: 'UInt32', values: [1] }, { name: 's', type: 'String', values: [null] }], /column s \(String\), row 0: null in a column that is not Nullable/],
          [[{ name: 'id', type: 'UInt32', values: [1] }, { name: 's', type: 'String', values: [7] }], /row 0: 7 is not a string/],
          [[{ name: 'id', type: 'UInt32', values: [1, 2] }, { name: 's', type: 'String', values: ['a'] }], /column s has 1 values, column id has 2/],
          [[{ name: 'id', type: 'UInt32', values: [1] }, { name: 's', type: 'Array(String)', values: [['a']] }], /Array\(String\).*cannot be carried/],
          [[{ name: 'id; DROP', type: 'UInt32', values: [1] }], /not a plain identifier/],
        ];
        for (const [columns, message] of refusals) {
          const err = await store.insertColumns(table, columns).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(ServiceError);
          expect(err).toMatchObject({ retriable: false });
          expect((err as ServiceError).message).toMatch(message);
        }
        const missingColumn = await store.insertColumns(table, [{ name: 'idd', type: 'UInt32', values: [1] }]).catch((e: unknown) => e);
        expect(missingColumn).toBeInstanceOf(ServiceError);
        expect((missingColumn as ServiceError).message).toMatch(/idd/);
        expect(await store.query(`SELECT count() AS n FROM ${table}`)).toEqual([{ n: 0 }]);
        await expect(store.insertColumns('events; DROP TABLE x', [{ name: 'id', type: 'UInt32', values: [1] }])).rejects.toMatchObject({ retriable: false });
        // No rows: no statement, so a table that does not exist is never looked up.
        await expect(store.insertColumns(`t_missing_${randomUUID().replaceAll('-', '')}`, [{ name: 'id', type: 'UInt32', values: [] }])).resolves.toBeUndefined();
      });
    });

    itNeeds(['binaryInsert'], 'insertColumns writes a large batch (200k rows) whole', async () => {
      const n = 200_000;
      await withTable('id UInt32, user String, value Float64', 'id', async (table) => {
        await store.insertColumns(table, [
          { name: 'id', type: 'UInt32', values: Array.from({ length: n }, (_, i) => i) },
          { name: 'user', type: 'String', values: Array.from({ length: n }, (_, i) => `u${i % 997}`) },
          { name: 'value', type: 'Float64', values: Array.from({ length: n }, (_, i) => i / 4) },
        ]);
        expect(await store.query(`SELECT count() AS n, sum(id) AS ids_sum, sum(value) AS total, uniqExact(user) AS users FROM ${table}`)).toEqual([
          { n, ids_sum: (n * (n - 1)) / 2, total: (n * (n - 1)) / 2 / 4, users: 997 },
        ]);
      });
    });

    it('queryText returns TabSeparated text as the engine writes it, escapes included', async () => {
      await withTable('id UInt32, s String, f Float64', 'id', async (table) => {
        await store.insert(table, [
          { id: 1, s: 'tab\there', f: 0.5 },
          { id: 2, s: 'line\nbreak \\ back', f: -2 },
        ]);
        expect(await store.queryText(`SELECT id, s, f FROM ${table} ORDER BY id`, 'TabSeparated')).toBe('1\ttab\\there\t0.5\n2\tline\\nbreak \\\\ back\t-2\n');
        expect(await store.queryText(`SELECT id FROM ${table} WHERE id > 5`, 'TabSeparated')).toBe('');
      });
    });

    itNeeds(['jsonCompactEachRow'], 'queryText returns JSONCompactEachRow rows as arrays in column order, same value conventions as query', async () => {
      await withTable('id UInt32, s Nullable(String), u UInt64, a Array(String), f Float64', 'id', async (table) => {
        await store.insert(table, [
          { id: 1, s: 'é"\\', u: 9007199254740991, a: ['x', ''], f: 0.1 },
          { id: 2, s: null, u: 0, a: [], f: 1e300 },
        ]);
        const text = await store.queryText(`SELECT id, s, u, a, f FROM ${table} ORDER BY id`, 'JSONCompactEachRow');
        expect(text.trimEnd().split('\n').map((line) => JSON.parse(line))).toEqual([
          [1, 'é"\\', 9007199254740991, ['x', ''], 0.1],
          [2, null, 0, [], 1e300],
        ]);
      });
    });

    itNeeds(['boundParams', 'jsonCompactEachRow'], 'queryText binds {name:Type} parameters like query', async () => {
      await withTable('id UInt32, user String', 'id', async (table) => {
        await store.insert(table, [
          { id: 1, user: "x' OR 1 = 1 --" },
          { id: 2, user: 'u2' },
        ]);
        expect(await store.queryText(`SELECT id FROM ${table} WHERE user = {user:String}`, 'JSONCompactEachRow', { user: "x' OR 1 = 1 --" })).toBe('[1]\n');
      });
    });

    it('SQL errors surface as non-retriable ServiceErrors carrying the engine message', async () => {
      const syntax = await store.query('SELEC 1').catch((e: unknown) => e);
      expect(syntax).toBeInstanceOf(ServiceError);
      expect(syntax).toMatchObject({ retriable: false });
      expect((syntax as ServiceError).message).toMatch(/Code: 62\b.*Syntax error/s);

      const missing = `t_missing_${randomUUID().replaceAll('-', '')}`;
      const command = await store.command(`DROP TABLE ${missing}`).catch((e: unknown) => e);
      expect(command).toBeInstanceOf(ServiceError);
      expect(command).toMatchObject({ retriable: false });
      expect((command as ServiceError).message).toMatch(new RegExp(`Code: 60\\b.*${missing}`, 's'));

      const insert = await store.insert(missing, [{ id: 1 }]).catch((e: unknown) => e);
      expect(insert).toBeInstanceOf(ServiceError);
      expect((insert as ServiceError).message).toMatch(new RegExp(`Code: 60\\b.*${missing}`, 's'));
    });

    it('refuses an insert target that is not a table name', async () => {
      const err = await store.insert('events; DROP TABLE x', [{ id: 1 }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServiceError);
      expect(err).toMatchObject({ retriable: false });
    });

    it(
      'a large insert (100k rows) round-trips its count and contents',
      async () => {
        const n = 100_000;
        const rows = Array.from({ length: n }, (_, i) => ({
          id: i,
          user: `u${i % 997}`,
          value: i / 4,
          tags: [`t${i % 5}`],
        }));
        await withTable('id UInt32, user String, value Float64, tags Array(String)', 'id', async (table) => {
          await store.insert(table, rows);
          expect(await store.query(`SELECT count() AS n, uniqExact(id) AS ids, sum(id) AS ids_sum, sum(value) AS total, uniqExact(user) AS users FROM ${table}`)).toEqual([
            { n, ids: n, ids_sum: (n * (n - 1)) / 2, total: (n * (n - 1)) / 2 / 4, users: 997 },
          ]);
        });
      },
      120_000,
    );

    // Last: it closes the suite's store.
    it('close is idempotent and later calls fail with a ServiceError', async () => {
      await store.close();
      await store.close();
      const err = await store.query('SELECT 1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServiceError);
      expect(err).toMatchObject({ retriable: false });
    });
  });
}
