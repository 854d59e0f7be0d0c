import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/ingest/rng.js';
import { ModelConfigError } from '../../../src/models/model-errors.js';
import { adagrad, adam, createOptimizer, ftrl, sgd } from '../../../src/models/optimizers.js';

describe('optimisers', () => {
  it('FTRL-Proximal matches the paper\'s per-coordinate closed form (naive oracle)', () => {
    const spec = ftrl({ alpha: 0.1, beta: 1, l1: 0.5, l2: 0.3 });
    const opt = createOptimizer(spec);
    const s = new Float64Array(2);
    opt.initState(0, s, 0);
    const rng = new Rng(3);
    let w = 0;
    // oracle: z and n as in Algorithm 1 of McMahan et al. 2013
    let z = 0;
    let n = 0;
    for (let t = 0; t < 500; t++) {
      const g = rng.normal(0, 1);
      const sigma = (Math.sqrt(n + g * g) - Math.sqrt(n)) / 0.1;
      const wOld = Math.abs(z) <= 0.5 ? 0 : -(z - Math.sign(z) * 0.5) / ((1 + Math.sqrt(n)) / 0.1 + 0.3);
      z += g - sigma * wOld;
      n += g * g;
      const expected = Math.abs(z) <= 0.5 ? 0 : -(z - Math.sign(z) * 0.5) / ((1 + Math.sqrt(n)) / 0.1 + 0.3);
      w = opt.step(w, g, s, 0);
      expect(w).toBeCloseTo(expected, 12);
    }
  });

  it('FTRL initState reproduces a non-zero initial weight (factors start random)', () => {
    const opt = createOptimizer(ftrl({ alpha: 0.05, beta: 1, l1: 0.2, l2: 1 }));
    for (const w0 of [0.3, -0.7, 0]) {
      const s = new Float64Array(2);
      opt.initState(w0, s, 0);
      // a zero gradient step returns the closed form of the initial state: w0 itself
      expect(opt.step(w0, 0, s, 0)).toBeCloseTo(w0, 12);
    }
  });

  it('Adam with kept powers equals the textbook bias-corrected update', () => {
    const opt = createOptimizer(adam({ lr: 0.01 }));
    const s = new Float64Array(4);
    opt.initState(0.5, s, 0);
    const rng = new Rng(4);
    let w = 0.5;
    let ref = 0.5;
    let m = 0;
    let v = 0;
    for (let t = 1; t <= 200; t++) {
      const g = rng.normal(0, 1);
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      ref -= (0.01 * (m / (1 - 0.9 ** t))) / (Math.sqrt(v / (1 - 0.999 ** t)) + 1e-8);
      w = opt.step(w, g, s, 0);
      expect(w).toBeCloseTo(ref, 10);
    }
  });

  it('AdaGrad and SGD', () => {
    const a = createOptimizer(adagrad({ lr: 0.1, l2: 0 }));
    const s = new Float64Array(1);
    a.initState(0, s, 0);
    expect(a.step(1, 2, s, 0)).toBeCloseTo(1 - (0.1 * 2) / (2 + 1e-8), 12);
    expect(a.step(1, 2, s, 0)).toBeCloseTo(1 - (0.1 * 2) / (Math.sqrt(8) + 1e-8), 12);
    expect(createOptimizer(sgd({ lr: 0.5, l2: 0.1 })).step(1, 2, new Float64Array(0), 0)).toBeCloseTo(1 - 0.5 * 2.1, 12);
  });

  it('refuses out-of-range settings', () => {
    expect(() => createOptimizer(ftrl({ alpha: 0 }))).toThrow(ModelConfigError);
    expect(() => createOptimizer(adam({ beta1: 1 }))).toThrow(/beta1/);
    expect(() => createOptimizer({ kind: 'nope' } as never)).toThrow(/unknown optimiser/);
  });
});
