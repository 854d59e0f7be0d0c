import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createFm } from '../../../src/models/fm.js';
import { ModelConfigError, ModelFormatError } from '../../../src/models/model-errors.js';
import { quantizeModel, type QuantizeMode } from '../../../src/models/quantized-model.js';
import { decodeModel, encodeModel } from '../../../src/models/serialization.js';
import { servingModelOf, servingSnapshot, snapshotTransfer, type ServingSnapshot } from '../../../src/models/serving-snapshot.js';
import { MODEL_FACTORIES, randomBatch, SCHEMA } from './model-fixtures.js';

/** The snapshot as the serving thread receives it: through a real MessagePort, its arrays transferred. */
function sent(s: ServingSnapshot): ServingSnapshot {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(s, snapshotTransfer(s));
  const got = receiveMessageOnPort(port2)?.message as ServingSnapshot;
  port1.close();
  return got;
}

describe('the serving snapshot a reload worker hands over', () => {
  for (const f of MODEL_FACTORIES) {
    for (const mode of ['none', 'int8'] as QuantizeMode[]) {
      if (f.name === 'lr' && mode === 'int8') continue;
      it(`${f.name}, ${mode}: scores bit for bit as the model served on its own thread, after crossing a port`, () => {
        const model = f.create();
        model.learn(randomBatch(1, 3000, { vocabScale: 20 }));
        const test = randomBatch(2, 500, { vocabScale: 25 }); // unknown ids too
        const bytes = encodeModel(model);
        const oracle = Array.from(quantizeModel(decodeModel(bytes), mode).predict(test));
        const snapshot = servingSnapshot(decodeModel(bytes), mode);
        const transfer = snapshotTransfer(snapshot);
        const big = transfer.reduce((n, b) => n + b.byteLength, 0);
        const received = sent(snapshot);
        // moved, not copied: the sender's arrays are detached
        expect(transfer.every((b) => b.byteLength === 0)).toBe(true);
        expect(big).toBeGreaterThan(0);
        const served = servingModelOf(received);
        expect(served.kind).toBe(model.kind);
        expect(Array.from(served.predict(test))).toEqual(oracle);
      });
    }
  }

  it('hands over a table with an admission sketch and removed rows, and the model it makes learns on as the original', () => {
    const make = () => createFm(SCHEMA, { factors: 4, admission: { minCount: 2, sketchWidth: 1 << 10, ttlMs: 60_000 } });
    const fm = make();
    fm.learn(randomBatch(5, 2000, { vocabScale: 30, timeStep: 100 }));
    const bytes = encodeModel(fm);
    const served = servingModelOf(sent(servingSnapshot(decodeModel(bytes), 'none'))) as ReturnType<typeof make>;
    const original = decodeModel(bytes) as ReturnType<typeof make>;
    expect(served.factors.size).toBe(original.factors.size);
    const next = randomBatch(6, 1000, { vocabScale: 30, timeStart: 1_700_000_300_000, timeStep: 100 });
    served.learn(next);
    original.learn(next);
    expect(encodeModel(served)).toEqual(encodeModel(original));
  });

  it('keeps the INT8 memory figures of the table it replaced', () => {
    const fm = MODEL_FACTORIES.find((f) => f.name === 'fm')!.create();
    fm.learn(randomBatch(3, 2000, { vocabScale: 10 }));
    const direct = quantizeModel(decodeModel(encodeModel(fm)), 'int8') as unknown as { memory: unknown };
    const viaSnapshot = servingModelOf(sent(servingSnapshot(decodeModel(encodeModel(fm)), 'int8'))) as unknown as { memory: unknown };
    expect(viaSnapshot.memory).toEqual(direct.memory);
  });

  it('refuses INT8 for LR with the reason, as quantizeModel does', () => {
    const lr = MODEL_FACTORIES.find((f) => f.name === 'lr')!.create();
    expect(() => servingSnapshot(lr, 'int8')).toThrow(ModelConfigError);
    expect(() => servingSnapshot(lr, 'int8')).toThrow(/not lr/);
  });

  it('refuses arrays that do not fit the model they claim to be', () => {
    const fm = createFm(SCHEMA, { factors: 4 });
    fm.learn(randomBatch(4, 500));
    const s = servingSnapshot(decodeModel(encodeModel(fm)), 'none');
    const factors = s.sparse.factors!;
    const wrongWidth = { ...s, sparse: { ...s.sparse, factors: { ...factors, weights: factors.weights.subarray(1) } } };
    expect(() => servingModelOf(wrongWidth)).toThrow(ModelFormatError);
    const missing = { ...s, sparse: Object.fromEntries(Object.entries(s.sparse).filter(([k]) => k !== 'factors')) };
    expect(() => servingModelOf(missing)).toThrow(/lacks table factors/);
    const q = servingSnapshot(decodeModel(encodeModel(fm)), 'int8');
    const badIndex = { ...q, int8: { ...q.int8!, layout: { ...q.int8!.layout, keys: new Float64Array(8) } } };
    expect(() => servingModelOf(badIndex)).toThrow(ModelFormatError);
  });
});
