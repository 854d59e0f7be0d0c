/**
 * Arrow C Data Interface columns for chDB's columnar insert: chdb registers them as a table
 * function (`arrowstream('<name>')`) that the engine reads in place, so an
 * `INSERT ... SELECT ... FROM arrowstream(...)` writes a batch with no text format to print in
 * JavaScript and parse again in the engine (`docs/architecture.md`, "Offline store").
 *
 * Only the Arrow forms chdb's binding registers are used: utf8 strings (`u`), int64 (`l`) and
 * float64 (`g`), each with an optional validity bitmap; the SELECT casts them to the table's types.
 */
import { createHash } from 'node:crypto';
import { isIntegerType, type CheckedColumn } from '../clickhouse/column-type.js';

/** One column as chdb's `_arrowRegisterColumns` takes it. */
export interface ArrowColumn {
  name: string;
  format: 'u' | 'l' | 'g';
  length: number;
  nullCount: number;
  /** [validity or null, values] for numbers; [validity or null, int32 offsets, utf8 bytes] for strings. */
  buffers: (Buffer | null)[];
}

/** A batch encoded for one insert. */
export interface ArrowBatch {
  columns: ArrowColumn[];
  /** Per table column, the SELECT expression over `arrowstream` that yields its value. */
  selects: string[];
  /** SHA-256 of the column types and bytes: the insert's deduplication token. */
  digest: string;
}

/** Largest utf8 payload one Arrow string column can address with int32 offsets. */
const MAX_STRING_BYTES = 2 ** 31 - 1;

/**
 * Encodes checked columns (`checkColumns`) as Arrow columns named `c0`, `c1`, ... in order, with
 * the SELECT expressions that cast them to the table's types.
 *
 * Integers, floats and DateTime64 instants travel as float64, which holds every safe integer
 * exactly; a column holding a bigint travels as int64 (two's complement, so UInt64 values above
 * 2^63 come back through the cast unchanged).
 */
export function encodeArrowColumns(columns: readonly CheckedColumn[], rows: number): ArrowBatch {
  const hash = createHash('sha256');
  const arrow: ArrowColumn[] = [];
  const selects: string[] = [];
  columns.forEach((column, index) => {
    const name = `c${index}`;
    const { type } = column;
    const encoded = type.base === 'String' ? stringColumn(name, column.values, rows) : numberColumn(name, column, rows);
    arrow.push(encoded);
    hash.update(`${column.name} ${type.text}\n`);
    for (const buffer of encoded.buffers) {
      if (buffer !== null) hash.update(buffer);
      hash.update('|');
    }
    const value = type.nullable ? name : `assumeNotNull(${name})`;
    if (type.base === 'DateTime64') selects.push(`CAST(fromUnixTimestamp64Milli(toInt64(${value}), 'UTC') AS ${type.text})`);
    else if (type.base === 'String' || !isIntegerType(type.base) || !column.hasBigint) selects.push(`CAST(${value} AS ${type.text})`);
    // int64 bits into an unsigned type: reinterpret, never a checked conversion.
    else if (type.base === 'UInt64') selects.push(type.nullable ? `CAST(reinterpretAsUInt64(${name}) AS ${type.text})` : `reinterpretAsUInt64(${value})`);
    else selects.push(`CAST(${value} AS ${type.text})`);
  });
  return { columns: arrow, selects, digest: hash.digest('hex') };
}

function stringColumn(name: string, values: readonly unknown[], rows: number): ArrowColumn {
  const offsets = new Int32Array(rows + 1);
  const validity = Buffer.alloc((rows + 7) >> 3);
  let nulls = 0;
  let data = Buffer.allocUnsafe(Math.max(64, rows * 16));
  let used = 0;
  for (let i = 0; i < rows; i++) {
    offsets[i] = used;
    const v = values[i];
    if (v === null) {
      nulls++;
      continue;
    }
    validity[i >> 3]! |= 1 << (i & 7);
    const s = v as string;
    // A UTF-16 code unit takes at most 3 bytes of UTF-8.
    if (used + s.length * 3 > data.length) {
      const needed = used + s.length * 3;
      if (needed > MAX_STRING_BYTES && used + Buffer.byteLength(s) > MAX_STRING_BYTES) {
        throw new RangeError(`column ${name}: more than 2 GiB of text in one insert; insert fewer rows at a time`);
      }
      const grown = Buffer.allocUnsafe(Math.min(MAX_STRING_BYTES, Math.max(needed, data.length * 2)));
      data.copy(grown, 0, 0, used);
      data = grown;
    }
    used += data.write(s, used, 'utf8');
  }
  offsets[rows] = used;
  return {
    name,
    format: 'u',
    length: rows,
    nullCount: nulls,
    buffers: [nulls > 0 ? validity : null, Buffer.from(offsets.buffer, offsets.byteOffset, offsets.byteLength), data.subarray(0, used)],
  };
}

function numberColumn(name: string, column: CheckedColumn, rows: number): ArrowColumn {
  const { values, hasBigint } = column;
  const validity = Buffer.alloc((rows + 7) >> 3);
  let nulls = 0;
  const out = hasBigint ? new BigInt64Array(rows) : new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = values[i];
    if (v === null) {
      nulls++;
      continue;
    }
    validity[i >> 3]! |= 1 << (i & 7);
    if (hasBigint) (out as BigInt64Array)[i] = BigInt.asIntN(64, typeof v === 'bigint' ? v : BigInt(v as number));
    else (out as Float64Array)[i] = v as number;
  }
  const bytes = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  return { name, format: hasBigint ? 'l' : 'g', length: rows, nullCount: nulls, buffers: [nulls > 0 ? validity : null, bytes] };
}
