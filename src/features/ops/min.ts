import { extremumOp } from './shared.js';
import type { OpModule } from './types.js';

/** min: the smallest value of a numeric field, null without values. */
export const MIN: OpModule = extremumOp('min', Math.min);
