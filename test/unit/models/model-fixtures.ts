import { Rng } from '../../../src/ingest/rng.js';
import { createFm } from '../../../src/models/fm.js';
import { createLr } from '../../../src/models/lr.js';
import { BatchBuilder, type InputSchema, type ModelBatch } from '../../../src/models/model-batch.js';
import type { Model } from '../../../src/models/model.js';
import { adagrad, adam, ftrl } from '../../../src/models/optimizers.js';
import { createWideDeep } from '../../../src/models/wide-deep.js';

/** A small schema: 4 fields, 3 dense columns. */
export const SCHEMA: InputSchema = { fields: ['user', 'item', 'device', 'bag'], dense: ['a', 'b', 'c'], specHash: 'test' };

/** Ids per field: a small vocabulary so ids repeat (and learn) within a few hundred examples. */
const VOCAB = [40, 60, 3, 30];

/**
 * Random examples with a known logistic ground truth over ids and dense values, seeded. Field 3
 * is a bag of 0-4 ids with weight 1/sqrt(n).
 */
export function randomBatch(seed: number, n: number, options: { timeStart?: number; timeStep?: number; vocabScale?: number } = {}): ModelBatch {
  return randomBatchWithTruth(seed, n, options).batch;
}

/** {@link randomBatch} and the true click probability of each example. */
export function randomBatchWithTruth(seed: number, n: number, options: { timeStart?: number; timeStep?: number; vocabScale?: number } = {}): { batch: ModelBatch; truth: Float64Array } {
  const rng = new Rng(seed, 'batch');
  // the true weight of an id depends on the id alone, the same in every batch
  const weightOf = (id: number): number => new Rng(id, 'truth').normal(0, 0.8);
  const b = new BatchBuilder(SCHEMA.dense.length, n);
  const scale = options.vocabScale ?? 1;
  const probabilities = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let logit = -1;
    for (let f = 0; f < 3; f++) {
      const id = f * 1000 + rng.int(0, Math.max(1, Math.round((VOCAB[f] as number) * scale)));
      b.add(id, f, 1);
      logit += weightOf(id);
    }
    const bag = rng.int(0, 5);
    const ids = new Set<number>();
    for (let k = 0; k < bag; k++) ids.add(3000 + rng.int(0, VOCAB[3] as number));
    for (const id of ids) {
      b.add(id, 3, 1 / Math.sqrt(ids.size));
      logit += weightOf(id) / Math.sqrt(ids.size);
    }
    const a = rng.normal(5, 2);
    const c = rng.exponential(3);
    b.setDense(0, a);
    b.setDense(1, rng.uniform(-1, 1));
    b.setDense(2, c);
    logit += 0.3 * (a - 5) - 0.2 * c;
    probabilities[i] = 1 / (1 + Math.exp(-logit));
    b.end(rng.uniform() < (probabilities[i] as number) ? 1 : 0, (options.timeStart ?? 1_700_000_000_000) + i * (options.timeStep ?? 1000));
  }
  return { batch: b.build(), truth: probabilities };
}

/** The three model kinds, small enough for exhaustive checks, with non-default optimisers where it matters. */
export const MODEL_FACTORIES: readonly { readonly name: string; readonly create: (seed?: number) => Model }[] = [
  { name: 'lr', create: (seed = 1) => createLr(SCHEMA, { seed, optimizer: ftrl({ alpha: 0.1, l1: 0.01, l2: 0.1 }) }) },
  { name: 'fm', create: (seed = 1) => createFm(SCHEMA, { seed, factors: 4, factorInit: { kind: 'normal', sd: 0.1 }, factorOptimizer: adagrad({ lr: 0.05, l2: 1e-4 }) }) },
  {
    name: 'fm (user x item pairs only)',
    create: (seed = 1) =>
      createFm(SCHEMA, { seed, factors: 3, pairFields: ['user', 'item', 'bag'], denseInteractions: false, factorInit: { kind: 'normal', sd: 0.1 }, factorOptimizer: adagrad({ lr: 0.05, l2: 1e-4 }) }),
  },
  {
    name: 'wide-deep',
    create: (seed = 1) => createWideDeep(SCHEMA, { seed, embeddingDim: 3, hidden: [8, 5], batchSize: 16, deepOptimizer: adam({ lr: 0.01 }), embeddingOptimizer: adagrad({ lr: 0.05 }) }),
  },
  {
    name: 'wide-deep (adagrad MLP)',
    create: (seed = 1) => createWideDeep(SCHEMA, { seed, embeddingDim: 2, hidden: [6], batchSize: 7, deepOptimizer: adagrad({ lr: 0.05 }), embeddingOptimizer: adam({ lr: 0.01 }) }),
  },
];

/** Every parameter value of a model, table by table, in key order (for exact comparisons). */
export function allParams(model: Model): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const t of model.changedSince(-1)) out[t.name] = [...Array.from(t.keys), ...Array.from(t.values)];
  return out;
}

/** A deep copy of a batch's arrays. */
export function copyBatch(b: ModelBatch): ModelBatch {
  return { ...b, offsets: b.offsets.slice(), ids: b.ids.slice(), fields: b.fields.slice(), values: b.values.slice(), dense: b.dense.slice(), labels: b.labels.slice(), times: b.times.slice() };
}
