import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsModelStore, type FsModelStore } from '../../../src/adapters/fs/fs-model-store.js';
import { contextFeatures } from '../../../src/features/context.js';
import { REFERENCE_GROUPS } from '../../helpers/reference.js';
import { createFm, type FmModel } from '../../../src/models/fm.js';
import { QuantizedFm } from '../../../src/models/quantized-model.js';
import { Rng } from '../../../src/ingest/rng.js';
import { Metrics } from '../../../src/observability/metrics.js';
import type { EntityFeatures } from '../../../src/serving/feature-reader.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import { modelScorer, tesseraScorerLoader } from '../../../src/serving/model-scorer.js';
import { ModelWatcher } from '../../../src/serving/model-watcher.js';
import type { Scorer } from '../../../src/serving/scorer.js';
import { smokeTestScorer } from '../../../src/serving/smoke-test.js';
import { createFeatureTransform } from '../../../src/training/feature-transform.js';
import { loadPublished, publishModel } from '../../../src/training/publication.js';
import { cold, CTX, randomValues, request, samples, T0 } from './scoring-fixtures.js';

const GROUPS = REFERENCE_GROUPS;
const transform = createFeatureTransform(GROUPS);
describe('the model scorer', () => {
  it('scores exactly as the flat per-candidate records through the transform (the oracle of its shared-record merge)', () => {
    const fm = createFm(transform.schema, { factors: 8, factorInit: { kind: 'normal', sd: 0.1 } });
    fm.learn(transform.samplesBatch(samples(7, 2000, true)));
    const rng = new Rng(9, 'scorer');
    for (let round = 0; round < 5; round++) {
      const f = request(round, 50);
      const user = f.shared[0]!;
      user.values = randomValues(rng, user.values);
      f.items = f.items.map((it) => {
        const [item, userCategory] = it.entities as [EntityFeatures, EntityFeatures];
        item.values = randomValues(rng, item.values);
        // a candidate without a category has no user x category entity
        if (rng.uniform() < 0.3) return { ...it, categoryId: null, entities: [item, null] };
        userCategory.values = randomValues(rng, userCategory.values);
        return it;
      });
      const flat = transform.requestsBatch(
        f.items.map((it) => ({
          userId: f.userId, itemId: it.itemId, categoryId: it.categoryId, context: f.rawContext, time: f.q,
          features: { ...user.values, ...it.entities[0]!.values, ...(it.entities[1]?.values ?? cold('user_category')), ...f.context },
        })),
      );
      expect(flat.size).toBe(50);
      for (const m of [fm, new QuantizedFm(fm)]) expect(Array.from(modelScorer(m, 'v', transform, GROUPS).score(f))).toEqual(Array.from(m.predict(flat)));
    }
  });
});

