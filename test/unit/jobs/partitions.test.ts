import { describe, expect, it } from 'vitest';
import { Duration } from 'luxon';
import { UsageError } from '../../../src/errors.js';
import { instantKey, Partitioning } from '../../../src/jobs/partitions.js';

const at = (s: string) => Date.parse(s);
const H = 3_600_000;

describe('Partitioning', () => {
  it('lists UTC hours of a range, oldest first, with readable sortable keys', () => {
    const parts = new Partitioning('hour').list({ from: at('2026-01-05T22:00:00Z'), to: at('2026-01-06T02:00:00Z') });
    expect(parts.map((p) => p.key)).toEqual(['2026-01-05T22:00Z', '2026-01-05T23:00Z', '2026-01-06T00:00Z', '2026-01-06T01:00Z']);
    for (const p of parts) expect(p.to - p.from).toBe(H);
    expect([...parts.map((p) => p.key)].sort()).toEqual(parts.map((p) => p.key));
  });

  it('refuses misaligned, empty and huge ranges, naming the nearest boundaries', () => {
    const hours = new Partitioning('hour');
    expect(() => hours.list({ from: at('2026-01-05T22:30:00Z'), to: at('2026-01-06T02:00:00Z') })).toThrow(UsageError);
    expect(() => hours.list({ from: at('2026-01-05T22:30:00Z'), to: at('2026-01-06T02:00:00Z') })).toThrow(
      /--from 2026-01-05T22:30:00.000Z is not on an hour boundary .*; use 2026-01-05T22:00:00.000Z or 2026-01-05T23:00:00.000Z/,
    );
    expect(() => hours.list({ from: at('2026-01-05T22:00:00Z'), to: at('2026-01-05T22:00:00Z') })).toThrow(/the range is empty/);
    expect(() => hours.list({ from: at('2000-01-01T00:00:00Z'), to: at('2026-01-01T00:00:00Z') })).toThrow(/more than 100000 hour partitions/);
    const days = new Partitioning('day', 'Europe/Berlin');
    expect(() => days.list({ from: at('2026-01-05T00:00:00Z'), to: at('2026-01-06T23:00:00Z') })).toThrow(/not on a local midnight in Europe\/Berlin .*; use 2026-01-04T23:00:00.000Z/);
  });

  it('cuts days at local midnights: 23 and 25 hours on the daylight-saving days', () => {
    const days = new Partitioning('day', 'Europe/Berlin');
    const spring = days.list({ from: at('2026-03-28T23:00:00Z'), to: at('2026-03-30T22:00:00Z') });
    expect(spring.map((p) => [p.key, (p.to - p.from) / H])).toEqual([
      ['2026-03-29', 23],
      ['2026-03-30', 24],
    ]);
    const autumn = days.list({ from: at('2026-10-24T22:00:00Z'), to: at('2026-10-25T23:00:00Z') });
    expect(autumn.map((p) => [p.key, (p.to - p.from) / H])).toEqual([['2026-10-25', 25]]);
    expect(days.floor(at('2026-10-25T12:00:00Z'))).toBe(at('2026-10-24T22:00:00Z'));
  });

  it('gives a single-partition job one partition keyed by its as-of time', () => {
    const single = new Partitioning('single');
    expect(single.list({ from: at('2026-01-05T03:00:00Z'), to: at('2026-01-05T03:00:00Z') })).toEqual([
      { key: '2026-01-05T03:00Z', from: at('2026-01-05T03:00:00Z'), to: at('2026-01-05T03:00:00Z') },
    ]);
    expect(instantKey(at('2026-01-05T03:00:01.5Z'))).toBe('2026-01-05T03:00:01.500Z');
  });

  it('covers, for a scheduled firing, the settled partitions of the lookback', () => {
    // hourly samples: fired 2026-01-07T00:15Z, settle 25 h, lookback 48 h
    const r = new Partitioning('hour').scheduledRange(at('2026-01-07T00:15:00Z'), Duration.fromISO('PT25H'), Duration.fromISO('PT48H'));
    expect(r).toEqual({ from: at('2026-01-03T23:00:00Z'), to: at('2026-01-05T23:00:00Z') });
    // daily recompute in Berlin: fired 01:30 local on the day after the spring change, settle 1 h, lookback 1 day
    const d = new Partitioning('day', 'Europe/Berlin').scheduledRange(at('2026-03-29T23:30:00Z'), Duration.fromISO('PT1H'), Duration.fromISO('P1D'));
    expect(d).toEqual({ from: at('2026-03-28T23:00:00Z'), to: at('2026-03-29T22:00:00Z') });
    // settle longer than the time since midnight: the day before is not complete yet
    const late = new Partitioning('day', 'UTC').scheduledRange(at('2026-01-07T00:30:00Z'), Duration.fromISO('PT1H'), Duration.fromISO('P1D'));
    expect(late).toEqual({ from: at('2026-01-05T00:00:00Z'), to: at('2026-01-06T00:00:00Z') });
    expect(new Partitioning('single').scheduledRange(at('2026-01-07T03:00:00Z'), Duration.fromISO('PT0S'), Duration.fromISO('PT1H'))).toEqual({
      from: at('2026-01-07T03:00:00Z'),
      to: at('2026-01-07T03:00:00Z'),
    });
  });

  it('consecutive firings cover consecutive ranges: no hour falls between two', () => {
    const p = new Partitioning('hour');
    const settle = Duration.fromISO('PT25H');
    const lookback = Duration.fromISO('PT1H');
    let prevTo: number | undefined;
    for (let f = at('2026-01-07T00:15:00Z'); f < at('2026-01-09T00:15:00Z'); f += H) {
      const r = p.scheduledRange(f, settle, lookback);
      if (prevTo !== undefined) expect(r.from).toBe(prevTo);
      prevTo = r.to;
    }
  });
});
