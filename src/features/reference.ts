import { days, hours, type DerivedDef, type EntityDef, type FeatureGroupDef } from './definitions.js';

/**
 * The reference feature set: the defaults `tessera` runs, whose names users and tests rely on
 * (issue 3). Every name is computed from these definitions; the unit tests assert the exact list.
 */

/** A user, keyed by `userId`. */
export const USER: EntityDef = { name: 'user', keyFields: ['userId'] };
/** An item, keyed by `itemId`. */
export const ITEM: EntityDef = { name: 'item', keyFields: ['itemId'] };
/** A user in one category, keyed by `userId:categoryId`; events without a category are left out. */
export const USER_CATEGORY: EntityDef = { name: 'user_category', keyFields: ['userId', 'categoryId'] };

/** The smoothing of the reference CTRs: (clicks + 1) / (impressions + 20), i.e. a 5 % prior worth 20 impressions. */
const CTR_PRIOR = { alpha: 1, beta: 20 } as const;

/** The smoothed click-through rate over one window: `<entity>_ctr_<w>`. */
function ctr(windowMs: number): DerivedDef {
  return {
    op: 'smoothed_ratio',
    label: 'ctr',
    numerator: { source: 'click', op: 'count' },
    denominator: { source: 'impression', op: 'count' },
    ...CTR_PRIOR,
    windowsMs: [windowMs],
  };
}

/**
 * User features: impression and click counts (1h, 24h, 7d), order count and amount (30d),
 * `user_ctr_7d`, the last 20 distinct clicked items and the last click time.
 */
export const USER_GROUP: FeatureGroupDef = {
  name: 'user',
  entity: USER,
  aggregations: [
    { source: 'impression', op: 'count', windowsMs: [hours(1), hours(24), days(7)] },
    { source: 'click', op: 'count', windowsMs: [hours(1), hours(24), days(7)] },
    { source: 'order', op: 'count', windowsMs: [days(30)] },
    { source: 'order', op: 'sum', field: 'amount', windowsMs: [days(30)] },
    { source: 'click', op: 'last_k', field: 'itemId', k: 20 },
    { source: 'click', op: 'last_seen' },
  ],
  derived: [ctr(days(7))],
};

/** Item features: impression and click counts (1h, 24h), `item_ctr_24h`, order count (7d). */
export const ITEM_GROUP: FeatureGroupDef = {
  name: 'item',
  entity: ITEM,
  aggregations: [
    { source: 'impression', op: 'count', windowsMs: [hours(1), hours(24)] },
    { source: 'click', op: 'count', windowsMs: [hours(1), hours(24)] },
    { source: 'order', op: 'count', windowsMs: [days(7)] },
  ],
  derived: [ctr(hours(24))],
};

/** User x category features: click count (7d). */
export const USER_CATEGORY_GROUP: FeatureGroupDef = {
  name: 'user_category',
  entity: USER_CATEGORY,
  aggregations: [{ source: 'click', op: 'count', windowsMs: [days(7)] }],
};

/** The reference groups, in the order `tessera features get` prints them. */
export const REFERENCE_GROUPS: readonly FeatureGroupDef[] = [USER_GROUP, ITEM_GROUP, USER_CATEGORY_GROUP];
