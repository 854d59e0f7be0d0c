import type { DenseTable } from './dense-table.js';
import type { EmbeddingTable } from './embedding-table.js';
import { LinearPart } from './linear-part.js';
import type { InputSchema, ModelBatch } from './model-batch.js';
import { commonConfig, modelOptions, PerExampleModel, GradientCollector, type CommonModelConfig, type GradientRows, type Model } from './model.js';
import { ftrl, type OptimizerSpec } from './optimizers.js';

/** Logistic regression options (see {@link CommonModelConfig} for the shared ones). */
export interface LrConfig extends CommonModelConfig {
  /** Optimiser of every weight (default FTRL-Proximal, see {@link LR_DEFAULTS}). */
  readonly optimizer: OptimizerSpec;
}

/** LR defaults: FTRL-Proximal alpha 0.05, beta 1, l1 0.1, l2 1 (tuned on the synthetic generator and Frappe). */
export const LR_DEFAULTS: Omit<LrConfig, keyof CommonModelConfig> = { optimizer: ftrl({ alpha: 0.05, beta: 1, l1: 0.1, l2: 1 }) };

/**
 * Logistic regression trained with FTRL-Proximal (per-coordinate learning rates, L1 and L2):
 * score = bias + sum of the weights of the example's ids times their values + dense weights .
 * normalised dense features. One update per example, in order.
 *
 * @example
 * const lr = createLr(transform.schema, { optimizer: ftrl({ alpha: 0.1, l1: 1 }) });
 * lr.learn(batch); lr.predict(batch);
 */
export class LrModel extends PerExampleModel implements Model {
  readonly kind = 'lr' as const;
  readonly config: LrConfig;
  readonly linear: LinearPart;
  private rows = new Int32Array(64);

  constructor(schema: InputSchema, config: Partial<LrConfig> = {}) {
    const common = commonConfig(config);
    super(schema, common);
    this.config = { ...common, ...modelOptions('lr', config, LR_DEFAULTS) };
    this.linear = new LinearPart('', schema.dense.length, this.config.optimizer, common.admission, common.seed);
  }

  protected sparseTables(): EmbeddingTable[] {
    return [this.linear.table];
  }
  protected denseTables(): DenseTable[] {
    return [this.linear.bias, this.linear.dense];
  }

  private rowsFor(batch: ModelBatch, i: number, learn: boolean, mark: number): Int32Array {
    const e0 = batch.offsets[i] as number;
    const n = (batch.offsets[i + 1] as number) - e0;
    if (this.rows.length < n) this.rows = new Int32Array(n * 2);
    const rows = this.rows;
    const t = this.linear.table;
    const time = batch.times[i] as number;
    for (let k = 0; k < n; k++) {
      const id = batch.ids[e0 + k] as number;
      rows[k] = learn ? t.admit(id, time, mark) : t.find(id);
    }
    return rows;
  }

  predict(batch: ModelBatch, out: Float64Array = new Float64Array(batch.size)): Float64Array {
    this.checkShape(batch);
    const d = batch.denseWidth;
    for (let i = 0; i < batch.size; i++) {
      const rows = this.rowsFor(batch, i, false, 0);
      this.normalizer.normalize(batch.dense, i * d, this.z);
      const s = this.linear.score(batch, i, rows, this.z);
      out[i] = this.lossFn.output(s);
      this.countPredictBad(batch, i);
    }
    return out;
  }

  /** Learns example i (accepted as valid input); its loss before the update. */
  protected learnAccepted(batch: ModelBatch, i: number, predictions: Float64Array | undefined): number {
    const time = batch.times[i] as number;
    this.tick(time);
    const mark = ++this.clock;
    const rows = this.rowsFor(batch, i, true, mark);
    const d = batch.denseWidth;
    this.normalizer.update(batch.dense, i * d, mark);
    this.normalizer.normalize(batch.dense, i * d, this.z);
    const s = this.linear.score(batch, i, rows, this.z);
    const y = batch.labels[i] as number;
    const g = this.lossFn.gradient(s, y);
    if (!Number.isFinite(g)) {
      this.counters.nonFiniteGradient++;
      if (predictions !== undefined) predictions[i] = NaN;
      return NaN;
    }
    if (predictions !== undefined) predictions[i] = this.lossFn.output(s);
    this.linear.step(batch, i, rows, this.z, g, mark);
    this.counters.learned++;
    return this.lossFn.value(s, y);
  }

  lossGradient(batch: ModelBatch, i: number): { loss: number; gradients: GradientRows[] } {
    const rows = this.rowsFor(batch, i, false, 0);
    this.normalizer.normalize(batch.dense, i * batch.denseWidth, this.z);
    const s = this.linear.score(batch, i, rows, this.z);
    const y = batch.labels[i] as number;
    const out = new GradientCollector();
    this.linear.collect(batch, i, rows, this.z, this.lossFn.gradient(s, y), out);
    return { loss: this.lossFn.value(s, y), gradients: out.result() };
  }

  lossOf(batch: ModelBatch, i: number): number {
    const rows = this.rowsFor(batch, i, false, 0);
    this.normalizer.normalize(batch.dense, i * batch.denseWidth, this.z);
    return this.lossFn.value(this.linear.score(batch, i, rows, this.z), batch.labels[i] as number);
  }
}

/** A new LR model for an input schema. */
export function createLr(schema: InputSchema, config: Partial<LrConfig> = {}): LrModel {
  return new LrModel(schema, config);
}
