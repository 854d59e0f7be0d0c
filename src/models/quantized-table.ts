import { probeRow, slotHash, type EmbeddingTable } from './embedding-table.js';
import { ModelFormatError } from './model-errors.js';

/** Row-wise INT8 codes of a block of rows: `w ~= scale[r] * q[r * width + j] + bias[r]`. */
export interface Int8Rows {
  readonly width: number;
  readonly q: Int8Array;
  readonly scale: Float32Array;
  readonly bias: Float32Array;
}

/**
 * Quantises `values` (rows of `width` numbers, row after row) to INT8 with one scale and one bias
 * per row: the row's range [min, max] is cut into 255 steps, `scale = (max - min) / 255` and
 * `bias = min + 128 * scale`, so q spans -128..127 and the error of each dequantised value is at
 * most half a step (plus float32 rounding of scale and bias, ~6e-8 relative).
 *
 * Why per row rather than per table: embedding rows differ in norm by orders of magnitude (frequent
 * ids grow, rare ones stay near their initial value), and one table-wide scale would round the
 * small rows to zero. Scale and bias are float32 (8 bytes per row), so a row of k doubles (8k
 * bytes) becomes k + 8 bytes.
 *
 * @throws ModelFormatError when a value is not finite (a model never holds one).
 */
export function quantizeRowsInt8(values: Float64Array, width: number): Int8Rows {
  if (!(Number.isInteger(width) && width >= 1) || values.length % width !== 0) throw new ModelFormatError(`quantize: ${values.length} values are not rows of width ${width}`);
  const rows = values.length / width;
  const q = new Int8Array(values.length);
  const scale = new Float32Array(rows);
  const bias = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < width; j++) {
      const v = values[o + j] as number;
      if (!(v - v === 0)) throw new ModelFormatError(`quantize: row ${r} holds a non-finite value ${v}`);
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const s = Math.fround((max - min) / 255);
    const b = Math.fround(s > 0 ? min + 128 * s : min);
    scale[r] = s;
    bias[r] = b;
    if (s === 0) continue; // a constant row: bias alone (q stays 0)
    // codes from the float32 scale and bias that will decode them, clamped to the int8 range
    for (let j = 0; j < width; j++) {
      const c = Math.round(((values[o + j] as number) - b) / s);
      q[o + j] = c > 127 ? 127 : c < -128 ? -128 : c;
    }
  }
  return { width, q, scale, bias };
}

/** Row `r` of {@link Int8Rows} back as doubles, into `out` (a new array by default). */
export function dequantizeRow(rows: Int8Rows, r: number, out: Float64Array = new Float64Array(rows.width)): Float64Array {
  const s = rows.scale[r] as number;
  const b = rows.bias[r] as number;
  const o = r * rows.width;
  for (let j = 0; j < rows.width; j++) out[j] = s * (rows.q[o + j] as number) + b;
  return out;
}

const EMPTY = -1;

/**
 * A read-only serving copy of a sparse table with INT8 rows: the ids' own open-addressing index
 * (linear probing, load <= 1/2, the same slot hash as {@link EmbeddingTable}) over the row-wise
 * codes of {@link quantizeRowsInt8}. It keeps only what scoring needs (no optimiser state, last-seen
 * times, versions or admission sketch), and is built once per loaded version, off the request path.
 */
export class QuantizedTable implements Int8Rows {
  readonly name: string;
  readonly width: number;
  readonly q: Int8Array;
  readonly scale: Float32Array;
  readonly bias: Float32Array;
  /** Feature id of each row, ascending. */
  readonly ids: Float64Array;
  private readonly keys: Float64Array;
  private readonly slotRow: Int32Array;
  private readonly mask: number;

