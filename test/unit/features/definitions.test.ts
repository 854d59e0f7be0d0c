import { Duration } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  aggregationFeatureName,
  aggregationId,
  compileGroup,
  days,
  durationMs,
  featureNames,
  fieldNoun,
  hours,
  minutes,
  pastTense,
  validateGroup,
  type AggregationDef,
  type FeatureGroupDef,
} from '../../../src/features/definitions.js';
import { FeatureDefinitionError } from '../../../src/features/feature-errors.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../../../src/features/windows.js';
import type { EventKinds } from '../../../src/events/event-catalog.js';
import { compileRef, REFERENCE_KINDS } from '../../helpers/reference.js';

const USER = { name: 'user', keyFields: ['userId'] } as const;

function group(aggregations: readonly unknown[], extra: Record<string, unknown> = {}): FeatureGroupDef {
  return { name: 'g', entity: USER, aggregations, ...extra } as unknown as FeatureGroupDef;
}

/** The definition error thrown by validateGroup, so the test can read its problems. */
function problemsOf(def: unknown): readonly string[] {
  try {
    validateGroup(def as FeatureGroupDef, REFERENCE_KINDS);
  } catch (err) {
    expect(err).toBeInstanceOf(FeatureDefinitionError);
    expect((err as FeatureDefinitionError).code).toBe('FEATURE_DEFINITION');
    expect((err as FeatureDefinitionError).retriable).toBe(false);
    return (err as FeatureDefinitionError).problems;
  }
  throw new Error('expected validateGroup to throw');
}

/** Asserts exactly one problem, matching every pattern (the mistake and the fix). */
function expectProblem(def: unknown, ...patterns: RegExp[]): void {
  const problems = problemsOf(def);
  expect(problems, problems.join('\n')).toHaveLength(1);
  for (const p of patterns) expect(problems[0]).toMatch(p);
}

describe('durations', () => {
  it('turns luxon durations into ms', () => {
    expect(minutes(10)).toBe(10 * MINUTE_MS);
    expect(hours(1)).toBe(HOUR_MS);
    expect(days(7)).toBe(7 * DAY_MS);
    expect(durationMs({ weeks: 1 })).toBe(7 * DAY_MS);
    expect(durationMs(Duration.fromISO('PT1H30M'))).toBe(90 * MINUTE_MS);
  });

  it('refuses months and years, whose length varies', () => {
    expect(() => durationMs({ months: 1 })).toThrow(/days\(30\)/);
    expect(() => durationMs(Duration.fromISO('P1Y'))).toThrow(FeatureDefinitionError);
    expect(() => durationMs(Duration.invalid('because'))).toThrow(/invalid duration/);
  });
});

