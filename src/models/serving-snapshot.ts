import { EmbeddingTable, type EmbeddingLayout } from './embedding-table.js';
import { FmModel } from './fm.js';
import type { InputSchema } from './model-batch.js';
import { ModelFormatError } from './model-errors.js';
import type { ComponentState, Model, ModelKind } from './model.js';
import { int8Unavailable, QuantizedFm, QuantizedWideDeep, tableMemory, type QuantizeMode, type QuantizedMemory, type ServingModel } from './quantized-model.js';
import { QuantizedTable, type QuantizedLayout } from './quantized-table.js';
import { asBase, createModel } from './serialization.js';
import { WideDeepModel } from './wide-deep.js';

/**
 * A loaded model in its serving form as plain data that crosses threads: what a reload worker
 * builds (decoded, deltas applied, quantised) and hands to the serving thread, which takes the
 * large arrays over without copying them (`postMessage` with {@link snapshotTransfer}) and
 * without rebuilding any index: {@link servingModelOf} only wraps them (docs/architecture.md,
 * "Hot reload off the event loop").
 *
 * Sparse tables travel as their {@link EmbeddingLayout} (index included); the dense tables,
 * normaliser and counters (a few rows; a Wide&Deep's MLP weights are copied into its WebAssembly
 * memory) as their saved state. Under INT8 the quantised table travels instead of the float one
 * it replaces, which serving does not keep.
 */
export interface ServingSnapshot {
  readonly kind: ModelKind;
  readonly schema: InputSchema;
  readonly config: Record<string, unknown>;
  readonly counters: Float64Array;
  readonly sparse: Readonly<Record<string, EmbeddingLayout>>;
  readonly state: Readonly<Record<string, ComponentState>>;
  readonly int8: { readonly table: string; readonly layout: QuantizedLayout; readonly memory: QuantizedMemory } | null;
}

/** The table INT8 serving replaces in each kind (LR has none). */
function quantizedTableOf(model: Model): EmbeddingTable | null {
  if (model instanceof FmModel) return model.factors;
  if (model instanceof WideDeepModel) return model.embeddings;
  return null;
}

/**
 * The snapshot of a loaded model served under `mode` (the INT8 copy is built here, which is the
 * expensive part of that mode). The model must not be used afterwards: its sparse tables' arrays
 * belong to the snapshot.
 *
 * @throws ModelConfigError for INT8 on a kind without embedding rows (as `quantizeModel`).
 */
export function servingSnapshot(model: Model, mode: QuantizeMode): ServingSnapshot {
  const parts = asBase(model);
  const replaced = mode === 'int8' ? quantizedTableOf(model) : null;
  if (mode === 'int8' && replaced === null) throw int8Unavailable(model.kind);
  const sparse: Record<string, EmbeddingLayout> = {};
  const state: Record<string, ComponentState> = {};
  for (const [name, c] of Object.entries(parts.components())) {
    if (c instanceof EmbeddingTable) {
      if (c !== replaced) sparse[name] = c.layout();
    } else state[name] = c.exportState();
  }
  let int8: ServingSnapshot['int8'] = null;
  if (replaced !== null) {
    const table = QuantizedTable.fromTable(replaced);
    int8 = { table: replaced.name, layout: table.layout(), memory: tableMemory(replaced, table) };
  }
  return { kind: model.kind, schema: model.schema, config: model.config as unknown as Record<string, unknown>, counters: parts.exportCounters(), sparse, state, int8 };
}

/** The buffers of a snapshot to transfer (each once); everything else is small and copied. */
export function snapshotTransfer(s: ServingSnapshot): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const add = (a: ArrayBufferView | null): void => {
    if (a !== null && a.buffer instanceof ArrayBuffer) buffers.add(a.buffer);
  };
  for (const l of Object.values(s.sparse)) for (const a of [l.keys, l.slotRow, l.ids, l.weights, l.state, l.lastSeen, l.version, l.free, l.sketch, l.removedIds, l.removedAt]) add(a);
  if (s.int8 !== null) for (const a of [s.int8.layout.q, s.int8.layout.scale, s.int8.layout.bias, s.int8.layout.ids, s.int8.layout.keys, s.int8.layout.slotRow]) add(a);
  return [...buffers];
}

/**
 * The serving model of a snapshot: a model of its kind and configuration whose sparse tables take
 * the snapshot's arrays over, wrapped in its INT8 form when it has one. Scores equal those of the
 * model the snapshot was taken of, bit for bit (tested).
 *
 * @throws ModelFormatError when the snapshot's arrays do not fit its kind and configuration.
 */
export function servingModelOf(s: ServingSnapshot): ServingModel {
  const model = createModel(s.kind, s.schema, s.config);
  const parts = asBase(model);
  for (const [name, c] of Object.entries(parts.components())) {
    if (c instanceof EmbeddingTable) {
      if (s.int8?.table === name) continue;
      const l = s.sparse[name];
      if (l === undefined) throw new ModelFormatError(`serving snapshot of a ${s.kind} model lacks table ${name}`);
      c.adoptLayout(l);
    } else {
      const st = s.state[name];
      if (st === undefined) throw new ModelFormatError(`serving snapshot of a ${s.kind} model lacks table ${name}`);
      c.importState(st);
    }
  }
  parts.importCounters(s.counters);
  if (s.int8 === null) return model;
  const q = { table: QuantizedTable.adopt(s.int8.layout), memory: s.int8.memory };
  if (model instanceof FmModel) return new QuantizedFm(model, q);
  if (model instanceof WideDeepModel) return new QuantizedWideDeep(model, q);
  throw new ModelFormatError(`serving snapshot: INT8 table for a ${s.kind} model`);
}
