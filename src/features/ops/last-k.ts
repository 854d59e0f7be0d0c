import { fieldNoun, pastTense } from './naming.js';
import { badState, compareTimedValues, decodeTimedValue, isNumberKind, isValueInput, newestValuesStatements } from './shared.js';
import type { Aggregator, JsonValue, OpModule, TimedValue } from './types.js';

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
      if (!Array.isArray(json)) throw badState('last_k', 'an array of { t, v }', json);
      // Re-normalise (dedupe, order, cap at k) rather than trust the stored order.
      return normaliseLastK(k, json.map((e) => decodeTimedValue('last_k', e)));
    },
  };
}

/** last_k: the k most recent distinct values of a field, newest first (lifetime only). */
export const LAST_K: OpModule = {
  op: 'last_k',
  summary: 'k most recent distinct values',
  lifetimeOnly: true,
  field: 'scalar',
  param: 'k',
  mergeableLifetime: true,
  featureName: (p, def) => `${p.entity}_last_${pastTense(def.source)}_${fieldNoun(p.field)}${p.w}`,
  idSuffix: (def) => `.k${String(def.k)}`,
  aggregator: (def) => {
    if (def.k === undefined || !(def.k >= 1)) throw new RangeError('last_k needs k >= 1');
    return lastK(def.k) as Aggregator<never>;
  },
  // a sorted set per entity: member the value, score its latest time, trimmed to k
  layout: { kind: 'zset' },
  capsText: true,
  recompute: { kind: 'own', statements: (ctx) => newestValuesStatements(ctx, ctx.agg.def.k as number) },
  samplePass: { kind: 'recent', list: true, k: (def) => def.k as number },
  sampleColumn: (kind) => (isNumberKind(kind) ? { type: 'Array(Float64)', read: 'numberList' } : { type: 'Array(String)', read: 'textList' }),
  valueKind: 'textList',
  dense: 'log',
};
