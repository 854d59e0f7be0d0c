import type { AggregationDef } from './definitions.js';
import { opModule } from './ops/index.js';
import type { Aggregator } from './ops/types.js';

/**
 * The one aggregation core: `init / update / merge / finish` over an intermediate state, for every
 * op. Each op declares its aggregator in its own module (src/features/ops/<op>.ts); this module
 * gives the one entry point, {@link aggregatorFor}, and re-exports the shared types and rules. The streaming consumer folds events into tile states with `update`, the batch layer and the
 * reader combine tiles with `merge`, and everyone turns a state into a feature value with
 * `finish` at a query time. Because all three paths run this code, they cannot disagree.
 *
 * Contracts every aggregator keeps (property-tested):
 * - states are immutable values: no function modifies its arguments; `update` and `merge` return
 *   a new state, or an argument itself when nothing changed (so a no-op costs no copy);
 * - `merge` is associative and commutative, and `init()` is its identity, so tiles can be
 *   combined in any grouping and order; folding events with `update` then merging equals
 *   folding them all into one state. For float ops (sum, avg, decayed_count, decayed_sum) this holds up to
 *   rounding: results agree to a relative 1e-12 or so, not bit for bit;
 * - `encode` gives plain JSON (numbers, strings, arrays, objects) and `decode(encode(s))` finishes
 *   like s; only approx_distinct's state differs from its encoding (registers <-> base64);
 * - inputs that cannot contribute are ignored, not stored: a null value for a field op, a
 *   non-finite number (NaN amount), a non-number for sum/avg/min/max, a non-finite time. The
 *   oracle applies the same rule, so such events count for `count` but nothing else.
 */

export type { AggValue, AggState, Aggregator, AvgState, DecayState, FeatureValue, JsonValue, TimedValue } from './ops/types.js';
export { compareTimedValues, isNumericInput, isValueInput } from './ops/shared.js';

/**
 * `(numerator + alpha) / (denominator + beta)`: a rate shrunk towards alpha / beta while the
 * denominator is small (beta > 0 is enforced by validation, so it is always defined).
 *
 * @example smoothedRatio(3, 40, 1, 20) === 4 / 60
 */
export function smoothedRatio(numerator: number, denominator: number, alpha: number, beta: number): number {
  return (numerator + alpha) / (denominator + beta);
}

const cache = new WeakMap<AggregationDef, Aggregator>();

/**
 * The aggregator of one aggregation definition (k and the half-life come from it), as its op's
 * module declares it. Cached per definition object, so calling it on a hot path costs a lookup.
 *
 * @throws RangeError for a last_k without k or a decayed op without halfLifeMs (validation
 *   rejects such definitions first).
 */
export function aggregatorFor(def: AggregationDef): Aggregator {
  const cached = cache.get(def);
  if (cached !== undefined) return cached;
  const made = opModule(def.op).aggregator(def) as unknown as Aggregator;
  cache.set(def, made);
  return made;
}
