import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsModelStore } from '../../../src/adapters/fs/fs-model-store.js';
import type { Model } from '../../../src/models/model.js';
import { encodeModel } from '../../../src/models/serialization.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import type { ModelManifest } from '../../../src/ports/model-store.js';
import { BackgroundPublisher, inThreadPublisher } from '../../../src/training/background-publisher.js';
import { createFeatureTransform } from '../../../src/training/feature-transform.js';
import { loadPublished, type PublishInput } from '../../../src/training/publication.js';
import { arraySampleSource } from '../../../src/training/sample-sources.js';
import { Trainer } from '../../../src/training/trainer.js';
import { REFERENCE_GROUPS } from '../../helpers/reference.js';
import { MODEL_FACTORIES, randomBatch } from '../models/model-fixtures.js';

const input = (name: string, parent: ModelManifest | null, delta: boolean): Omit<PublishInput, 'model'> => ({
  name,
  featureSpecHash: 'spec',
  parent: parent === null ? null : { version: parent.version, mark: parent.config.mark as number },
  delta,
  data: { samples: 1, from: null, to: null },
  metrics: { auc: 0.7 },
});

describe('publication in a worker thread', () => {
  let dir: string;
  let worker: BackgroundPublisher;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-bg-publish-'));
    worker = new BackgroundPublisher({ modelDir: join(dir, 'bg') });
  });
  afterEach(async () => {
    await worker.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const f of MODEL_FACTORIES) {
    it(`${f.name}: full and delta versions are byte for byte those the trainer's own thread writes`, async () => {
      const here = inThreadPublisher(createFsModelStore(join(dir, 'here')));
      const model: Model = f.create();
      let parents: [ModelManifest | null, ModelManifest | null] = [null, null];
      for (let step = 0; step < 3; step++) {
        model.learn(randomBatch(10 + step, 600, { vocabScale: 5 }));
        const delta = step > 0;
        const a = await here.publish(model, input('m', parents[0], delta), 20);
        const b = await worker.publish(model, input('m', parents[1], delta), 20);
        expect(b.type).toBe(delta ? 'delta' : 'full');
        expect(b.files).toEqual(a.files); // names, sizes and sha256 of model.bin / delta.bin and weights.kv
        expect(b.config).toEqual(a.config);
        parents = [a, b];
      }
    });
  }

  it('publishes the model as it was when asked, not as it is once the worker gets to it', async () => {
    const model = MODEL_FACTORIES.find((f) => f.name === 'fm')!.create();
    model.learn(randomBatch(1, 500));
    const asked = Buffer.from(encodeModel(model));
    const published = worker.publish(model, input('m', null, false), 20);
    model.learn(randomBatch(2, 500)); // the trainer goes on at once
    const v = await published;
    const loaded = await loadPublished(createFsModelStore(join(dir, 'bg')), 'm', v.version);
    expect(Buffer.from(encodeModel(loaded.model)).equals(asked)).toBe(true);
  });

  it('a publication that fails stops the trainer with its reason', async () => {
    await writeFile(join(dir, 'blocked'), 'a file where the model store should be a directory');
    const blocked = new BackgroundPublisher({ modelDir: join(dir, 'blocked') });
    try {
      const transform = createFeatureTransform(REFERENCE_GROUPS);
      // nothing to learn: the version published on exit is the one that fails
      const source = arraySampleSource([]);
      const trainer = new Trainer(
        { source, store: createFsModelStore(join(dir, 'blocked')), transform, checkpointDir: join(dir, 'ckpt'), metrics: new Metrics(), logger: SILENT_LOGGER, clock: Date.now, publisher: blocked },
        { kind: 'lr', untilIdle: true, publishEveryMs: 0, publishEverySamples: 100 },
      );
      await expect(trainer.run()).rejects.toThrow(/ENOTDIR|EEXIST|not a directory/);
      expect(await readFile(join(dir, 'blocked'), 'utf8')).toMatch(/a file/);
    } finally {
      await blocked.close();
    }
  });
});
