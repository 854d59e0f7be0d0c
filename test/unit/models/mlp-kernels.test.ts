import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/ingest/rng.js';
import { MlpArena } from '../../../src/models/mlp-kernels.js';
import { layerForward, layerInputGradient, layerWeightGradient } from './reference-mlp-kernels.js';

/** Same numbers, element by element (NaN equals NaN; +0 and -0 are the same number here). */
function expectSame(actual: Float64Array, expected: Float64Array, what: string): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (!(a === e || (Number.isNaN(a) && Number.isNaN(e)))) throw new Error(`${what}[${i}]: ${a} != ${e}`);
  }
}

/** Random values with about a third exact zeros (ReLU outputs), occasionally negative. */
function fill(rng: Rng, out: Float64Array, zeros = 0.35): Float64Array {
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform() < zeros ? 0 : rng.normal(0, 1);
  return out;
}

// shapes around every blocking edge: odd batches, outputs not a multiple of 8 or 2, one output
const SHAPES: [n: number, ins: number, outs: number][] = [
  [1, 1, 1],
  [1, 5, 8],
  [2, 3, 9],
  [3, 7, 17],
  [4, 16, 256],
  [5, 90, 31],
  [7, 33, 2],
  [8, 256, 128],
  [9, 128, 1],
  [64, 90, 256],
  [63, 256, 128],
];

describe('WebAssembly MLP kernels equal the plain loops number for number', () => {
  it.each(SHAPES)('n=%i ins=%i outs=%i', (n, ins, outs) => {
    const rng = new Rng(n * 1000 + ins * 10 + outs);
    const arena = new MlpArena(n * ins * 3 + ins * outs * 3 + outs * 3 + n * outs * 3 + outs * (n + 4), 'test');
    const a = fill(rng, arena.alloc(n * ins));
    const w = fill(rng, arena.alloc(ins * outs), 0.05);
    const bias = fill(rng, arena.alloc(outs), 0.2);
    const dp = fill(rng, arena.alloc(n * outs), 0.1);
    for (const relu of [false, true]) {
      const p = arena.alloc(n * outs);
      const ref = new Float64Array(n * outs);
      arena.forward(a, n, ins, w, bias, outs, p, relu);
      layerForward(a.slice(), n, ins, w.slice(), bias.slice(), outs, ref, relu);
      expectSame(p, ref, `forward relu=${relu}`);
    }
    const gw = fill(rng, arena.alloc(ins * outs), 0.5);
    const gb = fill(rng, arena.alloc(outs), 0.5);
    const gwRef = gw.slice();
    const gbRef = gb.slice();
    arena.weightGradient(a, n, ins, dp, outs, gw, gb);
    layerWeightGradient(a.slice(), n, ins, dp.slice(), outs, gwRef, gbRef);
    expectSame(gw, gwRef, 'weight gradient');
    expectSame(gb, gbRef, 'bias gradient');
    const scratch = arena.alloc(outs * ((n + 3) & ~3));
    for (const [limit, mask] of [
      [ins, null],
      [Math.max(1, ins - 3), a],
      [1, a],
    ] as const) {
      const da = fill(rng, arena.alloc(n * ins)); // stale values beyond `limit` must stay as they are
      const daRef = da.slice();
      arena.inputGradient(w, ins, limit, dp, outs, n, da, mask, scratch);
      layerInputGradient(w.slice(), ins, limit, dp.slice(), outs, n, daRef, mask === null ? null : mask.slice());
      expectSame(da, daRef, `input gradient limit=${limit} mask=${mask !== null}`);
    }
  });

  // With finite weights. A non-finite weight (which the models' guards never let in) can differ: an
  // example whose input is 0 is skipped by the plain loop but multiplied (0 x inf = NaN) when the
  // other example of its pair is not 0.
  it('propagates NaN and infinite inputs like the plain loops', () => {
    const [n, ins, outs] = [5, 9, 10];
    const rng = new Rng(7);
    const arena = new MlpArena(4 * n * ins + 3 * ins * outs + 4 * outs + 4 * n * outs, 'test');
    const a = fill(rng, arena.alloc(n * ins));
    a[3] = NaN;
    a[ins + 2] = Infinity;
    const w = fill(rng, arena.alloc(ins * outs), 0);
    const bias = fill(rng, arena.alloc(outs), 0);
    const p = arena.alloc(n * outs);
    const ref = new Float64Array(n * outs);
    arena.forward(a, n, ins, w, bias, outs, p, true);
    layerForward(a.slice(), n, ins, w.slice(), bias.slice(), outs, ref, true);
    expectSame(p, ref, 'forward');
    const dp = fill(rng, arena.alloc(n * outs), 0);
    const gw = arena.alloc(ins * outs);
    const gb = arena.alloc(outs);
    const gwRef = new Float64Array(ins * outs);
    const gbRef = new Float64Array(outs);
    arena.weightGradient(a, n, ins, dp, outs, gw, gb);
    layerWeightGradient(a.slice(), n, ins, dp.slice(), outs, gwRef, gbRef);
    expectSame(gw, gwRef, 'weight gradient');
  });

  it('refuses arrays from another memory and arenas past 2 GiB', () => {
    const arena = new MlpArena(16, 'test');
    const x = arena.alloc(4);
    expect(() => arena.forward(new Float64Array(4), 1, 2, x, x, 2, x, false)).toThrow(/another memory/);
    expect(() => arena.alloc(10_000)).toThrow(/out of space/);
    expect(() => new MlpArena(2 ** 28, 'huge')).toThrow(/2 GiB/);
  });

  it('the committed WebAssembly bytes are what mlp-kernels.wat assembles to', () => {
    execFileSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { stdio: 'pipe' });
  });
});
