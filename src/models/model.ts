import { DEFAULT_ADMISSION, type AdmissionOptions, type EmbeddingTable } from './embedding-table.js';
import { DenseNormalizer, type DenseTable } from './dense-table.js';
import { isFeatureId } from './feature-id.js';
import { checkBatchShape, inputSchemaHash, type InputSchema, type ModelBatch } from './model-batch.js';
import { ModelConfigError } from './model-errors.js';
import { lossOf, type Loss, type LossKind } from './loss.js';
import type { OptimizerSpec } from './optimizers.js';
import type { ParamRows, ParamTable } from './param-table.js';

/** The model families. */
export type ModelKind = 'lr' | 'fm' | 'wide-deep';

/** Options every model takes, with their defaults in {@link COMMON_DEFAULTS}. */
export interface CommonModelConfig {
  /** Seed of every initialiser: equal seeds and equal input give bit-identical models. */
  readonly seed: number;
  /** Training loss (default logloss: predictions are click probabilities). */
  readonly loss: LossKind;
  /** Admission and expiry of the sparse tables' ids (default: admit at once, never expire). */
  readonly admission: AdmissionOptions;
  /** How often, in event time, learn looks for expired ids (ms; only when admission.ttlMs is finite). */
  readonly expiryCheckMs: number;
  /** Normalised dense values are clipped to +-this. */
  readonly normalizerClip: number;
  /** Largest |value| of a sparse entry `learn` accepts; larger ones make the example bad input. */
  readonly maxAbsValue: number;
}

/** Defaults of {@link CommonModelConfig}. */
export const COMMON_DEFAULTS: CommonModelConfig = {
  seed: 1,
  loss: 'logloss',
  admission: DEFAULT_ADMISSION,
  expiryCheckMs: 3_600_000,
  normalizerClip: 10,
  maxAbsValue: 1e6,
};

/**
 * What a model counted about its input. Bad examples are skipped by `learn` whole (they never
 * reach a parameter); `predict` scores non-finite values as 0 (missing) and counts them.
 */
export interface ModelCounters {
  /** Examples learned. */
  learned: number;
  /** Examples `learn` refused, by reason. */
  badLabel: number;
  badValue: number;
  badId: number;
  badField: number;
  /** Examples whose gradient came out non-finite (refused before any update). */
  nonFiniteGradient: number;
  /** Non-finite values `predict` met and scored as 0. */
  predictBadValues: number;
  /** Ids removed by expiry. */
  expired: number;
}

/** What one `learn` call did. */
export interface LearnResult {
  readonly learned: number;
  readonly skipped: number;
  /** Sum of the losses of the learned examples, each before its own update (progressive). */
  readonly loss: number;
}

/** The gradient of one example's loss for the rows of one table it touches (gradient checks). */
export interface GradientRows {
  readonly table: string;
  readonly width: number;
  /** Feature ids (sparse tables) or row indexes (dense tables), in first-touch order. */
  readonly keys: readonly number[];
  /** `keys.length * width` partial derivatives of the loss. */
  readonly values: Float64Array;
}

/**
 * A model: `predict` and `learn` over {@link ModelBatch}es of one input schema, its parameters as
 * named tables (`params`, `changedSince`), and exact save/load through `serialization.ts`.
 *
 * - `learn(batch, predictions?)` learns every example (LR and FM: one update per example, in
 *   order, so the batch size never changes the result; Wide&Deep: one update per mini-batch,
 *   the sum of the examples' gradients). When `predictions` is given, it receives each example's
 *   prediction before its update: progressive validation for free.
 * - `learnOne(batch, i)` learns example i alone (a mini-batch of one).
 * - Bad input never reaches a parameter: see {@link ModelCounters}.
 */
export interface Model {
  readonly kind: ModelKind;
  readonly schema: InputSchema;
  /** {@link inputSchemaHash} of `schema`. */
  readonly schemaHash: string;
  /** The full configuration (defaults filled in), as saved. */
  readonly config: CommonModelConfig;
  readonly counters: ModelCounters;
  predict(batch: ModelBatch, out?: Float64Array): Float64Array;
  learn(batch: ModelBatch, predictions?: Float64Array): LearnResult;
  learnOne(batch: ModelBatch, i: number): LearnResult;
  /** The loss of example i and its gradient for every parameter it touches; changes nothing. */
  lossGradient(batch: ModelBatch, i: number): { loss: number; gradients: GradientRows[] };
  /** The loss of example i under the current parameters (the numerical side of a gradient check). */
  lossOf(batch: ModelBatch, i: number): number;
  /** Live views of every parameter table (see {@link ParamTable}). */
  params(): ParamTable[];
  /** The current mark: the number of examples learned. Rows changed later have a greater version. */
  mark(): number;
  /** Copies of the rows changed after `mark`, per table (all rows when mark < 0). */
  changedSince(mark: number): ParamRows[];
  /** Removes ids not learned since `now - ttl` (event time); returns how many. */
  expire(now: number): number;
}

