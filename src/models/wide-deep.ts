import { DenseTable } from './dense-table.js';
import { EmbeddingTable } from './embedding-table.js';
import { checkInitializer, type InitializerSpec } from './init.js';
import { LinearPart, SparseAccumulator } from './linear-part.js';
import { MlpArena } from './mlp-kernels.js';
import type { QuantizedTable } from './quantized-table.js';
import type { InputSchema, ModelBatch } from './model-batch.js';
import { ModelConfigError } from './model-errors.js';
import { BaseModel, commonConfig, modelOptions, GradientCollector, unregularised, type CommonModelConfig, type GradientRows, type LearnResult, type Model } from './model.js';
import { adagrad, adam, ftrl, type OptimizerSpec } from './optimizers.js';

/** Wide&Deep options. */
export interface WideDeepConfig extends CommonModelConfig {
  /** Optimiser of the wide (linear) part (default FTRL). */
  readonly wideOptimizer: OptimizerSpec;
  /** Embedding size of every categorical field. */
  readonly embeddingDim: number;
  /** Optimiser of the embeddings (default AdaGrad). */
  readonly embeddingOptimizer: OptimizerSpec;
  readonly embeddingInit: InitializerSpec;
  /** Hidden layer sizes, ReLU (default 256, 128). */
  readonly hidden: readonly number[];
  /** Optimiser of the MLP (default Adam; AdaGrad works too). */
  readonly deepOptimizer: OptimizerSpec;
  /** Initialiser of the hidden layers' weights (default He; the output layer uses Glorot, biases 0). */
  readonly deepInit: InitializerSpec;
  /** Examples per mini-batch: `learn` cuts its batch into mini-batches of at most this many. */
  readonly batchSize: number;
}

/** Wide&Deep defaults. */
export const WIDE_DEEP_DEFAULTS: Omit<WideDeepConfig, keyof CommonModelConfig> = {
  wideOptimizer: ftrl({ alpha: 0.05, beta: 1, l1: 0.1, l2: 1 }),
  embeddingDim: 8,
  embeddingOptimizer: adagrad({ lr: 0.02 }),
  embeddingInit: { kind: 'normal', sd: 0.05 },
  hidden: [256, 128],
  deepOptimizer: adam({ lr: 0.001 }),
  deepInit: { kind: 'he' },
  batchSize: 64,
};

/** One dense layer: weights stored input-major (`in x out`), so ReLU zeros skip whole rows. */
interface Layer {
  readonly inputs: number;
  readonly outputs: number;
  readonly w: DenseTable;
  readonly b: DenseTable;
  readonly gw: Float64Array;
  readonly gb: Float64Array;
}

/**
 * Wide&Deep (Cheng et al. 2016): score = wide + deep. Wide is the linear part (FTRL over the
 * sparse ids and the normalised dense features). Deep is an MLP with ReLU hidden layers over the
 * concatenation of one embedding per categorical field (the sum of the field's id embeddings,
 * each times its value: a bag of ids is sum-pooled) and the normalised dense features.
 *
 * Learning is in mini-batches: the gradient of the summed loss of up to `batchSize` consecutive
 * valid examples, then one optimiser step per touched parameter. Predictions handed back by
 * `learn` are the forward pass before that step.
 */
export class WideDeepModel extends BaseModel implements Model {
  readonly kind = 'wide-deep' as const;
  readonly config: WideDeepConfig;
  readonly wide: LinearPart;
  private embeddingTable: EmbeddingTable;
  /** INT8 embeddings for serving (see {@link quantizeEmbeddings}); null while the model learns. */
  private quantized: QuantizedTable | null = null;
  readonly layers: readonly Layer[];
  private readonly wideAcc: SparseAccumulator;
  private readonly embAcc: SparseAccumulator;
  private readonly wideDenseGrad: Float64Array;
  private wideBiasGrad = 0;
  private readonly inWidth: number;
  private readonly embWidth: number;
  /** The WebAssembly memory of the MLP: its weights, gradients and activations live there. */
  private readonly arena: MlpArena;
  // per mini-batch scratch; acts and grads (one per layer boundary, batchSize rows) in the arena
  private readonly acts: Float64Array[];
  private readonly grads: Float64Array[];
  private readonly dpT: Float64Array;
  private zs = new Float64Array(0);
  private scores = new Float64Array(0);
  private gs = new Float64Array(0);
  private wideRows = new Int32Array(0);
  private embRows = new Int32Array(0);
  private index = new Int32Array(0);
  private capacity = 0;

