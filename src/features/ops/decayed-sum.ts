import { formatWindow } from '../windows.js';
import { decayedOp } from './decay.js';
import { isNumericInput } from './shared.js';
import type { OpModule } from './types.js';

/**
 * decayed_sum: the sum of a numeric field with exponential decay by event time, an event of time
 * t with value v contributing v · 2^(-(q - t) / halfLife) at query time q (lifetime only); null
 * and non-finite values are skipped. Exact under merge (up to float rounding), so it merges
 * across the lambda split like decayed_count.
 */
export const DECAYED_SUM: OpModule = decayedOp({
  op: 'decayed_sum',
  summary: 'sum of a numeric field with exponential decay by event time',
  field: 'numeric',
  weight: (value) => (isNumericInput(value) ? value : null),
  signed: true,
  featureName: (p, def) => `${p.entity}_${p.source}_${p.field}_decayed_sum_${formatWindow(def.halfLifeMs ?? 0)}${p.w}`,
});
