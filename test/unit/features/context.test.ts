import { describe, expect, it } from 'vitest';
import { EMPTY_CONTEXT, type Context } from '../../../src/events/event-types.js';
import { CONTEXT_FEATURE_NAMES, contextFeatures } from '../../../src/features/context.js';

const ctx = (over: Partial<Context>): Context => ({ ...EMPTY_CONTEXT, ...over });

describe('contextFeatures', () => {
  it('reads hour and weekday in Asia/Shanghai (UTC+8, crossing midnight)', () => {
    // Monday 2024-01-01 20:00 UTC is Tuesday 04:00 in Shanghai.
    expect(contextFeatures(ctx({ timezone: 'Asia/Shanghai' }), Date.UTC(2024, 0, 1, 20))).toEqual({
      context_hour_of_day: 4,
      context_day_of_week: 2,
      context_device: 'unknown',
      context_page: 'unknown',
    });
  });

  it('follows America/Los_Angeles across both DST changes', () => {
    const la = ctx({ timezone: 'America/Los_Angeles' });
    const at = (utc: number): [number, number] => {
      const f = contextFeatures(la, utc);
      return [f.context_hour_of_day, f.context_day_of_week];
    };
    // Spring forward, Sunday 2024-03-10 at 02:00 PST (10:00 UTC): 01:30 PST, then 03:30 PDT.
    expect(at(Date.UTC(2024, 2, 10, 9, 30))).toEqual([1, 7]);
    expect(at(Date.UTC(2024, 2, 10, 10, 30))).toEqual([3, 7]);
    // Fall back, Sunday 2024-11-03 at 02:00 PDT (09:00 UTC): 01:30 twice, then 02:30 PST.
    expect(at(Date.UTC(2024, 10, 3, 8, 30))).toEqual([1, 7]);
    expect(at(Date.UTC(2024, 10, 3, 9, 30))).toEqual([1, 7]);
    expect(at(Date.UTC(2024, 10, 3, 10, 30))).toEqual([2, 7]);
    // Summer vs winter offset for the same UTC hour.
    expect(at(Date.UTC(2024, 6, 1, 12))).toEqual([5, 1]);
    expect(at(Date.UTC(2024, 0, 1, 12))).toEqual([4, 1]);
  });

  it('uses UTC for a null or unknown timezone', () => {
    const sunday = Date.UTC(2024, 0, 7, 23, 59, 59, 999);
    expect(contextFeatures(ctx({}), sunday)).toMatchObject({ context_hour_of_day: 23, context_day_of_week: 7 });
    expect(contextFeatures(ctx({ timezone: 'Mars/Olympus_Mons' }), sunday)).toMatchObject({ context_hour_of_day: 23, context_day_of_week: 7 });
    expect(contextFeatures(ctx({ timezone: 'Asia/Shanghai' }), sunday)).toMatchObject({ context_hour_of_day: 7, context_day_of_week: 1 });
  });

  it('passes device and page through, with unknown for null or empty', () => {
    expect(contextFeatures(ctx({ device: 'mobile', page: 'home' }), 0)).toMatchObject({ context_device: 'mobile', context_page: 'home' });
    expect(contextFeatures(ctx({ device: '', page: null }), 0)).toMatchObject({ context_device: 'unknown', context_page: 'unknown' });
  });

  it('returns exactly the named features', () => {
    expect(Object.keys(contextFeatures(ctx({}), 0))).toEqual([...CONTEXT_FEATURE_NAMES]);
    expect(() => contextFeatures(ctx({}), Number.NaN)).toThrow(RangeError);
  });
});