  constructor(schema: InputSchema, config: Partial<WideDeepConfig> = {}) {
    const common = commonConfig(config);
    super(schema, common);
    this.config = { ...common, ...modelOptions('wide-deep', config, WIDE_DEEP_DEFAULTS) };
    const c = this.config;
    if (!(Number.isInteger(c.embeddingDim) && c.embeddingDim >= 1 && c.embeddingDim <= 1024)) throw new ModelConfigError(`wide-deep: embeddingDim must be a whole number in 1..1024, got ${c.embeddingDim}`);
    if (!(c.hidden.length >= 1 && c.hidden.every((h) => Number.isInteger(h) && h >= 1 && h <= 65536))) throw new ModelConfigError(`wide-deep: hidden must be one or more layer sizes in 1..65536, got ${JSON.stringify(c.hidden)}`);
    if (!(Number.isInteger(c.batchSize) && c.batchSize >= 1 && c.batchSize <= 65536)) throw new ModelConfigError(`wide-deep: batchSize must be a whole number in 1..65536, got ${c.batchSize}`);
    checkInitializer(c.embeddingInit, 'wide-deep embeddingInit');
    checkInitializer(c.deepInit, 'wide-deep deepInit');
    this.wide = new LinearPart('wide.', schema.dense.length, c.wideOptimizer, common.admission, common.seed);
    this.embeddingTable = new EmbeddingTable({ name: 'embeddings', width: c.embeddingDim, optimizer: c.embeddingOptimizer, init: c.embeddingInit, seed: common.seed, admission: common.admission });
    this.embWidth = schema.fields.length * c.embeddingDim;
    this.inWidth = this.embWidth + schema.dense.length;
    const dims = [this.inWidth, ...c.hidden, 1];
    const bs = c.batchSize;
    const round4 = (x: number) => (x + 3) & ~3;
    let doubles = 0;
    for (let l = 0; l < dims.length; l++) doubles += 2 * bs * (dims[l] as number) + (l + 1 < dims.length ? 2 * (dims[l] as number) * (dims[l + 1] as number) + 2 * (dims[l + 1] as number) : 0);
    doubles += Math.max(...dims) * round4(bs);
    // per layer: weights, biases and their gradients; per layer boundary: activations and gradients; dpT
    this.arena = new MlpArena(doubles, 'wide-deep', 4 * (dims.length - 1) + 2 * dims.length + 1);
    const layers: Layer[] = [];
    for (let l = 0; l + 1 < dims.length; l++) {
      const inputs = dims[l] as number;
      const outputs = dims[l + 1] as number;
      const last = l + 2 === dims.length;
      const w = new DenseTable(`deep.${l}.weight`, inputs, outputs, c.deepOptimizer, last ? { kind: 'glorot' } : c.deepInit, common.seed, inputs, outputs, this.arena.alloc(inputs * outputs));
      const b = new DenseTable(`deep.${l}.bias`, 1, outputs, unregularised(c.deepOptimizer), { kind: 'zeros' }, common.seed, outputs, 1, this.arena.alloc(outputs));
      layers.push({ inputs, outputs, w, b, gw: this.arena.alloc(inputs * outputs), gb: this.arena.alloc(outputs) });
    }
    this.layers = layers;
    this.acts = dims.map((d) => this.arena.alloc(bs * d));
    this.grads = dims.map((d) => this.arena.alloc(bs * d));
    this.dpT = this.arena.alloc(Math.max(...dims) * round4(bs));
    this.wideAcc = new SparseAccumulator(this.wide.table);
    this.embAcc = new SparseAccumulator(this.embeddingTable);
    this.wideDenseGrad = new Float64Array(schema.dense.length);
  }

  /** The embedding table (float; emptied once {@link quantizeEmbeddings} ran). */
  get embeddings(): EmbeddingTable {
    return this.embeddingTable;
  }

  /**
   * Turns this model into a serving-only one with INT8 row-wise embeddings: `predict` reads
   * `quantized` (each value dequantised as it is summed into its field's input), and the float
   * table is replaced by an empty one so its memory can be collected. Learning and saving are
   * refused from then on.
   */
  quantizeEmbeddings(quantized: QuantizedTable): void {
    if (quantized.width !== this.config.embeddingDim) throw new ModelConfigError(`wide-deep: INT8 embeddings of width ${quantized.width} for embeddingDim ${this.config.embeddingDim}`);
    this.quantized = quantized;
    const t = this.embeddingTable.config;
    this.embeddingTable = new EmbeddingTable(t);
  }

