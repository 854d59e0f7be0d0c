import type { AggregationDef, AggregationOp } from './definitions.js';
import { FeatureStateError } from './feature-errors.js';
import { hllCreate, hllEstimate, hllFromBase64, hllPosition, hllToBase64 } from './hll.js';

/**
 * The one aggregation core: `init / update / merge / finish` over an intermediate state, for every
 * op. The streaming consumer folds events into tile states with `update`, the batch layer and the
 * reader combine tiles with `merge`, and everyone turns a state into a feature value with
 * `finish` at a query time. Because all three paths run this code, they cannot disagree.
 *
 * Contracts every aggregator keeps (property-tested):
 * - states are immutable values: no function modifies its arguments; `update` and `merge` return
 *   a new state, or an argument itself when nothing changed (so a no-op costs no copy);
 * - `merge` is associative and commutative, and `init()` is its identity, so tiles can be
 *   combined in any grouping and order; folding events with `update` then merging equals
 *   folding them all into one state. For float ops (sum, avg, decayed_count) this holds up to
 *   rounding: results agree to a relative 1e-12 or so, not bit for bit;
 * - `encode` gives plain JSON (numbers, strings, arrays, objects) and `decode(encode(s))` finishes
 *   like s; only approx_distinct's state differs from its encoding (registers <-> base64);
 * - inputs that cannot contribute are ignored, not stored: a null value for a field op, a
 *   non-finite number (NaN amount), a non-number for sum/avg/min/max, a non-finite time. The
 *   oracle applies the same rule, so such events count for `count` but nothing else.
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
 * decayed_count: `s = Σ 2^((t - ref) / H)` over the events, with `ref` the latest event time, so
 * every term is at most 1 and nothing overflows however long the entity lives.
 */
export interface DecayState {
  readonly ref: number;
  readonly s: number;
}

/**
 * The state of any op: count and sum a number; avg {@link AvgState}; min, max and last_seen a
 * number or null; last a {@link TimedValue} or null; last_k a list of {@link TimedValue} newest
 * first; approx_distinct HyperLogLog registers; decayed_count a {@link DecayState} or null.
 */
export type AggState = number | null | AvgState | TimedValue | readonly TimedValue[] | Uint8Array | DecayState;

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
  readonly op: AggregationOp;
  /** The empty state; `finish(init(), q)` is the cold-start value. */
  init(): S;
  /** The state after one more event with `value` (ignored by count, last_seen, decayed_count) at `t`. */
  update(state: S, value: AggValue, t: number): S;
  /** The state of the union of the two states' events. */
  merge(a: S, b: S): S;
  /** The feature value at query time q (only decayed_count depends on q). */
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

/** Whether a value can enter sum, avg, min and max: a finite number. */
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

/**
 * `(numerator + alpha) / (denominator + beta)`: a rate shrunk towards alpha / beta while the
 * denominator is small (beta > 0 is enforced by validation, so it is always defined).
 *
 * @example smoothedRatio(3, 40, 1, 20) === 4 / 60
 */
export function smoothedRatio(numerator: number, denominator: number, alpha: number, beta: number): number {
  return (numerator + alpha) / (denominator + beta);
}

// ---------------------------------------------------------------------------------------------

function bad(op: string, expected: string, json: unknown): FeatureStateError {
  const text = JSON.stringify(json) ?? String(json);
  return new FeatureStateError(`${op} state must be ${expected}, got ${text.length > 80 ? `${text.slice(0, 80)}...` : text}`);
}

function isObj(json: unknown): json is Record<string, unknown> {
  return typeof json === 'object' && json !== null && !Array.isArray(json);
}

function decodeTimedValue(op: string, json: unknown): TimedValue {
  if (!isObj(json) || !isNumericInput(json.t) || !isValueInput(json.v)) throw bad(op, '{ t: number, v: string | number }', json);
  return { t: json.t, v: json.v };
}

function decodeNullableNumber(op: string, json: unknown): number | null {
  if (json === null || isNumericInput(json)) return json;
  throw bad(op, 'a finite number or null', json);
}

const identity = <S>(state: S): JsonValue => state as unknown as JsonValue;

