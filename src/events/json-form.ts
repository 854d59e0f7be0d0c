import { InvalidEventError } from '../errors.js';
import type { EventCatalog } from './event-catalog.js';
import { CONTEXT_FIELDS, isNullableKind } from './event-fields.js';
import type { AnyEvent, Context } from './event-types.js';
import { formatInstant, tryParseInstant } from './time.js';
import { validateEvent } from './validate.js';

/**
 * The JSON form of events, as the CLI reads and prints them: one object per line, tagged with
 * `type`. It is written by hand, so it is forgiving where that cannot lose information (optional
 * fields and context may be left out, instants may be ISO-8601) and strict where a mistake would
 * otherwise pass silently (unknown fields, instants without a zone).
 *
 * @example
 * {"type":"click","eventId":"e1","eventTime":"2024-05-01T12:00:00.000Z","requestId":"r1","userId":"u1","itemId":"i9"}
 */

/**
 * Parses one line of the JSON form into a validated event.
 *
 * - `eventTime` (and `signupTime`) are epoch ms or ISO-8601 strings with `Z` or an offset;
 * - nullable fields left out become null; `context` may be left out or partial (missing
 *   entries become null);
 * - a field the event kind does not have is rejected by name, so typos are caught.
 *
 * @param now "now" in epoch ms for the `eventTime` range check (see `validateEvent`), read by the
 *   caller from its injected clock; the wall clock when omitted.
 * @throws InvalidEventError `BAD_JSON` (not a JSON object), `UNKNOWN_TYPE`, `SCHEMA_INVALID`
 *   (message starts with the field path), `MISSING_ID`, `EVENT_TIME_OUT_OF_RANGE`.
 */
export function parseEventJson(line: string, catalog: EventCatalog, now: number = Date.now()): AnyEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new InvalidEventError('BAD_JSON', `not valid JSON: ${why}`, err);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidEventError('BAD_JSON', `expected one JSON object per line, got ${Array.isArray(parsed) ? 'an array' : String(parsed)}`);
  }
  const input = parsed as Record<string, unknown>;
  const type = input['type'];
  if (!catalog.has(type)) {
    const got = type === undefined ? 'no type field' : `type ${JSON.stringify(type)}`;
    throw new InvalidEventError('UNKNOWN_TYPE', `${got}; expected one of ${catalog.types.join(', ')}`);
  }
  const known = catalog.kinds[type] as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(input)) {
    if (key !== 'type' && !Object.hasOwn(known, key)) {
      throw new InvalidEventError(
        'SCHEMA_INVALID',
        `${key}: unknown field for ${type}${suggest(key, Object.keys(known))}; fields are ${Object.keys(known).join(', ')}`,
      );
    }
  }

  const event: Record<string, unknown> = { type };
  for (const [name, kind] of catalog.spec(type).fields) {
    const raw = input[name];
    if (kind === 'context') {
      event[name] = readContext(raw);
    } else if (kind === 'instant' || kind === 'nullableInstant') {
      event[name] = readInstant(name, raw, kind === 'nullableInstant');
    } else if (raw === undefined && isNullableKind(kind)) {
      event[name] = null;
    } else {
      // Type checks of the remaining kinds live in validateEvent, shared with the other paths.
      event[name] = raw;
    }
  }
  const result = event as unknown as AnyEvent;
  validateEvent(result, catalog, now);
  return result;
}

/**
 * Prints an event as one line of the JSON form: `type` first, then the fields in schema order,
 * instants as ISO-8601 UTC with milliseconds, every field present (nulls included), so that
 * `parseEventJson(eventToJson(e))` equals `e` exactly.
 */
export function eventToJson(event: AnyEvent, catalog: EventCatalog): string {
  const record = event as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { type: event.type };
  for (const [name, kind] of catalog.spec(event.type).fields) {
    const value = record[name];
    if ((kind === 'instant' || kind === 'nullableInstant') && typeof value === 'number') {
      out[name] = formatInstant(value);
    } else if (kind === 'context' && value !== null && typeof value === 'object') {
      const context = value as Record<string, unknown>;
      out[name] = Object.fromEntries(CONTEXT_FIELDS.map((field) => [field, context[field] ?? null]));
    } else {
      out[name] = value;
    }
  }
  return JSON.stringify(out);
}

function readInstant(name: string, raw: unknown, nullable: boolean): number | null {
  if (raw === undefined || raw === null) {
    if (nullable) return null;
    throw new InvalidEventError('SCHEMA_INVALID', `${name}: required (epoch ms or ISO-8601 with offset)`);
  }
  const result = tryParseInstant(raw);
  if (!result.ok) throw new InvalidEventError('SCHEMA_INVALID', `${name}: ${result.error}`);
  return result.value;
}

function readContext(raw: unknown): Context {
  const context: Record<string, string | null> = {};
  for (const field of CONTEXT_FIELDS) context[field] = null;
  if (raw === undefined || raw === null) return context as unknown as Context;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidEventError('SCHEMA_INVALID', `context: expected an object, got ${Array.isArray(raw) ? 'an array' : typeof raw}`);
  }
  const input = raw as Record<string, unknown>;
  for (const [key, value] of Object.entries(input)) {
    if (!Object.hasOwn(context, key)) {
      throw new InvalidEventError(
        'SCHEMA_INVALID',
        `context.${key}: unknown field${suggest(key, CONTEXT_FIELDS)}; fields are ${CONTEXT_FIELDS.join(', ')}`,
      );
    }
    if (value !== null && typeof value !== 'string') {
      throw new InvalidEventError('SCHEMA_INVALID', `context.${key}: expected a string or null, got ${typeof value}`);
    }
    context[key] = value;
  }
  return context as unknown as Context;
}

// Case and separators are the usual typos (`userid`, `event_time`); point at the real name.
function suggest(key: string, candidates: readonly string[]): string {
  const norm = (s: string): string => s.toLowerCase().replace(/[_-]/g, '');
  const match = candidates.find((c) => norm(c) === norm(key));
  return match === undefined ? '' : ` (did you mean ${match}?)`;
}