  private servingOnly(what: string): void {
    if (this.quantized !== null) throw new ModelConfigError(`wide-deep: this model serves INT8 embeddings and cannot ${what}; load the float version`);
  }

  protected sparseTables(): EmbeddingTable[] {
    this.servingOnly('export its parameters');
    return [this.wide.table, this.embeddingTable];
  }
  protected denseTables(): DenseTable[] {
    const out: DenseTable[] = [this.wide.bias, this.wide.dense];
    for (const l of this.layers) out.push(l.w, l.b);
    return out;
  }

  /** Room for `b` examples (at most batchSize: the arena's arrays are that big) and `entries` sparse entries. */
  private ensureCapacity(b: number, entries: number): void {
    if (b > this.config.batchSize) throw new Error(`wide-deep: a mini-batch of ${b} examples exceeds batchSize ${this.config.batchSize}`);
    if (b > this.capacity) {
      this.capacity = b;
      this.zs = new Float64Array(b * Math.max(1, this.schema.dense.length));
      this.scores = new Float64Array(b);
      this.gs = new Float64Array(b);
      this.index = new Int32Array(b);
    }
    if (entries > this.wideRows.length) {
      this.wideRows = new Int32Array(entries * 2);
      this.embRows = new Int32Array(entries * 2);
    }
  }

