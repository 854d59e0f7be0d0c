import { mix32 } from '../ingest/rng.js';
import { initialValue, tableSalt, type InitializerSpec } from './init.js';
import { ModelConfigError, ModelFormatError } from './model-errors.js';
import { createOptimizer, type Optimizer, type OptimizerSpec } from './optimizers.js';
import type { ParamRows, ParamTable } from './param-table.js';

/**
 * How a sparse table admits and forgets ids. Defaults: admit at first sight, never expire.
 */
export interface AdmissionOptions {
  /**
   * An id gets a row at its `minCount`-th sighting in `learn` (1 to 255; 1 = at once). Until then
   * it scores as an unknown id (zero weights) and learns nothing: most ids of a long tail are
   * seen once or twice and would only cost memory.
   */
  readonly minCount: number;
  /** Counters per row of the count-min sketch that counts sightings before admission; a power of two. */
  readonly sketchWidth: number;
  /** Rows not seen in `learn` for this long (event time of the examples, ms) are removed; Infinity = never. */
  readonly ttlMs: number;
}

/** The defaults of {@link AdmissionOptions}. */
export const DEFAULT_ADMISSION: AdmissionOptions = { minCount: 1, sketchWidth: 1 << 20, ttlMs: Infinity };

/** What a table is built with. */
export interface EmbeddingTableConfig {
  readonly name: string;
  /** Parameters per row (1 for linear weights, k for factors or embeddings). */
  readonly width: number;
  readonly optimizer: OptimizerSpec;
  readonly init: InitializerSpec;
  readonly seed: number;
  readonly admission: AdmissionOptions;
}

const EMPTY = -1;
const TWO_POW_32 = 4294967296;


/** The index slot hash of a feature id (shared with the serving copies of a table, e.g. `quantized-table.ts`). */
export function slotHash(id: number): number {
  return mix32((id >>> 0) ^ Math.imul((id / TWO_POW_32) | 0, 0x9e3779b1));
}

/**
 * A collisionless sparse parameter table (Monolith style): one row per admitted feature id, in an
 * open-addressing index (linear probing, load <= 1/2, backward-shift deletion: no tombstones) over
 * typed arrays, with frequency admission (a depth-2 count-min sketch of saturating 8-bit counters,
 * conservative update) and expiry in event time.
 *
 * Why not hashing into a fixed number of buckets: a bucket shared by two ids learns their mixture,
 * and a hashed table must be sized for the largest id population ahead of time. Here every
 * admitted id has its own row, memory follows the ids actually seen (bounded by admission and
 * expiry), and rows are keyed by the feature id itself, which is what the key-value export and
 * deltas publish.
 *
 * Rows hold the parameters (`weights`, `width` per row) and their optimiser state (`state`,
 * `width * slots` per row), the event time they were last learned (`lastSeen`) and the mark at
 * which they last changed (`version`, for deltas). Arrays are reallocated when the table grows:
 * read `weights` / `state` after the `admit` calls of an example, not before.
 */
export class EmbeddingTable {
  readonly name: string;
  readonly width: number;
  readonly optimizer: Optimizer;
  private readonly salt: number;
  private readonly seed: number;
  private readonly init: InitializerSpec;
  private readonly minCount: number;
  readonly ttlMs: number;
  private readonly sketchMask: number;

  // index: slot -> id and row
  private keys: Float64Array;
  private slotRow: Int32Array;
  private mask: number;
  // rows
  ids: Float64Array;
  weights: Float64Array;
  state: Float64Array;
  lastSeen: Float64Array;
  version: Float64Array;
  private free: Int32Array;
  private freeCount = 0;
  private used = 0;
  private live = 0;
  private sketch: Uint8Array | null;
  private removedIds: Float64Array = new Float64Array(16);
  private removedAt: Float64Array = new Float64Array(16);
  private removedCount = 0;
  /** Rows admitted since the table was created (or loaded: the count is saved). */
  admitted = 0;
  /** Rows removed by expiry. */
  expired = 0;

