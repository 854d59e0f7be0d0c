import { DateTime } from 'luxon';
import type { Context } from '../events/event-types.js';

/**
 * Request-time context features: computed from the request's context at the query time, never
 * stored, so they need no state and are identical on every path that has the same context.
 */

/** The context feature names, in the order {@link contextFeatures} returns them. */
export const CONTEXT_FEATURE_NAMES = ['context_hour_of_day', 'context_day_of_week', 'context_device', 'context_page'] as const;

/** Context feature values; text fields are never null so that models see one "unknown" category. */
export interface ContextFeatures {
  /** 0-23 in the request's timezone. */
  readonly context_hour_of_day: number;
  /** 1 = Monday ... 7 = Sunday (ISO), in the request's timezone. */
  readonly context_day_of_week: number;
  /** The device, or `unknown`. */
  readonly context_device: string;
  /** The page, or `unknown`. */
  readonly context_page: string;
}

/** The category a model sees for a missing device or page. */
export const UNKNOWN_CONTEXT_VALUE = 'unknown';

/**
 * Context features at query time q (epoch ms). Hour and weekday are read in `ctx.timezone` (any
 * zone luxon accepts: IANA names such as `Asia/Shanghai`, or `UTC+8`); a null or unrecognised
 * zone falls back to UTC rather than failing the request. DST is handled by the zone rules, so the
 * same instant gives the local wall-clock hour on either side of a change. An empty or null
 * device or page becomes `unknown`.
 *
 * @throws RangeError when q is not a finite number.
 * @example contextFeatures({ ...EMPTY_CONTEXT, timezone: 'Asia/Shanghai' }, Date.UTC(2024, 0, 1, 20))
 *   // { context_hour_of_day: 4, context_day_of_week: 2, context_device: 'unknown', context_page: 'unknown' }
 */
export function contextFeatures(ctx: Context, q: number): ContextFeatures {
  if (!Number.isFinite(q)) throw new RangeError(`query time must be epoch milliseconds, got ${String(q)}`);
  let local = DateTime.fromMillis(q, { zone: ctx.timezone ?? 'utc' });
  if (!local.isValid) local = DateTime.fromMillis(q, { zone: 'utc' });
  return {
    context_hour_of_day: local.hour,
    context_day_of_week: local.weekday,
    context_device: orUnknown(ctx.device),
    context_page: orUnknown(ctx.page),
  };
}

function orUnknown(value: string | null): string {
  return value === null || value === '' ? UNKNOWN_CONTEXT_VALUE : value;
}
