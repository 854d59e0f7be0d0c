import { describe, expect, it } from 'vitest';
import { featureNames } from '../../../src/features/definitions.js';
import { compileRef, ITEM_GROUP, REFERENCE_GROUPS, REFERENCE_KINDS, REFERENCE_PROJECT, USER_CATEGORY_GROUP, USER_GROUP } from '../../helpers/reference.js';
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

describe('reference feature set (examples/reference)', () => {
  it('produces exactly the promised names, no more, no fewer', () => {
    const names = REFERENCE_GROUPS.flatMap((g) => featureNames(g));
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual([...PROMISED].sort());
  });

  it('has the user, item and user_category groups, keyed as documented, compiled against the project\'s events', () => {
    expect(REFERENCE_GROUPS.map((g) => g.name)).toEqual(['user', 'item', 'user_category']);
    expect(REFERENCE_PROJECT.groups).toBe(REFERENCE_GROUPS);
    expect(USER_GROUP.entity).toEqual({ name: 'user', keyFields: ['userId'] });
    expect(ITEM_GROUP.entity).toEqual({ name: 'item', keyFields: ['itemId'] });
    expect(USER_CATEGORY_GROUP.entity).toEqual({ name: 'user_category', keyFields: ['userId', 'categoryId'] });
    for (const g of REFERENCE_GROUPS) expect(g.events).toBe(REFERENCE_KINDS);
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
    const ctr = USER_GROUP.features.find((f) => f.name === 'user_ctr_7d');
    expect(ctr).toMatchObject({ kind: 'derived', numerator: 'user_click_count_7d', denominator: 'user_impression_count_7d', alpha: 1, beta: 20 });
    const itemCtr = ITEM_GROUP.features.find((f) => f.name === 'item_ctr_24h');
    expect(itemCtr).toMatchObject({ kind: 'derived', numerator: 'item_click_count_24h', denominator: 'item_impression_count_24h', alpha: 1, beta: 20 });
  });

  it('needs tiles of the hops of its windows only', () => {
    expect(USER_GROUP.tileSizesMs).toEqual([MINUTE_MS, HOUR_MS, 24 * HOUR_MS]);
    expect(ITEM_GROUP.tileSizesMs).toEqual([MINUTE_MS, HOUR_MS]);
    expect(USER_CATEGORY_GROUP.tileSizesMs).toEqual([HOUR_MS]);
  });

  it('is plain data that survives JSON', () => {
    const copy = JSON.parse(JSON.stringify(REFERENCE_GROUPS)) as typeof REFERENCE_GROUPS;
    expect(copy.flatMap((g) => featureNames(g))).toEqual(REFERENCE_GROUPS.flatMap((g) => featureNames(g)));
    // The definitions too: a JSON copy compiles to the same group.
    for (const g of REFERENCE_GROUPS) {
      const recompiled = compileRef(JSON.parse(JSON.stringify(g.def)) as typeof g.def);
      expect(JSON.parse(JSON.stringify(recompiled))).toEqual(JSON.parse(JSON.stringify(g)));
    }
  });
});