/** A sparse table's state as saved, or a dense one's. */
export type ComponentState = Record<string, Float64Array | Uint8Array>;

/** Something with saveable state inside a model. */
export interface Component {
  exportState(): ComponentState;
  importState(s: Readonly<Record<string, Float64Array | Uint8Array | undefined>>): void;
}

/** Fills defaults into a partial common config and checks it. */
export function commonConfig(partial: Partial<CommonModelConfig>): CommonModelConfig {
  const c: CommonModelConfig = { ...COMMON_DEFAULTS, ...partial, admission: { ...DEFAULT_ADMISSION, ...partial.admission } };
  if (!Number.isSafeInteger(c.seed)) throw new ModelConfigError(`seed must be a safe integer, got ${c.seed}`);
  lossOf(c.loss);
  if (!(c.expiryCheckMs > 0)) throw new ModelConfigError(`expiryCheckMs must be > 0, got ${c.expiryCheckMs}`);
  if (!(c.normalizerClip > 0)) throw new ModelConfigError(`normalizerClip must be > 0, got ${c.normalizerClip}`);
  if (!(c.maxAbsValue > 0)) throw new ModelConfigError(`maxAbsValue must be > 0, got ${c.maxAbsValue}`);
  return c;
}

/**
 * A model's own options: its defaults with the given values over them. The common options are
 * left to {@link commonConfig}; any other key the model does not have is refused, naming the
 * options it has (a misspelt `{"k": 16}` must not train a model with the default factors).
 */
export function modelOptions<D extends object>(kind: string, config: object, defaults: D): D {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(config)) {
    if (Object.hasOwn(COMMON_DEFAULTS, key)) continue;
    if (!Object.hasOwn(defaults, key)) {
      throw new ModelConfigError(`${kind}: unknown option "${key}"; its options are ${[...Object.keys(defaults), ...Object.keys(COMMON_DEFAULTS)].join(', ')}`);
    }
    if (value !== undefined) out[key] = value;
  }
  return out as D;
}

/** The same optimiser without regularisation: biases are never shrunk towards 0. */
export function unregularised(spec: OptimizerSpec): OptimizerSpec {
  return spec.kind === 'ftrl' ? { ...spec, l1: 0, l2: 0 } : { ...spec, l2: 0 };
}

/** Collects one example's gradient per table for {@link Model.lossGradient}. */
export class GradientCollector {
  private readonly tables = new Map<string, { width: number; keys: number[]; index: Map<number, number>; values: number[] }>();

  add(table: string, width: number, key: number, j: number, g: number): void {
    let t = this.tables.get(table);
    if (t === undefined) {
      t = { width, keys: [], index: new Map(), values: [] };
      this.tables.set(table, t);
    }
    let at = t.index.get(key);
    if (at === undefined) {
      at = t.keys.length;
      t.index.set(key, at);
      t.keys.push(key);
      for (let k = 0; k < width; k++) t.values.push(0);
    }
    t.values[at * width + j] = (t.values[at * width + j] as number) + g;
  }

  result(): GradientRows[] {
    return [...this.tables].map(([table, t]) => ({ table, width: t.width, keys: t.keys, values: Float64Array.from(t.values) }));
  }
}

/**
 * What the three models share: the input schema check, the per-example validation of bad input,
 * the dense normaliser, the mark (examples learned), expiry in event time and the counters.
 */
export abstract class BaseModel {
  readonly schemaHash: string;
  readonly counters: ModelCounters = { learned: 0, badLabel: 0, badValue: 0, badId: 0, badField: 0, nonFiniteGradient: 0, predictBadValues: 0, expired: 0 };
  protected readonly lossFn: Loss;
  protected readonly normalizer: DenseNormalizer;
  protected readonly z: Float64Array;
  protected clock = 0;
  protected nextExpiry = -Infinity;
  protected maxTime = -Infinity;

  constructor(
    readonly schema: InputSchema,
    protected readonly common: CommonModelConfig,
  ) {
    if (schema.fields.length > 65535) throw new ModelConfigError(`at most 65535 fields, got ${schema.fields.length}`);
    this.schemaHash = inputSchemaHash(schema);
    this.lossFn = lossOf(common.loss);
    this.normalizer = new DenseNormalizer(schema.dense.length, common.normalizerClip);
    this.z = new Float64Array(Math.max(1, schema.dense.length));
  }

  protected abstract sparseTables(): EmbeddingTable[];
  protected abstract denseTables(): DenseTable[];

  mark(): number {
    return this.clock;
  }