  constructor(readonly config: EmbeddingTableConfig) {
    const a = config.admission;
    if (!(Number.isInteger(config.width) && config.width >= 1)) throw new ModelConfigError(`table ${config.name}: width must be a whole number >= 1, got ${config.width}`);
    if (!(Number.isInteger(a.minCount) && a.minCount >= 1 && a.minCount <= 255)) throw new ModelConfigError(`table ${config.name}: admission minCount must be a whole number in 1..255, got ${a.minCount}`);
    if (!(Number.isInteger(a.sketchWidth) && a.sketchWidth >= 16 && (a.sketchWidth & (a.sketchWidth - 1)) === 0 && a.sketchWidth <= 1 << 28)) {
      throw new ModelConfigError(`table ${config.name}: admission sketchWidth must be a power of two in 16..2^28, got ${a.sketchWidth}`);
    }
    if (!(a.ttlMs > 0)) throw new ModelConfigError(`table ${config.name}: admission ttlMs must be > 0 (Infinity: never expire), got ${a.ttlMs}`);
    this.name = config.name;
    this.width = config.width;
    this.optimizer = createOptimizer(config.optimizer);
    this.salt = tableSalt(config.name);
    this.seed = config.seed;
    this.init = config.init;
    this.minCount = a.minCount;
    this.ttlMs = a.ttlMs;
    this.sketchMask = a.sketchWidth - 1;
    this.sketch = a.minCount > 1 ? new Uint8Array(2 * a.sketchWidth) : null;
    const rows = 1024;
    this.keys = new Float64Array(rows * 2).fill(EMPTY);
    this.slotRow = new Int32Array(rows * 2);
    this.mask = rows * 2 - 1;
    this.ids = new Float64Array(rows).fill(EMPTY);
    this.weights = new Float64Array(rows * this.width);
    this.state = new Float64Array(rows * this.width * this.optimizer.slots);
    this.lastSeen = new Float64Array(rows);
    this.version = new Float64Array(rows);
    this.free = new Int32Array(rows);
  }

  /** Live rows. */
  get size(): number {
    return this.live;
  }

  /** Bytes of the id index (memory accounting, e.g. against a quantised serving copy). */
  get indexBytes(): number {
    return this.keys.byteLength + this.slotRow.byteLength;
  }

  /** Optimiser state numbers per row. */
  get stateWidth(): number {
    return this.width * this.optimizer.slots;
  }

  /** The row of an id, or -1 when it has none (unknown or not admitted yet). Read-only. */
  find(id: number): number {
    return probeRow(this.keys, this.slotRow, this.mask, id);
  }

  /**
   * The learn path: counts a sighting of `id` at event time `time`, admits it when it reaches the
   * admission count (initialised rows, version `mark`), refreshes its last-seen time, and returns
   * its row, or -1 while it is not admitted.
   */
  admit(id: number, time: number, mark: number): number {
    let row = this.find(id);
    if (row < 0) {
      if (this.sketch !== null && !this.countSighting(id)) return -1;
      row = this.insert(id, mark);
    }
    if (time > (this.lastSeen[row] as number)) this.lastSeen[row] = time;
    return row;
  }

  private countSighting(id: number): boolean {
    const sketch = this.sketch as Uint8Array;
    const lo = id >>> 0;
    const hi = (id / TWO_POW_32) | 0;
    const w = this.sketchMask + 1;
    const a = mix32(lo ^ Math.imul(hi, 0x27d4eb2f)) & this.sketchMask;
    const b = w + (mix32(Math.imul(lo, 0x165667b1) ^ hi ^ 0x5bd1e995) & this.sketchMask);
    const ca = sketch[a] as number;
    const cb = sketch[b] as number;
    const next = Math.min(255, Math.min(ca, cb) + 1);
    if (ca < next) sketch[a] = next;
    if (cb < next) sketch[b] = next;
    return next >= this.minCount;
  }

  /** A new row for `id` (initialised by the table's initialiser unless `initialise` is false: an import overwrites it). */
  private insert(id: number, mark: number, initialise = true): number {
    if ((this.live + 1) * 2 > this.mask + 1) this.growIndex();
    let row: number;
    if (this.freeCount > 0) row = this.free[--this.freeCount] as number;
    else {
      if (this.used === this.ids.length) this.growRows();
      row = this.used++;
    }
    let s = slotHash(id) & this.mask;
    while (this.keys[s] !== EMPTY) s = (s + 1) & this.mask;
    this.keys[s] = id;
    this.slotRow[s] = row;
    this.ids[row] = id;
    this.lastSeen[row] = -Infinity;
    this.version[row] = mark;
    if (initialise) {
      const w = this.width;
      const slots = this.optimizer.slots;
      for (let j = 0; j < w; j++) {
        const v = initialValue(this.init, this.seed, this.salt, id, j, w, w);
        this.weights[row * w + j] = v;
        this.optimizer.initState(v, this.state, (row * w + j) * slots);
      }
    }
    this.live++;
    this.admitted++;
    return row;
  }

