import type { FieldKind } from '../../events/event-fields.js';

/**
 * The shapes every op module (src/features/ops/*.ts) declares, and the state types of the
 * aggregation core. A leaf of the import graph: op modules, the registry and every layer that
 * looks an op up depend on it, it depends on nothing of theirs (docs/architecture.md, "Flow of
 * one feature definition").
 */

/** A value read from an event field: ids and text as strings, amounts and counts as numbers. */
export type AggValue = string | number | null;

/** What `finish` returns: a number, a text or id, null (no value yet) or a list of values (last_k). */
export type FeatureValue = number | string | null | readonly (string | number)[];

/** Plain JSON, the stored form of a state. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** avg: running sum and count; the average is their ratio. */
export interface AvgState {
  readonly sum: number;
  readonly count: number;
}

/** A value with the event time it was seen at (last; one entry of last_k). */
export interface TimedValue {
  readonly t: number;
  readonly v: string | number;
}

/**
 * decayed_count and decayed_sum: `s = Σ w · 2^((t - ref) / H)` over the events (w = 1 for a
 * count, the field's value for a sum), with `ref` the latest event time, so every weight is at
 * most 1 and nothing overflows however long the entity lives.
 */
export interface DecayState {
  readonly ref: number;
  readonly s: number;
}

/**
 * The state of any op: count and sum a number; avg {@link AvgState}; min, max and last_seen a
 * number or null; last a {@link TimedValue} or null; last_k a list of {@link TimedValue} newest
 * first; approx_distinct HyperLogLog registers; decayed_count and decayed_sum a {@link DecayState}
 * or null.
 */
export type AggState = number | null | AvgState | TimedValue | readonly TimedValue[] | Uint8Array | DecayState;

/**
 * What an op module sees of an aggregation definition (the structural part of
 * `AggregationDef`, whose `op` is the registry's union).
 */
export interface OpDef {
  readonly source: string;
  readonly op: string;
  readonly field?: string;
  readonly windowsMs?: readonly number[];
  readonly k?: number;
  readonly halfLifeMs?: number;
}

/** What an op module sees of a compiled aggregation. */
export interface OpAggregation {
  readonly index: number;
  readonly def: OpDef;
  readonly lifetime: boolean;
  /** One entry per distinct hop, ascending; empty for a lifetime aggregation. */
  readonly tiles: readonly { readonly hopMs: number; readonly windowsMs: readonly number[] }[];
  readonly fieldKind: FieldKind | undefined;
}

/**
 * The four operations of one aggregation, plus the stored form of its state.
 *
 * @example
 * const agg = aggregatorFor({ source: 'order', op: 'sum', field: 'amount' });
 * let s = agg.init();
 * s = agg.update(s, 12.5, t1);
 * s = agg.merge(s, otherTile);
 * agg.finish(s, q); // the feature value at q
 */
export interface Aggregator<S = AggState> {
  readonly op: string;
  /** The empty state; `finish(init(), q)` is the cold-start value. */
  init(): S;
  /** The state after one more event with `value` (ignored by count, last_seen, decayed_count) at `t`. */
  update(state: S, value: AggValue, t: number): S;
  /** The state of the union of the two states' events. */
  merge(a: S, b: S): S;
  /** The feature value at query time q (only the decayed ops depend on q). */
  finish(state: S, q: number): FeatureValue;
  /** The state as plain JSON, to store. */
  encode(state: S): JsonValue;
  /**
   * A state from its stored JSON.
   *
   * @throws FeatureStateError when the JSON is not a state of this aggregation.
   */
  decode(json: unknown): S;
}

// ---------------------------------------------------------------------------------------------
// Online layout (src/streaming/tile-layout.ts, tile-decode.ts, batch-view.ts)

/** One write to the entity hash, relative to the state's field `<i>|<hop>|<start>` or `<i>|L`. */
export type HashWrite =
  | { readonly op: 'hincr'; readonly part?: string; readonly by: number }
  | { readonly op: 'hmax' | 'hmin'; readonly part?: string; readonly value: number }
  | { readonly op: 'hlatest'; readonly part?: string; readonly value: string; readonly at: number };

