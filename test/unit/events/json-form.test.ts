import { describe, expect, it } from 'vitest';
import { InvalidEventError, type RejectCode } from '../../../src/errors.js';
import { EMPTY_CONTEXT, REFERENCE_EVENT_TYPES } from '../../../src/events/event-types.js';
import { eventToJson, parseEventJson } from '../../../src/events/json-form.js';
import { REFERENCE_CATALOG } from '../../helpers/reference.js';
import { NOW, SAMPLES } from './samples.js';

function rejection(line: string, now = NOW): { reason: RejectCode; message: string } {
  try {
    parseEventJson(line, REFERENCE_CATALOG, now);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidEventError);
    const e = err as InvalidEventError;
    return { reason: e.reason, message: e.message };
  }
  throw new Error(`expected ${line} to be rejected`);
}

const click = {
  type: 'click',
  eventId: 'e1',
  eventTime: 1_714_564_800_000,
  requestId: 'r1',
  userId: 'u1',
  itemId: 'i9',
};
const line = (over: Record<string, unknown> = {}): string => JSON.stringify({ ...click, ...over });

describe('parseEventJson', () => {
  it('reads a minimal event, defaulting optional fields and context to null', () => {
    expect(parseEventJson(line(), REFERENCE_CATALOG, NOW)).toStrictEqual({
      type: 'click',
      eventId: 'e1',
      eventTime: 1_714_564_800_000,
      requestId: 'r1',
      userId: 'u1',
      itemId: 'i9',
      categoryId: null,
      position: null,
      context: { ...EMPTY_CONTEXT },
    });
  });

  it('reads eventTime as epoch ms or as ISO-8601 with an offset, to the same instant', () => {
    const fromIso = parseEventJson(line({ eventTime: '2024-05-01T19:30:00+08:00' }), REFERENCE_CATALOG, NOW);
    const fromZ = parseEventJson(line({ eventTime: '2024-05-01T11:30:00.000Z' }), REFERENCE_CATALOG, NOW);
    expect(fromIso.eventTime).toBe(Date.UTC(2024, 4, 1, 11, 30));
    expect(fromZ.eventTime).toBe(fromIso.eventTime);
  });

  it('refuses ISO-8601 without a zone, naming the field', () => {
    const { reason, message } = rejection(line({ eventTime: '2024-05-01T11:30:00' }));
    expect(reason).toBe('SCHEMA_INVALID');
    expect(message).toMatch(/^eventTime: ISO-8601 instant without a zone offset/);
  });

  it('reads signupTime like eventTime and defaults it to null', () => {
    const base = { type: 'user_profile', eventId: 'p1', eventTime: '2024-01-02T00:00:00Z', userId: 'u1' };
    expect(parseEventJson(JSON.stringify({ ...base, signupTime: '2019-07-14T10:09:10.011+02:00' }), REFERENCE_CATALOG, NOW)).toMatchObject({
      signupTime: Date.UTC(2019, 6, 14, 8, 9, 10, 11),
      ageBucket: null,
      gender: null,
    });
    expect(parseEventJson(JSON.stringify(base), REFERENCE_CATALOG, NOW)).toMatchObject({ signupTime: null });
    expect(rejection(JSON.stringify({ ...base, signupTime: '2019-07-14' })).message).toMatch(/^signupTime: /);
  });

  it('fills a partial context and rejects unknown context fields', () => {
    const event = parseEventJson(line({ context: { country: 'FR', timezone: 'Europe/Paris' } }), REFERENCE_CATALOG, NOW);
    expect(event).toMatchObject({ context: { ...EMPTY_CONTEXT, country: 'FR', timezone: 'Europe/Paris' } });
    const { reason, message } = rejection(line({ context: { countri: 'FR' } }));
    expect(reason).toBe('SCHEMA_INVALID');
    expect(message).toMatch(/^context\.countri: unknown field/);
    expect(rejection(line({ context: 'FR' })).message).toMatch(/^context: expected an object/);
  });

  it('rejects unknown fields by name, with a hint for near misses', () => {
    const { reason, message } = rejection(line({ user_id: 'u2' }));
    expect(reason).toBe('SCHEMA_INVALID');
    expect(message).toMatch(/^user_id: unknown field for click \(did you mean userId\?\)/);
    expect(rejection(line({ price: 3 })).message).toMatch(/^price: unknown field for click; fields are eventId, /);
  });

  it('rejects lines that are not JSON objects as BAD_JSON', () => {
    expect(rejection('{"type":"click",').reason).toBe('BAD_JSON');
    expect(rejection('not json').message).toMatch(/^not valid JSON/);
    expect(rejection('[1,2]').reason).toBe('BAD_JSON');
    expect(rejection('null').reason).toBe('BAD_JSON');
    expect(rejection('42').reason).toBe('BAD_JSON');
  });

  it('rejects unknown or missing types as UNKNOWN_TYPE, listing the valid ones', () => {
    const { reason, message } = rejection(line({ type: 'view' }));
    expect(reason).toBe('UNKNOWN_TYPE');
    expect(message).toContain(REFERENCE_CATALOG.types.join(', '));
    expect(message).toContain(REFERENCE_EVENT_TYPES.join(', '));
    const { type: _t, ...untyped } = click;
    expect(rejection(JSON.stringify(untyped)).reason).toBe('UNKNOWN_TYPE');
  });

  it('rejects missing or empty required ids as MISSING_ID', () => {
    const { userId: _u, ...noUser } = click;
    expect(rejection(JSON.stringify(noUser))).toEqual({ reason: 'MISSING_ID', message: 'userId: missing' });
    expect(rejection(line({ eventId: '' })).reason).toBe('MISSING_ID');
    expect(rejection(line({ requestId: null })).reason).toBe('MISSING_ID');
  });

  it('rejects values of the wrong type with the field path', () => {
    expect(rejection(line({ userId: 42 }))).toEqual({ reason: 'SCHEMA_INVALID', message: 'userId: expected a string id, got number' });
    expect(rejection(line({ position: '3' })).message).toMatch(/^position: expected a finite number/);
    expect(rejection(line({ eventTime: 1.5e12 + 0.5 })).message).toMatch(/^eventTime: expected integer epoch milliseconds/);
    const { eventTime: _e, ...noTime } = click;
    expect(rejection(JSON.stringify(noTime)).message).toMatch(/^eventTime: required/);
  });

  it('applies the event-time range against the given now', () => {
    expect(rejection(line({ eventTime: NOW + 86_400_001 })).reason).toBe('EVENT_TIME_OUT_OF_RANGE');
    expect(parseEventJson(line({ eventTime: NOW + 86_400_001 }), REFERENCE_CATALOG, NOW + 1).eventTime).toBe(NOW + 86_400_001);
    expect(rejection(line({ eventTime: '1999-12-31T23:59:59.999Z' })).reason).toBe('EVENT_TIME_OUT_OF_RANGE');
  });

  it('rejects an invalid time zone', () => {
    expect(rejection(line({ context: { timezone: 'Paris' } })).message).toMatch(/^context\.timezone: /);
  });
});

