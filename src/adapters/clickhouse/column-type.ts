/**
 * The ClickHouse column types a columnar insert (`OfflineStore.insertColumns`) can carry, and the
 * value each one takes, shared by both adapters (chDB encodes Arrow columns, the server RowBinary)
 * so a column means the same thing whichever engine receives it. No vendor client is imported here.
 */
import type { InsertColumn } from '../../ports/offline-store.js';

/** Base types a column may have, inside at most `LowCardinality(...)` and `Nullable(...)`. */
export type BaseType = 'String' | 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64' | 'Int8' | 'Int16' | 'Int32' | 'Int64' | 'Float32' | 'Float64' | 'DateTime64';

/** A parsed column type. */
export interface ColumnType {
  /** The type as given (spliced into SQL after it parsed, so it is one of the forms below). */
  readonly text: string;
  readonly base: BaseType;
  readonly nullable: boolean;
  /** DateTime64's precision (digits after the second), 0..9; 0 for other types. */
  readonly precision: number;
}

const INTEGER_RANGES: Readonly<Partial<Record<BaseType, readonly [bigint, bigint]>>> = {
  UInt8: [0n, 255n],
  UInt16: [0n, 65_535n],
  UInt32: [0n, 4_294_967_295n],
  UInt64: [0n, 18_446_744_073_709_551_615n],
  Int8: [-128n, 127n],
  Int16: [-32_768n, 32_767n],
  Int32: [-2_147_483_648n, 2_147_483_647n],
  Int64: [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n],
};

/** The same ranges as numbers (the 64-bit bounds rounded, which no safe integer reaches). */
const NUMBER_RANGES: Readonly<Partial<Record<BaseType, readonly [number, number]>>> = Object.fromEntries(
  Object.entries(INTEGER_RANGES).map(([base, [lo, hi]]) => [base, [Number(lo), Number(hi)]]),
);

/** Whether a base type is an integer type. */
export function isIntegerType(base: BaseType): boolean {
  return INTEGER_RANGES[base] !== undefined;
}

const SIMPLE = /^(String|U?Int(?:8|16|32|64)|Float(?:32|64))$/;
const DATETIME64 = /^DateTime64\(\s*(\d)\s*(?:,\s*'[A-Za-z0-9_/+-]+'\s*)?\)$/;
const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses a column type: `String`, `(U)Int8..64`, `Float32/64` or `DateTime64(p[, 'zone'])`,
 * optionally in `Nullable(...)`, and either in `LowCardinality(...)` (the wire forms of both
 * formats ignore LowCardinality).
 *
 * @throws TypeError for any other type, so a caller learns at once what the columnar insert cannot carry.
 * @example parseColumnType("LowCardinality(Nullable(String))") // { base: 'String', nullable: true, ... }
 */
export function parseColumnType(text: string): ColumnType {
  let inner = text.trim();
  const unwrap = (wrapper: string): boolean => {
    if (!inner.startsWith(`${wrapper}(`) || !inner.endsWith(')')) return false;
    inner = inner.slice(wrapper.length + 1, -1).trim();
    return true;
  };
  unwrap('LowCardinality');
  const nullable = unwrap('Nullable');
  if (SIMPLE.test(inner)) return { text, base: inner as BaseType, nullable, precision: 0 };
  const dt = DATETIME64.exec(inner);
  if (dt) return { text, base: 'DateTime64', nullable, precision: Number(dt[1]) };
  throw new TypeError(
    `column type ${JSON.stringify(text)} cannot be carried by a columnar insert (String, (U)Int8..64, Float32/64, DateTime64(p[, 'zone']), in Nullable and LowCardinality)`,
  );
}

/** A column checked and ready to encode. */
export interface CheckedColumn {
  readonly name: string;
  readonly type: ColumnType;
  readonly values: readonly unknown[];
  /** Whether some value is a bigint (64-bit integers beyond 2^53). */
  readonly hasBigint: boolean;
}

/**
 * Checks a columnar insert before either adapter encodes it: names are plain identifiers and
 * distinct, every column has the same number of values, and every value fits its type:
 * - `String`: a string;
 * - integers: a safe-integer `number` in the type's range, or a `bigint` in range (64-bit
 *   values above 2^53);
 * - floats: any `number` (NaN and ±Infinity included: both binary forms carry them);
 * - `DateTime64(p)`: an integer epoch-ms `number` (at p < 3 a multiple of the tick);
 * - `null` only in a `Nullable` column; `undefined` is never a value.
 *
 * @returns the columns with their parsed types and the row count.
 * @throws TypeError naming the column, the row and the value.
 */
export function checkColumns(columns: readonly InsertColumn[]): { columns: CheckedColumn[]; rows: number } {
  if (columns.length === 0) throw new TypeError('a columnar insert needs at least one column');
  const rows = columns[0]!.values.length;
  const seen = new Set<string>();
  const checked = columns.map((column): CheckedColumn => {
    const { name, values } = column;
    if (!COLUMN_NAME.test(name)) throw new TypeError(`column name ${JSON.stringify(name)} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)`);
    if (seen.has(name)) throw new TypeError(`column ${name} is given twice`);
    seen.add(name);
    if (values.length !== rows) throw new TypeError(`column ${name} has ${values.length} values, column ${columns[0]!.name} has ${rows}`);
    const type = parseColumnType(column.type);
    let hasBigint = false;
    for (let i = 0; i < rows; i++) {
      const v = values[i];
      const problem = valueProblem(v, type);
      if (problem !== undefined) throw new TypeError(`column ${name} (${type.text}), row ${i}: ${problem}`);
      if (typeof v === 'bigint') hasBigint = true;
    }
    return { name, type, values, hasBigint };
  });
  return { columns: checked, rows };
}

function valueProblem(v: unknown, type: ColumnType): string | undefined {
  if (v === null) return type.nullable ? undefined : 'null in a column that is not Nullable';
  const { base } = type;
  if (base === 'String') return typeof v === 'string' ? undefined : `${describe(v)} is not a string`;
  if (base === 'Float32' || base === 'Float64') return typeof v === 'number' ? undefined : `${describe(v)} is not a number`;
  if (base === 'DateTime64') {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return `${describe(v)} is not an integer epoch-ms number`;
    if (type.precision < 3 && v % 10 ** (3 - type.precision) !== 0) return `${v} ms is not a whole tick of DateTime64(${type.precision})`;
    return undefined;
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) return `${describe(v)} is not a safe integer (pass a bigint beyond 2^53)`;
    const range = NUMBER_RANGES[base]!;
    return v < range[0] || v > range[1] ? `${v} is outside ${base}` : undefined;
  }
  if (typeof v !== 'bigint') return `${describe(v)} is not an integer`;
  const range = INTEGER_RANGES[base]!;
  return v < range[0] || v > range[1] ? `${v}n is outside ${base}` : undefined;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined) return String(v);
  return typeof v;
}
