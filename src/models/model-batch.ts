import { hashString32 } from '../ingest/rng.js';
import { ModelSchemaError } from './model-errors.js';

/**
 * What a model's input looks like: the categorical fields (an entry's field index is its position
 * here), the dense features, and the feature spec the transform was built for. A model records
 * the schema it was built with and refuses batches of another shape, so a model trained on one
 * transform can never silently score input built by another.
 */
export interface InputSchema {
  /** Categorical fields, in field-index order (e.g. `user`, `item`, `category`, ...). */
  readonly fields: readonly string[];
  /** Dense features, in column order. */
  readonly dense: readonly string[];
  /** The feature-spec hash the transform was built for; null for input that is not from a spec (benchmark files). */
  readonly specHash: string | null;
}

/**
 * A stable 16-hex-digit identity of a schema (fields, dense names, spec hash). Two hashes of the
 * same text with different seeds: not cryptographic, but a mismatch is caught long before a
 * 64-bit collision matters, and it needs no I/O or vendor module.
 */
export function inputSchemaHash(schema: InputSchema): string {
  const text = JSON.stringify({ f: schema.fields, d: schema.dense, s: schema.specHash });
  return hashString32(text, 0x51).toString(16).padStart(8, '0') + hashString32(text, 0x52).toString(16).padStart(8, '0');
}

/**
 * A mini-batch of examples in compressed sparse row form: the unit every model's `predict` and
 * `learn` take (one example is a batch of one). Typed arrays only, so batches cross worker or
 * process boundaries as bytes and the models' inner loops never touch objects.
 *
 * Example i has the sparse entries `offsets[i] .. offsets[i + 1] - 1`: entry e is the feature id
 * `ids[e]` (a safe integer in [0, 2^53), see `featureId`) of field `fields[e]` with value
 * `values[e]` (1 for a one-hot category, a bag weight for a set). Its dense row is
 * `dense[i * denseWidth .. (i + 1) * denseWidth - 1]`, raw (the model normalises online).
 * `labels[i]` is used by `learn` only; `times[i]` (epoch ms, event time) is the clock of the
 * embedding tables' admission and expiry.
 */
export interface ModelBatch {
  readonly size: number;
  readonly denseWidth: number;
  readonly offsets: Uint32Array;
  readonly ids: Float64Array;
  readonly fields: Uint16Array;
  readonly values: Float64Array;
  readonly dense: Float64Array;
  readonly labels: Float64Array;
  readonly times: Float64Array;
}

/** Throws when the batch's dense width differs from the schema's (fields are checked per entry). */
export function checkBatchShape(batch: ModelBatch, schema: InputSchema): void {
  if (batch.denseWidth !== schema.dense.length) {
    throw new ModelSchemaError(`batch has ${batch.denseWidth} dense columns, the model's input schema has ${schema.dense.length}: build the batch with the model's own feature transform`);
  }
}

/**
 * Builds a {@link ModelBatch} one example at a time: `add` sparse entries and `setDense` values of
 * the open example, then `end(label, time)`. An id added twice to one example is kept once with
 * the values summed (first field and position win), so a model sees every id at most once per
 * example: FTRL's per-coordinate statistics and FM's pairwise terms assume that.
 *
 * The builder does not validate values: models do (see each model's `counters`), so tests can
 * inject bad input through the same path as real data.
 *
 * @example
 * const b = new BatchBuilder(2);
 * b.add(featureId('user', 'u1'), 0); b.setDense(0, 3.5); b.end(1, Date.now());
 * const batch = b.build();
 */
export class BatchBuilder {
  private offsets: Uint32Array;
  private ids: Float64Array;
  private fields: Uint16Array;
  private values: Float64Array;
  private dense: Float64Array;
  private labels: Float64Array;
  private times: Float64Array;
  private n = 0;
  private entries = 0;
  private start = 0;
  private byId: Map<number, number> | null = null;

  constructor(
    readonly denseWidth: number,
    capacity = 256,
  ) {
    const c = Math.max(1, capacity);
    this.offsets = new Uint32Array(c + 1);
    this.ids = new Float64Array(c * 16);
    this.fields = new Uint16Array(c * 16);
    this.values = new Float64Array(c * 16);
    this.dense = new Float64Array(c * Math.max(1, denseWidth));
    this.labels = new Float64Array(c);
    this.times = new Float64Array(c);
  }

  /** Examples ended so far. */
  get size(): number {
    return this.n;
  }

  /** Adds a sparse entry to the open example (values of a repeated id are summed). */
  add(id: number, field: number, value = 1): void {
    const from = this.start;
    const count = this.entries - from;
    if (count < 32) {
      for (let e = from; e < this.entries; e++) {
        if (this.ids[e] === id) {
          this.values[e] = (this.values[e] as number) + value;
          return;
        }
      }
      if (count === 31) this.byId = this.indexOpenExample();
    } else {
      // null when the example grew past 31 entries through addDistinct: index it now
      this.byId ??= this.indexOpenExample();
      const at = this.byId.get(id);
      if (at !== undefined) {
        this.values[at] = (this.values[at] as number) + value;
        return;
      }
    }
    if (this.entries === this.ids.length) this.growEntries();
    const e = this.entries++;
    this.ids[e] = id;
    this.fields[e] = field;
    this.values[e] = value;
    if (this.byId !== null && count >= 31) this.byId.set(id, e);
  }

