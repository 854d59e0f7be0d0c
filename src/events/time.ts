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
  const fast = fastIso(value);
  if (fast !== null) return { ok: true, value: fast };
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

// The form producers nearly always write (`2024-03-01T08:00:00.123+08:00`, `...Z`), read without
// luxon (two luxon parses were a quarter of `tessera produce`'s CPU). Anything else, including
// every invalid string, goes to luxon, so results and error messages stay luxon's.
const ISO_COMMON = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

/** Epoch ms of a string in the common form with valid fields, else null (luxon decides). */
function fastIso(value: string): number | null {
  const m = ISO_COMMON.exec(value);
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (year < 100 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  if (day > 28 && day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null;
  const ms = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0'));
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMinutes * 60_000;
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