describe('feature names', () => {
  const name = (agg: AggregationDef, w: number | null = null): string => aggregationFeatureName('user', agg, w);

  it('follows the rule of each op', () => {
    expect(name({ source: 'click', op: 'count' }, hours(1))).toBe('user_click_count_1h');
    expect(name({ source: 'order', op: 'sum', field: 'amount' }, days(30))).toBe('user_order_amount_sum_30d');
    expect(name({ source: 'order', op: 'avg', field: 'amount' }, days(7))).toBe('user_order_amount_avg_7d');
    expect(name({ source: 'order', op: 'min', field: 'quantity' }, hours(24))).toBe('user_order_quantity_min_24h');
    expect(name({ source: 'order', op: 'max', field: 'amount' }, minutes(10))).toBe('user_order_amount_max_10m');
    expect(name({ source: 'order', op: 'last', field: 'amount' })).toBe('user_last_order_amount');
    expect(name({ source: 'click', op: 'last_k', field: 'itemId', k: 20 })).toBe('user_last_clicked_items');
    expect(name({ source: 'impression', op: 'last_k', field: 'categoryId', k: 5 })).toBe('user_last_impressed_categories');
    expect(name({ source: 'order', op: 'last_k', field: 'currency', k: 3 })).toBe('user_last_ordered_currencies');
    expect(name({ source: 'user_profile', op: 'last_k', field: 'ageBucket', k: 3 })).toBe('user_last_profiled_ageBuckets');
    expect(name({ source: 'click', op: 'approx_distinct', field: 'itemId' }, days(7))).toBe('user_click_items_distinct_7d');
    expect(name({ source: 'click', op: 'decayed_count', halfLifeMs: days(1) })).toBe('user_click_decayed_count_24h');
    expect(name({ source: 'click', op: 'last_seen' })).toBe('user_last_click_time');
  });

  it('omits the window suffix for lifetime aggregates', () => {
    expect(name({ source: 'click', op: 'count' })).toBe('user_click_count');
    expect(name({ source: 'order', op: 'sum', field: 'amount' })).toBe('user_order_amount_sum');
    expect(featureNames(compileRef(group([{ source: 'click', op: 'count' }, { source: 'click', op: 'count', windowsMs: [hours(1)] }])))).toEqual([
      'user_click_count',
      'user_click_count_1h',
    ]);
  });

  it('puts event types in the past tense for last_k names', () => {
    expect(['impression', 'click', 'order', 'item_profile', 'user_profile'].map(pastTense)).toEqual(['impressed', 'clicked', 'ordered', 'profiled', 'profiled']);
    expect(['cart', 'fav', 'buy', 'view', 'rating', 'like', 'reply', 'play'].map(pastTense)).toEqual(['carted', 'favourited', 'bought', 'viewed', 'rated', 'liked', 'replied', 'played']);
  });

  it('pluralises nouns, y -> ies', () => {
    expect(fieldNoun('itemId')).toBe('items');
    expect(fieldNoun('categoryId')).toBe('categories');
    expect(fieldNoun('brand')).toBe('brands');
    expect(fieldNoun('day')).toBe('days');
    expect(fieldNoun('address')).toBe('addresses');
  });

  it('gives aggregations stable ids that separate lifetime from windowed state', () => {
    expect(aggregationId({ source: 'click', op: 'count', windowsMs: [hours(1)] })).toBe('click.count');
    expect(aggregationId({ source: 'click', op: 'count' })).toBe('click.count.lifetime');
    expect(aggregationId({ source: 'order', op: 'sum', field: 'amount', windowsMs: [days(30)] })).toBe('order.sum.amount');
    expect(aggregationId({ source: 'click', op: 'last_k', field: 'itemId', k: 20 })).toBe('click.last_k.itemId.k20');
    expect(aggregationId({ source: 'click', op: 'decayed_count', halfLifeMs: hours(6) })).toBe('click.decayed_count.hl6h');
  });
});

describe('compileGroup', () => {
  const def = group(
    [
      { source: 'click', op: 'count', windowsMs: [hours(1), minutes(30), hours(24)] },
      { source: 'impression', op: 'count', windowsMs: [hours(24), hours(1)] },
      { source: 'click', op: 'last_k', field: 'itemId', k: 3 },
      { source: 'order', op: 'sum', field: 'amount' },
    ],
    { derived: [{ op: 'smoothed_ratio', label: 'ctr', numerator: { source: 'click', op: 'count' }, denominator: { source: 'impression', op: 'count' }, alpha: 1, beta: 20, windowsMs: [hours(1), hours(24)] }] },
  );

  it('lists every feature with its aggregation, window, hop and kind', () => {
    const c = compileGroup(def, REFERENCE_KINDS);
    expect(c.features.map((f) => [f.name, f.kind, f.aggregation, f.windowMs, f.hopMs])).toEqual([
      ['user_click_count_1h', 'windowed', 0, HOUR_MS, MINUTE_MS],
      ['user_click_count_30m', 'windowed', 0, 30 * MINUTE_MS, MINUTE_MS],
      ['user_click_count_24h', 'windowed', 0, DAY_MS, HOUR_MS],
      ['user_impression_count_24h', 'windowed', 1, DAY_MS, HOUR_MS],
      ['user_impression_count_1h', 'windowed', 1, HOUR_MS, MINUTE_MS],
      ['user_last_clicked_items', 'lifetime', 2, null, null],
      ['user_order_amount_sum', 'lifetime', 3, null, null],
      ['user_ctr_1h', 'derived', null, HOUR_MS, MINUTE_MS],
      ['user_ctr_24h', 'derived', null, DAY_MS, HOUR_MS],
    ]);
    expect(c.sources).toEqual(['click', 'impression', 'order']);
    expect(c.tileSizesMs).toEqual([MINUTE_MS, HOUR_MS]);
  });

  it('says which tiles each aggregation keeps and for how long', () => {
    const c = compileGroup(def, REFERENCE_KINDS);
    expect(c.aggregations[0]?.tiles).toEqual([
      { hopMs: MINUTE_MS, windowsMs: [30 * MINUTE_MS, HOUR_MS], retentionMs: HOUR_MS + MINUTE_MS },
      { hopMs: HOUR_MS, windowsMs: [DAY_MS], retentionMs: DAY_MS + HOUR_MS },
    ]);
    expect(c.aggregations[2]).toMatchObject({ lifetime: true, tiles: [], id: 'click.last_k.itemId.k3' });
  });

  it('carries the event kinds it was checked against, and each aggregated field\'s kind', () => {
    const c = compileGroup(def, REFERENCE_KINDS);
    expect(c.events).toBe(REFERENCE_KINDS);
    expect(c.aggregations.map((a) => a.fieldKind)).toEqual([undefined, undefined, 'id', 'double']);
  });

  it('defaults a ratio to every window of its numerator', () => {
    const d = group(
      [
        { source: 'click', op: 'count', windowsMs: [hours(1), days(7)] },
        { source: 'impression', op: 'count', windowsMs: [days(7), hours(1), hours(24)] },
      ],
      { derived: [{ op: 'smoothed_ratio', label: 'ctr', numerator: { source: 'click', op: 'count' }, denominator: { source: 'impression', op: 'count' }, alpha: 0, beta: 1 }] },
    );
    expect(featureNames(compileRef(d)).filter((n) => n.includes('ctr'))).toEqual(['user_ctr_1h', 'user_ctr_7d']);
  });
});

