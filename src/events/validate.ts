import { IANAZone } from 'luxon';
import { InvalidEventError } from '../errors.js';
import type { EventCatalog } from './event-catalog.js';
import { CONTEXT_FIELDS, isNullableKind, type FieldKind } from './event-fields.js';
import type { AnyEvent } from './event-types.js';
import { formatInstant } from './time.js';

/**
 * Semantic checks that the Avro schema cannot express, shared by the producer (before an event is
 * written) and the sink (before it is stored), so both reject the same events for the same
 * reason code. Structural checks that Avro does express are repeated here only where a producer
 * could get past them from JSON (types of values), so the validator also stands on its own.
 */

/** The earliest accepted `eventTime`, 2000-01-01T00:00:00Z: anything older is a unit bug (s vs ms) or a zero. */
export const MIN_EVENT_TIME_MS = Date.UTC(2000, 0, 1);

/** How far past the clock an `eventTime` may lie: producer clocks drift, a day is far beyond drift. */
export const MAX_EVENT_TIME_AHEAD_MS = 24 * 60 * 60 * 1000;

const INT32_MAX = 2 ** 31 - 1;

/**
 * Longest id (`eventId`, `userId`, any `...Id` field), in UTF-8 bytes. Ids become Redis keys,
 * partition keys and sort keys; real ids are far shorter, a longer one is a bug upstream (a whole
 * URL or JSON document in an id field).
 */
export const MAX_ID_BYTES = 256;

/** Longest string field or context field, in UTF-8 bytes. */
export const MAX_STRING_BYTES = 4096;

/** Outcome of {@link checkEvent}: the event itself, or why it is rejected. */
export type EventCheck = { ok: true; value: AnyEvent } | { ok: false; error: InvalidEventError };

/**
 * Throws `InvalidEventError` for the first problem found:
 * - `UNKNOWN_TYPE`: `type` is not one of the catalog's event types;
 * - `MISSING_ID`: `eventId` or another id field (a string field whose name ends in `Id`, such as
 *   `userId`) is missing, empty or blank; a nullable id may be null but not empty;
 * - `EVENT_TIME_OUT_OF_RANGE`: `eventTime` is not an integer in
 *   [{@link MIN_EVENT_TIME_MS}, now + maxAheadMs] (both ends included);
 * - `SCHEMA_INVALID`: a value of the wrong type, a negative or non-finite number (int and double
 *   fields hold counts, slots and amounts), or a `context.timezone` that is not an IANA zone;
 * - `FIELD_TOO_LONG`: an id longer than {@link MAX_ID_BYTES}, or a string or context field longer
 *   than {@link MAX_STRING_BYTES} (UTF-8 bytes).
 *
 * @param now "now" in epoch ms, read by the caller from its injected clock (once per batch is
 *   enough: a day of tolerance dwarfs a batch's duration).
 * @param maxAheadMs how far past `now` an `eventTime` may lie; default one day.
 */
export function validateEvent(event: AnyEvent, catalog: EventCatalog, now: number, maxAheadMs: number = MAX_EVENT_TIME_AHEAD_MS): void {
  const error = findProblem(event, catalog, now, maxAheadMs);
  if (error !== undefined) throw error;
}

/**
 * The non-throwing form of {@link validateEvent}, for batch paths that route each bad event to
 * the dead-letter topic and carry on.
 */
export function checkEvent(event: AnyEvent, catalog: EventCatalog, now: number, maxAheadMs: number = MAX_EVENT_TIME_AHEAD_MS): EventCheck {
  const error = findProblem(event, catalog, now, maxAheadMs);
  return error === undefined ? { ok: true, value: event } : { ok: false, error };
}

function findProblem(event: AnyEvent, catalog: EventCatalog, now: number, maxAheadMs: number): InvalidEventError | undefined {
  if (event === null || typeof event !== 'object') return new InvalidEventError('SCHEMA_INVALID', 'event is not an object');
  const type: unknown = event.type;
  if (!catalog.has(type)) return new InvalidEventError('UNKNOWN_TYPE', `unknown event type ${JSON.stringify(type)}; the project's event types are ${catalog.types.join(', ')}`);
  const record = event as unknown as Record<string, unknown>;
  const fields = catalog.spec(type).fields;
  // Ids first: an event without identity cannot even be reported usefully by the later checks.
  for (const [name, kind] of fields) {
    if (kind === 'id' || kind === 'nullableId') {
      const error = checkId(name, kind, record[name]);
      if (error !== undefined) return error;
    }
  }
  for (const [name, kind] of fields) {
    const error = checkValue(name, kind, record[name], now, maxAheadMs);
    if (error !== undefined) return error;
  }
  return undefined;
}

function checkId(name: string, kind: 'id' | 'nullableId', value: unknown): InvalidEventError | undefined {
  if (value === null && kind === 'nullableId') return undefined;
  if (value === undefined || value === null) return new InvalidEventError('MISSING_ID', `${name}: missing`);
  if (typeof value !== 'string') return invalid(name, `expected a string id, got ${typeName(value)}`);
  if (value.trim() === '') {
    const hint = kind === 'nullableId' ? '; use null when it is unknown' : '';
    return new InvalidEventError('MISSING_ID', `${name}: empty${hint}`);
  }
  return checkLength(name, value, MAX_ID_BYTES, 'an id');
}