describe('eventToJson', () => {
  it('prints type first, instants as ISO-8601 UTC with milliseconds, and every field', () => {
    expect(JSON.parse(eventToJson(SAMPLES.user_profile, REFERENCE_CATALOG))).toEqual({
      type: 'user_profile',
      eventId: 'up-1',
      eventTime: '2024-01-02T00:00:00.000Z',
      userId: 'u-1',
      ageBucket: '25-34',
      gender: null,
      signupTime: '2019-07-14T08:09:10.011Z',
    });
    expect(eventToJson(SAMPLES.click, REFERENCE_CATALOG).startsWith('{"type":"click","eventId":"clk-1","eventTime":"2024-05-01T12:00:05.007Z",')).toBe(true);
  });

  it.each(REFERENCE_EVENT_TYPES)('round-trips a %s exactly', (type) => {
    const event = SAMPLES[type];
    const text = eventToJson(event, REFERENCE_CATALOG);
    expect(parseEventJson(text, REFERENCE_CATALOG, NOW)).toStrictEqual(event);
    // And the text is a fixed point, so files can be diffed after a pass through the CLI.
    expect(eventToJson(parseEventJson(text, REFERENCE_CATALOG, NOW), REFERENCE_CATALOG)).toBe(text);
  });

  it('leaves out fields the event kind does not have', () => {
    const extra = { ...SAMPLES.item_profile, stray: 1 };
    expect(JSON.parse(eventToJson(extra, REFERENCE_CATALOG))).not.toHaveProperty('stray');
  });
});
