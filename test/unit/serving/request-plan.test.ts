import { describe, expect, it } from 'vitest';
import { compileGroup, days, hours } from '../../../src/features/definitions.js';
import { coldStartFeatures } from '../../../src/features/window-assembly.js';
import { candidateEntityKey, requestPlan, type RequestFeatures } from '../../../src/serving/request-plan.js';
import { parseRankRequest, RANK_DEFAULTS } from '../../../src/serving/rank-service.js';
import { popularityScorer } from '../../../src/serving/scorer.js';
import { contextFeatures } from '../../../src/features/context.js';
import { EMPTY_CONTEXT } from '../../../src/events/event-types.js';
import type { EntityFeatures } from '../../../src/serving/feature-reader.js';
import { ITEM_GROUP, REFERENCE_GROUPS, REFERENCE_KINDS, USER_CATEGORY_GROUP, USER_GROUP } from '../../helpers/reference.js';

/** A group keyed by a field only candidates carry (the item's brand, given in the request). */
const KINDS = { ...REFERENCE_KINDS, impression: { ...REFERENCE_KINDS['impression'], brand: 'nullableString' as const } };
const USER_BRAND = compileGroup(
  { name: 'user_brand', entity: { name: 'user_brand', keyFields: ['userId', 'brand'] }, aggregations: [{ source: 'impression', op: 'count', windowsMs: [days(7)] }] },
  KINDS,
);

describe('the request plan', () => {
  it('reads groups keyed by userId once per request and every other group per candidate', () => {
    const plan = requestPlan([...REFERENCE_GROUPS, USER_BRAND]);
    expect(plan.requestGroups).toEqual([USER_GROUP]);
    expect(plan.candidateGroups).toEqual([ITEM_GROUP, USER_CATEGORY_GROUP, USER_BRAND]);
    expect(plan.candidateFields).toEqual(['categoryId', 'brand']);
    expect(plan.candidateColdStart[0]).toEqual(coldStartFeatures(ITEM_GROUP));
  });

  it("keys a candidate's entities from its fields and the request's user; a missing value means no entity", () => {
    const c = { itemId: 'i1', categoryId: 'c2', fields: { brand: 'acme' } };
    expect(candidateEntityKey(ITEM_GROUP, 'u1', c)).toBe('i1');
    expect(candidateEntityKey(USER_CATEGORY_GROUP, 'u1', c)).toBe('u1:c2');
    expect(candidateEntityKey(USER_BRAND, 'u1', c)).toBe('u1:acme');
    expect(candidateEntityKey(USER_CATEGORY_GROUP, 'u1', { itemId: 'i1', categoryId: null })).toBeNull();
    expect(candidateEntityKey(USER_CATEGORY_GROUP, 'u1', { itemId: 'i1', categoryId: '' })).toBeNull();
    expect(candidateEntityKey(USER_BRAND, 'u1', { itemId: 'i1' })).toBeNull();
  });

  it('the rank request accepts the key fields of candidate groups and refuses any other', () => {
    const r = parseRankRequest({ userId: 'u1', candidates: [{ itemId: 'i1', categoryId: 'c1', brand: 'acme' }, { itemId: 'i2' }, 'i3'] }, RANK_DEFAULTS, ['categoryId', 'brand']);
    expect(r.candidates).toEqual([
      { itemId: 'i1', categoryId: 'c1', fields: { brand: 'acme' } },
      { itemId: 'i2', categoryId: null, fields: { brand: null } },
      { itemId: 'i3', categoryId: null },
    ]);
    expect(() => parseRankRequest({ userId: 'u1', candidates: [{ itemId: 'i1', brand: 'acme' }] }, RANK_DEFAULTS, ['categoryId'])).toThrow(/candidates\[0\]\.brand is not a candidate field \(itemId, categoryId\)/);
    expect(() => parseRankRequest({ userId: 'u1', candidates: [{ itemId: 'i1', brand: 7 }] }, RANK_DEFAULTS, ['brand'])).toThrow(/candidates\[0\]\.brand must be a non-empty string/);
  });
});

describe('the popularity fallback', () => {
  const entity = (values: Record<string, number>): EntityFeatures => ({ group: 'item', key: 'x', values: { ...coldStartFeatures(ITEM_GROUP), ...values }, known: true, latestEventTime: 0, ageMs: 0 });
  const request = (items: (EntityFeatures | null)[]): RequestFeatures => ({
    q: 0,
    userId: 'u',
    shared: [],
    candidateGroups: ['item'],
    items: items.map((e, i) => ({ itemId: `i${i}`, categoryId: null, entities: [e] })),
    context: contextFeatures(EMPTY_CONTEXT, 0),
    rawContext: EMPTY_CONTEXT,
  });

  it("ranks by the item group's smoothed ratio, ties by its numerator count; unknown items have the prior", () => {
    const scorer = popularityScorer(REFERENCE_GROUPS);
    const s = scorer.score(
      request([
        entity({ item_ctr_24h: 0.1, item_click_count_24h: 5 }),
        entity({ item_ctr_24h: 0.2, item_click_count_24h: 1 }),
        entity({ item_ctr_24h: 0.1, item_click_count_24h: 9 }),
        null,
      ]),
    );
    const order = [...s.keys()].sort((a, b) => (s[b] as number) - (s[a] as number));
    expect(order).toEqual([1, 2, 0, 3]);
    expect(s[3]).toBeCloseTo(1 / 20, 12);
  });

  it('without a ratio it ranks by the item group\'s first count, and without an item group keeps the order', () => {
    const counts = compileGroup({ name: 'item', entity: { name: 'item', keyFields: ['itemId'] }, aggregations: [{ source: 'click', op: 'count', windowsMs: [hours(1)] }] }, REFERENCE_KINDS);
    const s = popularityScorer([counts]).score(request([entity({ item_click_count_1h: 1 }), entity({ item_click_count_1h: 3 })]));
    expect(s[1]).toBeGreaterThan(s[0] as number);
    expect([...popularityScorer([USER_GROUP]).score(request([null, null]))]).toEqual([0, 0]);
  });
});
