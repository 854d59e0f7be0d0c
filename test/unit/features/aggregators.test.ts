import { describe, expect, it } from 'vitest';
import {
  aggregatorFor,
  compareTimedValues,
  smoothedRatio,
  type AggState,
  type AggValue,
  type Aggregator,
  type FeatureValue,
} from '../../../src/features/aggregators.js';
import { days, hours, type AggregationDef } from '../../../src/features/definitions.js';
import { FeatureStateError } from '../../../src/features/feature-errors.js';
import { HLL_MAX_RANK, HLL_REGISTERS, hllCreate, hllEstimate, hllFromBase64, hllFromRedis, hllPosition, hllToRedis } from '../../../src/features/hll.js';
import { Rng } from '../../../src/ingest/rng.js';
import { T0, shuffle } from './fixtures.js';

type Input = { value: AggValue; t: number };

/** Every op, with the kind of values it sees and whether its results are exact or float. */
const CASES: ReadonlyArray<{ def: AggregationDef; values: 'number' | 'id' | 'none'; float: boolean }> = [
  { def: { source: 'click', op: 'count' }, values: 'none', float: false },
  { def: { source: 'order', op: 'sum', field: 'amount' }, values: 'number', float: true },
  { def: { source: 'order', op: 'avg', field: 'amount' }, values: 'number', float: true },
  { def: { source: 'order', op: 'min', field: 'amount' }, values: 'number', float: false },
  { def: { source: 'order', op: 'max', field: 'amount' }, values: 'number', float: false },
  { def: { source: 'click', op: 'last', field: 'itemId' }, values: 'id', float: false },
  { def: { source: 'order', op: 'last', field: 'amount' }, values: 'number', float: false },
  { def: { source: 'click', op: 'last_k', field: 'itemId', k: 4 }, values: 'id', float: false },
  { def: { source: 'click', op: 'approx_distinct', field: 'itemId' }, values: 'id', float: false },
  { def: { source: 'click', op: 'decayed_count', halfLifeMs: hours(1) }, values: 'none', float: true },
  { def: { source: 'click', op: 'last_seen' }, values: 'none', float: false },
  { def: { source: 'order', op: 'decayed_sum', field: 'amount', halfLifeMs: hours(1) }, values: 'number', float: true },
];

/**
 * Random inputs with many ties: times from a narrow range, ids from a small set, amounts with
 * cents (and now and then a value the op must ignore: null, NaN).
 */
function randomInputs(rng: Rng, kind: 'number' | 'id' | 'none', n: number): Input[] {
  return Array.from({ length: n }, (): Input => {
    const t = T0 + rng.int(0, 40) * 60_000 + (rng.bernoulli(0.5) ? 0 : rng.int(0, 60_000));
    if (kind === 'none') return { value: null, t };
    if (rng.bernoulli(0.05)) return { value: rng.bernoulli(0.5) ? null : Number.NaN, t };
    return { value: kind === 'id' ? `i${rng.int(0, 9)}` : Math.round(rng.uniform(-50, 500) * 100) / 100, t };
  });
}

function fold<S>(agg: Aggregator<S>, inputs: readonly Input[]): S {
  return inputs.reduce((s, x) => agg.update(s, x.value, x.t), agg.init());
}

const Q = T0 + 45 * 60_000;

