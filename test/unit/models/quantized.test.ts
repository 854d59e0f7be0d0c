import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/ingest/rng.js';
import { createFm, type FmModel } from '../../../src/models/fm.js';
import { createLr } from '../../../src/models/lr.js';
import { ModelConfigError, ModelFormatError } from '../../../src/models/model-errors.js';
import { adagrad } from '../../../src/models/optimizers.js';
import { QuantizedFm, QuantizedWideDeep, quantizeModel } from '../../../src/models/quantized-model.js';
import { createWideDeep } from '../../../src/models/wide-deep.js';
import type { ModelBatch } from '../../../src/models/model-batch.js';
import type { Model } from '../../../src/models/model.js';
import { dequantizeRow, quantizeRowsInt8, QuantizedTable } from '../../../src/models/quantized-table.js';
import { applyParamRows, decodeModel, encodeModel } from '../../../src/models/serialization.js';
import { randomBatch, SCHEMA } from './model-fixtures.js';

const F32_EPS = 2 ** -23;

/** Rows of very different magnitudes, constant rows and single-signed rows: what embedding tables hold. */
function randomRows(seed: number, rows: number, width: number): Float64Array {
  const rng = new Rng(seed, 'quant');
  const out = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const kind = rng.int(0, 5);
    const mag = 10 ** rng.uniform(-6, 2);
    const c = rng.normal(0, mag);
    for (let j = 0; j < width; j++) {
      out[r * width + j] = kind === 0 ? c : kind === 1 ? mag * rng.uniform(0, 1) : kind === 2 ? -mag * rng.exponential(1) : rng.normal(c, mag);
    }
  }
  return out;
}

function trainedFm(seed = 1, k = 8): FmModel {
  const m = createFm(SCHEMA, { seed, factors: k, factorInit: { kind: 'normal', sd: 0.1 }, factorOptimizer: adagrad({ lr: 0.05, l2: 1e-4 }) });
  m.learn(randomBatch(seed, 3000));
  return m;
}

describe('INT8 row-wise quantisation', () => {
  it('keeps every value within half a step of its row (plus float32 rounding) and uses the full code range', () => {
    for (const width of [1, 3, 16, 33]) {
      const values = randomRows(width, 400, width);
      const codes = quantizeRowsInt8(values, width);
      const out = new Float64Array(width);
      for (let r = 0; r < 400; r++) {
        dequantizeRow(codes, r, out);
        const s = codes.scale[r]!;
        const b = codes.bias[r]!;
        const row = values.subarray(r * width, (r + 1) * width);
        const min = Math.min(...row);
        const max = Math.max(...row);
        // the step is the row's range over 255 (float32)
        expect(Math.abs(s - (max - min) / 255)).toBeLessThanOrEqual(F32_EPS * ((max - min) / 255));
        const slack = 4 * F32_EPS * (Math.abs(b) + 128 * s);
        for (let j = 0; j < width; j++) expect(Math.abs(out[j]! - row[j]!)).toBeLessThanOrEqual(s / 2 + slack);
        if (s > 0) {
          const q = Array.from(codes.q.subarray(r * width, (r + 1) * width));
          expect(Math.min(...q)).toBe(-128);
          expect(Math.max(...q)).toBe(127);
        } else {
          expect(codes.q.subarray(r * width, (r + 1) * width).every((x) => x === 0)).toBe(true);
        }
      }
    }
  });

  it('refuses non-finite values and ragged rows', () => {
    expect(() => quantizeRowsInt8(Float64Array.of(1, NaN), 2)).toThrow(ModelFormatError);
    expect(() => quantizeRowsInt8(Float64Array.of(1, Infinity), 2)).toThrow(ModelFormatError);
    expect(() => quantizeRowsInt8(Float64Array.of(1, 2, 3), 2)).toThrow(ModelFormatError);
  });

  it('a quantised table finds every id of its float table, none other, and its rows decode to the float rows', () => {
    const fm = trainedFm(2);
    const t = QuantizedTable.fromTable(fm.factors);
    expect(t.size).toBe(fm.factors.size);
    expect(t.size).toBeGreaterThan(50);
    const out = new Float64Array(t.width);
    for (const id of fm.factors.view().keys()) {
      const r = t.find(id);
      expect(r).toBeGreaterThanOrEqual(0);
      expect(t.ids[r]).toBe(id);
      dequantizeRow(t, r, out);
      const fr = fm.factors.find(id);
      for (let j = 0; j < t.width; j++) expect(Math.abs(out[j]! - fm.factors.weights[fr * t.width + j]!)).toBeLessThanOrEqual(t.scale[r]! * 0.5 + 1e-9);
    }
    for (const id of [999_999, 123_456_789, -5]) expect(t.find(id)).toBe(-1);
    expect(t.valueBytes).toBe(t.size * (t.width + 8));
    expect(() => new QuantizedTable('x', 2, Float64Array.of(1, 1), new Float64Array(4))).toThrow(ModelFormatError);
  });
});

/**
 * The oracle of a quantised model: `floatCopy` (a copy of the float model) with every row of the
 * quantised table set to its dequantised value scores what `quantized` scores.
 */
