import { describe, expect, it } from 'vitest';
import { compileGroup, featureNames } from '../../../src/features/definitions.js';
import { ITEM_GROUP, REFERENCE_GROUPS, USER_CATEGORY_GROUP, USER_GROUP } from '../../../src/features/reference.js';
import { HOUR_MS, MINUTE_MS } from '../../../src/features/windows.js';

/** The names issue 3 promises, in the order. */
const PROMISED = [
  'user_impression_count_1h',
  'user_impression_count_24h',
  'user_impression_count_7d',
  'user_click_count_1h',
  'user_click_count_24h',
  'user_click_count_7d',
  'user_order_count_30d',
  'user_order_amount_sum_30d',
  'user_ctr_7d',
  'user_last_clicked_items',
  'user_last_click_time',
  'item_impression_count_1h',
  'item_impression_count_24h',
  'item_click_count_1h',
  'item_click_count_24h',
  'item_ctr_24h',
  'item_order_count_7d',
  'user_category_click_count_7d',
];

describe('reference feature set', () => {
  it('produces exactly the promised names, no more, no fewer', () => {
    const names = REFERENCE_GROUPS.flatMap((g) => featureNames(g));
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual([...PROMISED].sort());
  });

  it('lists each group in a stable order: aggregations as declared, derived last', () => {
    expect(featureNames(USER_GROUP)).toEqual([
      'user_impression_count_1h',
      'user_impression_count_24h',
      'user_impression_count_7d',
      'user_click_count_1h',
      'user_click_count_24h',
      'user_click_count_7d',
      'user_order_count_30d',
      'user_order_amount_sum_30d',
      'user_last_clicked_items',
      'user_last_click_time',
      'user_ctr_7d',
    ]);
    expect(featureNames(ITEM_GROUP)).toEqual([
      'item_impression_count_1h',
      'item_impression_count_24h',
      'item_click_count_1h',
      'item_click_count_24h',
      'item_order_count_7d',
      'item_ctr_24h',
    ]);
    expect(featureNames(USER_CATEGORY_GROUP)).toEqual(['user_category_click_count_7d']);
  });

  it('wires the CTRs to the right inputs and prior', () => {
    const ctr = compileGroup(USER_GROUP).features.find((f) => f.name === 'user_ctr_7d');
    expect(ctr).toMatchObject({ kind: 'derived', numerator: 'user_click_count_7d', denominator: 'user_impression_count_7d', alpha: 1, beta: 20 });
    const itemCtr = compileGroup(ITEM_GROUP).features.find((f) => f.name === 'item_ctr_24h');
    expect(itemCtr).toMatchObject({ kind: 'derived', numerator: 'item_click_count_24h', denominator: 'item_impression_count_24h', alpha: 1, beta: 20 });
  });

  it('needs tiles of the hops of its windows only', () => {
    expect(compileGroup(USER_GROUP).tileSizesMs).toEqual([MINUTE_MS, HOUR_MS, 24 * HOUR_MS]);
    expect(compileGroup(ITEM_GROUP).tileSizesMs).toEqual([MINUTE_MS, HOUR_MS]);
    expect(compileGroup(USER_CATEGORY_GROUP).tileSizesMs).toEqual([HOUR_MS]);
  });

  it('is plain data that survives JSON', () => {
    const copy = JSON.parse(JSON.stringify(REFERENCE_GROUPS)) as typeof REFERENCE_GROUPS;
    expect(copy.flatMap((g) => featureNames(g))).toEqual(REFERENCE_GROUPS.flatMap((g) => featureNames(g)));
  });
});
