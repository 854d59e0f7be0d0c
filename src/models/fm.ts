import { DenseTable } from './dense-table.js';
import { EmbeddingTable } from './embedding-table.js';
import { checkInitializer, type InitializerSpec } from './init.js';
import { LinearPart } from './linear-part.js';
import type { InputSchema, ModelBatch } from './model-batch.js';
import { ModelConfigError } from './model-errors.js';
import { commonConfig, modelOptions, PerExampleModel, GradientCollector, type CommonModelConfig, type GradientRows, type Model } from './model.js';
import { adagrad, ftrl, type OptimizerSpec } from './optimizers.js';

/** Factorization machine options. */
export interface FmConfig extends CommonModelConfig {
  /** Factors per feature (k). */
  readonly factors: number;
  /** Optimiser of the bias and linear weights (default FTRL). */
  readonly linearOptimizer: OptimizerSpec;
  /** Optimiser of the factors (default AdaGrad with a little L2). */
  readonly factorOptimizer: OptimizerSpec;
  /** Initial factors (default normal, sd 0.01: small, non-zero so pairs can start to learn). */
  readonly factorInit: InitializerSpec;
  /**
   * The categorical fields that take part in the pairwise term (default null: all). The others
   * keep their linear weights only. Every pair costs variance in a single pass: pairs that carry
   * no signal (position x hour, a bag of recent clicks x device) are noise the factors must
   * learn to cancel, so naming the fields whose interactions matter (user, item) helps.
   */
  readonly pairFields: readonly string[] | null;
  /** Whether the normalised dense features get factors too (default true). */
  readonly denseInteractions: boolean;
}

/** FM defaults (k = 16). */
export const FM_DEFAULTS: Omit<FmConfig, keyof CommonModelConfig> = {
  factors: 16,
  linearOptimizer: ftrl({ alpha: 0.05, beta: 1, l1: 0.1, l2: 1 }),
  factorOptimizer: adagrad({ lr: 0.02, l2: 1e-4 }),
  factorInit: { kind: 'normal', sd: 0.01 },
  pairFields: null,
  denseInteractions: true,
};

/**
 * Factorization machine (Rendle 2010) in its O(k n) form:
 * score = linear + 1/2 sum_f [ (sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2 ],
 * where the features i are the example's sparse entries (x = value, factors in a collisionless
 * table keyed by id) and the normalised dense features (x = normalised value, one dense factor
 * row each). dscore/dv_if = x_i (sum_j v_jf x_j - v_if x_i). One update per example, in order.
 * With `pairFields` / `denseInteractions: false`, only the named fields' entries (and the dense
 * features when enabled) have factors; the others enter the linear part alone.
 */
export class FmModel extends PerExampleModel implements Model {
  readonly kind = 'fm' as const;
  readonly config: FmConfig;
  readonly linear: LinearPart;
  readonly factors: EmbeddingTable;
  readonly denseFactors: DenseTable;
  private linRows = new Int32Array(64);
  private facRows = new Int32Array(64);
  private readonly sums: Float64Array;
  /** Per field index: whether its entries have factors (all true when `pairFields` is null). */
  private readonly paired: Uint8Array;
  /** Dense columns with factors: all of them, or none when `denseInteractions` is false. */
  private readonly denseCols: number;

  constructor(schema: InputSchema, config: Partial<FmConfig> = {}) {
    const common = commonConfig(config);
    super(schema, common);
    this.config = { ...common, ...modelOptions('fm', config, FM_DEFAULTS) };
    const k = this.config.factors;
    if (!(Number.isInteger(k) && k >= 1 && k <= 1024)) throw new ModelConfigError(`fm: factors must be a whole number in 1..1024, got ${k}`);
    checkInitializer(this.config.factorInit, 'fm factorInit');
    this.linear = new LinearPart('', schema.dense.length, this.config.linearOptimizer, common.admission, common.seed);
    this.factors = new EmbeddingTable({ name: 'factors', width: k, optimizer: this.config.factorOptimizer, init: this.config.factorInit, seed: common.seed, admission: common.admission });
    const pf = this.config.pairFields;
    if (pf !== null) {
      if (!Array.isArray(pf)) throw new ModelConfigError(`fm: pairFields must be null or a list of field names, got ${JSON.stringify(pf)}`);
      for (const f of pf) if (!schema.fields.includes(f)) throw new ModelConfigError(`fm: pairFields names '${String(f)}', which is not a field of the input schema (${schema.fields.join(', ')})`);
    }
    this.paired = Uint8Array.from(schema.fields, (f) => (pf === null || pf.includes(f) ? 1 : 0));
    this.denseCols = this.config.denseInteractions ? schema.dense.length : 0;
    this.denseFactors = new DenseTable('dense_factors', this.denseCols, k, this.config.factorOptimizer, this.config.factorInit, common.seed, k, k);
    this.sums = new Float64Array(k);
  }

