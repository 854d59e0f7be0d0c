import { describe, expect, it } from 'vitest';
import type { AnyEvent } from '../../../src/events/event-types.js';
import { days, hours, minutes, type FeatureGroupDef } from '../../../src/features/definitions.js';
import { oracleFeatures } from '../../../src/features/oracle.js';
import { compileRef, USER_CATEGORY_GROUP, USER_GROUP } from '../../helpers/reference.js';
import { windowRange } from '../../../src/features/windows.js';
import { T0, click, impression, order } from './fixtures.js';

const USER_ALL_DEF: FeatureGroupDef = {
  name: 'u',
  entity: { name: 'user', keyFields: ['userId'] },
  aggregations: [
    { source: 'order', op: 'sum', field: 'amount', windowsMs: [hours(1)] },
    { source: 'order', op: 'avg', field: 'amount', windowsMs: [hours(1)] },
    { source: 'order', op: 'min', field: 'amount', windowsMs: [hours(1)] },
    { source: 'order', op: 'max', field: 'amount', windowsMs: [hours(1)] },
    { source: 'order', op: 'last', field: 'itemId' },
    { source: 'click', op: 'approx_distinct', field: 'itemId', windowsMs: [days(7)] },
    { source: 'click', op: 'decayed_count', halfLifeMs: hours(1) },
  ],
};
const USER_ALL = compileRef(USER_ALL_DEF);

describe('oracleFeatures', () => {
  const q = T0 + days(1) + minutes(30) + 500;

  it('applies the sawtooth window and the strictly-before-q rule', () => {
    const { from } = windowRange(q, hours(1));
    const log = [click('u', 'a', from - 1), click('u', 'b', from), click('u', 'c', q - 1), click('u', 'd', q)];
    const out = oracleFeatures(USER_GROUP, log, 'u', q);
    expect(out.user_click_count_1h).toBe(2);
    expect(out.user_click_count_24h).toBe(3);
    expect(out.user_last_clicked_items).toEqual(['c', 'b', 'a']);
    expect(out.user_last_click_time).toBe(q - 1);
  });

  it('counts a duplicated eventId once, the first occurrence winning', () => {
    const c = click('u', 'a', q - 10);
    const log: AnyEvent[] = [c, { ...c }, { ...c, itemId: 'z', eventTime: q - 5 }];
    const out = oracleFeatures(USER_GROUP, log, 'u', q);
    expect(out.user_click_count_1h).toBe(1);
    expect(out.user_last_clicked_items).toEqual(['a']);
  });

  it('keeps only the entity asked for, and leaves out events missing a key field', () => {
    const log = [click('u', 'a', q - 10, { categoryId: 'c1' }), click('u', 'a', q - 9, { categoryId: null }), click('v', 'a', q - 8, { categoryId: 'c1' })];
    expect(oracleFeatures(USER_CATEGORY_GROUP, log, 'u:c1', q)).toEqual({ user_category_click_count_7d: 1 });
    expect(oracleFeatures(USER_GROUP, log, 'u', q).user_click_count_1h).toBe(2);
  });

  it('computes each op by hand, skipping NaN amounts', () => {
    const log = [
      order('u', 'i1', q - minutes(50), 10),
      order('u', 'i2', q - minutes(40), Number.NaN),
      order('u', 'i3', q - minutes(30), 4),
      order('u', 'i4', q - hours(3), 100),
      click('u', 'a', q - hours(1)),
      click('u', 'b', q - hours(2)),
      click('u', 'a', q - hours(3)),
    ];
    const out = oracleFeatures(USER_ALL, log, 'u', q);
    expect(out).toEqual({
      user_order_amount_sum_1h: 14,
      user_order_amount_avg_1h: 7,
      user_order_amount_min_1h: 4,
      user_order_amount_max_1h: 10,
      user_last_order_itemId: 'i3',
      user_click_items_distinct_7d: 2,
      user_click_decayed_count_1h: 0.5 + 0.25 + 0.125,
    });
  });

  it('defines the cold-start values', () => {
    expect(oracleFeatures(USER_ALL, [impression('x', 'i', q - 1)], 'u', q)).toEqual({
      user_order_amount_sum_1h: 0,
      user_order_amount_avg_1h: null,
      user_order_amount_min_1h: null,
      user_order_amount_max_1h: null,
      user_last_order_itemId: null,
      user_click_items_distinct_7d: 0,
      user_click_decayed_count_1h: 0,
    });
    expect(oracleFeatures(USER_GROUP, [], 'u', q)).toMatchObject({ user_ctr_7d: 1 / 20, user_last_clicked_items: [], user_last_click_time: null, user_order_amount_sum_30d: 0 });
  });
});