describe('INT8 serving option (loader and hot reload)', () => {
  let root: string;
  let store: FsModelStore;
  let fm: FmModel;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'tessera-quant-'));
    store = createFsModelStore(root);
    fm = createFm(transform.schema, { factors: 8, factorInit: { kind: 'normal', sd: 0.1 } });
    fm.learn(transform.samplesBatch(samples(1, 3000)));
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  const publish = (serving?: { quantize?: 'none' | 'int8' }, parent: { version: string; mark: number } | null = null, delta = false) =>
    publishModel(store, { model: fm, name: 'fm', featureSpecHash: transform.spec.hash, parent, delta, data: { samples: 3000, from: null, to: null }, metrics: {}, ...(serving ? { serving } : {}) });
  const scores = (s: Scorer) => [0, 1, 2].flatMap((u) => Array.from(s.score(request(u, 60))));

  it('follows the manifest: int8 versions score through the quantised factors, others in float', async () => {
    const load = tesseraScorerLoader(transform, GROUPS);
    const floatV = await publish();
    const floatScorer = await load(floatV, new Map(), store);
    const int8V = await publish({ quantize: 'int8' }, { version: floatV.version, mark: floatV.config.mark as number });
    expect(int8V.config.quantize).toBe('int8');
    const int8Scorer = await load(int8V, new Map(), store);

    const { model } = await loadPublished(store, 'fm', int8V.version);
    const floatOracle = scores(modelScorer(model, 'x', transform, GROUPS));
    const int8Oracle = scores(modelScorer(new QuantizedFm(model as FmModel), 'x', transform, GROUPS));
    expect(scores(floatScorer)).toEqual(floatOracle);
    expect(scores(int8Scorer)).toEqual(int8Oracle);
    expect(int8Oracle).not.toEqual(floatOracle);
    const maxDiff = Math.max(...int8Oracle.map((x, i) => Math.abs(x - floatOracle[i]!)));
    expect(maxDiff).toBeLessThan(2e-3);
    expect(maxDiff).toBeGreaterThan(0);
    smokeTestScorer(int8Scorer, GROUPS);

    // the service's override wins over the manifest, both ways
    expect(scores(await tesseraScorerLoader(transform, GROUPS, { quantize: 'none' })(int8V, new Map(), store))).toEqual(floatOracle);
    expect(scores(await tesseraScorerLoader(transform, GROUPS, { quantize: 'int8' })(floatV, new Map(), store))).toEqual(int8Oracle);
  });

  it('a model trained through a transform with crosses is scored through that transform; a foreign schema is refused', async () => {
    const crossed = createFeatureTransform(GROUPS, { crosses: [['user', 'item']] });
    const wd = createFm(crossed.schema, { factors: 4 });
    wd.learn(crossed.samplesBatch(samples(2, 2000)));
    const v = await publishModel(store, { model: wd, name: 'crossed', featureSpecHash: transform.spec.hash, parent: null, delta: false, data: { samples: 2000, from: null, to: null }, metrics: {} });
    const scorer = await tesseraScorerLoader(transform, GROUPS)(v, new Map(), store);
    expect(scores(scorer)).toEqual(scores(modelScorer(wd, 'x', crossed, GROUPS)));
    smokeTestScorer(scorer, GROUPS);
    const alien = createFm({ ...transform.schema, fields: [...transform.schema.fields, 'shopxitem'] }, { factors: 4 });
    const w = await publishModel(store, { model: alien, name: 'alien', featureSpecHash: transform.spec.hash, parent: null, delta: false, data: { samples: 0, from: null, to: null }, metrics: {} });
    await expect(tesseraScorerLoader(transform, GROUPS)(w, new Map(), store)).rejects.toThrow(/cannot produce that input/);
  });

  it('a delta version published with int8 is quantised after the chain is applied', async () => {
    const base = await publish();
    fm.learn(transform.samplesBatch(samples(2, 500)));
    const d = await publish({ quantize: 'int8' }, { version: base.version, mark: base.config.mark as number }, true);
    expect(d.type).toBe('delta');
    const s = await tesseraScorerLoader(transform, GROUPS)(d, new Map(), store);
    const { model } = await loadPublished(store, 'fm', d.version);
    expect(scores(s)).toEqual(scores(modelScorer(new QuantizedFm(model as FmModel), 'x', transform, GROUPS)));
  });

  it('the watcher hot-reloads into the quantised form, and refuses a version with an unknown quantize value', async () => {
    const metrics = new Metrics();
    const w = new ModelWatcher({ store, model: 'fm', load: tesseraScorerLoader(transform, GROUPS), featureSpecHash: transform.spec.hash, smokeTest: (s) => smokeTestScorer(s, GROUPS), metrics, logger: SILENT_LOGGER, pollMs: 60_000 });
    const v1 = await publish({ quantize: 'int8' });
    await w.check();
    expect(w.version).toBe(v1.version);
    const { model } = await loadPublished(store, 'fm', v1.version);
    expect(scores(w.current()!)).toEqual(scores(modelScorer(new QuantizedFm(model as FmModel), 'x', transform, GROUPS)));
    const serving = w.current();
    const { manifest, files } = await store.read('fm', v1.version);
    await store.publish('fm', [...files].map(([name, data]) => ({ name, data })), { ...manifest, config: { ...manifest.config, quantize: 'int4' } });
    await w.check();
    expect(w.current()).toBe(serving);
    expect(metrics.value('tessera_serve_model_reloads_total', { outcome: 'refused' })).toBe(1);
  });
});