  protected sparseTables(): EmbeddingTable[] {
    return [this.linear.table, this.factors];
  }
  protected denseTables(): DenseTable[] {
    return [this.linear.bias, this.linear.dense, this.denseFactors];
  }

  private resolve(batch: ModelBatch, i: number, learn: boolean, mark: number): void {
    const e0 = batch.offsets[i] as number;
    const n = (batch.offsets[i + 1] as number) - e0;
    if (this.linRows.length < n) {
      this.linRows = new Int32Array(n * 2);
      this.facRows = new Int32Array(n * 2);
    }
    const lt = this.linear.table;
    const ft = this.factors;
    const time = batch.times[i] as number;
    for (let k = 0; k < n; k++) {
      const id = batch.ids[e0 + k] as number;
      const paired = this.paired[batch.fields[e0 + k] as number] === 1;
      if (learn) {
        this.linRows[k] = lt.admit(id, time, mark);
        this.facRows[k] = paired ? ft.admit(id, time, mark) : -1;
      } else {
        this.linRows[k] = lt.find(id);
        this.facRows[k] = paired ? ft.find(id) : -1;
      }
    }
  }

  /** The pairwise term of example i; leaves sum_i v_if x_i in `this.sums`. */
  private pairwise(batch: ModelBatch, i: number): number {
    const k = this.config.factors;
    const sums = this.sums;
    sums.fill(0);
    let sq = 0;
    const v = this.factors.weights;
    const e0 = batch.offsets[i] as number;
    const n = (batch.offsets[i + 1] as number) - e0;
    const rows = this.facRows;
    for (let e = 0; e < n; e++) {
      const r = rows[e] as number;
      if (r < 0) continue;
      const x = batch.values[e0 + e] as number;
      if (!(x - x === 0)) continue;
      const o = r * k;
      for (let f = 0; f < k; f++) {
        const vx = (v[o + f] as number) * x;
        sums[f] = (sums[f] as number) + vx;
        sq += vx * vx;
      }
    }
    return finishPairwise(sums, sq, this.denseFactors.weights, this.z, this.denseCols, k);
  }

  private score(batch: ModelBatch, i: number): number {
    return this.linear.score(batch, i, this.linRows, this.z) + this.pairwise(batch, i);
  }

  predict(batch: ModelBatch, out: Float64Array = new Float64Array(batch.size)): Float64Array {
    this.checkShape(batch);
    for (let i = 0; i < batch.size; i++) {
      this.resolve(batch, i, false, 0);
      this.normalizer.normalize(batch.dense, i * batch.denseWidth, this.z);
      const s = this.score(batch, i);
      out[i] = this.lossFn.output(s);
      this.countPredictBad(batch, i);
    }
    return out;
  }

  protected learnAccepted(batch: ModelBatch, i: number, predictions: Float64Array | undefined): number {
    this.tick(batch.times[i] as number);
    const mark = ++this.clock;
    this.resolve(batch, i, true, mark);
    const d = batch.denseWidth;
    this.normalizer.update(batch.dense, i * d, mark);
    this.normalizer.normalize(batch.dense, i * d, this.z);
    const s = this.score(batch, i);
    const y = batch.labels[i] as number;
    const g = this.lossFn.gradient(s, y);
    if (!Number.isFinite(g)) {
      this.counters.nonFiniteGradient++;
      if (predictions !== undefined) predictions[i] = NaN;
      return NaN;
    }
    if (predictions !== undefined) predictions[i] = this.lossFn.output(s);
    // factors first: their gradients use the pre-update sums and factors
    this.stepFactors(batch, i, g, mark);
    this.linear.step(batch, i, this.linRows, this.z, g, mark);
    this.counters.learned++;
    return this.lossFn.value(s, y);
  }

  private stepFactors(batch: ModelBatch, i: number, g: number, mark: number): void {
    const k = this.config.factors;
    const sums = this.sums;
    const t = this.factors;
    const v = t.weights;
    const st = t.state;
    const opt = t.optimizer;
    const slots = opt.slots;
    const e0 = batch.offsets[i] as number;
    const n = (batch.offsets[i + 1] as number) - e0;
    for (let e = 0; e < n; e++) {
      const r = this.facRows[e] as number;
      if (r < 0) continue;
      const x = batch.values[e0 + e] as number;
      const gx = g * x;
      const o = r * k;
      for (let f = 0; f < k; f++) {
        const w = v[o + f] as number;
        v[o + f] = opt.step(w, gx * ((sums[f] as number) - w * x), st, (o + f) * slots);
      }
      t.version[r] = mark;
    }
    const dt = this.denseFactors;
    if (dt.weights.length === 0) return;
    const dv = dt.weights;
    // the optimiser called here directly (not through DenseTable.step, whose call site sees every
    // table's optimiser): one optimiser kind at this site, so V8 inlines it
    const dopt = dt.optimizer;
    const dst = dt.state;
    const dslots = dopt.slots;
    for (let j = 0; j < this.denseCols; j++) {
      const x = this.z[j] as number;
      const gx = g * x;
      const o = j * k;
      for (let f = 0; f < k; f++) {
        const w = dv[o + f] as number;
        dv[o + f] = dopt.step(w, gx * ((sums[f] as number) - w * x), dst, (o + f) * dslots);
      }
    }
    dt.version = mark;
  }