function checkLength(name: string, value: string, limit: number, what: string): InvalidEventError | undefined {
  // A UTF-16 unit takes at most 3 bytes of UTF-8, and at least 1: most values need no byte count,
  // and a huge one is refused without one.
  if (value.length * 3 <= limit) return undefined;
  let size = `${value.length} characters`;
  if (value.length <= limit) {
    const bytes = Buffer.byteLength(value);
    if (bytes <= limit) return undefined;
    size = `${bytes} bytes`;
  }
  return new InvalidEventError('FIELD_TOO_LONG', `${name}: ${size}, more than the ${limit} bytes (UTF-8) ${what} may take`);
}

function checkValue(name: string, kind: FieldKind, value: unknown, now: number, maxAheadMs: number): InvalidEventError | undefined {
  if (value === undefined) return invalid(name, 'required');
  switch (kind) {
    case 'id':
    case 'nullableId':
      return undefined; // checked first, see findProblem
    case 'string':
      return typeof value === 'string' ? checkLength(name, value, MAX_STRING_BYTES, 'a string field') : invalid(name, `expected a string, got ${typeName(value)}`);
    case 'nullableString':
      if (value === null) return undefined;
      return typeof value === 'string' ? checkLength(name, value, MAX_STRING_BYTES, 'a string field') : invalid(name, `expected a string or null, got ${typeName(value)}`);
    case 'instant':
      return checkEventTime(name, value, now, maxAheadMs);
    case 'nullableInstant':
      return value === null || Number.isSafeInteger(value)
        ? undefined
        : invalid(name, `expected integer epoch milliseconds or null, got ${show(value)}`);
    case 'int':
    case 'nullableInt':
    case 'double':
    case 'nullableDouble':
      return checkMeasure(name, kind, value);
    case 'context':
      return checkContext(name, value);
  }
}

function checkEventTime(name: string, value: unknown, now: number, maxAheadMs: number): InvalidEventError | undefined {
  if (typeof value !== 'number') return invalid(name, `expected epoch milliseconds, got ${typeName(value)}`);
  if (!Number.isSafeInteger(value)) {
    return new InvalidEventError('EVENT_TIME_OUT_OF_RANGE', `${name}: ${value} is not an integer epoch-millisecond instant`);
  }
  if (value < MIN_EVENT_TIME_MS) {
    return new InvalidEventError(
      'EVENT_TIME_OUT_OF_RANGE',
      `${name}: ${value} (${safeFormat(value)}) is before ${formatInstant(MIN_EVENT_TIME_MS)}; is it in seconds instead of milliseconds?`,
    );
  }
  if (value > now + maxAheadMs) {
    return new InvalidEventError(
      'EVENT_TIME_OUT_OF_RANGE',
      `${name}: ${value} (${safeFormat(value)}) is more than ${maxAheadMs} ms after now (${safeFormat(now)})`,
    );
  }
  return undefined;
}

function checkMeasure(name: string, kind: FieldKind, value: unknown): InvalidEventError | undefined {
  if (value === null && isNullableKind(kind)) return undefined;
  if (value === undefined || value === null) return invalid(name, 'required');
  if (typeof value !== 'number' || !Number.isFinite(value)) return invalid(name, `expected a finite number, got ${show(value)}`);
  if (value < 0) return invalid(name, `must not be negative, got ${value}`);
  if ((kind === 'int' || kind === 'nullableInt') && (!Number.isInteger(value) || value > INT32_MAX)) {
    return invalid(name, `expected a 32-bit integer, got ${value}`);
  }
  return undefined;
}

function checkContext(name: string, value: unknown): InvalidEventError | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return invalid(name, `expected an object, got ${typeName(value)}`);
  }
  const context = value as Record<string, unknown>;
  for (const field of CONTEXT_FIELDS) {
    const v = context[field];
    if (v !== null && typeof v !== 'string') return invalid(`${name}.${field}`, `expected a string or null, got ${typeName(v)}`);
    const tooLong = v === null ? undefined : checkLength(`${name}.${field}`, v, MAX_STRING_BYTES, 'a context field');
    if (tooLong !== undefined) return tooLong;
  }
  const zone = context['timezone'];
  if (typeof zone === 'string' && !isIanaZone(zone)) {
    return invalid(`${name}.timezone`, `${JSON.stringify(zone)} is not an IANA time zone name (e.g. Europe/Paris)`);
  }
  return undefined;
}

// `isValidZone` builds an Intl formatter per call, far too slow per event; real traffic uses a
// few hundred zones at most. Only valid names are kept, so garbage input cannot grow the set.
const validZones = new Set<string>();

function isIanaZone(zone: string): boolean {
  if (validZones.has(zone)) return true;
  if (!IANAZone.isValidZone(zone)) return false;
  validZones.add(zone);
  return true;
}

function invalid(path: string, what: string): InvalidEventError {
  return new InvalidEventError('SCHEMA_INVALID', `${path}: ${what}`);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function show(value: unknown): string {
  return typeof value === 'number' ? String(value) : typeName(value);
}

function safeFormat(ms: number): string {
  try {
    return formatInstant(ms);
  } catch {
    return 'out of range';
  }
}