/** Same result: exact for exact ops, relative 1e-12 for float ones. */
function expectSame(a: FeatureValue, b: FeatureValue, float: boolean, label: string): void {
  if (float && typeof a === 'number' && typeof b === 'number') {
    expect(Math.abs(a - b), `${label}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(a), Math.abs(b)));
  } else {
    expect(a, label).toEqual(b);
  }
}

/** A JSON round trip through the stored form. */
function roundTrip<S>(agg: Aggregator<S>, s: S): S {
  return agg.decode(JSON.parse(JSON.stringify(agg.encode(s))));
}

describe.each(CASES)('$def.op over $values values', ({ def, values, float }) => {
  const agg = aggregatorFor(def);

  it('merge is associative and commutative, with init as identity (random states)', () => {
    const rng = new Rng(101, def.op);
    for (let trial = 0; trial < 200; trial++) {
      const [a, b, c] = [0, 1, 2].map(() => fold(agg, randomInputs(rng, values, rng.int(0, 12)))) as [AggState, AggState, AggState];
      const f = (s: AggState): FeatureValue => agg.finish(s, Q);
      expectSame(f(agg.merge(agg.merge(a, b), c)), f(agg.merge(a, agg.merge(b, c))), float, 'associative');
      expectSame(f(agg.merge(a, b)), f(agg.merge(b, a)), float, 'commutative');
      expectSame(f(agg.merge(agg.init(), a)), f(a), float, 'left identity');
      expectSame(f(agg.merge(a, agg.init())), f(a), float, 'right identity');
      if (!float) expect(agg.encode(agg.merge(agg.merge(a, b), c))).toEqual(agg.encode(agg.merge(a, agg.merge(b, c))));
    }
  });

  it('update-then-merge equals update-all, in any arrival order', () => {
    const rng = new Rng(202, def.op);
    for (let trial = 0; trial < 200; trial++) {
      const inputs = randomInputs(rng, values, rng.int(0, 40));
      const whole = agg.finish(fold(agg, inputs), Q);
      const cut1 = rng.int(0, inputs.length + 1);
      const cut2 = rng.int(cut1, inputs.length + 1);
      const parts = [inputs.slice(0, cut1), inputs.slice(cut1, cut2), inputs.slice(cut2)].map((p) => fold(agg, p));
      const merged = shuffle(rng, parts).reduce((s, p) => agg.merge(s, p), agg.init());
      expectSame(agg.finish(merged, Q), whole, float, 'update-then-merge');
      expectSame(agg.finish(fold(agg, shuffle(rng, inputs)), Q), whole, float, 'shuffled arrival');
    }
  });

  it('never modifies its arguments', () => {
    const rng = new Rng(303, def.op);
    for (let trial = 0; trial < 50; trial++) {
      const a = fold(agg, randomInputs(rng, values, 10));
      const b = fold(agg, randomInputs(rng, values, 10));
      const [ja, jb] = [JSON.stringify(agg.encode(a)), JSON.stringify(agg.encode(b))];
      agg.merge(a, b);
      agg.merge(b, a);
      for (const x of randomInputs(rng, values, 5)) agg.update(a, x.value, x.t);
      expect(JSON.stringify(agg.encode(a))).toBe(ja);
      expect(JSON.stringify(agg.encode(b))).toBe(jb);
    }
  });

  it('survives a JSON round trip of its stored form', () => {
    const rng = new Rng(404, def.op);
    for (let trial = 0; trial < 50; trial++) {
      const s = fold(agg, randomInputs(rng, values, rng.int(0, 30)));
      const back = roundTrip(agg, s);
      expect(agg.finish(back, Q)).toEqual(agg.finish(s, Q));
      expect(agg.encode(back)).toEqual(agg.encode(s));
      // And it keeps working after the trip.
      const extra = randomInputs(rng, values, 5);
      expect(agg.finish(fold2(agg, back, extra), Q)).toEqual(agg.finish(fold2(agg, s, extra), Q));
    }
  });

  it('refuses a stored form of another shape', () => {
    for (const junk of [{ nope: 1 }, 'text', [1, 2], -1.5, true]) {
      let thrown: unknown = null;
      try {
        agg.decode(junk);
      } catch (err) {
        thrown = err;
      }
      // Each op accepts some shapes (a number for count); at least one of these must be refused.
      if (thrown !== null) expect(thrown).toBeInstanceOf(FeatureStateError);
    }
    expect(() => agg.decode({ surely: 'not a state' })).toThrow(FeatureStateError);
  });
});

function fold2<S>(agg: Aggregator<S>, start: S, inputs: readonly Input[]): S {
  return inputs.reduce((s, x) => agg.update(s, x.value, x.t), start);
}

describe('op semantics', () => {
  const t = (m: number): number => T0 + m * 60_000;

  it('count, sum, avg, min, max: cold start and skipped values', () => {
    const sum = aggregatorFor({ source: 'order', op: 'sum', field: 'amount' });
    const avg = aggregatorFor({ source: 'order', op: 'avg', field: 'amount' });
    const min = aggregatorFor({ source: 'order', op: 'min', field: 'amount' });
    const max = aggregatorFor({ source: 'order', op: 'max', field: 'amount' });
    const count = aggregatorFor({ source: 'click', op: 'count' });
    const inputs: Input[] = [
      { value: 3, t: t(1) },
      { value: Number.NaN, t: t(2) },
      { value: null, t: t(3) },
      { value: 'x', t: t(4) },
      { value: 5, t: t(5) },
      { value: Number.POSITIVE_INFINITY, t: t(6) },
    ];
    expect(sum.finish(fold(sum, inputs), Q)).toBe(8);
    expect(avg.finish(fold(avg, inputs), Q)).toBe(4);
    expect(min.finish(fold(min, inputs), Q)).toBe(3);
    expect(max.finish(fold(max, inputs), Q)).toBe(5);
    expect(count.finish(fold(count, inputs), Q)).toBe(6);
    expect([sum, avg, min, max, count].map((a) => a.finish(a.init(), Q))).toEqual([0, null, null, null, 0]);
  });

  it('last: the greatest time wins, a tie goes to the greater String(v) whatever the order', () => {
    const last = aggregatorFor({ source: 'click', op: 'last', field: 'itemId' });
    expect(last.finish(fold(last, [{ value: 'b', t: t(2) }, { value: 'a', t: t(1) }]), Q)).toBe('b');
    expect(last.finish(fold(last, [{ value: 'a', t: t(1) }, { value: 'b', t: t(2) }]), Q)).toBe('b');
    expect(last.finish(fold(last, [{ value: 'a', t: t(3) }, { value: 'b', t: t(3) }]), Q)).toBe('b');
    expect(last.finish(fold(last, [{ value: 'b', t: t(3) }, { value: 'a', t: t(3) }]), Q)).toBe('b');
    expect(last.finish(last.init(), Q)).toBeNull();
    const lastAmount = aggregatorFor({ source: 'order', op: 'last', field: 'amount' });
    // String order, not numeric: '9' > '10'. Documented; it only breaks exact-time ties.
    expect(lastAmount.finish(fold(lastAmount, [{ value: 10, t: t(3) }, { value: 9, t: t(3) }]), Q)).toBe(9);
    expect(compareTimedValues({ t: 1, v: 'a' }, { t: 1, v: 'a' })).toBe(0);
  });

  it('last_k: distinct values at their latest time, newest first, ties by value descending, at most k', () => {
    const lk = aggregatorFor({ source: 'click', op: 'last_k', field: 'itemId', k: 3 });
    const s = fold(lk, [
      { value: 'a', t: t(1) },
      { value: 'b', t: t(2) },
      { value: 'a', t: t(3) },
      { value: 'c', t: t(2) },
      { value: 'd', t: t(0) },
      { value: 'b', t: t(1) },
    ]);
    expect(lk.finish(s, Q)).toEqual(['a', 'c', 'b']);
    expect(lk.finish(lk.init(), Q)).toEqual([]);
    expect(lk.finish(fold(lk, [{ value: 'e', t: t(9) }]), Q)).toEqual(['e']);
  });

  it('last_seen: the latest time', () => {
    const ls = aggregatorFor({ source: 'click', op: 'last_seen' });
    expect(ls.finish(fold(ls, [{ value: null, t: t(5) }, { value: null, t: t(2) }]), Q)).toBe(t(5));
    expect(ls.finish(ls.init(), Q)).toBeNull();
  });

  it('ignores an update with a non-finite time instead of poisoning the state', () => {
    for (const { def } of CASES) {
      const agg = aggregatorFor(def);
      const s = agg.update(agg.init(), 1, t(1));
      expect(agg.update(s, 2, Number.NaN)).toBe(s);
    }
  });

  it('smoothed ratio: (a + alpha) / (b + beta)', () => {
    expect(smoothedRatio(3, 40, 1, 20)).toBeCloseTo(4 / 60, 15);
    expect(smoothedRatio(0, 0, 1, 20)).toBe(0.05);
  });
});

describe('decayed_count', () => {
  it('equals the naive sum of 2^(-(q - t) / H) to 1e-9 relative, over 200 half-lives', () => {
    const H = hours(1);
    const agg = aggregatorFor({ source: 'click', op: 'decayed_count', halfLifeMs: H });
    const rng = new Rng(77);
    const q = T0 + 200 * H;
    for (let trial = 0; trial < 20; trial++) {
      const times = Array.from({ length: 2000 }, () => rng.int(T0, q));
      const naive = times.reduce((acc, ti) => acc + 2 ** (-(q - ti) / H), 0);
      const inOrder = agg.finish(fold(agg, times.map((ti) => ({ value: null, t: ti }))), q);
      const shuffled = agg.finish(fold(agg, shuffle(rng, times).map((ti) => ({ value: null, t: ti }))), q);
      const parts = [0, 1, 2, 3].map((p) => fold(agg, times.filter((_, i) => i % 4 === p).map((ti) => ({ value: null, t: ti }))));
      const merged = agg.finish(parts.reduce((s, p) => agg.merge(s, p), agg.init()), q);
      for (const value of [inOrder, shuffled, merged]) {
        expect(Math.abs((value as number) - naive) / naive).toBeLessThan(1e-9);
      }
    }
  });

  it('weighs an event one half-life old by 1/2 and keeps values finite for ancient events', () => {
    const agg = aggregatorFor({ source: 'click', op: 'decayed_count', halfLifeMs: days(1) });
    expect(agg.finish(agg.update(agg.init(), null, T0), T0 + days(1))).toBeCloseTo(0.5, 15);
    expect(agg.finish(agg.update(agg.init(), null, T0), T0)).toBe(1);
    const s = fold(agg, [
      { value: null, t: 0 },
      { value: null, t: T0 },
    ]);
    expect(agg.finish(s, T0)).toBe(1);
    expect(agg.finish(agg.init(), T0)).toBe(0);
  });
});

describe("approx_distinct (Redis's HyperLogLog: p=14, MurmurHash64A, Ertl's estimator)", () => {
  const agg = aggregatorFor({ source: 'click', op: 'approx_distinct', field: 'itemId' });
  const sigma = 1.04 / Math.sqrt(HLL_REGISTERS);

  it.each([10, 1000, 100_000])('estimates %i distinct values within 4 sigma', (n) => {
    let s = agg.init();
    for (let i = 0; i < n; i++) s = agg.update(s, `item-${i}`, T0);
    // Repeats do not count.
    for (let i = 0; i < Math.min(n, 1000); i++) s = agg.update(s, `item-${i}`, T0 + 1);
    const estimate = agg.finish(s, T0) as number;
    expect(Math.abs(estimate - n)).toBeLessThanOrEqual(Math.max(1, 4 * sigma * n));
  });

  it('merges to the sketch of the union', () => {
    let a = agg.init();
    let b = agg.init();
    let all = agg.init();
    for (let i = 0; i < 30_000; i++) {
      const v = `v${i}`;
      if (i < 20_000) a = agg.update(a, v, T0);
      if (i >= 10_000) b = agg.update(b, v, T0);
      all = agg.update(all, v, T0);
    }
    expect(agg.encode(agg.merge(a, b))).toEqual(agg.encode(all));
    expect(Math.abs((agg.finish(all, T0) as number) - 30_000)).toBeLessThan(4 * sigma * 30_000);
  });

  it('hashes strings and numbers by their text, deterministically', () => {
    const a = agg.update(agg.init(), 42, T0);
    const b = agg.update(agg.init(), '42', T0);
    expect(agg.encode(a)).toEqual(agg.encode(b));
    expect(agg.finish(agg.init(), T0)).toBe(0);
  });

  it("is pinned to Redis's placement: where a value lands never changes (stored sketches depend on it)", () => {
    // the same placements PFADD makes (the online-store contract compares registers with Redis's)
    expect(['item-1', 'é', 'a', 'b'].map((v) => hllPosition(v))).toEqual([
      { index: 15918, rank: 1 },
      { index: 13353, rank: 1 },
      { index: 12711, rank: 2 },
      { index: 15780, rank: 1 },
    ]);
    const s = agg.update(agg.update(agg.init(), 'a', T0), 'é', T0);
    const regs = hllFromBase64(agg.encode(s) as string);
    expect([...(regs as Uint8Array).entries()].filter(([, r]) => r > 0)).toEqual([
      [12711, 2],
      [13353, 1],
    ]);
  });

  it('stores small sketches sparse and large ones dense, both round-tripping exactly', () => {
    let s = agg.init();
    for (let i = 0; i < 50; i++) s = agg.update(s, `u${i}`, T0);
    const sparse = agg.encode(s) as string;
    expect(sparse.startsWith('s:')).toBe(true);
    expect(sparse.length).toBeLessThan(300);
    expect(agg.decode(sparse)).toEqual(s);
    for (let i = 0; i < 20_000; i++) s = agg.update(s, `w${i}`, T0);
    const dense = agg.encode(s) as string;
    expect(dense.startsWith('d:')).toBe(true);
    expect(agg.decode(dense)).toEqual(s);
  });

  it("writes Redis's dense format and reads it back (and Redis's sparse opcodes)", () => {
    const regs = hllCreate();
    for (let j = 0; j < HLL_REGISTERS; j += 7) regs[j] = 1 + (j % HLL_MAX_RANK);
    regs[HLL_REGISTERS - 1] = 63 & HLL_MAX_RANK;
    expect(hllFromRedis(hllToRedis(regs))).toEqual(regs);
    // sparse: XZERO for 16000 registers, VAL rank 3 x2, ZERO for the remaining 382
    const sparse = Buffer.concat([Buffer.from('HYLL'), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x40 | (15999 >> 8), 15999 & 0xff, 0x80 | (2 << 2) | 1, 63, 63, 63, 63, 63, 61])]);
    const decoded = hllFromRedis(sparse) as Uint8Array;
    expect([...decoded.entries()].filter(([, r]) => r > 0)).toEqual([
      [16000, 3],
      [16001, 3],
    ]);
    expect(hllFromRedis(Buffer.from('not a sketch at all'))).toBeNull();
    expect(hllFromRedis(sparse.subarray(0, sparse.length - 1))).toBeNull(); // registers do not add up to 2^14
  });

  it('spreads ranks geometrically (half the values rank 1, a quarter rank 2, ...)', () => {
    const n = 200_000;
    const counts = new Array<number>(54).fill(0);
    for (let i = 0; i < n; i++) {
      const { rank } = hllPosition(`x${i}`);
      counts[rank] = (counts[rank] ?? 0) + 1;
    }
    for (let r = 1; r <= 8; r++) {
      const p = 2 ** -r;
      expect(Math.abs((counts[r] ?? 0) - n * p)).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)));
    }
  });

  it('refuses text that is not a sketch: unknown form, wrong length, impossible indexes or ranks', () => {
    expect(hllFromBase64('AAAA')).toBeNull();
    expect(hllFromBase64('d:AAAA')).toBeNull();
    const regs = new Uint8Array(HLL_REGISTERS);
    regs[5] = HLL_MAX_RANK + 1;
    expect(hllFromBase64(`d:${Buffer.from(regs).toString('base64')}`)).toBeNull();
    expect(hllFromBase64(`s:${Buffer.from([0xff, 0xff, 1]).toString('base64')}`)).toBeNull();
    expect(hllFromBase64(`s:${Buffer.from([0, 1, 0]).toString('base64')}`)).toBeNull();
    expect(() => agg.decode('AAAA')).toThrow(FeatureStateError);
    expect(hllEstimate(new Uint8Array(HLL_REGISTERS))).toBe(0);
  });
});
