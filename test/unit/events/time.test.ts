import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
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

describe('parseInstant: the common form read without luxon', () => {
  // luxon reading the string in its own offset: the oracle of every string the fast path takes
  const luxon = (text: string) => {
    const d = DateTime.fromISO(text, { setZone: true });
    return d.isValid ? d.toMillis() : null;
  };
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');

  it('equals luxon on random instants in every offset and fraction length', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      const y = 1970 + rand(130);
      const mo = 1 + rand(12);
      const d = 1 + rand(31);
      const fraction = ['', '.' + pad(rand(10), 1), '.' + pad(rand(100)), '.' + pad(rand(1000), 3)][rand(4)];
      const zone = rand(3) === 0 ? 'Z' : `${rand(2) ? '+' : '-'}${pad(rand(15))}:${pad([0, 30, 45][rand(3)] as number)}`;
      const text = `${y}-${pad(mo)}-${pad(d)}T${pad(rand(24))}:${pad(rand(60))}:${pad(rand(60))}${fraction}${zone}`;
      const want = luxon(text);
      const got = tryParseInstant(text);
      if (want === null) expect(got.ok, text).toBe(false);
      else expect(got, text).toEqual({ ok: true, value: want });
    }
  });

  it('leaves days that do not exist and out-of-range fields to luxon, which refuses them (or takes 24:00 as the end of the day)', () => {
    expect(tryParseInstant('2024-02-29T12:00:00Z')).toEqual({ ok: true, value: Date.UTC(2024, 1, 29, 12) });
    for (const bad of ['2023-02-29T12:00:00Z', '2024-04-31T00:00:00Z', '2024-13-01T00:00:00Z', '2024-00-10T00:00:00Z', '2024-01-01T10:60:00Z', '2024-01-01T10:00:61Z']) {
      const r = tryParseInstant(bad);
      expect(r.ok, bad).toBe(false);
    }
    expect(tryParseInstant('2024-01-01T24:00:00+01:00')).toEqual({ ok: true, value: luxon('2024-01-01T24:00:00+01:00') });
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
