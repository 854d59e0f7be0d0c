import { APPROX_DISTINCT } from './approx-distinct.js';
import { AVG } from './avg.js';
import { COUNT } from './count.js';
import { DECAYED_COUNT } from './decayed-count.js';
import { DECAYED_SUM } from './decayed-sum.js';
import { LAST } from './last.js';
import { LAST_K } from './last-k.js';
import { LAST_SEEN } from './last-seen.js';
import { MAX } from './max.js';
import { MIN } from './min.js';
import { SUM } from './sum.js';
import type { OpModule } from './types.js';

/**
 * The registry of aggregation ops: one module per op (src/features/ops/<op>.ts) declaring its
 * state, properties, online layout, batch SQL, sample column and model transform. Every layer
 * looks an op up here instead of switching on its name (docs/architecture.md, "Flow of one
 * feature definition"). Adding an op is its module plus one line here.
 */
export const OPS = {
  count: COUNT,
  sum: SUM,
  avg: AVG,
  min: MIN,
  max: MAX,
  last: LAST,
  last_k: LAST_K,
  approx_distinct: APPROX_DISTINCT,
  decayed_count: DECAYED_COUNT,
  last_seen: LAST_SEEN,
  decayed_sum: DECAYED_SUM,
} as const satisfies Readonly<Record<string, OpModule>>;

/** One aggregation operator. */
export type AggregationOp = keyof typeof OPS;

/** Every aggregation operator, in registry order. */
export const AGGREGATION_OPS: readonly AggregationOp[] = Object.keys(OPS) as AggregationOp[];

/** The module of an op. */
export function opModule(op: AggregationOp): OpModule {
  return OPS[op];
}

export type * from './types.js';
