import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../../src/errors.js';
import { formatInstant, parseInstant, tryParseInstant } from '../../../src/events/time.js';

describe('parseInstant', () => {
  it('takes integer epoch ms as they are', () => {
    expect(parseInstant(1_714_564_800_123)).toBe(1_714_564_800_123);
    expect(tryParseInstant(1.5)).toMatchObject({ ok: false });
  });

  it('reads ISO-8601 with Z or an offset', () => {
    expect(parseInstant('2024-05-01T12:00:00Z')).toBe(Date.UTC(2024, 4, 1, 12));
    expect(parseInstant('2024-05-01T20:00:00.250+08:00')).toBe(Date.UTC(2024, 4, 1, 12, 0, 0, 250));
    expect(parseInstant('2024-05-01T07:30:00-04:30')).toBe(Date.UTC(2024, 4, 1, 12));
  });

  it('refuses ISO-8601 without a zone, saying how to fix it', () => {
    for (const text of ['2024-05-01T12:00:00', '2024-05-01', '2024-05-01T12:00:00.000']) {
      const result = tryParseInstant(text);
      expect(result.ok, text).toBe(false);
      if (!result.ok) expect(result.error).toMatch(/without a zone offset.*add Z/);
    }
    expect(() => parseInstant('2024-05-01T12:00:00')).toThrow(InvalidEventError);
  });

  it('refuses garbage and other types', () => {
    expect(tryParseInstant('yesterday')).toMatchObject({ ok: false, error: expect.stringMatching(/not an ISO-8601 instant/) });
    expect(tryParseInstant(true)).toMatchObject({ ok: false });
    expect(tryParseInstant(null)).toMatchObject({ ok: false });
  });
});

describe('formatInstant', () => {
  it('prints UTC with milliseconds', () => {
    expect(formatInstant(Date.UTC(2024, 4, 1, 12, 0, 0, 5))).toBe('2024-05-01T12:00:00.005Z');
    expect(formatInstant(0)).toBe('1970-01-01T00:00:00.000Z');
  });

  it('round-trips through parseInstant for instants across the range', () => {
    let ms = Date.UTC(2000, 0, 1);
    const end = Date.UTC(2100, 0, 1);
    const step = 987_654_321_001; // odd, so milliseconds vary
    for (; ms < end; ms += step) expect(parseInstant(formatInstant(ms))).toBe(ms);
    expect(parseInstant(formatInstant(-1))).toBe(-1);
  });

  it('refuses non-integers', () => {
    expect(() => formatInstant(1.5)).toThrow(RangeError);
    expect(() => formatInstant(Number.NaN)).toThrow(RangeError);
  });
});
