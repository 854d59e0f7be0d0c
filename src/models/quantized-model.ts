import type { DenseNormalizer, DenseTable } from './dense-table.js';
import { finishPairwise, FmModel } from './fm.js';
import type { LinearPart } from './linear-part.js';
import { lossOf, type Loss } from './loss.js';
import { checkBatchShape, type InputSchema, type ModelBatch } from './model-batch.js';
import { ModelConfigError } from './model-errors.js';
import type { Model, ModelKind } from './model.js';
import { QuantizedTable } from './quantized-table.js';
import type { EmbeddingTable } from './embedding-table.js';
import { WideDeepModel } from './wide-deep.js';

/** How a model's sparse embedding / factor tables are held for serving. */
export type QuantizeMode = 'none' | 'int8';

/** The quantisation modes, for validating a manifest or a command-line value. */
export const QUANTIZE_MODES: readonly QuantizeMode[] = ['none', 'int8'];

/** What serving needs of a model: scoring a batch. A {@link Model} is one; so is a {@link QuantizedFm}. */
export interface ServingModel {
  readonly kind: ModelKind;
  readonly schema: InputSchema;
  readonly schemaHash: string;
  predict(batch: ModelBatch, out?: Float64Array): Float64Array;
}

/** Bytes of the table that quantisation replaces, before and after. */
export interface QuantizedMemory {
  /** The quantised table (`factors` for FM). */
  readonly table: string;
  readonly rows: number;
  /** Its float64 row values: rows * width * 8. */
  readonly floatValueBytes: number;
  /** Its INT8 codes + float32 scale and bias per row: rows * (width + 8). */
  readonly int8ValueBytes: number;
  /** The float table as the trainer holds it (values, optimiser state, ids, last-seen, versions, index). */
  readonly floatTableBytes: number;
  /** The quantised copy as serving holds it (values, ids, index). */
  readonly int8TableBytes: number;
}

/**
 * An FM for serving with INT8 row-wise factors ({@link QuantizedTable}): the same score as
 * {@link FmModel} in its O(k n) form, each factor dequantised on the fly (v = scale * q + bias of
 * its row) as it is added to the per-factor sums; the linear part, the dense factors and the
 * normaliser stay float (one number per id gains nothing from a per-row scale, and the dense parts
 * are a few rows). Read-only: built from a loaded float model, which it does not keep (its float
 * factor table can be collected).
 */
export class QuantizedFm implements ServingModel {
  readonly kind = 'fm' as const;
  readonly schema: InputSchema;
  readonly schemaHash: string;
  readonly factors: QuantizedTable;
  readonly memory: QuantizedMemory;
  private readonly k: number;
  private readonly linear: LinearPart;
  private readonly denseFactors: DenseTable;
  private readonly normalizer: DenseNormalizer;
  private readonly loss: Loss;
  private readonly z: Float64Array;
  private readonly sums: Float64Array;
  private linRows = new Int32Array(64);
  private facRows = new Int32Array(64);
  /** Per field: whether its entries have factors (FM's `pairFields`; all when it has none). */
  private readonly paired: Uint8Array;
  /** Dense columns with factors (none when the FM has no dense interactions). */
  private readonly denseCols: number;

  /**
   * @param factors the INT8 copy of `model.factors` when it was built already (by the thread
   *   that loaded the version; see `serving-snapshot.ts`), with its `memory` figures; built here otherwise.
   */
  constructor(model: FmModel, factors?: { table: QuantizedTable; memory: QuantizedMemory }) {
    this.schema = model.schema;
    this.schemaHash = model.schemaHash;
    this.k = model.config.factors;
    this.linear = model.linear;
    this.denseFactors = model.denseFactors;
    this.normalizer = model.components().dense_norm as DenseNormalizer;
    this.loss = lossOf(model.config.loss);
    this.z = new Float64Array(Math.max(1, model.schema.dense.length));
    this.sums = new Float64Array(this.k);
    const pf = (model.config as { readonly pairFields?: readonly string[] | null }).pairFields ?? null;
    this.paired = Uint8Array.from(model.schema.fields, (f) => (pf === null || pf.includes(f) ? 1 : 0));
    this.denseCols = model.denseFactors.weights.length / this.k;
    this.factors = factors?.table ?? QuantizedTable.fromTable(model.factors);
    this.memory = factors?.memory ?? tableMemory(model.factors, this.factors);
  }

