import { extremumOp } from './shared.js';
import type { OpModule } from './types.js';

/** max: the largest value of a numeric field, null without values. */
export const MAX: OpModule = extremumOp('max', Math.max);