/**
 * How a state lives in the online store:
 * - `hash`: fields of the entity hash, `<i>|<hop>|<start>[|<part>]` per tile and `<i>|L[|<part>]`
 *   for a lifetime state, written by commutative hash operations;
 * - `decay`: hourly tiles `<i>|3600000|<start>` of the entity hash holding Σ w · 2^((t - start) / H),
 *   read back as one lifetime state (the decayed ops);
 * - `zset`: a sorted set per entity (member the value, score its latest time, trimmed to k);
 * - `hll`: one Redis HyperLogLog per tile (PFADD), the core's own sketch.
 */
export type OpLayout =
  | {
      readonly kind: 'hash';
      /** The writes of one event's value at t. */
      write(value: AggValue, t: number): readonly HashWrite[];
      /**
       * The state after reading one stored field (`part` the text after the state's base, undefined
       * for the base itself), given the state read so far from the other parts of the same base.
       */
      read(part: string | undefined, text: string, previous: AggState | undefined, typed: (text: string) => string | number): AggState;
      /** The fields a batch view writes for a state (part undefined: the base field), none for an empty state. */
      store(state: AggState): readonly { readonly part?: string; readonly text: string }[];
      /** Whether a state spans several fields (`part`s), so that `read` needs the previous parts. */
      readonly multiField: boolean;
      /** Whether the serving reader's flat decoder reads this op's fields (one number or `<t>|<value>` per field, no parts). */
      readonly tileList: boolean;
    }
  | {
      readonly kind: 'decay';
      /** What one event at t adds to the hourly tile starting at `tileStart`, null when it does not contribute. */
      weight(value: AggValue, t: number, tileStart: number, halfLifeMs: number): number | null;
    }
  | { readonly kind: 'zset' }
  | { readonly kind: 'hll' };

// ---------------------------------------------------------------------------------------------
// Batch SQL (src/batch/recompute.ts, sample-passes.ts)

/** What an op's SQL sees of its aggregation's input (`aggregationInputSql` of src/batch/sql.ts). */
export interface InputSqlView {
  readonly value: string | null;
  readonly notNull: string | null;
  readonly valid: string;
  readonly kind: FieldKind | undefined;
}

/** What the batch recompute offers an op that reads its own statement. */
export interface RecomputeContext {
  readonly agg: OpAggregation;
  readonly input: InputSqlView;
  readonly core: Aggregator;
  /** The batch watermark. */
  readonly until: number;
  /**
   * Rows of the aggregation's source before the watermark for the page's entities: `key`, `t`
   * (event time in ms), then `columns`; only rows where `valid` holds; from `from` on when given.
   */
  scan(columns: readonly string[], valid?: string, from?: number | null): string;
  /** SQL of the tile start of `t` for a hop. */
  tileStartSql(t: string, hopMs: number): string;
  /** First tile start a read at q >= until needs for windows up to `longestMs` at `hopMs`. */
  retentionStart(hopMs: number, longestMs: number): number;
  /** An integer literal. */
  sqlInt(n: number): string;
}

/** One statement of an op's own recompute and how its rows become states. */
export interface RecomputeStatement {
  readonly sql: string;
  /** Each row (with `key`) as a lifetime state (hopMs null) or a tile state; `latest` the latest event time behind it. */
  apply(row: Record<string, unknown>): { readonly hopMs: number | null; readonly tileStart: number; readonly state: AggState; readonly latest: number } | null;
}

/**
 * How the batch recompute computes an op's partials:
 * - `plain`: plain aggregates over one shared scan per (source, hop | lifetime): the op's columns
 *   (`v<i>` the numeric input, `ok<i>` its validity, `t` the time) and the state of a row's columns,
 *   undefined when the partial is empty;
 * - `own`: statements of its own.
 */
export type RecomputeSql =
  | {
      readonly kind: 'plain';
      columns(i: number): readonly string[];
      state(row: Record<string, unknown>, i: number): AggState | undefined;
    }
  | { readonly kind: 'own'; statements(ctx: RecomputeContext): readonly RecomputeStatement[] };

/** A per-event column of the sample pass: its type, neutral value and how partials merge. */
export interface PassColumn {
  /** The column name: a letter and the aggregation's index (`c3`, `s3`, `n3`, `m3`, `r3`). */
  readonly name: string;
  readonly type: string;
  readonly zero: string;
  /** How partials of the column merge (per time, in the frames, in the prefix row). */
  readonly merge: 'sum' | 'min' | 'max' | 'values';
  /** An event's contribution, as SQL over a raw row (`time` its time in ms). */
  contribution(input: InputSqlView, time: string): string;
}