  predict(batch: ModelBatch, out: Float64Array = new Float64Array(batch.size)): Float64Array {
    checkBatchShape(batch, this.schema);
    for (let i = 0; i < batch.size; i++) {
      const e0 = batch.offsets[i] as number;
      const n = (batch.offsets[i + 1] as number) - e0;
      if (this.linRows.length < n) {
        this.linRows = new Int32Array(n * 2);
        this.facRows = new Int32Array(n * 2);
      }
      const lt = this.linear.table;
      for (let e = 0; e < n; e++) {
        const id = batch.ids[e0 + e] as number;
        this.linRows[e] = lt.find(id);
        this.facRows[e] = this.paired[batch.fields[e0 + e] as number] === 1 ? this.factors.find(id) : -1;
      }
      this.normalizer.normalize(batch.dense, i * batch.denseWidth, this.z);
      out[i] = this.loss.output(this.linear.score(batch, i, this.linRows, this.z) + this.pairwise(batch, i));
    }
    return out;
  }

  /** 1/2 sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2], factors dequantised per row on the fly. */
  private pairwise(batch: ModelBatch, i: number): number {
    const k = this.k;
    const sums = this.sums;
    sums.fill(0);
    let sq = 0;
    const { q, scale, bias } = this.factors;
    const e0 = batch.offsets[i] as number;
    const n = (batch.offsets[i + 1] as number) - e0;
    for (let e = 0; e < n; e++) {
      const r = this.facRows[e] as number;
      if (r < 0) continue;
      const x = batch.values[e0 + e] as number;
      if (!(x - x === 0)) continue;
      const s = scale[r] as number;
      const b = bias[r] as number;
      const o = r * k;
      for (let f = 0; f < k; f++) {
        const vx = (s * (q[o + f] as number) + b) * x;
        sums[f] = (sums[f] as number) + vx;
        sq += vx * vx;
      }
    }
    return finishPairwise(sums, sq, this.denseFactors.weights, this.z, this.denseCols, k);
  }
}

/**
 * A Wide&Deep for serving with INT8 row-wise embeddings: the model's own forward pass (wide part,
 * normaliser and MLP stay float) with each embedding value dequantised as it is summed into its
 * field's input. Built from a loaded float model, which becomes serving-only (its float embedding
 * table is released; see {@link WideDeepModel.quantizeEmbeddings}).
 */
export class QuantizedWideDeep implements ServingModel {
  readonly kind = 'wide-deep' as const;
  readonly schema: InputSchema;
  readonly schemaHash: string;
  readonly embeddings: QuantizedTable;
  readonly memory: QuantizedMemory;

  /** @param embeddings the INT8 copy of the model's embeddings when it was built already, as for {@link QuantizedFm}. */
  constructor(private readonly model: WideDeepModel, embeddings?: { table: QuantizedTable; memory: QuantizedMemory }) {
    this.schema = model.schema;
    this.schemaHash = model.schemaHash;
    const t = model.embeddings;
    this.embeddings = embeddings?.table ?? QuantizedTable.fromTable(t);
    this.memory = embeddings?.memory ?? tableMemory(t, this.embeddings);
    model.quantizeEmbeddings(this.embeddings);
  }

  predict(batch: ModelBatch, out: Float64Array = new Float64Array(batch.size)): Float64Array {
    return this.model.predict(batch, out);
  }
}

/** The memory figures of a float table and its INT8 copy. */
export function tableMemory(t: EmbeddingTable, q: QuantizedTable): QuantizedMemory {
  const n = t.size;
  return {
    table: t.name,
    rows: n,
    floatValueBytes: n * t.width * 8,
    int8ValueBytes: q.valueBytes,
    floatTableBytes: t.weights.byteLength + t.state.byteLength + t.ids.byteLength + t.lastSeen.byteLength + t.version.byteLength + t.indexBytes,
    int8TableBytes: q.totalBytes,
  };
}

/** Whether a value is a {@link QuantizeMode}. */
export function isQuantizeMode(value: unknown): value is QuantizeMode {
  return typeof value === 'string' && (QUANTIZE_MODES as readonly string[]).includes(value);
}

/**
 * The serving form of a model under a quantisation mode: the model itself for `none`; under
 * `int8` a {@link QuantizedFm} for an FM, a {@link QuantizedWideDeep} for a Wide&Deep (which
 * takes the model over: it serves only from then on).
 *
 * @throws ModelConfigError for `int8` on LR (one weight per id: no embedding rows to quantise), so
 *   a misconfigured version is refused at load time rather than served unquantised in silence.
 */
export function quantizeModel(model: Model, mode: QuantizeMode): ServingModel {
  if (mode === 'none') return model;
  if (model instanceof FmModel) return new QuantizedFm(model);
  if (model instanceof WideDeepModel) return new QuantizedWideDeep(model);
  throw int8Unavailable(model.kind);
}

/** Why a kind cannot be served in INT8 (LR: one weight per id, no embedding rows). */
export function int8Unavailable(kind: ModelKind): ModelConfigError {
  return new ModelConfigError(`quantize int8 is available for fm and wide-deep models, not ${kind} (one weight per id, no embedding rows): publish this model without quantize (or serve with --quantize none)`);
}