function expectScoresOfDequantisedRows(quantized: { predict(b: ModelBatch): Float64Array }, floatCopy: Model, t: QuantizedTable, seed: number): void {
  const values = new Float64Array(t.size * t.width);
  for (let r = 0; r < t.size; r++) dequantizeRow(t, r, values.subarray(r * t.width, (r + 1) * t.width));
  applyParamRows(floatCopy, [{ name: t.name, kind: 'sparse', width: t.width, keys: t.ids, values, removed: new Float64Array(0) }]);
  const batch = randomBatch(seed, 500, { vocabScale: 1.3 }); // some ids unseen in training
  const expected = floatCopy.predict(batch);
  const got = quantized.predict(batch);
  for (let i = 0; i < batch.size; i++) expect(Math.abs(got[i]! - expected[i]!)).toBeLessThanOrEqual(1e-12);
}

describe('QuantizedFm', () => {
  // the second config restricts the pairwise term (fields without factors, no dense factors) where FM supports it
  const configs: Record<string, unknown>[] = [{}, { pairFields: ['user', 'item'], denseInteractions: false }];
  it.each(configs)('scores exactly as the float FM whose factors were replaced by their dequantised rows (the O(kn) form kept) %o', (extra) => {
    const fm = createFm(SCHEMA, { seed: 3, factors: 8, factorInit: { kind: 'normal', sd: 0.1 }, factorOptimizer: adagrad({ lr: 0.05, l2: 1e-4 }), ...extra });
    fm.learn(randomBatch(3, 3000));
    const oracle = decodeModel(encodeModel(fm));
    const qfm = new QuantizedFm(fm);
    expectScoresOfDequantisedRows(qfm, oracle, qfm.factors, 33);
  });

  it('predicts close to the float model, and the float model is left untouched', () => {
    const fm = trainedFm(4, 16);
    const before = encodeModel(fm);
    const qfm = quantizeModel(fm, 'int8');
    const batch = randomBatch(44, 1000);
    const f = fm.predict(batch);
    const q = qfm.predict(batch);
    let maxDiff = 0;
    let same = 0;
    for (let i = 0; i < batch.size; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(f[i]! - q[i]!));
      if (f[i] === q[i]) same++;
    }
    expect(maxDiff).toBeLessThan(2e-3);
    expect(same).toBeLessThan(batch.size); // the quantised path really is another path
    expect(Buffer.from(encodeModel(fm)).equals(Buffer.from(before))).toBe(true);
  });

  it('a saved and loaded model quantises to the same codes and scores bit for bit', () => {
    const fm = trainedFm(5);
    const a = new QuantizedFm(fm);
    const b = new QuantizedFm(decodeModel(encodeModel(fm)) as FmModel);
    expect(Buffer.from(b.factors.q.buffer).equals(Buffer.from(a.factors.q.buffer))).toBe(true);
    expect(Array.from(b.factors.scale)).toEqual(Array.from(a.factors.scale));
    expect(Array.from(b.factors.bias)).toEqual(Array.from(a.factors.bias));
    const batch = randomBatch(55, 300);
    expect(Array.from(b.predict(batch))).toEqual(Array.from(a.predict(batch)));
  });

  it('saves the factor memory it claims', () => {
    const fm = trainedFm(6, 16);
    const m = new QuantizedFm(fm).memory;
    expect(m.rows).toBe(fm.factors.size);
    expect(m.floatValueBytes).toBe(m.rows * 16 * 8);
    expect(m.int8ValueBytes).toBe(m.rows * (16 + 8));
    expect(m.int8TableBytes).toBeLessThan(m.floatTableBytes / 3);
  });

  it('none serves the model itself; int8 on a kind without an INT8 form is refused', () => {
    const lr = createLr(SCHEMA);
    expect(quantizeModel(lr, 'none')).toBe(lr);
    expect(() => quantizeModel(lr, 'int8')).toThrow(ModelConfigError);
  });
});

describe('QuantizedWideDeep', () => {
  const trained = (seed: number) => {
    const wd = createWideDeep(SCHEMA, { seed, embeddingDim: 8, hidden: [16, 8], embeddingInit: { kind: 'normal', sd: 0.1 } });
    wd.learn(randomBatch(seed, 3000));
    return wd;
  };

  it('scores exactly as the float model whose embeddings were replaced by their dequantised rows', () => {
    const wd = trained(7);
    const oracle = decodeModel(encodeModel(wd));
    const q = new QuantizedWideDeep(wd);
    expectScoresOfDequantisedRows(q, oracle, q.embeddings, 77);
  });

  it('predicts close to the float model, releases the float table, and refuses to learn or be saved', () => {
    const wd = trained(8);
    const batch = randomBatch(88, 1000);
    const f = decodeModel(encodeModel(wd)).predict(batch);
    const rows = wd.embeddings.size;
    const q = quantizeModel(wd, 'int8') as QuantizedWideDeep;
    expect(q).toBeInstanceOf(QuantizedWideDeep);
    const p = q.predict(batch);
    let maxDiff = 0;
    for (let i = 0; i < batch.size; i++) maxDiff = Math.max(maxDiff, Math.abs(f[i]! - p[i]!));
    expect(maxDiff).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(5e-3);
    expect(q.memory.rows).toBe(rows);
    expect(q.memory.int8ValueBytes).toBe(rows * (8 + 8));
    expect(wd.embeddings.size).toBe(0);
    expect(() => wd.learn(randomBatch(1, 10))).toThrow(/serves INT8 embeddings and cannot learn/);
    expect(() => encodeModel(wd)).toThrow(/cannot export/);
  });
});