  /** A table over `ids` (ascending, distinct) and their rows `values` (`ids.length * width` doubles). */
  constructor(name: string, width: number, ids: Float64Array, values: Float64Array);
  /** @internal A table taking over a {@link layout} (see {@link QuantizedTable.adopt}). */
  constructor(layout: QuantizedLayout);
  constructor(nameOrLayout: string | QuantizedLayout, width?: number, ids?: Float64Array, values?: Float64Array) {
    if (typeof nameOrLayout !== 'string') {
      const l = nameOrLayout;
      ({ name: this.name, width: this.width, q: this.q, scale: this.scale, bias: this.bias, ids: this.ids, keys: this.keys, slotRow: this.slotRow } = l);
      this.mask = l.keys.length - 1;
      return;
    }
    const name = nameOrLayout;
    const w = width as number;
    const rowIds = ids as Float64Array;
    const rowValues = values as Float64Array;
    if (rowValues.length !== rowIds.length * w) throw new ModelFormatError(`quantized table ${name}: ${rowValues.length} values for ${rowIds.length} rows of width ${w}`);
    const codes = quantizeRowsInt8(rowValues, w);
    this.name = name;
    this.width = w;
    this.q = codes.q;
    this.scale = codes.scale;
    this.bias = codes.bias;
    this.ids = rowIds.slice();
    let slots = 16;
    while (slots < rowIds.length * 2) slots *= 2;
    this.keys = new Float64Array(slots).fill(EMPTY);
    this.slotRow = new Int32Array(slots);
    this.mask = slots - 1;
    for (let r = 0; r < rowIds.length; r++) {
      const id = rowIds[r] as number;
      let s = slotHash(id) & this.mask;
      while (this.keys[s] !== EMPTY) {
        if (this.keys[s] === id) throw new ModelFormatError(`quantized table ${name}: id ${id} appears twice`);
        s = (s + 1) & this.mask;
      }
      this.keys[s] = id;
      this.slotRow[s] = r;
    }
  }

  /** The table's arrays as they are, index included, to hand it to another thread without copying. */
  layout(): QuantizedLayout {
    return { name: this.name, width: this.width, q: this.q, scale: this.scale, bias: this.bias, ids: this.ids, keys: this.keys, slotRow: this.slotRow };
  }

  /**
   * The table a {@link layout} describes, its arrays taken over unchanged; their shapes are checked.
   *
   * @throws ModelFormatError when the arrays do not make a table.
   */
  static adopt(l: QuantizedLayout): QuantizedTable {
    const rows = l.ids.length;
    const slots = l.keys.length;
    const fits =
      Number.isInteger(l.width) && l.width >= 1 &&
      l.q.length === rows * l.width && l.scale.length === rows && l.bias.length === rows &&
      slots >= 16 && (slots & (slots - 1)) === 0 && slots >= rows * 2 && l.slotRow.length === slots;
    if (!fits) throw new ModelFormatError(`quantized table ${l.name}: the handed-over arrays do not make ${rows} rows of width ${l.width} with their index`);
    return new QuantizedTable(l);
  }

  /** The quantised copy of a float table's live rows (in id order, so equal tables give equal copies). */
  static fromTable(table: EmbeddingTable): QuantizedTable {
    const rows = table.rowsChangedSince(-1);
    return new QuantizedTable(table.name, table.width, rows.keys, rows.values);
  }

  /** Rows. */
  get size(): number {
    return this.ids.length;
  }

  /** The row of an id, or -1 when it has none. */
  find(id: number): number {
    return probeRow(this.keys, this.slotRow, this.mask, id);
  }

  /** Bytes of the row values (codes + scales + biases). */
  get valueBytes(): number {
    return this.q.byteLength + this.scale.byteLength + this.bias.byteLength;
  }

  /** Bytes of everything this copy holds (values, ids and index). */
  get totalBytes(): number {
    return this.valueBytes + this.ids.byteLength + this.keys.byteLength + this.slotRow.byteLength;
  }
}

/** A {@link QuantizedTable}'s arrays, as {@link QuantizedTable.layout} hands them over. */
export interface QuantizedLayout {
  readonly name: string;
  readonly width: number;
  readonly q: Int8Array;
  readonly scale: Float32Array;
  readonly bias: Float32Array;
  readonly ids: Float64Array;
  readonly keys: Float64Array;
  readonly slotRow: Int32Array;
}