const count: Aggregator<number> = {
  op: 'count',
  init: () => 0,
  update: (s, _value, t) => (Number.isFinite(t) ? s + 1 : s),
  merge: (a, b) => a + b,
  finish: (s) => s,
  encode: identity,
  decode: (json) => {
    if (typeof json === 'number' && Number.isSafeInteger(json) && json >= 0) return json;
    throw bad('count', 'a non-negative integer', json);
  },
};

const sum: Aggregator<number> = {
  op: 'sum',
  init: () => 0,
  update: (s, value, t) => (isNumericInput(value) && Number.isFinite(t) ? s + value : s),
  merge: (a, b) => a + b,
  finish: (s) => s,
  encode: identity,
  decode: (json) => {
    if (isNumericInput(json)) return json;
    throw bad('sum', 'a finite number', json);
  },
};

const avg: Aggregator<AvgState> = {
  op: 'avg',
  init: () => ({ sum: 0, count: 0 }),
  update: (s, value, t) => (isNumericInput(value) && Number.isFinite(t) ? { sum: s.sum + value, count: s.count + 1 } : s),
  merge: (a, b) => (b.count === 0 ? a : a.count === 0 ? b : { sum: a.sum + b.sum, count: a.count + b.count }),
  finish: (s) => (s.count === 0 ? null : s.sum / s.count),
  encode: identity,
  decode: (json) => {
    if (isObj(json) && isNumericInput(json.sum) && typeof json.count === 'number' && Number.isSafeInteger(json.count) && json.count >= 0) {
      return { sum: json.sum, count: json.count };
    }
    throw bad('avg', '{ sum: number, count: integer >= 0 }', json);
  },
};

function extremum(op: 'min' | 'max', pick: (a: number, b: number) => number): Aggregator<number | null> {
  return {
    op,
    init: () => null,
    update: (s, value, t) => (!isNumericInput(value) || !Number.isFinite(t) ? s : s === null ? value : pick(s, value)),
    merge: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
    finish: (s) => s,
    encode: identity,
    decode: (json) => decodeNullableNumber(op, json),
  };
}

function newer(a: TimedValue | null, b: TimedValue | null): TimedValue | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareTimedValues(b, a) > 0 ? b : a;
}

const last: Aggregator<TimedValue | null> = {
  op: 'last',
  init: () => null,
  update: (s, value, t) => (isValueInput(value) && Number.isFinite(t) ? newer(s, { t, v: value }) : s),
  merge: newer,
  finish: (s) => (s === null ? null : s.v),
  encode: identity,
  decode: (json) => (json === null ? null : decodeTimedValue('last', json)),
};

/**
 * The k newest distinct values of the union of two newest-first lists, each value at its latest
 * time. Truncating a part never loses a value of the whole's top k (its latest occurrence ranks at
 * least as high in any part that holds it), which is why merge stays associative.
 */
function mergeLastK(k: number, a: readonly TimedValue[], b: readonly TimedValue[]): readonly TimedValue[] {
  // Both inputs are already normalised lists, so an empty side changes nothing.
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  return normaliseLastK(k, [...a, ...b]);
}

/** Any list of entries as a last_k state: one entry per value at its latest time, newest first, at most k. */
function normaliseLastK(k: number, entries: readonly TimedValue[]): readonly TimedValue[] {
  const latest = new Map<string | number, TimedValue>();
  for (const entry of entries) {
    const seen = latest.get(entry.v);
    if (seen === undefined || entry.t > seen.t) latest.set(entry.v, entry);
  }
  return [...latest.values()].sort((x, y) => compareTimedValues(y, x)).slice(0, k);
}

function lastK(k: number): Aggregator<readonly TimedValue[]> {
  return {
    op: 'last_k',
    init: () => [],
    update: (s, value, t) => {
      if (!isValueInput(value) || !Number.isFinite(t)) return s;
      const entry: TimedValue = { t, v: value };
      const oldest = s[s.length - 1];
      // Most updates of a long history are older than everything kept, or repeat a kept value.
      if (s.length >= k && oldest !== undefined && compareTimedValues(entry, oldest) < 0) return s;
      if (s.some((e) => e.v === value && e.t >= t)) return s;
      return normaliseLastK(k, [...s, entry]);
    },
    merge: (a, b) => mergeLastK(k, a, b),
    finish: (s) => s.map((e) => e.v),
    encode: (s) => s as unknown as JsonValue,
    decode: (json) => {
      if (!Array.isArray(json)) throw bad('last_k', 'an array of { t, v }', json);
      // Re-normalise (dedupe, order, cap at k) rather than trust the stored order.
      return normaliseLastK(k, json.map((e) => decodeTimedValue('last_k', e)));
    },
  };
}

