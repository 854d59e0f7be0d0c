import { initialValue, tableSalt, type InitializerSpec } from './init.js';
import { ModelFormatError } from './model-errors.js';
import { createOptimizer, type Optimizer, type OptimizerSpec } from './optimizers.js';
import type { ParamRows, ParamTable } from './param-table.js';

/**
 * A dense parameter table: `rows x width` parameters (a layer's weights, a bias vector, the
 * weights of the dense features) with their optimiser state, and the mark at which it last
 * changed (a delta carries a dense table whole, or not at all).
 */
export class DenseTable {
  readonly weights: Float64Array;
  readonly state: Float64Array;
  readonly optimizer: Optimizer;
  /** The mark of the last change (-1: never learned). */
  version = -1;

  constructor(
    readonly name: string,
    readonly rows: number,
    readonly width: number,
    optimizer: OptimizerSpec,
    init: InitializerSpec,
    seed: number,
    fanIn: number = width,
    fanOut: number = rows,
    /** Where the weights live (zeroed, `rows x width` long), e.g. the WebAssembly memory of the MLP kernels. */
    storage?: Float64Array,
  ) {
    this.optimizer = createOptimizer(optimizer);
    if (storage !== undefined && storage.length !== rows * width) throw new Error(`table ${name}: storage of ${storage.length} numbers for ${rows}x${width}`);
    this.weights = storage ?? new Float64Array(rows * width);
    this.state = new Float64Array(rows * width * this.optimizer.slots);
    const salt = tableSalt(name);
    const slots = this.optimizer.slots;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < width; j++) {
        const i = r * width + j;
        const v = initialValue(init, seed, salt, r, j, fanIn, fanOut);
        this.weights[i] = v;
        this.optimizer.initState(v, this.state, i * slots);
      }
    }
  }

  /** One optimiser step on parameter i (flat index) with gradient g. */
  step(i: number, g: number): void {
    this.weights[i] = this.optimizer.step(this.weights[i] as number, g, this.state, i * this.optimizer.slots);
  }

  view(): ParamTable {
    return {
      name: this.name,
      kind: 'dense',
      width: this.width,
      rows: this.rows,
      keys: () => Float64Array.from({ length: this.rows }, (_, i) => i),
      row: (key) => (Number.isInteger(key) && key >= 0 && key < this.rows ? { values: this.weights, offset: key * this.width } : null),
    };
  }

  rowsChangedSince(mark: number): ParamRows {
    const all = mark < 0 || this.version > mark;
    return {
      name: this.name,
      kind: 'dense',
      width: this.width,
      keys: all ? Float64Array.from({ length: this.rows }, (_, i) => i) : new Float64Array(0),
      values: all ? this.weights.slice() : new Float64Array(0),
      removed: new Float64Array(0),
    };
  }

  exportState(): Record<string, Float64Array> {
    return { weights: this.weights.slice(), state: this.state.slice(), version: Float64Array.of(this.version) };
  }

  importState(s: Readonly<Record<string, Float64Array | Uint8Array | undefined>>): void {
    const w = s.weights;
    const st = s.state;
    const v = s.version;
    if (!(w instanceof Float64Array && st instanceof Float64Array && v instanceof Float64Array) || w.length !== this.weights.length || st.length !== this.state.length || v.length !== 1) {
      throw new ModelFormatError(`table ${this.name}: saved values do not match its shape ${this.rows}x${this.width} and optimiser`);
    }
    this.weights.set(w);
    this.state.set(st);
    this.version = v[0] as number;
  }
}

/**
 * Online normalisation of the dense features: Welford's running mean and variance per column,
 * updated by `learn` (never by `predict`), and `(x - mean) / sd` clipped to +-`clip` for the model.
 * Kept as a dense table (`count, mean, m2` per column) because serving needs the same statistics
 * to score exactly as training did.
 */
export class DenseNormalizer {
  /** count, mean, m2 per column. */
  readonly stats: Float64Array;
  version = -1;

  constructor(
    readonly width: number,
    readonly clip = 10,
  ) {
    this.stats = new Float64Array(width * 3);
  }

  /** Folds one raw row (`x[at .. at + width - 1]`, all finite) into the statistics. */
  update(x: Float64Array, at: number, mark: number): void {
    const s = this.stats;
    for (let j = 0; j < this.width; j++) {
      const v = x[at + j] as number;
      const n = (s[3 * j] as number) + 1;
      const mean = s[3 * j + 1] as number;
      const d = v - mean;
      const mean2 = mean + d / n;
      s[3 * j] = n;
      s[3 * j + 1] = mean2;
      s[3 * j + 2] = (s[3 * j + 2] as number) + d * (v - mean2);
    }
    if (this.width > 0) this.version = mark;
  }

  /**
   * Writes the normalised row into `out[0 .. width - 1]`. A non-finite raw value becomes 0 (the
   * mean): `predict` never fails on bad input; `learn` skips such examples before this.
   */
  normalize(x: Float64Array, at: number, out: Float64Array): void {
    const s = this.stats;
    const clip = this.clip;
    for (let j = 0; j < this.width; j++) {
      const v = x[at + j] as number;
      const n = s[3 * j] as number;
      if (!Number.isFinite(v) || n === 0) {
        out[j] = Number.isFinite(v) && n === 0 ? Math.max(-clip, Math.min(clip, v)) : 0;
        continue;
      }
      const variance = (s[3 * j + 2] as number) / n;
      const z = variance > 1e-12 ? (v - (s[3 * j + 1] as number)) / Math.sqrt(variance) : 0;
      out[j] = z > clip ? clip : z < -clip ? -clip : z;
    }
  }

  view(): ParamTable {
    return {
      name: 'dense_norm',
      kind: 'dense',
      width: 3,
      rows: this.width,
      keys: () => Float64Array.from({ length: this.width }, (_, i) => i),
      row: (key) => (Number.isInteger(key) && key >= 0 && key < this.width ? { values: this.stats, offset: key * 3 } : null),
    };
  }

  rowsChangedSince(mark: number): ParamRows {
    const all = mark < 0 || this.version > mark;
    return {
      name: 'dense_norm',
      kind: 'dense',
      width: 3,
      keys: all ? Float64Array.from({ length: this.width }, (_, i) => i) : new Float64Array(0),
      values: all ? this.stats.slice() : new Float64Array(0),
      removed: new Float64Array(0),
    };
  }

  exportState(): Record<string, Float64Array> {
    return { stats: this.stats.slice(), version: Float64Array.of(this.version) };
  }

  importState(s: Readonly<Record<string, Float64Array | Uint8Array | undefined>>): void {
    const st = s.stats;
    const v = s.version;
    if (!(st instanceof Float64Array) || st.length !== this.stats.length || !(v instanceof Float64Array) || v.length !== 1) {
      throw new ModelFormatError(`dense normaliser: saved statistics do not match ${this.width} dense columns`);
    }
    this.stats.set(st);
    this.version = v[0] as number;
  }
}
