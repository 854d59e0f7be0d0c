import { DateTime, FixedOffsetZone } from 'luxon';
import { InvalidEventError } from '../errors.js';

/**
 * Instants in Tessera are epoch milliseconds, UTC (`number`). These helpers are the one place
 * that turns them into text and back, so the CLI, logs and tests agree on the format.
 */

/** Outcome of {@link tryParseInstant}: the instant, or a sentence saying what is wrong. */
export type InstantResult = { ok: true; value: number } | { ok: false; error: string };

// Two different default zones: a string that carries its own offset parses to the same instant
// under both, one that relies on the default zone does not. This catches every zone-less form
// luxon accepts (dates, week dates, ordinals) without a hand-written grammar.
const PROBE_ZONE_A = FixedOffsetZone.utcInstance;
const PROBE_ZONE_B = FixedOffsetZone.instance(5 * 60 + 30);

/**
 * Reads an instant given as epoch milliseconds (an integer) or as an ISO-8601 string that carries
 * a zone offset or `Z`. A string without one is refused rather than read in some default zone,
 * because guessing the zone silently shifts events by hours.
 *
 * @example tryParseInstant('2024-03-01T08:00:00+08:00') // { ok: true, value: 1709251200000 }
 */
export function tryParseInstant(value: unknown): InstantResult {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return { ok: true, value };
    return { ok: false, error: `expected integer epoch milliseconds, got ${String(value)}` };
  }
  if (typeof value !== 'string') {
    return { ok: false, error: `expected epoch milliseconds or an ISO-8601 string, got ${describe(value)}` };
  }
  const a = DateTime.fromISO(value, { zone: PROBE_ZONE_A });
  if (!a.isValid) {
    const why = a.invalidExplanation ?? a.invalidReason ?? 'unparsable';
    return { ok: false, error: `not an ISO-8601 instant: ${JSON.stringify(value)} (${why})` };
  }
  const b = DateTime.fromISO(value, { zone: PROBE_ZONE_B });
  if (a.toMillis() !== b.toMillis()) {
    return {
      ok: false,
      error: `ISO-8601 instant without a zone offset: ${JSON.stringify(value)}; add Z for UTC or an offset such as +08:00`,
    };
  }
  return { ok: true, value: a.toMillis() };
}

/**
 * Like {@link tryParseInstant}, throwing `InvalidEventError('SCHEMA_INVALID')` on bad input.
 *
 * @example parseInstant('2024-01-01T00:00:00Z') === 1704067200000
 */
export function parseInstant(value: string | number): number {
  const result = tryParseInstant(value);
  if (!result.ok) throw new InvalidEventError('SCHEMA_INVALID', result.error);
  return result.value;
}

/**
 * ISO-8601 in UTC with milliseconds, e.g. `2024-01-01T00:00:00.000Z`. Millisecond precision
 * makes `parseInstant(formatInstant(ms)) === ms` for every integer ms in luxon's range.
 *
 * @throws RangeError for a non-integer or out-of-range value.
 */
export function formatInstant(ms: number): string {
  if (!Number.isSafeInteger(ms)) throw new RangeError(`not an epoch-millisecond instant: ${String(ms)}`);
  const text = DateTime.fromMillis(ms, { zone: PROBE_ZONE_A }).toISO({ suppressMilliseconds: false });
  if (text === null) throw new RangeError(`instant out of range: ${ms}`);
  return text;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
