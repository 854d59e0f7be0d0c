import { describe, expect, it } from 'vitest';
import { createFm } from '../../../src/models/fm.js';
import { adagrad } from '../../../src/models/optimizers.js';
import { randomBatch, SCHEMA } from './model-fixtures.js';

describe('FM', () => {
  it('the O(kn) pairwise term equals the O(kn^2) sum over pairs on random inputs and parameters', () => {
    for (const k of [1, 4, 16]) {
      const fm = createFm(SCHEMA, { factors: k, seed: k, factorInit: { kind: 'normal', sd: 0.3 }, factorOptimizer: adagrad({ lr: 0.1 }) });
      fm.learn(randomBatch(100 + k, 500));
      const probe = randomBatch(200 + k, 60, { vocabScale: 1.3 }); // includes ids never learned
      let nonZero = 0;
      for (let i = 0; i < probe.size; i++) {
        const fast = fm.pairwiseFast(probe, i);
        const naive = fm.pairwiseNaive(probe, i);
        expect(Math.abs(fast - naive)).toBeLessThan(1e-9 * Math.max(1, Math.abs(naive)));
        if (Math.abs(naive) > 1e-3) nonZero++;
      }
      expect(nonZero).toBeGreaterThan(30);
    }
  });

  it('rejects a nonsensical factor count', () => {
    expect(() => createFm(SCHEMA, { factors: 0 })).toThrow(/factors/);
  });
});
