import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsModelStore, type FsModelStore } from '../../../src/adapters/fs/fs-model-store.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import type { ManifestInput } from '../../../src/ports/model-store.js';
import { ModelWatcher, type ScorerLoader } from '../../../src/serving/model-watcher.js';
import type { RequestFeatures } from '../../../src/serving/feature-reader.js';

/** A toy model: one weight per item id, from a JSON file. */
const load: ScorerLoader = async (manifest, files) => {
  const weights = JSON.parse(Buffer.from(files.get('w.json')!).toString()) as Record<string, number>;
  return { version: manifest.version, score: (f: RequestFeatures) => Float64Array.from(f.items.map((x) => weights[x.itemId] ?? NaN)) };
};
const smoke = (s: { score: (f: RequestFeatures) => Float64Array }) => {
  const f = { items: [{ itemId: 'a' }] } as unknown as RequestFeatures;
  if (!s.score(f).every(Number.isFinite)) throw new Error('non-finite smoke scores');
};
const manifest = (spec = 'spec1'): ManifestInput => ({ kind: 'toy', featureSpecHash: spec, type: 'full', parent: null, data: { samples: 1, from: null, to: null }, metrics: {}, config: {} });

describe('model hot reload', () => {
  let root: string;
  let store: FsModelStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'tessera-watch-'));
    store = createFsModelStore(root);
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('swaps in valid versions, refuses corrupt, foreign-spec and broken ones while the current keeps serving, and follows rollbacks', async () => {
    const metrics = new Metrics();
    const w = new ModelWatcher({ store, model: 'toy', load, featureSpecHash: 'spec1', smokeTest: smoke, metrics, logger: SILENT_LOGGER });
    await w.check();
    expect(w.ready).toBe(true);
    expect(w.current()).toBeNull();
    const v1 = await store.publish('toy', [{ name: 'w.json', data: Buffer.from('{"a":1}') }], manifest());
    await w.check();
    expect(w.current()?.version).toBe(v1.version);
    const serving = w.current();

    // corrupt files (checksum), another feature spec, a model that scores NaN, unparsable weights
    const corrupt = await store.publish('toy', [{ name: 'w.json', data: Buffer.from('{"a":2}') }], manifest());
    await writeFile(join(root, 'toy', 'versions', corrupt.version, 'w.json'), '{"a":3}');
    await w.check();
    await store.publish('toy', [{ name: 'w.json', data: Buffer.from('{"a":4}') }], manifest('spec2'));
    await w.check();
    await store.publish('toy', [{ name: 'w.json', data: Buffer.from('{"b":5}') }], manifest());
    await w.check();
    await store.publish('toy', [{ name: 'w.json', data: Buffer.from('{"a":') }], manifest());
    await w.check();
    expect(w.current()).toBe(serving);
    expect(metrics.value('tessera_serve_model_reloads_total', { outcome: 'refused' })).toBe(4);

    const v6 = await store.publish('toy', [{ name: 'w.json', data: Buffer.from('{"a":6}') }], manifest());
    await w.check();
    expect(w.current()?.version).toBe(v6.version);
    await store.setPointer('toy', v1.version); // rollback is a pointer move
    await w.check();
    expect(w.current()?.version).toBe(v1.version);
    expect(metrics.value('tessera_serve_model_reloads_total', { outcome: 'loaded' })).toBe(3);
  });
});
