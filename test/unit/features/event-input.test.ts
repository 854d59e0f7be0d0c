import { describe, expect, it } from 'vitest';
import type { TypedEvent } from '../../../src/events/event-types.js';
import { aggregationInput, entityKeyOf, eventUpdates } from '../../../src/features/event-input.js';
import { days, hours } from '../../../src/features/definitions.js';
import { compileRef, USER_CATEGORY_GROUP, USER_GROUP } from '../../helpers/reference.js';
import { HOUR_MS, MINUTE_MS } from '../../../src/features/windows.js';
import { T0, click, impression, order } from './fixtures.js';

const USER = USER_GROUP.entity;
const USER_CATEGORY = USER_CATEGORY_GROUP.entity;

describe('entityKeyOf', () => {
  it('joins the key field values with a colon', () => {
    expect(entityKeyOf(USER, click('u-1', 'i-1', T0))).toBe('u-1');
    expect(entityKeyOf(USER_CATEGORY, click('u-1', 'i-1', T0, { categoryId: 'c-7' }))).toBe('u-1:c-7');
  });

  it('leaves out an event missing a key field (null or empty)', () => {
    expect(entityKeyOf(USER_CATEGORY, click('u-1', 'i-1', T0, { categoryId: null }))).toBeNull();
    expect(entityKeyOf(USER_CATEGORY, click('u-1', 'i-1', T0, { categoryId: '' }))).toBeNull();
    expect(entityKeyOf(USER, click('', 'i-1', T0))).toBeNull();
    expect(eventUpdates(USER_CATEGORY_GROUP, click('u-1', 'i-1', T0, { categoryId: null }))).toBeNull();
  });
});

describe('aggregationInput', () => {
  it('feeds only events of the source', () => {
    expect(aggregationInput({ source: 'click', op: 'count' }, impression('u', 'i', T0))).toBeNull();
    expect(aggregationInput({ source: 'click', op: 'count' }, click('u', 'i', T0))).toEqual({ value: null });
  });

  it('skips values the op cannot use', () => {
    const sum = { source: 'order', op: 'sum', field: 'amount' } as const;
    expect(aggregationInput(sum, order('u', 'i', T0, 12.5))).toEqual({ value: 12.5 });
    expect(aggregationInput(sum, order('u', 'i', T0, Number.NaN))).toBeNull();
    const lastCat = { source: 'click', op: 'last', field: 'categoryId' } as const;
    expect(aggregationInput(lastCat, click('u', 'i', T0, { categoryId: null }))).toBeNull();
    expect(aggregationInput(lastCat, click('u', 'i', T0, { categoryId: 'c' }))).toEqual({ value: 'c' });
  });
});

describe('eventUpdates', () => {
  it('updates one tile per hop of each aggregation the event feeds, and the lifetime states', () => {
    const group = USER_GROUP;
    const t = T0 + 5 * HOUR_MS + 17 * MINUTE_MS + 42;
    const routed = eventUpdates(group, click('u-1', 'i-9', t));
    expect(routed?.entityKey).toBe('u-1');
    expect(routed?.updates).toEqual([
      // click count 1h / 24h / 7d: 1 min tiles for 1h, 1 h tiles for 24h and 7d (shared)
      { aggregation: 1, hopMs: MINUTE_MS, tileStart: T0 + 5 * HOUR_MS + 17 * MINUTE_MS, value: null, t },
      { aggregation: 1, hopMs: HOUR_MS, tileStart: T0 + 5 * HOUR_MS, value: null, t },
      { aggregation: 4, hopMs: null, tileStart: null, value: 'i-9', t },
      { aggregation: 5, hopMs: null, tileStart: null, value: null, t },
    ]);
    const profile: TypedEvent<'item_profile'> = { type: 'item_profile', eventId: 'p', eventTime: t, itemId: 'i', categoryId: null, price: null, brand: null };
    expect(eventUpdates(group, profile)).toBeNull();
  });

  it('routes an order into day tiles for a 30 day window', () => {
    const group = compileRef({
      name: 'g',
      entity: USER,
      aggregations: [{ source: 'order', op: 'sum', field: 'amount', windowsMs: [days(30), hours(2)] }],
    });
    const t = T0 + 30 * HOUR_MS;
    expect(eventUpdates(group, order('u', 'i', t, 3))?.updates.map((u) => [u.hopMs, u.tileStart])).toEqual([
      [5 * MINUTE_MS, t],
      [24 * HOUR_MS, T0 + 24 * HOUR_MS],
    ]);
    expect(eventUpdates(group, order('u', 'i', t, Number.NaN))?.updates).toEqual([]);
  });
});
