import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/ingest/rng.js';
import { BatchBuilder, concatBatches, sliceBatch, type ModelBatch } from '../../../src/models/model-batch.js';
import { ModelConfigError, ModelSchemaError } from '../../../src/models/model-errors.js';
import type { Model } from '../../../src/models/model.js';
import { createModel, decodeModel, encodeModel } from '../../../src/models/serialization.js';
import { auc } from '../../../src/training/evaluation.js';
import { allParams, copyBatch, MODEL_FACTORIES, randomBatch, randomBatchWithTruth, SCHEMA } from './model-fixtures.js';

/**
 * The checks every model passes (after river's `checks/common.py`): numerical gradient, seeded
 * runs identical, exact save/load, input not mutated, unseen and missing features, bad input.
 */
describe.each(MODEL_FACTORIES)('$name', ({ create }) => {
  it('analytic gradients match central finite differences on random inputs', () => {
    const model = create(3);
    model.learn(randomBatch(11, 300));
    const probe = randomBatch(12, 12);
    const rng = new Rng(99, 'pick');
    let checked = 0;
    for (let i = 0; i < probe.size; i++) {
      const { loss, gradients } = model.lossGradient(probe, i);
      expect(loss).toBeCloseTo(model.lossOf(probe, i), 12);
      const tables = new Map(model.params().map((t) => [t.name, t]));
      for (const g of gradients) {
        const table = tables.get(g.table);
        expect(table, `table ${g.table}`).toBeDefined();
        for (let r = 0; r < g.keys.length; r++) {
          for (let j = 0; j < g.width; j++) {
            // dense layers are large: check a random tenth of their parameters
            if (g.keys.length * g.width > 200 && rng.uniform() > 0.1) continue;
            const where = table!.row(g.keys[r] as number)!;
            const at = where.offset + j;
            const w0 = where.values[at] as number;
            const h = 1e-5 * Math.max(1, Math.abs(w0));
            where.values[at] = w0 + h;
            const up = model.lossOf(probe, i);
            where.values[at] = w0 - h;
            const down = model.lossOf(probe, i);
            where.values[at] = w0;
            const numeric = (up - down) / (2 * h);
            const analytic = g.values[r * g.width + j] as number;
            expect(Math.abs(numeric - analytic), `${g.table}[${g.keys[r]}][${j}]: analytic ${analytic}, numeric ${numeric}`).toBeLessThan(1e-6 + 1e-4 * Math.abs(numeric));
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('the gradient it checks is the one it learns with: one SGD-free step moves the loss down', () => {
    const model = create(4);
    const b = randomBatch(21, 200);
    const before = Array.from({ length: 50 }, (_, i) => model.lossOf(b, i)).reduce((a, x) => a + x, 0);
    for (let epoch = 0; epoch < 5; epoch++) model.learn(sliceBatch(b, 0, 50));
    const after = Array.from({ length: 50 }, (_, i) => model.lossOf(b, i)).reduce((a, x) => a + x, 0);
    expect(after).toBeLessThan(before);
  });

  it('seeded runs are identical, other seeds differ where the init is random', () => {
    const b1 = randomBatch(31, 400);
    const a = create(5);
    const b = create(5);
    for (const m of [a, b]) for (let i = 0; i < b1.size; i += 37) m.learn(sliceBatch(b1, i, i + 37));
    expect(Buffer.from(encodeModel(a)).equals(Buffer.from(encodeModel(b)))).toBe(true);
    expect(Array.from(a.predict(randomBatch(32, 50)))).toEqual(Array.from(b.predict(randomBatch(32, 50))));
    if (a.kind !== 'lr') {
      const c = create(6);
      c.learn(b1);
      expect(Array.from(c.predict(randomBatch(32, 50)))).not.toEqual(Array.from(a.predict(randomBatch(32, 50))));
    }
  });

  it('save/load round-trips bit for bit, and learning continues identically', () => {
    const model = create(7);
    model.learn(randomBatch(41, 300));
    const bytes = encodeModel(model);
    const loaded = decodeModel(bytes, model.kind);
    expect(Buffer.from(encodeModel(loaded)).equals(Buffer.from(bytes))).toBe(true);
    const test = randomBatch(42, 80);
    expect(Array.from(loaded.predict(test))).toEqual(Array.from(model.predict(test)));
    const more = randomBatch(43, 200, { vocabScale: 1.5 }); // new ids too
    const pa = new Float64Array(more.size);
    const pb = new Float64Array(more.size);
    model.learn(more, pa);
    loaded.learn(more, pb);
    expect(Array.from(pb)).toEqual(Array.from(pa));
    expect(Buffer.from(encodeModel(loaded)).equals(Buffer.from(encodeModel(model)))).toBe(true);
    expect(loaded.mark()).toBe(model.mark());
    expect(loaded.counters).toEqual(model.counters);
  });

  it('does not mutate its input', () => {
    const model = create(8);
    const b = randomBatch(51, 100);
    const copy = copyBatch(b);
    model.learn(b, new Float64Array(b.size));
    model.predict(b);
    model.lossGradient(b, 3);
    model.learnOne(b, 5);
    expect(b).toEqual(copy);
  });

  it('scores unseen ids, empty examples and missing dense values without learning anything', () => {
    const model = create(9);
    model.learn(randomBatch(61, 200));
    const sizes = model.params().map((t) => t.rows);
    const before = allParams(model);
    const bb = new BatchBuilder(SCHEMA.dense.length);
    bb.add(987654321, 0);
    bb.add(2 ** 52 + 17, 1);
    bb.end(0, 0);
    bb.end(1, 0); // no entries, all dense 0
    bb.add(1000, 0);
    bb.setDense(1, NaN); // predict treats it as missing
    bb.end(0, 0);
    const p = model.predict(bb.build());
    for (const x of p) expect(x > 0 && x < 1).toBe(true);
    expect(model.params().map((t) => t.rows)).toEqual(sizes);
    expect(allParams(model)).toEqual(before);
    expect(model.counters.predictBadValues).toBe(1);
  });

  it('skips bad examples whole: parameters stay finite and identical to a clean run, the AUC unchanged', () => {
    const clean = randomBatch(71, 600);
    const rng = new Rng(72, 'inject');
    const bb = new BatchBuilder(SCHEMA.dense.length);
    const append = (b: ModelBatch, i: number): void => {
      for (let e = b.offsets[i] as number; e < (b.offsets[i + 1] as number); e++) bb.add(b.ids[e] as number, b.fields[e] as number, b.values[e] as number);
      for (let j = 0; j < b.denseWidth; j++) bb.setDense(j, b.dense[i * b.denseWidth + j] as number);
    };
    const kinds = ['nanValue', 'infValue', 'nanDense', 'infDense', 'nanLabel', 'label2', 'negativeId', 'fractionalId', 'hugeId', 'badField', 'hugeValue'] as const;
    let injected = 0;
    // where each clean example lands in the dirty batch, so both runs cut the same mini-batches
    const at = new Int32Array(clean.size + 1);
    for (let i = 0; i < clean.size; i++) {
      at[i] = bb.size;
      append(clean, i);
      bb.end(clean.labels[i] as number, clean.times[i] as number);
      if (rng.uniform() < 0.2) {
        const kind = kinds[injected++ % kinds.length]!;
        append(clean, i);
        let label = clean.labels[i] as number;
        if (kind === 'nanValue') bb.add(5555, 0, NaN);
        if (kind === 'infValue') bb.add(5556, 1, Infinity);
        if (kind === 'nanDense') bb.setDense(0, NaN);
        if (kind === 'infDense') bb.setDense(2, -Infinity);
        if (kind === 'nanLabel') label = NaN;
        if (kind === 'label2') label = 2;
        if (kind === 'negativeId') bb.add(-4, 0);
        if (kind === 'fractionalId') bb.add(1.5, 0);
        if (kind === 'hugeId') bb.add(2 ** 60, 0);
        if (kind === 'badField') bb.add(777, 9);
        if (kind === 'hugeValue') bb.add(778, 2, 1e300);
        bb.end(label, clean.times[i] as number);
      }
    }
    at[clean.size] = bb.size;
    const dirty = bb.build();
    expect(injected).toBeGreaterThan(50);
    const a = create(10);
    const b = create(10);
    for (let i = 0; i < clean.size; i += 50) a.learn(sliceBatch(clean, i, i + 50));
    let skipped = 0;
    for (let i = 0; i < clean.size; i += 50) skipped += b.learn(sliceBatch(dirty, at[i]!, at[Math.min(clean.size, i + 50)]!)).skipped;
    expect(skipped).toBe(injected);
    const c = b.counters;
    expect(c.badValue + c.badLabel + c.badId + c.badField).toBe(injected);
    for (const values of Object.values(allParams(b))) for (const v of values) expect(Number.isFinite(v)).toBe(true);
    expect(allParams(b)).toEqual(allParams(a));
    const test = randomBatch(73, 300);
    expect(auc(b.predict(test), test.labels)).toBe(auc(a.predict(test), test.labels));
  });

  it('refuses a batch of another input schema', () => {
    const model = create(11);
    const other = new BatchBuilder(SCHEMA.dense.length + 1);
    other.end(1, 0);
    expect(() => model.predict(other.build())).toThrow(ModelSchemaError);
    expect(() => model.learn(other.build())).toThrow(ModelSchemaError);
  });

  it('learns: better than chance on held-out data, and learnOne equals a batch of one', () => {
    const model = create(12);
    for (let epoch = 0; epoch < 3; epoch++) model.learn(randomBatch(81, 2000));
    const { batch: test, truth } = randomBatchWithTruth(82, 1000);
    const best = auc(truth, test.labels);
    // at least 60 % of the way from chance to the truth's AUC
    expect(auc(model.predict(test), test.labels)).toBeGreaterThan(0.5 + 0.6 * (best - 0.5));
    const x = create(13);
    const y = create(13);
    const b = randomBatch(83, 40);
    for (let i = 0; i < b.size; i++) {
      x.learnOne(b, i);
      y.learn(sliceBatch(b, i, i + 1));
    }
    expect(allParams(x)).toEqual(allParams(y));
  });

  it('changedSince returns exactly the rows learned after a mark', () => {
    const model: Model = create(14);
    model.learn(randomBatch(91, 300));
    const mark = model.mark();
    const before = allParams(model);
    const b = new BatchBuilder(SCHEMA.dense.length);
    b.add(1001, 0);
    b.add(2002, 1);
    b.setDense(0, 1);
    b.end(1, 1_700_000_999_000);
    model.learn(b.build());
    const delta = model.changedSince(mark);
    const sparse = delta.filter((t) => t.kind === 'sparse');
    for (const t of sparse) {
      expect(Array.from(t.keys).every((k) => k === 1001 || k === 2002)).toBe(true);
      expect(t.keys.length).toBe(2);
    }
    // every row not in the delta is unchanged
    const after = allParams(model);
    for (const t of delta) if (t.keys.length === 0) expect(after[t.name]).toEqual(before[t.name]);
    expect(model.changedSince(model.mark()).every((t) => t.keys.length === 0)).toBe(true);
  });
});

describe('batches', () => {
  it('concatBatches and sliceBatch preserve examples', () => {
    const a = randomBatch(1, 30);
    const b = randomBatch(2, 20);
    const c = concatBatches([a, b]);
    expect(c.size).toBe(50);
    const back = sliceBatch(c, 30, 50);
    expect(Array.from(back.ids)).toEqual(Array.from(b.ids));
    expect(Array.from(back.dense)).toEqual(Array.from(b.dense));
    expect(Array.from(back.offsets)).toEqual(Array.from(b.offsets));
  });

  it('the builder keeps an id once per example with its values summed', () => {
    const bb = new BatchBuilder(0);
    for (let k = 0; k < 100; k++) bb.add(k % 40, 0, 1);
    bb.end(0, 0);
    const b = bb.build();
    expect(b.ids.length).toBe(40);
    expect(Array.from(b.values).reduce((x, y) => x + y, 0)).toBe(100);
  });
});

describe('model options', () => {
  it('refuses an option the model does not have, naming the ones it has', () => {
    expect(() => createModel('fm', SCHEMA, { k: 16 })).toThrow(/fm: unknown option "k"; its options are factors, /);
    expect(() => createModel('lr', SCHEMA, { hidden: [8] })).toThrow(/lr: unknown option "hidden"/);
    expect(() => createModel('wide-deep', SCHEMA, { factors: 4 })).toThrow(ModelConfigError);
  });

  it('takes optimiser specs given as JSON with values left out (the defaults fill them)', () => {
    const config = JSON.parse('{"factors": 4, "factorOptimizer": {"kind": "adagrad", "lr": 0.1}, "linearOptimizer": {"kind": "ftrl", "l1": 0.5}, "seed": 3}') as Record<string, unknown>;
    const model = createModel('fm', SCHEMA, config);
    expect(model.learn(randomBatch(1, 200)).learned).toBe(200);
    expect(Object.values(allParams(model)).flat().every(Number.isFinite)).toBe(true);
    // the published form carries the config as given and decodes to the same model
    expect(allParams(decodeModel(encodeModel(model)))).toEqual(allParams(model));
    expect(() => createModel('fm', SCHEMA, { factorOptimizer: { kind: 'adagrad', lr: -1 } }).learn(randomBatch(1, 5))).toThrow(/lr must be a finite number > 0, got -1/);
    expect(() => createModel('fm', SCHEMA, { factorOptimizer: 'adam' })).toThrow(/an optimiser must be an object/);
  });
});

describe('BatchBuilder', () => {
  it('add sums a repeated id, before and past the 32 entries where it starts an index, whether the others came through add or addDistinct', () => {
    for (const first of ['add', 'addDistinct'] as const) {
      for (const n of [5, 31, 32, 40]) {
        const bb = new BatchBuilder(0);
        for (let i = 0; i < n; i++) bb[first](1000 + i, 0, 1);
        bb.add(1000, 0, 2); // a repeat of the first
        bb.add(1000 + n - 1, 0, 3); // and of the last
        bb.add(5, 1, 1); // a new id
        bb.addDistinct(6, 1, 1);
        bb.add(6, 1, 1);
        bb.end(1, 0);
        const b = bb.build();
        const entries = new Map<number, number>();
        for (let e = 0; e < (b.offsets[1] as number); e++) {
          expect(entries.has(b.ids[e] as number)).toBe(false);
          entries.set(b.ids[e] as number, b.values[e] as number);
        }
        expect(entries.size).toBe(n + 2);
        expect(entries.get(1000)).toBe(n === 1 ? 6 : 3);
        expect(entries.get(1000 + n - 1)).toBe(4);
        expect(entries.get(6)).toBe(2);
      }
    }
  });
});
