import type { AnyEvent } from '../events/event-types.js';
import type { FeatureValue } from './aggregators.js';
import { type AggregationDef, type CompiledGroup } from './definitions.js';
import { HLL_REGISTERS, hllEstimate, hllPosition } from './hll.js';

/**
 * The naive oracle: every feature of one entity at query time q recomputed from the raw events by
 * the definition alone, with no tiles, no states and no merge. Tests and `check consistency`
 * compare the streaming, batch and serving paths against it.
 *
 * It deliberately re-implements the semantics instead of calling the production helpers (window
 * range, hop table, entity key, input rules, aggregations), so a bug there shows up as a
 * disagreement instead of being shared. Only the HyperLogLog hash and estimate are shared, since
 * an approximate count has no other exact reference: the oracle builds one sketch from all the
 * values at once, which any correct merge of tiles must reproduce register for register.
 *
 * Semantics, restated:
 * - events are deduplicated on `eventId`; the first occurrence in `events` order is the event
 *   (producer duplicates carry the same content, so which one only matters for bad input);
 * - an event belongs to the entity when every key field is a non-empty value and the values
 *   joined with `:` equal `entityKey`;
 * - a window W at q covers `floor((q - W) / h) * h <= eventTime < q` with h = 1 min for W <= 1 h,
 *   5 min for W <= 12 h, 1 h for W <= 12 days, 1 day beyond; a lifetime covers `eventTime < q`;
 * - field values that are null, non-finite, or (for sum, avg, min, max, decayed_sum) not numbers
 *   are skipped.
 *
 * Cold start (no events for the entity): count, sum, approx_distinct, decayed_count and
 * decayed_sum 0; avg, min, max, last and last_seen null; last_k []; smoothed ratio alpha / beta.
 */
export function oracleFeatures(group: CompiledGroup, events: readonly AnyEvent[], entityKey: string, q: number): Record<string, FeatureValue> {
  const compiled = group;
  const seen = new Set<string>();
  const mine: Array<Readonly<Record<string, unknown>> & { type: string; eventTime: number }> = [];
  for (const event of events) {
    if (seen.has(event.eventId)) continue;
    seen.add(event.eventId);
    const record = event as unknown as Readonly<Record<string, unknown>>;
    const key = compiled.entity.keyFields.map((f) => record[f]);
    if (key.some((v) => v === null || v === undefined || v === '')) continue;
    if (key.map((v) => String(v)).join(':') !== entityKey) continue;
    mine.push(event as unknown as Readonly<Record<string, unknown>> & { type: string; eventTime: number });
  }

  const out: Record<string, FeatureValue> = {};
  for (const f of compiled.features) {
    if (f.kind === 'derived') {
      out[f.name] = ((out[f.numerator] as number) + f.alpha) / ((out[f.denominator] as number) + f.beta);
      continue;
    }
    const def = compiled.def.aggregations[f.aggregation] as AggregationDef;
    const lo = f.windowMs === null ? -Infinity : Math.floor((q - f.windowMs) / oracleHop(f.windowMs)) * oracleHop(f.windowMs);
    const selected = mine.filter((e) => e.type === def.source && e.eventTime >= lo && e.eventTime < q);
    out[f.name] = naive(def, selected, q);
  }
  return out;
}

function oracleHop(windowMs: number): number {
  const minute = 60_000;
  const hour = 60 * minute;
  if (windowMs <= hour) return minute;
  if (windowMs <= 12 * hour) return 5 * minute;
  if (windowMs <= 12 * 24 * hour) return hour;
  return 24 * hour;
}

function naive(def: AggregationDef, events: ReadonlyArray<Readonly<Record<string, unknown>> & { eventTime: number }>, q: number): FeatureValue {
  const field = def.field ?? '';
  const numbers = events.map((e) => e[field]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const timed = events
    .map((e) => ({ t: e.eventTime, v: e[field] }))
    .filter((x): x is { t: number; v: string | number } => typeof x.v === 'string' || (typeof x.v === 'number' && Number.isFinite(x.v)));
  switch (def.op) {
    case 'count':
      return events.length;
    case 'sum':
      return numbers.reduce((a, b) => a + b, 0);
    case 'avg':
      return numbers.length === 0 ? null : numbers.reduce((a, b) => a + b, 0) / numbers.length;
    case 'min':
      return numbers.length === 0 ? null : numbers.reduce((a, b) => (b < a ? b : a));
    case 'max':
      return numbers.length === 0 ? null : numbers.reduce((a, b) => (b > a ? b : a));
    case 'last': {
      // Latest time; among equal times the greatest String(v), then a string over a number.
      const sorted = [...timed].sort(newestFirst);
      return sorted[0]?.v ?? null;
    }
    case 'last_k': {
      const sorted = [...timed].sort(newestFirst);
      const values: Array<string | number> = [];
      for (const x of sorted) {
        if (values.length >= (def.k ?? 0)) break;
        if (!values.includes(x.v)) values.push(x.v);
      }
      return values;
    }
    case 'approx_distinct': {
      const registers = new Uint8Array(HLL_REGISTERS);
      for (const x of timed) {
        const { index, rank } = hllPosition(String(x.v));
        registers[index] = Math.max(registers[index] as number, rank);
      }
      return hllEstimate(registers);
    }
    case 'decayed_count': {
      const h = def.halfLifeMs ?? 1;
      return events.reduce((acc, e) => acc + 2 ** (-(q - e.eventTime) / h), 0);
    }
    case 'last_seen':
      return events.length === 0 ? null : events.reduce((a, e) => (e.eventTime > a ? e.eventTime : a), -Infinity);
    case 'decayed_sum': {
      // each finite value v at time t weighs v * 2^(-(q - t) / halfLife)
      const h = def.halfLifeMs ?? 1;
      let total = 0;
      for (const e of events) {
        const v = e[field];
        if (typeof v === 'number' && Number.isFinite(v)) total += v * 2 ** (-(q - e.eventTime) / h);
      }
      return total;
    }
  }
}

function newestFirst(a: { t: number; v: string | number }, b: { t: number; v: string | number }): number {
  if (a.t !== b.t) return b.t - a.t;
  const sa = String(a.v);
  const sb = String(b.v);
  if (sa !== sb) return sa < sb ? 1 : -1;
  if (typeof a.v === typeof b.v) return 0;
  return typeof a.v === 'string' ? -1 : 1;
}