describe('validateGroup', () => {
  const count = { source: 'click', op: 'count', windowsMs: [hours(1)] };

  it('accepts a valid group', () => {
    expect(() => validateGroup(group([count]), REFERENCE_KINDS)).not.toThrow();
  });

  it('names the group and lists every problem in one error', () => {
    const bad = group([
      { source: 'clicks', op: 'count' },
      { source: 'click', op: 'sum', field: 'itemId' },
    ]);
    expect(() => validateGroup(bad, REFERENCE_KINDS)).toThrow(/feature group "g" has 2 problems/);
    expect(problemsOf(bad)).toHaveLength(2);
  });

  it('rejects an unknown source, listing the known ones', () => {
    expectProblem(group([{ source: 'clicks', op: 'count' }]), /unknown source "clicks"/, /impression, click, order, item_profile, user_profile/);
  });

  it('rejects an unknown op, listing the known ones', () => {
    expectProblem(group([{ source: 'click', op: 'median', field: 'position' }]), /unknown op "median"/, /count, sum, avg/);
  });

  it('rejects unknown properties and suggests the intended one', () => {
    expectProblem(group([{ source: 'click', op: 'count', windows: [hours(1)] }]), /unknown property "windows"; did you mean windowsMs\?/);
    expectProblem(group([count], { entities: USER }), /unknown property "entities"/);
  });

  it('rejects a field missing on the source, listing the fields that fit', () => {
    expectProblem(group([{ source: 'order', op: 'sum', field: 'amout', windowsMs: [days(30)] }]), /order events have no field "amout"/, /order has amount, quantity/);
    expectProblem(group([{ source: 'click', op: 'last', field: 'amount' }]), /click events have no field "amount"/, /itemId/);
  });

  it('rejects a non-numeric field for sum, avg, min and max', () => {
    for (const op of ['sum', 'avg', 'min', 'max']) {
      expectProblem(group([{ source: 'order', op, field: 'currency', windowsMs: [days(7)] }]), new RegExp(`${op} needs a numeric field but order.currency is string`), /amount, quantity/);
    }
    expectProblem(group([{ source: 'click', op: 'sum', field: 'itemId' }]), /numeric field/, /click has position/);
    expectProblem(group([{ source: 'impression', op: 'max', field: 'context' }]), /numeric field but impression.context is context/);
  });

  it('rejects a missing or superfluous field', () => {
    expectProblem(group([{ source: 'order', op: 'avg', windowsMs: [days(7)] }]), /avg needs a numeric field/, /amount/);
    expectProblem(group([{ source: 'click', op: 'count', field: 'itemId' }]), /count takes no field; remove field "itemId"/);
    expectProblem(group([{ source: 'click', op: 'approx_distinct', field: 'context' }]), /is a record, not a value/);
  });

  it('rejects an entity key field the source lacks', () => {
    expectProblem(
      { name: 'item', entity: { name: 'item', keyFields: ['itemId'] }, aggregations: [{ source: 'user_profile', op: 'last', field: 'gender' }] },
      /user_profile events have no field itemId, which entity item is keyed by/,
      /move this aggregation/,
    );
    expectProblem({ name: 'p', entity: { name: 'p', keyFields: ['position'] }, aggregations: [count] }, /click.position is a nullableInt field and cannot be part of an entity key/);
  });

  it('rejects malformed entities and names', () => {
    expectProblem(group([count], { name: 'User' }), /name "User" must be snake_case/);
    expectProblem({ name: 'g', entity: { name: 'u', keyFields: [] }, aggregations: [count] }, /keyFields must be a non-empty array/);
    expectProblem({ name: 'g', entity: { name: 'u', keyFields: ['userId', 'userId'] }, aggregations: [count] }, /repeat a field/);
    expectProblem({ name: 'g', entity: USER, aggregations: [] }, /aggregations must be a non-empty array/);
  });

  it('rejects windows that are not positive whole ms', () => {
    expectProblem(group([{ ...count, windowsMs: [0] }]), /window 0 is not a positive whole number of ms/, /hours\(1\)/);
    expectProblem(group([{ ...count, windowsMs: [-HOUR_MS] }]), /not a positive whole number/);
    expectProblem(group([{ ...count, windowsMs: [1.5] }]), /window 1.5 is not a positive whole number/);
    expectProblem(group([{ ...count, windowsMs: HOUR_MS }]), /windowsMs must be an array/);
  });

  it('rejects a window that is not a whole number of its hop, proposing the neighbours', () => {
    expectProblem(group([{ ...count, windowsMs: [90_000] }]), /window 90s is not a whole number of its hop 1m/, /use 1m or 2m/);
    expectProblem(group([{ ...count, windowsMs: [hours(12) + minutes(30)] }]), /window 750m is not a whole number of its hop 1h/, /use 12h or 13h/);
    expectProblem(group([{ ...count, windowsMs: [days(12) + hours(1)] }]), /hop 24h/, /use 12d or 13d/);
  });

  it('rejects a window listed twice, and windows on lifetime-only ops', () => {
    expectProblem(group([{ ...count, windowsMs: [hours(1), hours(1)] }]), /window 1h is listed twice/);
    for (const agg of [
      { source: 'click', op: 'last_seen', windowsMs: [hours(1)] },
      { source: 'click', op: 'last', field: 'itemId', windowsMs: [hours(1)] },
      { source: 'click', op: 'last_k', field: 'itemId', k: 3, windowsMs: [hours(1)] },
      { source: 'click', op: 'decayed_count', halfLifeMs: hours(1), windowsMs: [hours(1)] },
    ]) {
      expectProblem(group([agg]), /takes no windows; remove windowsMs/);
    }
  });

  it('rejects k out of 1..1000, missing or misplaced', () => {
    const lk = { source: 'click', op: 'last_k', field: 'itemId' };
    expectProblem(group([lk]), /last_k needs k/, /k: 20/);
    expectProblem(group([{ ...lk, k: 0 }]), /k must be a whole number from 1 to 1000, got 0/);
    expectProblem(group([{ ...lk, k: 1001 }]), /got 1001/);
    expectProblem(group([{ ...lk, k: 2.5 }]), /got 2.5/);
    expect(() => validateGroup(group([{ ...lk, k: 1 }, { ...lk, source: 'order', k: 1000 }]), REFERENCE_KINDS)).not.toThrow();
    expectProblem(group([{ ...count, k: 3 }]), /k applies only to last_k; remove it/);
  });

  it('rejects a missing, bad or misplaced half-life', () => {
    const dc = { source: 'click', op: 'decayed_count' };
    expectProblem(group([dc]), /decayed_count needs halfLifeMs/, /days\(1\)/);
    expectProblem(group([{ ...dc, halfLifeMs: 0 }]), /halfLifeMs must be a positive whole number of ms/);
    expectProblem(group([{ ...count, halfLifeMs: hours(1) }]), /halfLifeMs applies only to decayed_count/);
  });

  it('rejects two aggregations computing the same thing', () => {
    expectProblem(group([count, { ...count, windowsMs: [hours(24)] }]), /aggregations\[1\] computes the same thing as aggregations\[0\]/, /merge their windowsMs/);
    // A lifetime and a windowed count are different states, and fine together.
    expect(() => validateGroup(group([count, { source: 'click', op: 'count' }]), REFERENCE_KINDS)).not.toThrow();
  });

  describe('derived features', () => {
    const base = [
      { source: 'click', op: 'count', windowsMs: [hours(1), days(7)] },
      { source: 'impression', op: 'count', windowsMs: [days(7)] },
    ];
    const ratio = { op: 'smoothed_ratio', label: 'ctr', numerator: { source: 'click', op: 'count' }, denominator: { source: 'impression', op: 'count' }, alpha: 1, beta: 20, windowsMs: [days(7)] };
    const withRatio = (r: Record<string, unknown>): FeatureGroupDef => group(base, { derived: [{ ...ratio, ...r }] });

    it('accepts a ratio over shared windows', () => {
      expect(featureNames(compileRef(withRatio({})))).toContain('user_ctr_7d');
    });

    it('rejects a reference to an unknown or lifetime feature', () => {
      expectProblem(withRatio({ numerator: { source: 'order', op: 'count' } }), /numerator \(order count\) matches no windowed aggregation/, /add \{ source: "order", op: "count", windowsMs/);
      expectProblem(withRatio({ denominator: { source: 'order', op: 'sum', field: 'amount' } }), /denominator \(order sum of amount\) matches no windowed aggregation/);
      expectProblem(
        group([...base, { source: 'order', op: 'count' }], { derived: [{ ...ratio, denominator: { source: 'order', op: 'count' } }] }),
        /is a lifetime aggregation; ratios need windowed inputs/,
      );
      expectProblem(withRatio({ numerator: { source: 'click', op: 'avg' } }), /numerator op must be "count" or "sum"/);
      expectProblem(withRatio({ numerator: { source: 'click', op: 'sum' } }), /needs the summed field/);
    });

    it('rejects windows not shared by both inputs', () => {
      expectProblem(withRatio({ windowsMs: [hours(1)] }), /window 1h is not a window of the denominator; add it there or remove it here/);
      expectProblem(withRatio({ windowsMs: [hours(24)] }), /window 24h is not a window of the numerator and denominator/);
      expectProblem(withRatio({ windowsMs: undefined }), /the numerator's window 1h is not a window of the denominator/, /choose shared windows with windowsMs/);
      expectProblem(withRatio({ windowsMs: [] }), /windowsMs must be a non-empty array/);
    });

    it('rejects a negative alpha and a beta that is not positive', () => {
      expectProblem(withRatio({ alpha: -1 }), /alpha must be a finite number >= 0/);
      expectProblem(withRatio({ beta: -1 }), /beta must be a finite number > 0/);
      expectProblem(withRatio({ alpha: 0, beta: 0 }), /beta must be a finite number > 0/, /alpha: 1, beta: 20/);
      expectProblem(withRatio({ alpha: 1, beta: 0 }), /beta must be/);
      expect(() => validateGroup(withRatio({ alpha: 0, beta: 1 }), REFERENCE_KINDS)).not.toThrow();
    });

    it('rejects a bad op or label', () => {
      expectProblem(withRatio({ op: 'ratio' }), /the only derived op is "smoothed_ratio"/);
      expectProblem(withRatio({ label: 'CTR' }), /label "CTR" must be snake_case/);
    });

    it('rejects a derived name that collides with another feature', () => {
      expectProblem(withRatio({ label: 'click_count' }), /feature name user_click_count_7d is produced by both aggregations\[0\] and derived\[0\]/, /change the derived label/);
    });
  });

  it('validates definitions read from JSON (untyped)', () => {
    expect(problemsOf(null)).toEqual([expect.stringMatching(/must be an object/)]);
    expect(problemsOf({ name: 'g', entity: USER, aggregations: [null] })).toEqual([expect.stringMatching(/aggregations\[0\] must be an object/)]);
  });

  it('checks sources and fields against the project\'s own event types', () => {
    const events: EventKinds = { view: { eventId: 'id', eventTime: 'instant', userId: 'id', pageId: 'id', dwellMs: 'int' } };
    const views = group([{ source: 'view', op: 'sum', field: 'dwellMs', windowsMs: [hours(1)] }, { source: 'view', op: 'last_k', field: 'pageId', k: 5 }]);
    const c = compileGroup(views, events);
    expect(featureNames(c)).toEqual(['user_view_dwellMs_sum_1h', 'user_last_viewed_pages']);
    expect(c.sources).toEqual(['view']);
    expect(c.aggregations.map((a) => a.fieldKind)).toEqual(['int', 'id']);
    // A reference type is unknown to a project that does not declare it, and vice versa.
    expect(() => validateGroup(group([{ source: 'click', op: 'count' }]), events)).toThrow(/unknown source "click"; use one of the project's event types: view/);
    expectProblem(group([{ source: 'view', op: 'count' }]), /unknown source "view"/);
    expect(() => validateGroup(group([{ source: 'view', op: 'sum', field: 'pageId' }]), events)).toThrow(/sum needs a numeric field but view.pageId is id; view has dwellMs/);
  });

  it('compileGroup validates first', () => {
    expect(() => compileGroup(group([{ source: 'click', op: 'count', windowsMs: [1] }]), REFERENCE_KINDS)).toThrow(FeatureDefinitionError);
  });
});