/**
 * How the sample job's SQL fast path computes an op (src/batch/sample-passes.ts), absent for an
 * op that always takes the general path:
 * - `cumulative`: running frames of its columns, a window as the difference of two; `feature`
 *   builds the value from `diff(column)` (the window's or the lifetime's total);
 * - `recent`: last and last_k of a text field, the bounded lookback of value lists (`k` values).
 */
export type SamplePass =
  | {
      readonly kind: 'cumulative';
      /** Whether a windowed form takes the fast path too (else only the lifetime one). */
      readonly windowed: boolean;
      /** Whether the op sums a field (fractional sums need their values in decimal range). */
      readonly sums: boolean;
      columns(i: number, sumType: string): readonly PassColumn[];
      feature(i: number, diff: (column: string) => string, integral: boolean): string;
    }
  | {
      readonly kind: 'recent';
      /** How many distinct values it keeps. */
      k(def: OpDef): number;
      /** Whether the value is the list of them (last_k) rather than the newest one or null (last). */
      readonly list: boolean;
    };

// ---------------------------------------------------------------------------------------------
// Samples and the model's input

/** How a feature's values look, for storage columns and for the model's feature transform. */
export type FeatureValueKind =
  /** always a finite number (count, sum, approx_distinct, decayed ops, smoothed ratio) */
  | 'number'
  /** a number or null when there is no value yet (avg, min, max, last_seen) */
  | 'nullableNumber'
  /** the latest value of a field (last): text or number, null when none; stored as text */
  | 'nullableText'
  /** last_k values, newest first, stored as text */
  | 'textList'
  /** a request-time context category (never null) */
  | 'category';

/** A samples-table column: ClickHouse type and how a value read back becomes a JS value. */
export interface SampleColumn {
  readonly type: string;
  readonly read: 'number' | 'nullableNumber' | 'text' | 'nullableText' | 'textList' | 'numberList';
}

/** What the model's feature transform does with a numeric value: sign(x) log(1 + |x|), or log(1 + age in s) of a time. */
export type DenseTransform = 'log' | 'age';

/** Context an op's naming rule receives. */
export interface NameParts {
  readonly entity: string;
  readonly source: string;
  readonly field: string;
  /** `_<window>` or '' for the lifetime value. */
  readonly w: string;
}

/**
 * Everything about one aggregation op, in one place (one module per op under src/features/ops/).
 * Every layer looks the op up in the registry (`ops/index.ts`) instead of switching on its name.
 */
export interface OpModule {
  readonly op: string;
  /** One line for error messages and docs. */
  readonly summary: string;

  // properties
  /** Kept over the entity's whole life only (no windows; one state per entity). */
  readonly lifetimeOnly: boolean;
  /** Whether the op reads a field: none, any scalar field, or a numeric (int or double) one. */
  readonly field: 'none' | 'scalar' | 'numeric';
  /** The op's extra parameter (last_k's k, the decayed ops' half-life). */
  readonly param: 'k' | 'halfLife' | null;
  /**
   * Whether a lifetime batch state and a lifetime stream state merge exactly across the lambda
   * split (merge idempotent under repeated events, or a state the store keeps split by time).
   */
  readonly mergeableLifetime: boolean;

  // naming
  /** The feature name (docs/project-reference.md, "Aggregations"). */
  featureName(parts: NameParts, def: OpDef): string;
  /** What the aggregation id adds after `{source}.{op}[.{field}]` (`.k20`, `.hl3h`). */
  idSuffix(def: OpDef): string;

  // state
  /**
   * The aggregator of one definition.
   *
   * @throws RangeError when the definition lacks the op's parameter (validation rejects it first).
   */
  aggregator(def: OpDef): Aggregator<never>;

  // online layout
  readonly layout: OpLayout;
  /** Text values longer than the stream's limit are left out (last, last_k). */
  readonly capsText: boolean;

  // batch
  readonly recompute: RecomputeSql;
  readonly samplePass: SamplePass | null;
  /** The samples-table column of the op's features, by the field's kind. */
  sampleColumn(fieldKind: FieldKind | undefined): SampleColumn;

  // samples and model
  readonly valueKind: FeatureValueKind;
  readonly dense: DenseTransform;
}
