import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/ingest/rng.js';
import { auc, calibration, logloss, ProgressiveValidator, reliability } from '../../../src/training/evaluation.js';

/** The definition: P(score of a positive > score of a negative) + 1/2 P(tie), over all pairs. */
function naiveAuc(p: number[], y: number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < p.length; i++) {
    for (let j = 0; j < p.length; j++) {
      if (y[i] === 1 && y[j] === 0) {
        pairs++;
        if (p[i]! > p[j]!) wins++;
        else if (p[i] === p[j]) wins += 0.5;
      }
    }
  }
  return wins / pairs;
}

describe('evaluation', () => {
  it('AUC equals the pairwise definition on random scores with ties', () => {
    const rng = new Rng(1);
    for (let trial = 0; trial < 20; trial++) {
      const n = rng.int(2, 300);
      const p = Array.from({ length: n }, () => Math.round(rng.uniform() * rng.int(2, 20)) / 20);
      const y = Array.from({ length: n }, () => (rng.bernoulli(0.3) ? 1 : 0));
      if (!y.includes(1) || !y.includes(0)) continue;
      expect(auc(p, y)).toBeCloseTo(naiveAuc(p, y), 12);
    }
    expect(auc([0.1, 0.2], [1, 1])).toBeNaN();
    expect(auc([0.1, NaN, 0.9], [0, 1, 1])).toBe(1);
  });

  it('logloss, calibration and reliability', () => {
    expect(logloss([0.5, 0.5], [0, 1])).toBeCloseTo(Math.log(2), 12);
    expect(logloss([0, 1], [1, 0])).toBeCloseTo(-Math.log(1e-15), 2); // clipped, finite
    const c = calibration([0.2, 0.2, 0.2, 0.2, 0.2], [1, 0, 0, 0, 0]);
    expect(c.ratio).toBeCloseTo(1, 12);
    const r = reliability([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1], 2);
    expect(r).toEqual([
      { meanPrediction: 0.15000000000000002, observedRate: 0, count: 2 },
      { meanPrediction: 0.35, observedRate: 1, count: 2 },
    ]);
  });

  it('progressive validation keeps a rolling window and running totals', () => {
    const pv = new ProgressiveValidator(4);
    const p = [0.9, 0.1, 0.8, 0.2, 0.1, 0.9, NaN];
    const y = [1, 0, 1, 0, 1, 0, 1];
    pv.addAll(p, y);
    const m = pv.metrics();
    expect(m.count).toBe(6);
    expect(m.windowCount).toBe(4);
    expect(m.auc).toBeCloseTo(auc([0.8, 0.2, 0.1, 0.9], [1, 0, 1, 0]), 12);
    expect(m.totalLogloss).toBeCloseTo(logloss(p.slice(0, 6), y.slice(0, 6)), 12);
  });
});
