import { describe, expect, it } from 'vitest';
import { InvalidEventError, type RejectCode } from '../../../src/errors.js';
import type { AnyEvent, TypedEvent } from '../../../src/events/event-types.js';
import { checkEvent, MAX_EVENT_TIME_AHEAD_MS, MAX_ID_BYTES, MAX_STRING_BYTES, MIN_EVENT_TIME_MS, validateEvent } from '../../../src/events/validate.js';
import { REFERENCE_CATALOG } from '../../helpers/reference.js';
import { NOW, SAMPLES } from './samples.js';

const DAY = 86_400_000;

function reasonOf(event: unknown, now = NOW): RejectCode | 'ok' {
  try {
    validateEvent(event as AnyEvent, REFERENCE_CATALOG, now);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidEventError);
    return (err as InvalidEventError).reason;
  }
}

function messageOf(event: unknown, now = NOW): string {
  const result = checkEvent(event as AnyEvent, REFERENCE_CATALOG, now);
  if (result.ok) throw new Error('expected a rejection');
  return result.error.message;
}

describe('validateEvent', () => {
  it('accepts every sample', () => {
    for (const event of Object.values(SAMPLES)) expect(reasonOf(event)).toBe('ok');
  });

  it('states the range constants it documents', () => {
    expect(new Date(MIN_EVENT_TIME_MS).toISOString()).toBe('2000-01-01T00:00:00.000Z');
    expect(MAX_EVENT_TIME_AHEAD_MS).toBe(DAY);
  });

  it('rejects unknown type tags', () => {
    expect(reasonOf({ ...SAMPLES.click, type: 'clicks' })).toBe('UNKNOWN_TYPE');
  });

  describe('ids', () => {
    it.each([
      ['impression', 'eventId'],
      ['impression', 'requestId'],
      ['click', 'userId'],
      ['click', 'itemId'],
      ['order', 'orderId'],
      ['item_profile', 'itemId'],
      ['user_profile', 'userId'],
    ] as const)('%s.%s must be a non-empty string', (type, field) => {
      const event = SAMPLES[type];
      expect(reasonOf({ ...event, [field]: '' })).toBe('MISSING_ID');
      expect(reasonOf({ ...event, [field]: '   ' })).toBe('MISSING_ID');
      expect(reasonOf({ ...event, [field]: undefined })).toBe('MISSING_ID');
      expect(reasonOf({ ...event, [field]: null })).toBe('MISSING_ID');
      expect(reasonOf({ ...event, [field]: 7 })).toBe('SCHEMA_INVALID');
      expect(messageOf({ ...event, [field]: '' })).toMatch(new RegExp(`^${field}: empty`));
    });

    it('lets the order requestId be null but not empty', () => {
      expect(reasonOf({ ...SAMPLES.order, requestId: null })).toBe('ok');
      expect(reasonOf({ ...SAMPLES.order, requestId: 'r-9' })).toBe('ok');
      expect(reasonOf({ ...SAMPLES.order, requestId: '' })).toBe('MISSING_ID');
    });

    it('reports a missing id before a bad time', () => {
      expect(reasonOf({ ...SAMPLES.click, eventId: '', eventTime: 5 })).toBe('MISSING_ID');
    });
  });

  describe('lengths', () => {
    it('takes ids up to MAX_ID_BYTES of UTF-8, counted in bytes, not characters', () => {
      expect(reasonOf({ ...SAMPLES.click, itemId: 'i'.repeat(MAX_ID_BYTES) })).toBe('ok');
      expect(reasonOf({ ...SAMPLES.click, itemId: 'i'.repeat(MAX_ID_BYTES + 1) })).toBe('FIELD_TOO_LONG');
      // 86 three-byte characters are 258 bytes: over, though only 86 characters long.
      expect(reasonOf({ ...SAMPLES.click, userId: '用'.repeat(85) })).toBe('ok');
      expect(reasonOf({ ...SAMPLES.click, userId: '用'.repeat(86) })).toBe('FIELD_TOO_LONG');
      expect(messageOf({ ...SAMPLES.click, userId: '用'.repeat(86) })).toBe('userId: 258 bytes, more than the 256 bytes (UTF-8) an id may take');
      expect(messageOf({ ...SAMPLES.click, eventId: 'e'.repeat(10_000_000) })).toMatch(/^eventId: 10000000 characters, more than the 256 bytes/);
    });

    it('takes string and context fields up to MAX_STRING_BYTES', () => {
      expect(reasonOf({ ...SAMPLES.item_profile, brand: 'b'.repeat(MAX_STRING_BYTES) })).toBe('ok');
      expect(reasonOf({ ...SAMPLES.item_profile, brand: 'b'.repeat(MAX_STRING_BYTES + 1) })).toBe('FIELD_TOO_LONG');
      expect(reasonOf({ ...SAMPLES.click, context: { ...SAMPLES.click.context, page: 'p'.repeat(MAX_STRING_BYTES + 1) } })).toBe('FIELD_TOO_LONG');
      expect(messageOf({ ...SAMPLES.click, context: { ...SAMPLES.click.context, page: 'p'.repeat(MAX_STRING_BYTES + 1) } })).toMatch(/^context\.page: 4097 characters/);
    });
  });

  describe('eventTime', () => {
    const at = (eventTime: number): unknown => ({ ...SAMPLES.impression, eventTime });

    it('accepts exactly 2000-01-01T00:00:00Z and rejects 1 ms earlier', () => {
      const boundary = Date.UTC(2000, 0, 1);
      expect(reasonOf(at(boundary))).toBe('ok');
      expect(reasonOf(at(boundary - 1))).toBe('EVENT_TIME_OUT_OF_RANGE');
    });

    it('accepts exactly now + 1 day and rejects 1 ms later', () => {
      expect(reasonOf(at(NOW + DAY))).toBe('ok');
      expect(reasonOf(at(NOW + DAY + 1))).toBe('EVENT_TIME_OUT_OF_RANGE');
      expect(messageOf(at(NOW + DAY + 1))).toMatch(/after now \(2024-06-01T00:00:00.000Z\)/);
    });

    it('takes now and the tolerance from the caller', () => {
      expect(reasonOf(at(NOW + DAY), NOW - 1)).toBe('EVENT_TIME_OUT_OF_RANGE');
      expect(checkEvent(at(NOW + 10) as AnyEvent, REFERENCE_CATALOG, NOW, 10).ok).toBe(true);
      expect(checkEvent(at(NOW + 11) as AnyEvent, REFERENCE_CATALOG, NOW, 10).ok).toBe(false);
    });

    it('rejects non-integers and seconds-instead-of-ms', () => {
      expect(reasonOf(at(NOW + 0.5))).toBe('EVENT_TIME_OUT_OF_RANGE');
      expect(reasonOf(at(Number.NaN))).toBe('EVENT_TIME_OUT_OF_RANGE');
      expect(reasonOf(at(Number.POSITIVE_INFINITY))).toBe('EVENT_TIME_OUT_OF_RANGE');
      expect(messageOf(at(Math.floor(NOW / 1000)))).toMatch(/seconds instead of milliseconds/);
      expect(reasonOf({ ...SAMPLES.impression, eventTime: '2024-01-01T00:00:00Z' })).toBe('SCHEMA_INVALID');
    });
  });

  describe('amounts, prices, quantities, positions', () => {
    it.each([
      ['order', 'amount'],
      ['order', 'quantity'],
      ['item_profile', 'price'],
      ['impression', 'position'],
      ['click', 'position'],
    ] as const)('%s.%s must be finite and non-negative', (type, field) => {
      const event = SAMPLES[type];
      expect(reasonOf({ ...event, [field]: 0 })).toBe('ok');
      expect(reasonOf({ ...event, [field]: -1 })).toBe('SCHEMA_INVALID');
      expect(reasonOf({ ...event, [field]: Number.NaN })).toBe('SCHEMA_INVALID');
      expect(reasonOf({ ...event, [field]: Number.POSITIVE_INFINITY })).toBe('SCHEMA_INVALID');
      expect(messageOf({ ...event, [field]: -1 })).toBe(`${field}: must not be negative, got -1`);
    });

    it('allows null only where the schema does', () => {
      expect(reasonOf({ ...SAMPLES.click, position: null })).toBe('ok');
      expect(reasonOf({ ...SAMPLES.item_profile, price: null })).toBe('ok');
      expect(reasonOf({ ...SAMPLES.impression, position: null })).toBe('SCHEMA_INVALID');
      expect(reasonOf({ ...SAMPLES.order, amount: null })).toBe('SCHEMA_INVALID');
    });

    it('wants whole numbers for quantity and position', () => {
      expect(reasonOf({ ...SAMPLES.order, quantity: 1.5 })).toBe('SCHEMA_INVALID');
      expect(reasonOf({ ...SAMPLES.order, amount: 1.5 })).toBe('ok');
    });
  });

  describe('context.timezone', () => {
    const withZone = (timezone: unknown): unknown => ({ ...SAMPLES.order, context: { ...SAMPLES.order.context, timezone } });

    it('accepts IANA zones and null', () => {
      expect(reasonOf(withZone('Asia/Shanghai'))).toBe('ok');
      expect(reasonOf(withZone('America/Argentina/Buenos_Aires'))).toBe('ok');
      expect(reasonOf(withZone(null))).toBe('ok');
    });

    it('rejects anything else with the field path', () => {
      expect(reasonOf(withZone('Mars/Olympus_Mons'))).toBe('SCHEMA_INVALID');
      expect(reasonOf(withZone('+08:00'))).toBe('SCHEMA_INVALID');
      expect(messageOf(withZone('CEST!'))).toMatch(/^context\.timezone: "CEST!" is not an IANA time zone/);
      // The validity cache must not make a bad zone good after a good one was seen.
      expect(reasonOf(withZone('Asia/Shanghai'))).toBe('ok');
      expect(reasonOf(withZone('Asia/Shanghai2'))).toBe('SCHEMA_INVALID');
    });

    it('requires a context object on the kinds that have one', () => {
      expect(reasonOf({ ...SAMPLES.click, context: null })).toBe('SCHEMA_INVALID');
      expect(reasonOf({ ...SAMPLES.click, context: { ...SAMPLES.click.context, page: 3 } })).toBe('SCHEMA_INVALID');
    });
  });
});

describe('checkEvent', () => {
  it('returns the event itself when valid, the error otherwise', () => {
    const ok = checkEvent(SAMPLES.order, REFERENCE_CATALOG, NOW);
    expect(ok).toEqual({ ok: true, value: SAMPLES.order });
    if (ok.ok) expect(ok.value).toBe(SAMPLES.order);
    const emptyOrderId: TypedEvent<'order'> = { ...SAMPLES.order, orderId: '' };
    const bad = checkEvent(emptyOrderId, REFERENCE_CATALOG, NOW);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.reason).toBe('MISSING_ID');
  });
});