  /** Whether `learn` may use example i; counts the reason when not. */
  protected accept(batch: ModelBatch, i: number): boolean {
    const y = batch.labels[i] as number;
    if (!this.lossFn.acceptsLabel(y)) {
      this.counters.badLabel++;
      return false;
    }
    const fieldCount = this.schema.fields.length;
    const maxAbs = this.common.maxAbsValue;
    for (let e = batch.offsets[i] as number, end = batch.offsets[i + 1] as number; e < end; e++) {
      const v = batch.values[e] as number;
      if (!(v >= -maxAbs && v <= maxAbs)) {
        this.counters.badValue++;
        return false;
      }
      if (!isFeatureId(batch.ids[e] as number)) {
        this.counters.badId++;
        return false;
      }
      if ((batch.fields[e] as number) >= fieldCount) {
        this.counters.badField++;
        return false;
      }
    }
    const d = batch.denseWidth;
    for (let j = i * d, end = (i + 1) * d; j < end; j++) {
      if (!Number.isFinite(batch.dense[j] as number)) {
        this.counters.badValue++;
        return false;
      }
    }
    return true;
  }

  /** Counts predict-time bad values of example i (they are scored as 0). */
  protected countPredictBad(batch: ModelBatch, i: number): void {
    for (let e = batch.offsets[i] as number, end = batch.offsets[i + 1] as number; e < end; e++) if (!Number.isFinite(batch.values[e] as number)) this.counters.predictBadValues++;
    const d = batch.denseWidth;
    for (let j = i * d, end = (i + 1) * d; j < end; j++) if (!Number.isFinite(batch.dense[j] as number)) this.counters.predictBadValues++;
  }

  protected checkShape(batch: ModelBatch): void {
    checkBatchShape(batch, this.schema);
  }

  /** Runs expiry when the example clock has moved `expiryCheckMs` past the last run. */
  protected tick(time: number): void {
    if (!(time > this.maxTime)) return;
    this.maxTime = time;
    if (this.common.admission.ttlMs === Infinity) return;
    if (this.nextExpiry === -Infinity) this.nextExpiry = time + this.common.expiryCheckMs;
    if (time >= this.nextExpiry) {
      this.expire(time);
      this.nextExpiry = time + this.common.expiryCheckMs;
    }
  }

  expire(now: number): number {
    let n = 0;
    for (const t of this.sparseTables()) n += t.expire(now, this.clock);
    this.counters.expired += n;
    return n;
  }

  params(): ParamTable[] {
    return [...this.denseTables().map((t) => t.view()), ...this.sparseTables().map((t) => t.view()), this.normalizer.view()];
  }

  changedSince(mark: number): ParamRows[] {
    return [...this.denseTables().map((t) => t.rowsChangedSince(mark)), ...this.sparseTables().map((t) => t.rowsChangedSince(mark)), this.normalizer.rowsChangedSince(mark)];
  }

  /** Every component with state, by a stable name (serialisation). */
  components(): Record<string, Component> {
    const out: Record<string, Component> = {};
    for (const t of this.denseTables()) out[t.name] = t;
    for (const t of this.sparseTables()) out[t.name] = t;
    out.dense_norm = this.normalizer;
    return out;
  }

  /** Model-level numbers saved beside the tables. */
  exportCounters(): Float64Array {
    const c = this.counters;
    return Float64Array.of(this.clock, this.nextExpiry, this.maxTime, c.learned, c.badLabel, c.badValue, c.badId, c.badField, c.nonFiniteGradient, c.predictBadValues, c.expired);
  }

  importCounters(a: Float64Array): void {
    const c = this.counters;
    [this.clock, this.nextExpiry, this.maxTime, c.learned, c.badLabel, c.badValue, c.badId, c.badField, c.nonFiniteGradient, c.predictBadValues, c.expired] = Array.from(a) as [
      number, number, number, number, number, number, number, number, number, number, number,
    ];
  }
}

/**
 * The models that learn one example at a time (LR, FM): `learn` runs `learnAt` over the batch in
 * order, so the batch size never changes the result; `learnOne` learns one example of a batch.
 */
export abstract class PerExampleModel extends BaseModel {
  /** Learns example i, which `accept` let through; its loss before the update. */
  protected abstract learnAccepted(batch: ModelBatch, i: number, predictions: Float64Array | undefined): number;

  /** Learns example i; its loss before the update, or NaN when refused (its prediction is then NaN too). */
  private learnAt(batch: ModelBatch, i: number, predictions: Float64Array | undefined): number {
    if (!this.accept(batch, i)) {
      if (predictions !== undefined) predictions[i] = NaN;
      return NaN;
    }
    return this.learnAccepted(batch, i, predictions);
  }

  learn(batch: ModelBatch, predictions?: Float64Array): LearnResult {
    this.checkShape(batch);
    let learned = 0;
    let loss = 0;
    for (let i = 0; i < batch.size; i++) {
      const l = this.learnAt(batch, i, predictions);
      if (l === l) {
        learned++;
        loss += l;
      }
    }
    return { learned, skipped: batch.size - learned, loss };
  }

  learnOne(batch: ModelBatch, i: number): LearnResult {
    this.checkShape(batch);
    const l = this.learnAt(batch, i, undefined);
    return l === l ? { learned: 1, skipped: 0, loss: l } : { learned: 0, skipped: 1, loss: 0 };
  }
}
