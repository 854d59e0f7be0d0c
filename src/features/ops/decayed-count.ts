import { formatWindow } from '../windows.js';
import { decayedOp } from './decay.js';
import type { OpModule } from './types.js';

/** decayed_count: each event of time t weighs 2^(-(q - t) / halfLife) at query time q (lifetime only). */
export const DECAYED_COUNT: OpModule = decayedOp({
  op: 'decayed_count',
  summary: 'count with exponential decay by event time',
  field: 'none',
  weight: () => 1,
  signed: false,
  featureName: (p, def) => `${p.entity}_${p.source}_decayed_count_${formatWindow(def.halfLifeMs ?? 0)}${p.w}`,
});
