import type { FieldKind } from '../../events/event-fields.js';
import { FeatureStateError } from '../feature-errors.js';
import { formatDouble } from '../../util/format-double.js';
import type { HashWrite, OpLayout, OpModule, JsonValue, OpAggregation, RecomputeContext, RecomputeStatement, SampleColumn, TimedValue, AggValue, Aggregator } from './types.js';

/**
 * What several op modules share: the input rules of the aggregation core, the total order of
 * timed values, the decoding helpers of stored states, and the statements of the newest-values
 * ops (last, last_k). Re-exported by `features/aggregators.ts`.
 */

/** Whether a value can enter sum, avg, min, max and decayed_sum: a finite number. */
export function isNumericInput(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Whether a value can enter last, last_k and approx_distinct: a string or a finite number. */
export function isValueInput(value: unknown): value is string | number {
  return typeof value === 'string' || isNumericInput(value);
}

/**
 * The total order "which entry is newer" used by last and last_k: the greater time wins; at equal
 * times the lexicographically greater `String(v)`, then a string over a number. A total order
 * makes the result independent of arrival order (streaming) and grouping (batch).
 *
 * @returns a positive number when a is newer, negative when b is, 0 when they are equal.
 */
export function compareTimedValues(a: TimedValue, b: TimedValue): number {
  if (a.t !== b.t) return a.t - b.t;
  const sa = String(a.v);
  const sb = String(b.v);
  if (sa !== sb) return sa > sb ? 1 : -1;
  if (typeof a.v === typeof b.v) return 0;
  return typeof a.v === 'string' ? 1 : -1;
}

/** The error of a stored state that is not one of the op's. */
export function badState(op: string, expected: string, json: unknown): FeatureStateError {
  const text = JSON.stringify(json) ?? String(json);
  return new FeatureStateError(`${op} state must be ${expected}, got ${text.length > 80 ? `${text.slice(0, 80)}...` : text}`);
}

/** A plain object (not null, not an array). */
export function isObj(json: unknown): json is Record<string, unknown> {
  return typeof json === 'object' && json !== null && !Array.isArray(json);
}

/** A stored `{ t, v }`. */
export function decodeTimedValue(op: string, json: unknown): TimedValue {
  if (!isObj(json) || !isNumericInput(json.t) || !isValueInput(json.v)) throw badState(op, '{ t: number, v: string | number }', json);
  return { t: json.t, v: json.v };
}

/** A stored finite number or null. */
export function decodeNullableNumber(op: string, json: unknown): number | null {
  if (json === null || isNumericInput(json)) return json;
  throw badState(op, 'a finite number or null', json);
}

/** The hash layout of a state stored as one number per field (count, sum, min, max, last_seen). */
export function numberHash(write: (value: AggValue, t: number) => readonly HashWrite[]): OpLayout {
  return {
    kind: 'hash',
    write,
    read: (_part, text) => Number(text),
    store: (state) => (state === null ? [] : [{ text: formatDouble(state as number) }]),
    multiField: false,
    tileList: true,
  };
}

/** A state that is its own JSON. */
export const identity = <S>(state: S): JsonValue => state as unknown as JsonValue;

/** Whether a field kind holds numbers (int, double or instant, maybe nullable). */
export function isNumberKind(kind: FieldKind | undefined): boolean {
  return kind === 'int' || kind === 'nullableInt' || kind === 'double' || kind === 'nullableDouble' || kind === 'instant' || kind === 'nullableInstant';
}

/** The samples-table column of a plain number feature. */
export const NUMBER_COLUMN: SampleColumn = { type: 'Float64', read: 'number' };
/** ... of a number that is null without events. */
export const NULLABLE_NUMBER_COLUMN: SampleColumn = { type: 'Nullable(Float64)', read: 'nullableNumber' };

/**
 * last and last_k in the batch recompute: the newest distinct values, each at its latest time;
 * everything tied with the k-th newest time is kept so that the core's order (not the engine's)
 * breaks ties.
 */
export function newestValuesStatements(ctx: RecomputeContext, k: number): RecomputeStatement[] {
  const { input, core } = ctx;
  const perValue = `SELECT key, v, max(t) AS mt FROM (${ctx.scan([`${input.value as string} AS v`], input.valid)}) GROUP BY key, v`;
  const sql =
    `SELECT key, max(mt) AS tmax, arrayReverseSort(x -> x.1, groupArray((mt, v))) AS arr, ` +
    `arrayFilter(x -> x.1 >= arr[least(${ctx.sqlInt(k)}, length(arr))].1, arr) AS kept, ` +
    `arrayMap(x -> x.1, kept) AS ct, arrayMap(x -> x.2, kept) AS cv FROM (${perValue}) GROUP BY key`;
  return [
    {
      sql: `SELECT key, tmax, ct, cv FROM (${sql})`,
      apply(row) {
        const ts = row.ct as number[];
        const vs = row.cv as AggValue[];
        let state = (core as Aggregator<unknown>).init();
        for (let j = 0; j < ts.length; j++) state = (core as Aggregator<unknown>).update(state, vs[j] as AggValue, Number(ts[j]));
        return { hopMs: null, tileStart: 0, state: state as never, latest: Number(row.tmax) };
      },
    },
  ];
}

/** The tile slots of an aggregation: one per tile size with its longest window, or the lifetime slot. */
export function slotsOf(agg: OpAggregation): { hopMs: number | null; longestMs: number }[] {
  return agg.lifetime ? [{ hopMs: null, longestMs: 0 }] : agg.tiles.map((t) => ({ hopMs: t.hopMs, longestMs: Math.max(...t.windowsMs) }));
}

/**
 * min and max: the smallest or largest value of a numeric field, null without values; fast in
 * the sample pass for the lifetime form only (a running extremum cannot be subtracted).
 */
export function extremumOp(op: 'min' | 'max', pick: (a: number, b: number) => number): OpModule {
  const aggregator: Aggregator<number | null> = {
    op,
    init: () => null,
    update: (s, value, t) => (!isNumericInput(value) || !Number.isFinite(t) ? s : s === null ? value : pick(s, value)),
    merge: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
    finish: (s) => s,
    encode: identity,
    decode: (json) => decodeNullableNumber(op, json),
  };
  const ifNull = op === 'min' ? 'minIfOrNull' : 'maxIfOrNull';
  return {
    op,
    summary: `${op === 'min' ? 'smallest' : 'largest'} value of a numeric field`,
    lifetimeOnly: false,
    field: 'numeric',
    param: null,
    mergeableLifetime: true,
    featureName: (p) => `${p.entity}_${p.source}_${p.field}_${op}${p.w}`,
    idSuffix: () => '',
    aggregator: () => aggregator as Aggregator<never>,
    layout: numberHash((value) => [{ op: op === 'min' ? 'hmin' : 'hmax', value: Number(value) }]),
    capsText: false,
    recompute: {
      kind: 'plain',
      columns: (i) => [`${ifNull}(toFloat64(v${i}), ok${i}) AS a${i}`],
      state: (row, i) => (row[`a${i}`] === null ? undefined : Number(row[`a${i}`])),
    },
    samplePass: {
      kind: 'cumulative',
      windowed: false,
      sums: false,
      columns: (i) => [
        { name: `m${i}`, type: 'Nullable(Float64)', zero: 'NULL', merge: op, contribution: (input) => `if(${input.valid}, toFloat64(${input.notNull as string}), NULL)` },
      ],
      feature: (i, diff) => diff(`m${i}`),
    },
    sampleColumn: () => NULLABLE_NUMBER_COLUMN,
    valueKind: 'nullableNumber',
    dense: 'log',
  };
}