const approxDistinct: Aggregator<Uint8Array> = {
  op: 'approx_distinct',
  init: hllCreate,
  update: (s, value, t) => {
    if (!isValueInput(value) || !Number.isFinite(t)) return s;
    const { index, rank } = hllPosition(String(value));
    if ((s[index] as number) >= rank) return s;
    const next = s.slice();
    next[index] = rank;
    return next;
  },
  merge: (a, b) => {
    const out = a.slice();
    for (let j = 0; j < out.length; j++) if ((b[j] as number) > (out[j] as number)) out[j] = b[j] as number;
    return out;
  },
  finish: (s) => hllEstimate(s),
  encode: (s) => hllToBase64(s),
  decode: (json) => {
    const registers = typeof json === 'string' ? hllFromBase64(json) : null;
    if (registers === null) throw bad('approx_distinct', 'HyperLogLog registers as hllToBase64 text', json);
    return registers;
  },
};

function decayedCount(halfLifeMs: number): Aggregator<DecayState | null> {
  // Moving the reference to the later time keeps every stored weight <= 1: no overflow ever.
  const rebase = (s: DecayState, ref: number): number => (s.ref === ref ? s.s : s.s * 2 ** ((s.ref - ref) / halfLifeMs));
  const merge = (a: DecayState | null, b: DecayState | null): DecayState | null => {
    if (a === null) return b;
    if (b === null) return a;
    const ref = Math.max(a.ref, b.ref);
    return { ref, s: rebase(a, ref) + rebase(b, ref) };
  };
  return {
    op: 'decayed_count',
    init: () => null,
    update: (s, _value, t) => (Number.isFinite(t) ? merge(s, { ref: t, s: 1 }) : s),
    merge,
    finish: (s, q) => (s === null ? 0 : s.s * 2 ** ((s.ref - q) / halfLifeMs)),
    encode: identity,
    decode: (json) => {
      if (json === null) return null;
      if (isObj(json) && isNumericInput(json.ref) && isNumericInput(json.s) && json.s >= 0) return { ref: json.ref, s: json.s };
      throw bad('decayed_count', '{ ref: number, s: number >= 0 } or null', json);
    },
  };
}

const lastSeen: Aggregator<number | null> = {
  op: 'last_seen',
  init: () => null,
  update: (s, _value, t) => (!Number.isFinite(t) ? s : s === null || t > s ? t : s),
  merge: (a, b) => (a === null ? b : b === null ? a : Math.max(a, b)),
  finish: (s) => s,
  encode: identity,
  decode: (json) => decodeNullableNumber('last_seen', json),
};

const MIN = extremum('min', Math.min);
const MAX = extremum('max', Math.max);
const cache = new WeakMap<AggregationDef, Aggregator>();

/**
 * The aggregator of one aggregation definition (k and the half-life come from it). Cached per
 * definition object, so calling it on a hot path costs a lookup.
 *
 * @throws RangeError for a last_k without k or a decayed_count without halfLifeMs (validation
 *   rejects such definitions first).
 */
export function aggregatorFor(def: AggregationDef): Aggregator {
  const cached = cache.get(def);
  if (cached !== undefined) return cached;
  const made = make(def) as unknown as Aggregator;
  cache.set(def, made);
  return made;
}

function make(def: AggregationDef): Aggregator<unknown> {
  switch (def.op) {
    case 'count':
      return count;
    case 'sum':
      return sum;
    case 'avg':
      return avg;
    case 'min':
      return MIN;
    case 'max':
      return MAX;
    case 'last':
      return last;
    case 'last_k':
      if (def.k === undefined || !(def.k >= 1)) throw new RangeError('last_k needs k >= 1');
      return lastK(def.k);
    case 'approx_distinct':
      return approxDistinct;
    case 'decayed_count':
      if (def.halfLifeMs === undefined || !(def.halfLifeMs > 0)) throw new RangeError('decayed_count needs halfLifeMs > 0');
      return decayedCount(def.halfLifeMs);
    case 'last_seen':
      return lastSeen;
  }
}
