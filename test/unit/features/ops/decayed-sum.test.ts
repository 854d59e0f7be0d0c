import { describe, expect, it } from 'vitest';
import { aggregatorFor, type Aggregator, type DecayState } from '../../../../src/features/aggregators.js';
import { aggregationFeatureName, aggregationId, compileGroup, days, hours, validateGroup, type AggregationDef } from '../../../../src/features/definitions.js';
import { FeatureStateError } from '../../../../src/features/feature-errors.js';
import { OPS } from '../../../../src/features/ops/index.js';
import { Rng } from '../../../../src/ingest/rng.js';
import { decayedSum } from '../../../../src/project/definition.js';
import { REFERENCE_KINDS } from '../../../helpers/reference.js';
import { T0, shuffle } from '../fixtures.js';

const H = hours(2);
const DEF: AggregationDef = { source: 'order', op: 'decayed_sum', field: 'amount', halfLifeMs: H };
const agg = aggregatorFor(DEF) as Aggregator<DecayState | null>;

type Input = { value: number | null; t: number };
const fold = (inputs: readonly Input[], start: DecayState | null = agg.init()) => inputs.reduce((s, x) => agg.update(s, x.value, x.t), start);
const naive = (inputs: readonly Input[], q: number) => inputs.reduce((acc, x) => (typeof x.value === 'number' && Number.isFinite(x.value) ? acc + x.value * 2 ** (-(q - x.t) / H) : acc), 0);

function randomInputs(rng: Rng, n: number, spanMs: number): Input[] {
  return Array.from({ length: n }, () => ({ t: T0 + rng.int(0, spanMs), value: rng.bernoulli(0.05) ? (rng.bernoulli(0.5) ? null : Number.NaN) : Math.round(rng.uniform(-50, 500) * 100) / 100 }));
}

describe('decayed_sum state', () => {
  it('update, merge and finish equal the naive Σ v · 2^(-(q - t) / H), in any order and grouping, over 100 half-lives', () => {
    const rng = new Rng(11);
    const q = T0 + 100 * H;
    for (let trial = 0; trial < 20; trial++) {
      const inputs = randomInputs(rng, 500, 100 * H);
      const want = naive(inputs, q);
      const inOrder = agg.finish(fold(inputs), q) as number;
      const shuffled = agg.finish(fold(shuffle(rng, inputs)), q) as number;
      const parts = [0, 1, 2].map((p) => fold(inputs.filter((_, i) => i % 3 === p)));
      const merged = agg.finish(parts.reduce((s, p) => agg.merge(s, p), agg.init()), q) as number;
      for (const got of [inOrder, shuffled, merged]) expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));
    }
  });

  it('merge is associative and commutative with init as identity', () => {
    const rng = new Rng(12);
    for (let trial = 0; trial < 50; trial++) {
      const [a, b, c] = [0, 1, 2].map(() => fold(randomInputs(rng, rng.int(0, 20), days(2))));
      const q = T0 + days(3);
      const left = agg.finish(agg.merge(agg.merge(a!, b!), c!), q) as number;
      const right = agg.finish(agg.merge(a!, agg.merge(b!, c!)), q) as number;
      const swapped = agg.finish(agg.merge(c!, agg.merge(b!, a!)), q) as number;
      expect(Math.abs(left - right)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(left)));
      expect(Math.abs(left - swapped)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(left)));
      expect(agg.merge(a!, agg.init())).toEqual(a);
      expect(agg.merge(agg.init(), a!)).toEqual(a);
    }
  });

  it('weighs a value one half-life old by half, skips null and non-finite values, sums negatives, starts at 0', () => {
    expect(agg.finish(agg.init(), T0)).toBe(0);
    expect(agg.finish(agg.update(agg.init(), 10, T0), T0 + H)).toBeCloseTo(5, 12);
    expect(agg.update(agg.init(), null, T0)).toBeNull();
    expect(agg.update(agg.init(), Number.NaN, T0)).toBeNull();
    expect(agg.update(agg.init(), 'x', T0)).toBeNull();
    expect(agg.update(agg.init(), 3, Number.NaN)).toBeNull();
    const s = fold([
      { value: 4, t: T0 },
      { value: -6, t: T0 },
    ]);
    expect(agg.finish(s, T0)).toBe(-2);
    // an ancient value next to a recent one stays finite (the reference moves to the later time)
    expect(agg.finish(fold([{ value: 1e6, t: 0 }, { value: 1, t: T0 }]), T0)).toBe(1);
  });

  it('round-trips its stored form and refuses bad JSON with FeatureStateError', () => {
    const s = fold([{ value: -2.5, t: T0 }]);
    expect(agg.decode(JSON.parse(JSON.stringify(agg.encode(s))))).toEqual(s);
    expect(agg.decode(null)).toBeNull();
    for (const junk of [{ nope: 1 }, 'text', [1, 2], -1.5, true, { ref: T0 }, { ref: 'x', s: 1 }, { ref: T0, s: null }, { s: 1 }]) {
      expect(() => agg.decode(junk), JSON.stringify(junk)).toThrow(FeatureStateError);
    }
  });
});

describe('decayed_sum definition', () => {
  it('is declared in the registry with its properties, name and id', () => {
    const m = OPS.decayed_sum;
    expect([m.lifetimeOnly, m.field, m.param, m.mergeableLifetime, m.layout.kind, m.valueKind, m.dense]).toEqual([true, 'numeric', 'halfLife', true, 'decay', 'number', 'log']);
    expect(aggregationFeatureName('user', DEF, null)).toBe('user_order_amount_decayed_sum_2h');
    expect(aggregationId(DEF)).toBe('order.decayed_sum.amount.hl2h');
    expect(decayedSum('order', 'amount', '2h')).toEqual({ source: 'order', op: 'decayed_sum', field: 'amount', halfLife: '2h' });
  });

  it('is validated like decayed_count plus a numeric field', () => {
    const group = (a: Record<string, unknown>) => ({ name: 'g', entity: { name: 'user', keyFields: ['userId'] }, aggregations: [a as unknown as AggregationDef] });
    expect(() => validateGroup(group({ ...DEF }), REFERENCE_KINDS)).not.toThrow();
    expect(compileGroup(group({ ...DEF }), REFERENCE_KINDS).features.map((f) => f.name)).toEqual(['user_order_amount_decayed_sum_2h']);
    expect(() => validateGroup(group({ source: 'order', op: 'decayed_sum', field: 'amount' }), REFERENCE_KINDS)).toThrow(/decayed_sum needs halfLifeMs/);
    expect(() => validateGroup(group({ source: 'order', op: 'decayed_sum', halfLifeMs: H }), REFERENCE_KINDS)).toThrow(/decayed_sum needs a numeric field/);
    expect(() => validateGroup(group({ source: 'order', op: 'decayed_sum', field: 'currency', halfLifeMs: H }), REFERENCE_KINDS)).toThrow(/needs a numeric field/);
    expect(() => validateGroup(group({ ...DEF, windowsMs: [hours(1)] }), REFERENCE_KINDS)).toThrow(/takes no windows/);
  });
});
