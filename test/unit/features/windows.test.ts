import { describe, expect, it } from 'vitest';
import { days, hours, minutes, seconds } from '../../../src/features/definitions.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, formatWindow, hopFor, isInWindow, tileRetentionMs, tileStart, windowRange } from '../../../src/features/windows.js';
import { Rng } from '../../../src/ingest/rng.js';

describe('hopFor', () => {
  it('follows the hop table at its boundaries (each bound inclusive)', () => {
    expect(hopFor(seconds(1))).toBe(MINUTE_MS);
    expect(hopFor(hours(1))).toBe(MINUTE_MS);
    expect(hopFor(minutes(61))).toBe(5 * MINUTE_MS);
    expect(hopFor(hours(12))).toBe(5 * MINUTE_MS);
    expect(hopFor(hours(12) + minutes(1))).toBe(HOUR_MS);
    expect(hopFor(days(12))).toBe(HOUR_MS);
    expect(hopFor(days(13))).toBe(DAY_MS);
    expect(hopFor(days(12) + 1)).toBe(DAY_MS);
    expect(hopFor(days(365))).toBe(DAY_MS);
  });

  it('refuses a window that is not positive', () => {
    expect(() => hopFor(0)).toThrow(RangeError);
    expect(() => hopFor(-HOUR_MS)).toThrow(RangeError);
    expect(() => hopFor(Number.NaN)).toThrow(RangeError);
  });
});

describe('tileStart', () => {
  it('floors to the hop, for positive and negative instants alike', () => {
    expect(tileStart(0, MINUTE_MS)).toBe(0);
    expect(tileStart(59_999, MINUTE_MS)).toBe(0);
    expect(tileStart(60_000, MINUTE_MS)).toBe(60_000);
    expect(tileStart(-1, MINUTE_MS)).toBe(-60_000);
    expect(tileStart(-60_000, MINUTE_MS)).toBe(-60_000);
    expect(tileStart(-60_001, MINUTE_MS)).toBe(-120_000);
    expect(tileStart(Date.UTC(2024, 4, 1, 13, 37, 12), HOUR_MS)).toBe(Date.UTC(2024, 4, 1, 13));
  });

  it('equals floor(t / h) * h on random instants, and the tile holds t', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 5000; i++) {
      const t = rng.int(-4e12, 4e12);
      const h = rng.choice([MINUTE_MS, 5 * MINUTE_MS, HOUR_MS, DAY_MS]);
      const s = tileStart(t, h);
      expect(s).toBe(Math.floor(t / h) * h);
      expect(s <= t && t < s + h).toBe(true);
    }
  });
});

describe('windowRange and the strictly-before-q rule', () => {
  const q = Date.UTC(2024, 4, 1, 10, 30, 15, 500);

  it('starts at the hop below q - W and ends at q', () => {
    expect(windowRange(q, hours(1))).toEqual({ from: Date.UTC(2024, 4, 1, 9, 30), to: q });
    expect(windowRange(q, hours(24))).toEqual({ from: Date.UTC(2024, 3, 30, 10), to: q }); // 24 h > 12 h: hourly hop
    expect(windowRange(q, hours(6))).toEqual({ from: Date.UTC(2024, 4, 1, 4, 30), to: q });
    expect(windowRange(q, days(7))).toEqual({ from: Date.UTC(2024, 3, 24, 10), to: q });
    expect(windowRange(q, days(30))).toEqual({ from: Date.UTC(2024, 3, 1), to: q });
  });

  it('includes an event at exactly from, excludes from - 1 and q itself', () => {
    for (const w of [minutes(10), hours(1), hours(24), days(7), days(30)]) {
      const { from } = windowRange(q, w);
      expect(isInWindow(from, q, w)).toBe(true);
      expect(isInWindow(from - 1, q, w)).toBe(false);
      expect(isInWindow(q - 1, q, w)).toBe(true);
      expect(isInWindow(q, q, w)).toBe(false);
      expect(isInWindow(q + 1, q, w)).toBe(false);
    }
  });

  it('covers a tile-aligned window exactly W wide, and at most W + hop otherwise', () => {
    const aligned = Date.UTC(2024, 4, 1);
    expect(windowRange(aligned, days(7)).from).toBe(aligned - days(7));
    const rng = new Rng(9);
    for (let i = 0; i < 2000; i++) {
      const w = rng.choice([hours(1), hours(6), days(7), days(30)]);
      const at = rng.int(0, 2e12);
      const { from } = windowRange(at, w);
      expect(at - from).toBeGreaterThanOrEqual(w);
      expect(at - from).toBeLessThan(w + hopFor(w));
    }
  });

  it('treats lifetime as every t < q', () => {
    expect(isInWindow(-1e15, q, null)).toBe(true);
    expect(isInWindow(q - 1, q, null)).toBe(true);
    expect(isInWindow(q, q, null)).toBe(false);
  });

  it('keeps a tile until the last query that reads it', () => {
    const h = hopFor(hours(1));
    const s = Date.UTC(2024, 4, 1, 9);
    const last = s + tileRetentionMs(h, hours(1)) - 1;
    expect(windowRange(last, hours(1)).from).toBeLessThanOrEqual(s);
    expect(windowRange(last + 1, hours(1)).from).toBeGreaterThan(s);
  });
});

describe('formatWindow', () => {
  it('prints the reference windows as the reference names do', () => {
    expect(formatWindow(hours(1))).toBe('1h');
    expect(formatWindow(hours(24))).toBe('24h');
    expect(formatWindow(days(7))).toBe('7d');
    expect(formatWindow(days(30))).toBe('30d');
  });

  it('uses the largest exact unit, days only from two days on', () => {
    expect(formatWindow(minutes(10))).toBe('10m');
    expect(formatWindow(seconds(90))).toBe('90s');
    expect(formatWindow(hours(36))).toBe('36h');
    expect(formatWindow(hours(48))).toBe('2d');
    expect(formatWindow(hours(25))).toBe('25h');
    expect(formatWindow(minutes(90))).toBe('90m');
    expect(formatWindow(1500)).toBe('1500ms');
  });

  it('refuses what cannot be a window', () => {
    expect(() => formatWindow(0)).toThrow(RangeError);
    expect(() => formatWindow(1.5)).toThrow(RangeError);
  });
});
