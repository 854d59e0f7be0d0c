import { DenseTable } from './dense-table.js';
import { EmbeddingTable, type AdmissionOptions } from './embedding-table.js';
import type { ModelBatch } from './model-batch.js';
import { unregularised, type GradientCollector } from './model.js';
import type { OptimizerSpec } from './optimizers.js';

/**
 * The linear part of every model: a bias, one weight per sparse feature id (a collisionless
 * table) and one weight per normalised dense feature, all with one optimiser (FTRL by default;
 * the bias is never regularised). LR is this part alone; FM and Wide&Deep ("wide") add to it.
 */
export class LinearPart {
  readonly bias: DenseTable;
  readonly table: EmbeddingTable;
  readonly dense: DenseTable;

  constructor(prefix: string, denseWidth: number, optimizer: OptimizerSpec, admission: AdmissionOptions, seed: number) {
    this.bias = new DenseTable(`${prefix}bias`, 1, 1, unregularised(optimizer), { kind: 'zeros' }, seed);
    this.table = new EmbeddingTable({ name: `${prefix}linear`, width: 1, optimizer, init: { kind: 'zeros' }, seed, admission });
    this.dense = new DenseTable(`${prefix}dense_linear`, 1, denseWidth, optimizer, { kind: 'zeros' }, seed);
  }

  /** The linear score of example i: rows[at + k] is the row of entry offsets[i] + k (-1: none). */
  score(batch: ModelBatch, i: number, rows: Int32Array, z: Float64Array, at = 0): number {
    let s = this.bias.weights[0] as number;
    const w = this.table.weights;
    const e0 = batch.offsets[i] as number;
    const n = (batch.offsets[i + 1] as number) - e0;
    const values = batch.values;
    for (let k = 0; k < n; k++) {
      const r = rows[at + k] as number;
      if (r >= 0) {
        const v = values[e0 + k] as number;
        if (v === v && v - v === 0) s += (w[r] as number) * v;
      }
    }
    const dw = this.dense.weights;
    for (let j = 0; j < dw.length; j++) s += (dw[j] as number) * (z[j] as number);
    return s;
  }

  /** One optimiser step per parameter of example i for dL/dscore = g (LR and FM learn one example at a time). */
  step(batch: ModelBatch, i: number, rows: Int32Array, z: Float64Array, g: number, mark: number): void {
    this.bias.step(0, g);
    this.bias.version = mark;
    const t = this.table;
    const w = t.weights;
    const st = t.state;
    const opt = t.optimizer;
    const slots = opt.slots;
    const e0 = batch.offsets[i] as number;
    const n = (batch.offsets[i + 1] as number) - e0;
    for (let k = 0; k < n; k++) {
      const r = rows[k] as number;
      if (r < 0) continue;
      w[r] = opt.step(w[r] as number, g * (batch.values[e0 + k] as number), st, r * slots);
      t.version[r] = mark;
    }
    const d = this.dense;
    if (d.weights.length > 0) {
      for (let j = 0; j < d.weights.length; j++) d.step(j, g * (z[j] as number));
      d.version = mark;
    }
  }

  /** The gradient of example i's loss with dL/dscore = g, into a collector (nothing changes). */
  collect(batch: ModelBatch, i: number, rows: Int32Array, z: Float64Array, g: number, out: GradientCollector): void {
    out.add(this.bias.name, 1, 0, 0, g);
    const e0 = batch.offsets[i] as number;
    const n = (batch.offsets[i + 1] as number) - e0;
    for (let k = 0; k < n; k++) {
      const r = rows[k] as number;
      if (r >= 0) out.add(this.table.name, 1, this.table.ids[r] as number, 0, g * (batch.values[e0 + k] as number));
    }
    for (let j = 0; j < this.dense.weights.length; j++) out.add(this.dense.name, this.dense.width, 0, j, g * (z[j] as number));
  }
}

/**
 * Sums per-row gradients of a sparse table over a mini-batch, then applies one optimiser step
 * per touched parameter (Wide&Deep learns in mini-batches).
 */
export class SparseAccumulator {
  private grads = new Float64Array(0);
  private touched = new Int32Array(64);
  private flags = new Uint8Array(0);
  private count = 0;

  constructor(readonly table: EmbeddingTable) {}

  /** Makes room for every row the table has now (call after the batch's admissions). */
  ensure(): void {
    const rows = this.table.ids.length;
    if (this.flags.length < rows) {
      const g = new Float64Array(rows * this.table.width);
      g.set(this.grads);
      this.grads = g;
      const f = new Uint8Array(rows);
      f.set(this.flags);
      this.flags = f;
    }
  }

  /** Adds g to parameter j of row r. */
  add(r: number, j: number, g: number): void {
    if (this.flags[r] === 0) {
      this.flags[r] = 1;
      if (this.count === this.touched.length) {
        const t = new Int32Array(this.count * 2);
        t.set(this.touched);
        this.touched = t;
      }
      this.touched[this.count++] = r;
    }
    const at = r * this.table.width + j;
    this.grads[at] = (this.grads[at] as number) + g;
  }

  /** The accumulated gradient row of r (for adding a whole vector at once). */
  rowOffset(r: number): number {
    if (this.flags[r] === 0) this.add(r, 0, 0);
    return r * this.table.width;
  }

  get buffer(): Float64Array {
    return this.grads;
  }

  /** Applies and clears the accumulated gradients, marking the rows changed at `mark`. */
  apply(mark: number): void {
    const t = this.table;
    const w = t.weights;
    const st = t.state;
    const opt = t.optimizer;
    const slots = opt.slots;
    const width = t.width;
    for (let k = 0; k < this.count; k++) {
      const r = this.touched[k] as number;
      for (let j = 0; j < width; j++) {
        const at = r * width + j;
        w[at] = opt.step(w[at] as number, this.grads[at] as number, st, at * slots);
        this.grads[at] = 0;
      }
      this.flags[r] = 0;
      t.version[r] = mark;
    }
    this.count = 0;
  }

  /** Calls fn for every touched row with the offset of its gradient in `buffer`. */
  forEachTouched(fn: (row: number, offset: number) => void): void {
    for (let k = 0; k < this.count; k++) {
      const r = this.touched[k] as number;
      fn(r, r * this.table.width);
    }
  }

  /** Forgets the accumulated gradients without applying them. */
  clear(): void {
    for (let k = 0; k < this.count; k++) {
      const r = this.touched[k] as number;
      this.grads.fill(0, r * this.table.width, (r + 1) * this.table.width);
      this.flags[r] = 0;
    }
    this.count = 0;
  }
}
