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

  it('pairFields and denseInteractions restrict the pairwise term to the named fields: it is then the sum of their factor dot products', () => {
    const fm = createFm(SCHEMA, { factors: 4, seed: 3, pairFields: ['user', 'item'], denseInteractions: false, factorInit: { kind: 'normal', sd: 0.3 }, factorOptimizer: adagrad({ lr: 0.1 }) });
    fm.learn(randomBatch(7, 400));
    expect(fm.denseFactors.weights.length).toBe(0);
    const probe = randomBatch(8, 80, { vocabScale: 1.3 });
    const userField = SCHEMA.fields.indexOf('user');
    const itemField = SCHEMA.fields.indexOf('item');
    let nonZero = 0;
    for (let i = 0; i < probe.size; i++) {
      // oracle: sum over pairs of (user or item) entries of <v_a, v_b> x_a x_b, read from the table by id
      const vecs: { v: Float64Array; x: number }[] = [];
      for (let e = probe.offsets[i] as number; e < (probe.offsets[i + 1] as number); e++) {
        const field = probe.fields[e] as number;
        if (field !== userField && field !== itemField) continue;
        const row = fm.factors.view().row(probe.ids[e] as number);
        if (row !== null) vecs.push({ v: row.values.subarray(row.offset, row.offset + 4), x: probe.values[e] as number });
      }
      let want = 0;
      for (let a = 0; a < vecs.length; a++) {
        for (let b = a + 1; b < vecs.length; b++) {
          const p = vecs[a] as (typeof vecs)[number];
          const q = vecs[b] as (typeof vecs)[number];
          let dot = 0;
          for (let f = 0; f < 4; f++) dot += (p.v[f] as number) * (q.v[f] as number);
          want += dot * p.x * q.x;
        }
      }
      expect(Math.abs(fm.pairwiseFast(probe, i) - want)).toBeLessThan(1e-9 * Math.max(1, Math.abs(want)));
      expect(Math.abs(fm.pairwiseNaive(probe, i) - want)).toBeLessThan(1e-9 * Math.max(1, Math.abs(want)));
      if (Math.abs(want) > 1e-3) nonZero++;
    }
    expect(nonZero).toBeGreaterThan(20);
    // ids of the other fields never get factor rows
    const ids = new Set(Array.from(fm.factors.view().keys()));
    const b = randomBatch(7, 400);
    for (let e = 0; e < b.ids.length; e++) if (b.fields[e] !== userField && b.fields[e] !== itemField) expect(ids.has(b.ids[e] as number)).toBe(false);
  });

  it('rejects pairFields that are not fields of the schema', () => {
    expect(() => createFm(SCHEMA, { pairFields: ['user', 'nope'] })).toThrow(/nope/);
  });

  it('rejects a nonsensical factor count', () => {
    expect(() => createFm(SCHEMA, { factors: 0 })).toThrow(/factors/);
  });
});