  private growIndex(): void {
    const oldKeys = this.keys;
    const oldRows = this.slotRow;
    const n = oldKeys.length * 2;
    this.keys = new Float64Array(n).fill(EMPTY);
    this.slotRow = new Int32Array(n);
    this.mask = n - 1;
    for (let s = 0; s < oldKeys.length; s++) {
      const k = oldKeys[s] as number;
      if (k === EMPTY) continue;
      let t = slotHash(k) & this.mask;
      while (this.keys[t] !== EMPTY) t = (t + 1) & this.mask;
      this.keys[t] = k;
      this.slotRow[t] = oldRows[s] as number;
    }
  }

  private growRows(): void {
    const n = this.ids.length * 2;
    const ids = new Float64Array(n).fill(EMPTY);
    ids.set(this.ids);
    this.ids = ids;
    this.weights = growF64(this.weights, n * this.width);
    this.state = growF64(this.state, n * this.stateWidth);
    this.lastSeen = growF64(this.lastSeen, n);
    this.version = growF64(this.version, n);
    const free = new Int32Array(n);
    free.set(this.free);
    this.free = free;
  }

  /** Removes the row of `id` (no-op when absent), recording the removal at `mark` for deltas. */
  remove(id: number, mark: number): void {
    const mask = this.mask;
    let i = slotHash(id) & mask;
    for (;;) {
      const k = this.keys[i] as number;
      if (k === EMPTY) return;
      if (k === id) break;
      i = (i + 1) & mask;
    }
    const row = this.slotRow[i] as number;
    // backward-shift deletion: pull later members of the probe run into the hole
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = this.keys[j] as number;
      if (k === EMPTY) break;
      const home = slotHash(k) & mask;
      const between = i <= j ? i < home && home <= j : i < home || home <= j;
      if (between) continue;
      this.keys[i] = k;
      this.slotRow[i] = this.slotRow[j] as number;
      i = j;
    }
    this.keys[i] = EMPTY;
    this.ids[row] = EMPTY;
    this.weights.fill(0, row * this.width, (row + 1) * this.width);
    this.state.fill(0, row * this.stateWidth, (row + 1) * this.stateWidth);
    this.free[this.freeCount++] = row;
    this.live--;
    if (this.removedCount === this.removedIds.length) {
      this.removedIds = growF64(this.removedIds, this.removedCount * 2);
      this.removedAt = growF64(this.removedAt, this.removedCount * 2);
    }
    this.removedIds[this.removedCount] = id;
    this.removedAt[this.removedCount] = mark;
    this.removedCount++;
  }

  /**
   * Sets the weights of `id` (inserting the row when absent; a new row's optimiser state starts
   * as for a fresh parameter), marking it changed at `mark`. For applying published rows.
   */
  upsert(id: number, values: Float64Array, mark: number): void {
    let row = this.find(id);
    if (row < 0) row = this.insert(id, mark);
    const slots = this.optimizer.slots;
    for (let j = 0; j < this.width; j++) {
      const v = values[j] as number;
      this.weights[row * this.width + j] = v;
      this.optimizer.initState(v, this.state, (row * this.width + j) * slots);
    }
    this.version[row] = mark;
  }

  /** Removes every row not learned since `now - ttlMs`; returns how many. */
  expire(now: number, mark: number): number {
    if (this.ttlMs === Infinity) return 0;
    const before = now - this.ttlMs;
    const doomed: number[] = [];
    for (let r = 0; r < this.used; r++) {
      const id = this.ids[r] as number;
      if (id !== EMPTY && (this.lastSeen[r] as number) < before) doomed.push(id);
    }
    for (const id of doomed) this.remove(id, mark);
    this.expired += doomed.length;
    return doomed.length;
  }

  /** Forgets the removal records at or before `mark` (once every delta consumer is past it). */
  forgetRemovalsThrough(mark: number): void {
    let k = 0;
    for (let i = 0; i < this.removedCount; i++) {
      if ((this.removedAt[i] as number) > mark) {
        this.removedIds[k] = this.removedIds[i] as number;
        this.removedAt[k] = this.removedAt[i] as number;
        k++;
      }
    }
    this.removedCount = k;
  }

  /** Live rows sorted by id (the canonical order of exports and saves). */
  sortedRows(): Int32Array {
    const rows = new Int32Array(this.live);
    let k = 0;
    for (let r = 0; r < this.used; r++) if (this.ids[r] !== EMPTY) rows[k++] = r;
    const ids = this.ids;
    return rows.sort((a, b) => (ids[a] as number) - (ids[b] as number));
  }

  /** The live view of the weights (see {@link ParamTable}). */
  view(): ParamTable {
    return {
      name: this.name,
      kind: 'sparse',
      width: this.width,
      rows: this.live,
      keys: () => {
        const rows = this.sortedRows();
        const out = new Float64Array(rows.length);
        for (let i = 0; i < rows.length; i++) out[i] = this.ids[rows[i] as number] as number;
        return out;
      },
      row: (key) => {
        const r = this.find(key);
        return r < 0 ? null : { values: this.weights, offset: r * this.width };
      },
    };
  }

  /** Copies of the rows changed after `mark` (all rows for mark < 0) and the ids removed after it. */
  rowsChangedSince(mark: number): ParamRows {
    const rows = Array.from(this.sortedRows()).filter((r) => (this.version[r] as number) > mark);
    const keys = new Float64Array(rows.length);
    const values = new Float64Array(rows.length * this.width);
    rows.forEach((r, i) => {
      keys[i] = this.ids[r] as number;
      values.set(this.weights.subarray(r * this.width, (r + 1) * this.width), i * this.width);
    });
    const removed: number[] = [];
    if (mark >= 0) for (let i = 0; i < this.removedCount; i++) if ((this.removedAt[i] as number) > mark) removed.push(this.removedIds[i] as number);
    return { name: this.name, kind: 'sparse', width: this.width, keys, values, removed: Float64Array.from(new Set(removed)).sort() };
  }

  /** Everything needed to continue exactly: rows in id order, sketch, removal log, counters. */
  exportState(): Record<string, Float64Array | Uint8Array> {
    const rows = this.sortedRows();
    const n = rows.length;
    const w = this.width;
    const sw = this.stateWidth;
    const ids = new Float64Array(n);
    const weights = new Float64Array(n * w);
    const state = new Float64Array(n * sw);
    const lastSeen = new Float64Array(n);
    const version = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = rows[i] as number;
      ids[i] = this.ids[r] as number;
      weights.set(this.weights.subarray(r * w, (r + 1) * w), i * w);
      state.set(this.state.subarray(r * sw, (r + 1) * sw), i * sw);
      lastSeen[i] = this.lastSeen[r] as number;
      version[i] = this.version[r] as number;
    }
    const out: Record<string, Float64Array | Uint8Array> = {
      ids,
      weights,
      state,
      lastSeen,
      version,
      removedIds: this.removedIds.slice(0, this.removedCount),
      removedAt: this.removedAt.slice(0, this.removedCount),
      counters: Float64Array.of(this.admitted, this.expired),
    };
    if (this.sketch !== null) out.sketch = this.sketch.slice();
    return out;
  }

  /** Restores {@link exportState} output into this (empty) table. */
  importState(s: Readonly<Record<string, Float64Array | Uint8Array | undefined>>): void {
    const ids = s.ids;
    const weights = s.weights;
    const state = s.state;
    const lastSeen = s.lastSeen;
    const version = s.version;
    const n = ids?.length ?? -1;
    if (
      !(ids instanceof Float64Array && weights instanceof Float64Array && state instanceof Float64Array && lastSeen instanceof Float64Array && version instanceof Float64Array) ||
      weights.length !== n * this.width ||
      state.length !== n * this.stateWidth ||
      lastSeen.length !== n ||
      version.length !== n
    ) {
      throw new ModelFormatError(`table ${this.name}: saved rows do not match the table's width ${this.width} and optimiser`);
    }
    if (this.live !== 0 || this.freeCount !== 0) throw new Error(`table ${this.name}: importState needs an empty table`);
    // sized once, rows taken in order 0..n-1 without initialising them, then the arrays copied whole
    // (a loaded version must not hold a serving process's event loop longer than it has to)
    while (this.ids.length < n) this.growRows();
    while (n * 2 > this.mask + 1) this.growIndex();
    for (let i = 0; i < n; i++) this.insert(ids[i] as number, version[i] as number, false);
    this.weights.set(weights);
    this.state.set(state);
    this.lastSeen.set(lastSeen);
    const rIds = s.removedIds;
    const rAt = s.removedAt;
    if (rIds instanceof Float64Array && rAt instanceof Float64Array && rIds.length === rAt.length) {
      this.removedIds = growF64(rIds, Math.max(16, rIds.length));
      this.removedAt = growF64(rAt, Math.max(16, rAt.length));
      this.removedCount = rIds.length;
    }
    const counters = s.counters;
    if (counters instanceof Float64Array && counters.length === 2) {
      this.admitted = counters[0] as number;
      this.expired = counters[1] as number;
    }
    if (this.sketch !== null) {
      const sk = s.sketch;
      if (!(sk instanceof Uint8Array) || sk.length !== this.sketch.length) throw new ModelFormatError(`table ${this.name}: saved admission sketch does not match the configured sketch width`);
      this.sketch.set(sk);
    }
  }

  /**
   * The table's arrays as they are, index included, for handing the table to another thread
   * without copying or rebuilding it (see `serving-snapshot.ts`). The table must not be used
   * once its arrays were transferred.
   */
  layout(): EmbeddingLayout {
    return {
      width: this.width,
      keys: this.keys,
      slotRow: this.slotRow,
      ids: this.ids,
      weights: this.weights,
      state: this.state,
      lastSeen: this.lastSeen,
      version: this.version,
      free: this.free,
      sketch: this.sketch,
      removedIds: this.removedIds,
      removedAt: this.removedAt,
      counts: Float64Array.of(this.freeCount, this.used, this.live, this.removedCount, this.admitted, this.expired),
    };
  }

  /**
   * Takes over a {@link layout} of a table of the same configuration as this (empty) one: the
   * arrays become this table's, unchanged. Their shapes are checked, since they came from elsewhere.
   *
   * @throws ModelFormatError when the layout does not fit this table.
   */
  adoptLayout(l: EmbeddingLayout): void {
    if (this.live !== 0 || this.freeCount !== 0) throw new Error(`table ${this.name}: adoptLayout needs an empty table`);
    const [freeCount, used, live, removedCount, admitted, expired] = Array.from(l.counts);
    const rows = l.ids.length;
    const slots = l.keys.length;
    const fits =
      l.width === this.width &&
      l.counts.length === 6 &&
      slots >= 2 && (slots & (slots - 1)) === 0 && l.slotRow.length === slots &&
      l.weights.length === rows * this.width &&
      l.state.length === rows * this.stateWidth &&
      l.lastSeen.length === rows && l.version.length === rows && l.free.length === rows &&
      Number.isInteger(used) && (used as number) <= rows &&
      Number.isInteger(live) && (live as number) * 2 <= slots &&
      Number.isInteger(freeCount) && (freeCount as number) <= rows &&
      Number.isInteger(removedCount) && (removedCount as number) <= l.removedIds.length && l.removedAt.length === l.removedIds.length &&
      (this.sketch === null ? l.sketch === null : l.sketch !== null && l.sketch.length === this.sketch.length);
    if (!fits) throw new ModelFormatError(`table ${this.name}: the handed-over arrays do not fit a table of width ${this.width} and its optimiser`);
    this.keys = l.keys;
    this.slotRow = l.slotRow;
    this.mask = slots - 1;
    this.ids = l.ids;
    this.weights = l.weights;
    this.state = l.state;
    this.lastSeen = l.lastSeen;
    this.version = l.version;
    this.free = l.free;
    this.sketch = l.sketch;
    this.removedIds = l.removedIds;
    this.removedAt = l.removedAt;
    this.freeCount = freeCount as number;
    this.used = used as number;
    this.live = live as number;
    this.removedCount = removedCount as number;
    this.admitted = admitted as number;
    this.expired = expired as number;
  }
}

/** An {@link EmbeddingTable}'s arrays and counts, as {@link EmbeddingTable.layout} hands them over. */
export interface EmbeddingLayout {
  readonly width: number;
  readonly keys: Float64Array;
  readonly slotRow: Int32Array;
  readonly ids: Float64Array;
  readonly weights: Float64Array;
  readonly state: Float64Array;
  readonly lastSeen: Float64Array;
  readonly version: Float64Array;
  readonly free: Int32Array;
  readonly sketch: Uint8Array | null;
  readonly removedIds: Float64Array;
  readonly removedAt: Float64Array;
  /** freeCount, used, live, removedCount, admitted, expired. */
  readonly counts: Float64Array;
}

function growF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}

/**
 * The row of `id` in an open-addressing table (linear probing from `slotHash(id)`; `keys` holds
 * -1 in empty slots), or -1 when absent. Shared by the training tables and their INT8 copies.
 */
export function probeRow(keys: Float64Array, slotRow: Int32Array, mask: number, id: number): number {
  let s = slotHash(id) & mask;
  for (;;) {
    const k = keys[s] as number;
    if (k === id) return slotRow[s] as number;
    if (k === EMPTY) return -1;
    s = (s + 1) & mask;
  }
}