  /** id -> entry of the open example's entries so far. */
  private indexOpenExample(): Map<number, number> {
    const byId = new Map<number, number>();
    for (let e = this.start; e < this.entries; e++) byId.set(this.ids[e] as number, e);
    return byId;
  }

  /**
   * Adds a sparse entry the caller knows is not in the open example yet (the feature transform:
   * ids of distinct (field, value) pairs are distinct, but for featureId's 2^-52 collisions),
   * skipping {@link add}'s search for it.
   */
  addDistinct(id: number, field: number, value = 1): void {
    if (this.entries === this.ids.length) this.growEntries();
    const e = this.entries++;
    this.ids[e] = id;
    this.fields[e] = field;
    this.values[e] = value;
    if (this.byId !== null) this.byId.set(id, e);
  }

  /** Sets dense column j of the open example (columns not set are 0). */
  setDense(j: number, value: number): void {
    if (!(j >= 0 && j < this.denseWidth)) throw new RangeError(`dense column ${j} is outside 0..${this.denseWidth - 1}`);
    this.ensureExamples();
    this.dense[this.n * this.denseWidth + j] = value;
  }

  /** Closes the open example with its label (1 / 0 for a click model) and event time (epoch ms). */
  end(label: number, time: number): void {
    this.ensureExamples();
    this.labels[this.n] = label;
    this.times[this.n] = time;
    this.n++;
    this.offsets[this.n] = this.entries;
    this.start = this.entries;
    this.byId = null;
  }

  /** Drops the open example's entries and dense values (e.g. when a transform refuses it half way). */
  abandon(): void {
    this.entries = this.start;
    this.byId = null;
    if (this.n * this.denseWidth < this.dense.length) this.dense.fill(0, this.n * this.denseWidth, (this.n + 1) * this.denseWidth);
  }

  /** The examples ended so far as a batch (copies), and a reset builder. */
  build(): ModelBatch {
    const n = this.n;
    const batch: ModelBatch = {
      size: n,
      denseWidth: this.denseWidth,
      offsets: this.offsets.slice(0, n + 1),
      ids: this.ids.slice(0, this.entries),
      fields: this.fields.slice(0, this.entries),
      values: this.values.slice(0, this.entries),
      dense: this.dense.slice(0, n * this.denseWidth),
      labels: this.labels.slice(0, n),
      times: this.times.slice(0, n),
    };
    this.n = 0;
    this.entries = 0;
    this.start = 0;
    this.byId = null;
    this.offsets[0] = 0;
    this.dense.fill(0);
    return batch;
  }

  private ensureExamples(): void {
    if (this.n + 1 < this.labels.length) return;
    const c = this.labels.length * 2;
    this.offsets = grow(this.offsets, c + 1);
    this.labels = grow(this.labels, c);
    this.times = grow(this.times, c);
    this.dense = grow(this.dense, c * Math.max(1, this.denseWidth));
  }

  private growEntries(): void {
    const c = this.ids.length * 2;
    this.ids = grow(this.ids, c);
    this.fields = grow(this.fields, c);
    this.values = grow(this.values, c);
  }
}

function grow<T extends Float64Array | Uint32Array | Uint16Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}

/**
 * Examples `from .. to - 1` of a batch as a batch sharing its buffers (offsets rebased), e.g. to
 * learn a long batch in mini-batches of a chosen size.
 */
export function sliceBatch(batch: ModelBatch, from: number, to: number): ModelBatch {
  const lo = Math.max(0, from);
  const hi = Math.min(batch.size, to);
  const e0 = batch.offsets[lo] as number;
  const e1 = batch.offsets[hi] as number;
  const offsets = new Uint32Array(hi - lo + 1);
  for (let i = lo; i <= hi; i++) offsets[i - lo] = (batch.offsets[i] as number) - e0;
  return {
    size: hi - lo,
    denseWidth: batch.denseWidth,
    offsets,
    ids: batch.ids.subarray(e0, e1),
    fields: batch.fields.subarray(e0, e1),
    values: batch.values.subarray(e0, e1),
    dense: batch.dense.subarray(lo * batch.denseWidth, hi * batch.denseWidth),
    labels: batch.labels.subarray(lo, hi),
    times: batch.times.subarray(lo, hi),
  };
}

/** Concatenates batches of the same dense width (e.g. an epoch assembled from parts). */
export function concatBatches(batches: readonly ModelBatch[]): ModelBatch {
  const first = batches[0];
  if (first === undefined) throw new RangeError('concatBatches needs at least one batch');
  const b = new BatchBuilder(first.denseWidth, batches.reduce((a, x) => a + x.size, 0));
  for (const x of batches) {
    if (x.denseWidth !== first.denseWidth) throw new RangeError('concatBatches: dense widths differ');
    for (let i = 0; i < x.size; i++) {
      for (let e = x.offsets[i] as number; e < (x.offsets[i + 1] as number); e++) b.add(x.ids[e] as number, x.fields[e] as number, x.values[e] as number);
      for (let j = 0; j < x.denseWidth; j++) {
        const v = x.dense[i * x.denseWidth + j] as number;
        if (v !== 0) b.setDense(j, v);
      }
      b.end(x.labels[i] as number, x.times[i] as number);
    }
  }
  return b.build();
}
