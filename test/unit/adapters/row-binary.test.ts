import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbOfflineStore, type ChdbOfflineStore } from '../../../src/adapters/chdb/chdb-offline-store.js';
import { checkColumns, parseColumnType } from '../../../src/adapters/clickhouse/column-type.js';
import { encodeRowBinary } from '../../../src/adapters/clickhouse/row-binary.js';
import type { InsertColumn } from '../../../src/ports/offline-store.js';

// The server adapter's RowBinary is read back here by a current engine (chDB's `format()` table
// function), since the only server the project starts, 18.16, has no DateTime64 or LowCardinality
// and chdb's Connection for @clickhouse/client cannot carry a binary body.
let store: ChdbOfflineStore;
beforeAll(async () => {
  store = await createChdbOfflineStore();
});
afterAll(async () => {
  await store?.close();
});

/** Reads a RowBinary payload back through the engine as JSONCompactEachRow rows. */
async function readBack(columns: readonly InsertColumn[], select: string): Promise<unknown[][]> {
  const { columns: checked, rows } = checkColumns(columns);
  const payload = encodeRowBinary(checked, rows);
  const literal = [...payload].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
  const structure = columns.map((c) => `${c.name} ${c.type}`).join(', ').replaceAll("'", "\\'");
  const text = await store.queryText(`SELECT ${select} FROM format(RowBinary, '${structure}', '${literal}')`, 'JSONCompactEachRow');
  return text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown[]);
}

describe('encodeRowBinary', () => {
  it('writes strings (long, multi-byte, empty), Nullable and LowCardinality the engine reads back', async () => {
    const long = 'é'.repeat(100); // 200 bytes: a two-byte length
    const longer = 'x'.repeat(20_000); // a three-byte length
    const rows = await readBack(
      [
        { name: 's', type: 'String', values: ['', 'ab', long, longer, '😀\u0000\n'] },
        { name: 'ns', type: 'Nullable(String)', values: [null, 'x', null, '', 'y'] },
        { name: 'lc', type: 'LowCardinality(Nullable(String))', values: ['ios', null, 'ios', 'web', null] },
      ],
      's, ns, lc, length(s)',
    );
    expect(rows).toEqual([
      ['', null, 'ios', 0],
      ['ab', 'x', null, 2],
      [long, null, 'ios', 200],
      [longer, '', 'web', 20_000],
      ['😀\u0000\n', 'y', null, 6],
    ]);
  });

  it('writes every integer width at its bounds, bigints beyond 2^53 and floats', async () => {
    const rows = await readBack(
      [
        { name: 'u8', type: 'UInt8', values: [0, 255] },
        { name: 'i8', type: 'Int8', values: [-128, 127] },
        { name: 'u16', type: 'UInt16', values: [0, 65535] },
        { name: 'i16', type: 'Int16', values: [-32768, 32767] },
        { name: 'u32', type: 'UInt32', values: [0, 4294967295] },
        { name: 'i32', type: 'Int32', values: [-2147483648, 2147483647] },
        { name: 'u64', type: 'UInt64', values: [18446744073709551615n, 9007199254740991] },
        { name: 'i64', type: 'Nullable(Int64)', values: [-9223372036854775808n, null] },
        { name: 'f32', type: 'Float32', values: [0.5, -1e10] },
        { name: 'f64', type: 'Float64', values: [1 / 3, -2.5e-300] },
      ],
      'u8, i8, u16, i16, u32, i32, toString(u64), toString(i64), f32, f64',
    );
    expect(rows).toEqual([
      [0, -128, 0, -32768, 0, -2147483648, '18446744073709551615', '-9223372036854775808', 0.5, 1 / 3],
      [255, 127, 65535, 32767, 4294967295, 2147483647, '9007199254740991', null, -1e10, -2.5e-300],
    ]);
  });

  it('writes epoch-ms instants as ticks of DateTime64(0), (3) and (6), before 1970 included', async () => {
    const ms = 1704164645678;
    const rows = await readBack(
      [
        { name: 't3', type: "DateTime64(3, 'UTC')", values: [ms, -1001, 0] },
        { name: 't6', type: "Nullable(DateTime64(6, 'UTC'))", values: [ms, null, -1] },
        { name: 't0', type: "DateTime64(0, 'UTC')", values: [1704164645000, -2000, 0] },
      ],
      'toUnixTimestamp64Milli(t3), toUnixTimestamp64Micro(t6), toUnixTimestamp64Milli(toDateTime64(t0, 3)), toString(t3)',
    );
    expect(rows).toEqual([
      [ms, ms * 1000, 1704164645000, '2024-01-02 03:04:05.678'],
      [-1001, null, -2000, '1969-12-31 23:59:58.999'],
      [0, -1000, 0, '1970-01-01 00:00:00.000'],
    ]);
  });
});

describe('checkColumns and parseColumnType', () => {
  it('parse the forms a columnar insert carries and refuse the others by name', () => {
    expect(parseColumnType("LowCardinality(Nullable(String))")).toMatchObject({ base: 'String', nullable: true });
    expect(parseColumnType("Nullable(DateTime64(6, 'Asia/Shanghai'))")).toMatchObject({ base: 'DateTime64', nullable: true, precision: 6 });
    expect(parseColumnType('UInt64')).toMatchObject({ base: 'UInt64', nullable: false });
    for (const type of ['Array(String)', 'Decimal(10, 2)', 'DateTime', 'Nullable(LowCardinality(String))', 'String; DROP']) {
      expect(() => parseColumnType(type)).toThrow(/cannot be carried by a columnar insert/);
    }
  });

  it('refuse a DateTime64 value that is not a whole tick, an undefined and a float in an integer column', () => {
    expect(() => checkColumns([{ name: 't', type: "DateTime64(0, 'UTC')", values: [1500] }])).toThrow(/row 0: 1500 ms is not a whole tick of DateTime64\(0\)/);
    expect(() => checkColumns([{ name: 't', type: "DateTime64(3, 'UTC')", values: [1.5] }])).toThrow(/not an integer epoch-ms number/);
    expect(() => checkColumns([{ name: 's', type: 'Nullable(String)', values: [undefined] }])).toThrow(/row 0: undefined is not a string/);
    expect(() => checkColumns([{ name: 'u', type: 'UInt64', values: [2 ** 60] }])).toThrow(/not a safe integer \(pass a bigint/);
    expect(() => checkColumns([{ name: 'u', type: 'UInt64', values: [-1n] }])).toThrow(/-1n is outside UInt64/);
    expect(() => checkColumns([])).toThrow(/at least one column/);
  });
});