  lossGradient(batch: ModelBatch, i: number): { loss: number; gradients: GradientRows[] } {
    this.resolve(batch, i, false, 0);
    this.normalizer.normalize(batch.dense, i * batch.denseWidth, this.z);
    const s = this.score(batch, i);
    const y = batch.labels[i] as number;
    const g = this.lossFn.gradient(s, y);
    const out = new GradientCollector();
    this.linear.collect(batch, i, this.linRows, this.z, g, out);
    const k = this.config.factors;
    const e0 = batch.offsets[i] as number;
    const n = (batch.offsets[i + 1] as number) - e0;
    const v = this.factors.weights;
    for (let e = 0; e < n; e++) {
      const r = this.facRows[e] as number;
      if (r < 0) continue;
      const x = batch.values[e0 + e] as number;
      for (let f = 0; f < k; f++) out.add('factors', k, this.factors.ids[r] as number, f, g * x * ((this.sums[f] as number) - (v[r * k + f] as number) * x));
    }
    const dv = this.denseFactors.weights;
    for (let j = 0; j < this.denseCols; j++) {
      const x = this.z[j] as number;
      for (let f = 0; f < k; f++) out.add('dense_factors', k, j, f, g * x * ((this.sums[f] as number) - (dv[j * k + f] as number) * x));
    }
    return { loss: this.lossFn.value(s, y), gradients: out.result() };
  }

  lossOf(batch: ModelBatch, i: number): number {
    this.resolve(batch, i, false, 0);
    this.normalizer.normalize(batch.dense, i * batch.denseWidth, this.z);
    return this.lossFn.value(this.score(batch, i), batch.labels[i] as number);
  }

  /**
   * The pairwise term by the O(k n^2) definition, sum over pairs i < j of <v_i, v_j> x_i x_j, for
   * example i under the current parameters: the oracle the O(k n) form is tested against.
   */
  pairwiseNaive(batch: ModelBatch, i: number): number {
    this.resolve(batch, i, false, 0);
    this.normalizer.normalize(batch.dense, i * batch.denseWidth, this.z);
    const k = this.config.factors;
    const vecs: { v: Float64Array; o: number; x: number }[] = [];
    const e0 = batch.offsets[i] as number;
    const n = (batch.offsets[i + 1] as number) - e0;
    for (let e = 0; e < n; e++) {
      const r = this.facRows[e] as number;
      if (r >= 0) vecs.push({ v: this.factors.weights, o: r * k, x: batch.values[e0 + e] as number });
    }
    for (let j = 0; j < this.denseCols; j++) vecs.push({ v: this.denseFactors.weights, o: j * k, x: this.z[j] as number });
    let total = 0;
    for (let a = 0; a < vecs.length; a++) {
      for (let b = a + 1; b < vecs.length; b++) {
        const p = vecs[a] as (typeof vecs)[number];
        const q = vecs[b] as (typeof vecs)[number];
        let dot = 0;
        for (let f = 0; f < k; f++) dot += (p.v[p.o + f] as number) * (q.v[q.o + f] as number);
        total += dot * p.x * q.x;
      }
    }
    return total;
  }

  /** The pairwise term of example i by the O(k n) form (what `predict` uses). */
  pairwiseFast(batch: ModelBatch, i: number): number {
    this.resolve(batch, i, false, 0);
    this.normalizer.normalize(batch.dense, i * batch.denseWidth, this.z);
    return this.pairwise(batch, i);
  }
}

/** A new FM model for an input schema. */
export function createFm(schema: InputSchema, config: Partial<FmConfig> = {}): FmModel {
  return new FmModel(schema, config);
}

/**
 * The end of FM's O(kn) pairwise term, shared by the float and the INT8 model: adds the dense
 * features' factors to `sums` (sum_i v_if x_i) and `sq` (sum_i v_if^2 x_i^2), then returns
 * 1/2 sum_f [sums_f^2 - sq].
 */
export function finishPairwise(sums: Float64Array, sq: number, dv: Float64Array, z: Float64Array, denseCols: number, k: number): number {
  for (let j = 0; j < denseCols; j++) {
    const x = z[j] as number;
    if (x === 0) continue;
    const o = j * k;
    for (let f = 0; f < k; f++) {
      const vx = (dv[o + f] as number) * x;
      sums[f] = (sums[f] as number) + vx;
      sq += vx * vx;
    }
  }
  let s2 = 0;
  for (let f = 0; f < k; f++) s2 += (sums[f] as number) * (sums[f] as number);
  return 0.5 * (s2 - sq);
}
