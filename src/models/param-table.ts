/**
 * Parameter tables: how every model exposes what it learned, for checkpoints, publication and
 * deltas. A table is rows of a fixed width, keyed by feature id (sparse: embedding or linear
 * weights of categorical values) or by row index (dense: layer weights, biases, normaliser
 * statistics). Optimiser state is not part of these views: it is needed to continue learning
 * (the binary model format keeps it) but not to predict.
 */

/** A live view of one table: `row(key)` returns the model's own storage, so writes change the model. */
export interface ParamTable {
  readonly name: string;
  readonly kind: 'sparse' | 'dense';
  /** Numbers per row. */
  readonly width: number;
  /** Live rows. */
  readonly rows: number;
  /** The row keys in ascending order: feature ids (sparse) or 0 .. rows - 1 (dense). */
  keys(): Float64Array;
  /** Where row `key` lives: `values[offset .. offset + width - 1]`; null when the table has no such row. */
  row(key: number): { readonly values: Float64Array; readonly offset: number } | null;
}

/**
 * A copy of some rows of a table: a full snapshot (`snapshot()`) or the rows changed since a mark
 * (`changedSince(mark)`), with the ids removed (expired) since then. To apply a delta to a copy
 * of the parent: delete `removed`, then upsert `keys` / `values` (an id removed and re-admitted
 * after the mark is in both, and ends present).
 */
export interface ParamRows {
  readonly name: string;
  readonly kind: 'sparse' | 'dense';
  readonly width: number;
  /** Ascending keys of the rows included. */
  readonly keys: Float64Array;
  /** `keys.length * width` values, row after row. */
  readonly values: Float64Array;
  /** Sparse tables: ids removed since the mark (ascending); always empty for dense tables. */
  readonly removed: Float64Array;
}