  /**
   * Forward pass of the examples `index[0 .. n - 1]`: resolves rows (admitting them when
   * learning), builds the deep input, runs the MLP and adds the wide score into `scores`.
   * Row k of the mini-batch uses `wideRows` / `embRows` from `rowStart[k]` on.
   */
  private forward(batch: ModelBatch, n: number, learn: boolean, mark: number, rowStart: Int32Array): void {
    const dim = this.config.embeddingDim;
    const D = this.schema.dense.length;
    const x = this.acts[0] as Float64Array;
    const inW = this.inWidth;
    x.fill(0, 0, n * inW);
    let at = 0;
    for (let k = 0; k < n; k++) {
      const i = this.index[k] as number;
      rowStart[k] = at;
      const e0 = batch.offsets[i] as number;
      const e1 = batch.offsets[i + 1] as number;
      const time = batch.times[i] as number;
      for (let e = e0; e < e1; e++, at++) {
        const id = batch.ids[e] as number;
        this.wideRows[at] = learn ? this.wide.table.admit(id, time, mark) : this.wide.table.find(id);
        this.embRows[at] = learn ? this.embeddingTable.admit(id, time, mark) : this.quantized !== null ? this.quantized.find(id) : this.embeddingTable.find(id);
      }
    }
    rowStart[n] = at;
    // the tables may have grown: read their arrays only now
    const emb = this.embeddingTable.weights;
    const quant = this.quantized;
    const zRow = this.z;
    for (let k = 0; k < n; k++) {
      const i = this.index[k] as number;
      const e0 = batch.offsets[i] as number;
      const xo = k * inW;
      for (let r = rowStart[k] as number, e = e0; r < (rowStart[k + 1] as number); r++, e++) {
        const row = this.embRows[r] as number;
        const v = batch.values[e] as number;
        if (row < 0 || !(v - v === 0)) continue;
        const fo = xo + (batch.fields[e] as number) * dim;
        const eo = row * dim;
        if (quant === null) {
          for (let j = 0; j < dim; j++) x[fo + j] = (x[fo + j] as number) + v * (emb[eo + j] as number);
        } else {
          const sc = quant.scale[row] as number;
          const bi = quant.bias[row] as number;
          for (let j = 0; j < dim; j++) x[fo + j] = (x[fo + j] as number) + v * (sc * (quant.q[eo + j] as number) + bi);
        }
      }
      this.normalizer.normalize(batch.dense, i * batch.denseWidth, zRow);
      for (let j = 0; j < D; j++) {
        x[xo + this.embWidth + j] = zRow[j] as number;
        this.zs[k * D + j] = zRow[j] as number;
      }
      this.scores[k] = this.wide.score(batch, i, this.wideRows, zRow, rowStart[k] as number);
    }
    // MLP
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l] as Layer;
      this.arena.forward(this.acts[l] as Float64Array, n, layer.inputs, layer.w.weights, layer.b.weights, layer.outputs, this.acts[l + 1] as Float64Array, l + 1 < this.layers.length);
    }
    const out = this.acts[this.layers.length] as Float64Array;
    for (let k = 0; k < n; k++) this.scores[k] = (this.scores[k] as number) + (out[k] as number);
  }

  /** Backward pass for dL/dscore = gs[k]: accumulates every gradient (nothing is applied). */
  private backward(batch: ModelBatch, n: number, rowStart: Int32Array): void {
    const D = this.schema.dense.length;
    const top = this.grads[this.layers.length] as Float64Array;
    for (let k = 0; k < n; k++) top[k] = this.gs[k] as number;
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l] as Layer;
      const a = this.acts[l] as Float64Array;
      const dp = this.grads[l + 1] as Float64Array;
      this.arena.weightGradient(a, n, layer.inputs, dp, layer.outputs, layer.gw, layer.gb);
      // input gradient needed: hidden inputs (masked by their ReLU) and the embedding part of x
      this.arena.inputGradient(layer.w.weights, layer.inputs, l === 0 ? this.embWidth : layer.inputs, dp, layer.outputs, n, this.grads[l] as Float64Array, l === 0 ? null : a, this.dpT);
    }
    // embeddings and the wide part
    const dim = this.config.embeddingDim;
    const dx = this.grads[0] as Float64Array;
    this.embAcc.ensure();
    this.wideAcc.ensure();
    const eg = this.embAcc;
    for (let k = 0; k < n; k++) {
      const i = this.index[k] as number;
      const g = this.gs[k] as number;
      const e0 = batch.offsets[i] as number;
      const xo = k * this.inWidth;
      this.wideBiasGrad += g;
      for (let j = 0; j < D; j++) this.wideDenseGrad[j] = (this.wideDenseGrad[j] as number) + g * (this.zs[k * D + j] as number);
      for (let r = rowStart[k] as number, e = e0; r < (rowStart[k + 1] as number); r++, e++) {
        const v = batch.values[e] as number;
        const wr = this.wideRows[r] as number;
        if (wr >= 0) this.wideAcc.add(wr, 0, g * v);
        const row = this.embRows[r] as number;
        if (row < 0) continue;
        const go = eg.rowOffset(row);
        const buf = eg.buffer;
        const fo = xo + (batch.fields[e] as number) * dim;
        for (let j = 0; j < dim; j++) buf[go + j] = (buf[go + j] as number) + v * (dx[fo + j] as number);
      }
    }
  }

  private applyGradients(mark: number): void {
    for (const layer of this.layers) {
      for (let p = 0; p < layer.gw.length; p++) {
        layer.w.step(p, layer.gw[p] as number);
        layer.gw[p] = 0;
      }
      for (let p = 0; p < layer.gb.length; p++) {
        layer.b.step(p, layer.gb[p] as number);
        layer.gb[p] = 0;
      }
      layer.w.version = mark;
      layer.b.version = mark;
    }
    this.wide.bias.step(0, this.wideBiasGrad);
    this.wide.bias.version = mark;
    this.wideBiasGrad = 0;
    if (this.wideDenseGrad.length > 0) {
      for (let j = 0; j < this.wideDenseGrad.length; j++) {
        this.wide.dense.step(j, this.wideDenseGrad[j] as number);
        this.wideDenseGrad[j] = 0;
      }
      this.wide.dense.version = mark;
    }
    this.wideAcc.apply(mark);
    this.embAcc.apply(mark);
  }

  /** Sparse entries of the mini-batch's examples `index[0 .. n - 1]`. */
  private entriesOf(batch: ModelBatch, n: number): number {
    let total = 0;
    for (let k = 0; k < n; k++) {
      const i = this.index[k] as number;
      total += (batch.offsets[i + 1] as number) - (batch.offsets[i] as number);
    }
    return total;
  }

  predict(batch: ModelBatch, out: Float64Array = new Float64Array(batch.size)): Float64Array {
    this.checkShape(batch);
    const bs = this.config.batchSize;
    for (let from = 0; from < batch.size; from += bs) {
      const n = Math.min(bs, batch.size - from);
      this.ensureCapacity(n, 0);
      for (let k = 0; k < n; k++) this.index[k] = from + k;
      const entries = this.entriesOf(batch, n);
      this.ensureCapacity(n, entries);
      const rowStart = new Int32Array(n + 1);
      this.forward(batch, n, false, 0, rowStart);
      for (let k = 0; k < n; k++) {
        const s = this.scores[k] as number;
        out[from + k] = this.lossFn.output(s);
        this.countPredictBad(batch, from + k);
      }
    }
    return out;
  }

  learn(batch: ModelBatch, predictions?: Float64Array): LearnResult {
    this.checkShape(batch);
    return this.learnRange(batch, 0, batch.size, this.config.batchSize, predictions);
  }

  learnOne(batch: ModelBatch, i: number): LearnResult {
    this.checkShape(batch);
    return this.learnRange(batch, i, i + 1, 1, undefined);
  }

  private learnRange(batch: ModelBatch, from: number, to: number, bs: number, predictions: Float64Array | undefined): LearnResult {
    this.servingOnly('learn');
    let learned = 0;
    let loss = 0;
    let i = from;
    while (i < to) {
      // gather up to bs valid examples
      this.ensureCapacity(bs, 0);
      let n = 0;
      while (i < to && n < bs) {
        if (this.accept(batch, i)) this.index[n++] = i;
        else if (predictions !== undefined) predictions[i] = NaN;
        i++;
      }
      if (n === 0) break;
      const mark = this.clock + n;
      for (let k = 0; k < n; k++) {
        const ex = this.index[k] as number;
        this.tick(batch.times[ex] as number);
        this.normalizer.update(batch.dense, ex * batch.denseWidth, mark);
      }
      this.clock = mark;
      this.ensureCapacity(bs, this.entriesOf(batch, n));
      const rowStart = new Int32Array(n + 1);
      this.forward(batch, n, true, mark, rowStart);
      let bad = false;
      let batchLoss = 0;
      for (let k = 0; k < n; k++) {
        const s = this.scores[k] as number;
        const y = batch.labels[this.index[k] as number] as number;
        const g = this.lossFn.gradient(s, y);
        if (!Number.isFinite(g)) bad = true;
        this.gs[k] = g;
        batchLoss += this.lossFn.value(s, y);
        if (predictions !== undefined) predictions[this.index[k] as number] = this.lossFn.output(s);
      }
      if (bad) {
        // refuse the whole mini-batch rather than let one non-finite gradient reach a parameter
        this.counters.nonFiniteGradient += n;
        if (predictions !== undefined) for (let k = 0; k < n; k++) predictions[this.index[k] as number] = NaN;
        continue;
      }
      this.backward(batch, n, rowStart);
      this.applyGradients(mark);
      this.counters.learned += n;
      learned += n;
      loss += batchLoss;
    }
    return { learned, skipped: to - from - learned, loss };
  }

  lossGradient(batch: ModelBatch, i: number): { loss: number; gradients: GradientRows[] } {
    this.ensureCapacity(1, (batch.offsets[i + 1] as number) - (batch.offsets[i] as number));
    this.index[0] = i;
    const rowStart = new Int32Array(2);
    this.forward(batch, 1, false, 0, rowStart);
    const s = this.scores[0] as number;
    const y = batch.labels[i] as number;
    this.gs[0] = this.lossFn.gradient(s, y);
    this.backward(batch, 1, rowStart);
    const out = new GradientCollector();
    for (const layer of this.layers) {
      for (let p = 0; p < layer.gw.length; p++) out.add(layer.w.name, layer.outputs, Math.floor(p / layer.outputs), p % layer.outputs, layer.gw[p] as number);
      for (let p = 0; p < layer.gb.length; p++) out.add(layer.b.name, layer.outputs, 0, p, layer.gb[p] as number);
      layer.gw.fill(0);
      layer.gb.fill(0);
    }
    out.add(this.wide.bias.name, 1, 0, 0, this.wideBiasGrad);
    this.wideBiasGrad = 0;
    for (let j = 0; j < this.wideDenseGrad.length; j++) out.add(this.wide.dense.name, this.wide.dense.width, 0, j, this.wideDenseGrad[j] as number);
    this.wideDenseGrad.fill(0);
    for (const [acc, table] of [
      [this.wideAcc, this.wide.table],
      [this.embAcc, this.embeddingTable],
    ] as const) {
      acc.forEachTouched((row, offset) => {
        for (let j = 0; j < table.width; j++) out.add(table.name, table.width, table.ids[row] as number, j, acc.buffer[offset + j] as number);
      });
      acc.clear();
    }
    return { loss: this.lossFn.value(s, y), gradients: out.result() };
  }

  lossOf(batch: ModelBatch, i: number): number {
    this.ensureCapacity(1, (batch.offsets[i + 1] as number) - (batch.offsets[i] as number));
    this.index[0] = i;
    this.forward(batch, 1, false, 0, new Int32Array(2));
    return this.lossFn.value(this.scores[0] as number, batch.labels[i] as number);
  }
}

/** A new Wide&Deep model for an input schema. */
export function createWideDeep(schema: InputSchema, config: Partial<WideDeepConfig> = {}): WideDeepModel {
  return new WideDeepModel(schema, config);
}
