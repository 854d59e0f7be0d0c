import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsModelStore, type FsModelStore } from '../../../src/adapters/fs/fs-model-store.js';
import { createFm, type FmModel } from '../../../src/models/fm.js';
import { createWideDeep } from '../../../src/models/wide-deep.js';
import type { Model } from '../../../src/models/model.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import { tesseraScorerLoader } from '../../../src/serving/model-scorer.js';
import { ModelWatcher } from '../../../src/serving/model-watcher.js';
import { ReloadThread } from '../../../src/serving/reload-thread.js';
import type { Scorer } from '../../../src/serving/scorer.js';
import { smokeTestScorer } from '../../../src/serving/smoke-test.js';
import { createFeatureTransform } from '../../../src/training/feature-transform.js';
import { MODEL_FILES, publishModel } from '../../../src/training/publication.js';
import { REFERENCE_GROUPS } from '../../helpers/reference.js';
import { request, samples } from './scoring-fixtures.js';

const GROUPS = REFERENCE_GROUPS;
const transform = createFeatureTransform(GROUPS);
const served = { groups: GROUPS, transform };
const scores = (s: Scorer) => [0, 1, 2].flatMap((u) => Array.from(s.score(request(u, 60))));

describe('hot reload in a worker thread', () => {
  let root: string;
  let store: FsModelStore;
  let thread: ReloadThread;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'tessera-reload-thread-'));
    store = createFsModelStore(root);
    thread = new ReloadThread({ modelDir: root });
  });
  afterEach(async () => {
    await thread.close();
    await rm(root, { recursive: true, force: true });
  });

  const publish = (model: Model, name: string, serving?: { quantize?: 'none' | 'int8' }, parent: { version: string; mark: number } | null = null, delta = false, spec = transform.spec.hash) =>
    publishModel(store, { model, name, featureSpecHash: spec, parent, delta, data: { samples: 1, from: null, to: null }, metrics: {}, ...(serving ? { serving } : {}) });

  it('prepares float, INT8 and delta versions of FM and Wide&Deep that score exactly as the same version loaded on this thread', async () => {
    const fm = createFm(transform.schema, { factors: 8, factorInit: { kind: 'normal', sd: 0.1 } });
    fm.learn(transform.samplesBatch(samples(1, 3000)));
    const wd = createWideDeep(transform.schema, { embeddingDim: 4, hidden: [8] });
    wd.learn(transform.samplesBatch(samples(2, 2000)));
    const full = await publish(fm, 'fm');
    const int8 = await publish(fm, 'fm', { quantize: 'int8' }, { version: full.version, mark: full.config.mark as number });
    fm.learn(transform.samplesBatch(samples(3, 500)));
    const delta = await publish(fm, 'fm', { quantize: 'int8' }, { version: int8.version, mark: int8.config.mark as number }, true);
    expect(delta.type).toBe('delta');
    const wdFloat = await publish(wd, 'wd');
    const wdInt8 = await publish(wd, 'wd', { quantize: 'int8' });
    const here = tesseraScorerLoader(transform, GROUPS);
    for (const v of [full, int8, delta, wdFloat, wdInt8]) {
      const prepared = await thread.prepare(v.model, v.version, MODEL_FILES, served);
      expect(prepared.scorer.version).toBe(v.version);
      expect(prepared.manifest.version).toBe(v.version);
      expect(scores(prepared.scorer)).toEqual(scores(await here(v, (await store.read(v.model, v.version, MODEL_FILES)).files, store)));
      expect(prepared.ms.eventLoop).toBeGreaterThanOrEqual(0);
      expect(prepared.ms.decode).toBeGreaterThan(0);
      smokeTestScorer(prepared.scorer, GROUPS);
    }
  });

  it('refuses a damaged version and one for other features with their reasons, and goes on preparing the next', async () => {
    const fm = createFm(transform.schema, { factors: 4 });
    fm.learn(transform.samplesBatch(samples(4, 500)));
    const damaged = await publish(fm, 'fm');
    const file = join(root, 'fm', 'versions', damaged.version, 'model.bin');
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 0xff, bytes.length >> 1);
    await writeFile(file, bytes);
    await expect(thread.prepare('fm', damaged.version, MODEL_FILES, served)).rejects.toThrow(/checksum|sha256|damaged/i);
    const foreign = await publish(fm, 'fm', undefined, null, false, 'another-spec');
    await expect(thread.prepare('fm', foreign.version, MODEL_FILES, served)).rejects.toThrow(/feature spec another-spec/);
    await expect(thread.prepare('fm', 'no-such-version', MODEL_FILES, served)).rejects.toThrow();
    const good = await publish(fm, 'fm');
    expect((await thread.prepare('fm', good.version, MODEL_FILES, served)).scorer.version).toBe(good.version);
  });

  it('a worker that dies refuses the version it held with the reason, and the next version gets a new worker', async () => {
    const fm = createFm(transform.schema, { factors: 4 });
    fm.learn(transform.samplesBatch(samples(5, 500)));
    const v = await publish(fm, 'fm');
    await thread.prepare('fm', v.version, MODEL_FILES, served); // the worker runs
    const pending = thread.prepare('fm', v.version, MODEL_FILES, served);
    await (thread as unknown as { worker: { worker: Worker } }).worker.worker.terminate();
    await expect(pending).rejects.toThrow(/reload worker exited/);
    expect((await thread.prepare('fm', v.version, MODEL_FILES, served)).scorer.version).toBe(v.version);
  });

  it.runIf(process.platform === 'linux')('runs its worker at nice 19 (the serving thread keeps its priority), or at the nice value given', async () => {
    const nices = (): number[] =>
      readdirSync('/proc/self/task').map((tid) => {
        try {
          return Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
        } catch {
          return NaN; // a thread that ended meanwhile
        }
      });
    const fm = createFm(transform.schema, { factors: 4 });
    fm.learn(transform.samplesBatch(samples(8, 300)));
    const v = await publish(fm, 'fm');
    const before = nices().filter((n) => n === 19).length;
    await thread.prepare('fm', v.version, MODEL_FILES, served);
    expect(nices().filter((n) => n === 19).length).toBe(before + 1);
    expect(readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]!.split(' ')[16]).toBe('0');
    const normal = new ReloadThread({ modelDir: root, nice: 7 });
    try {
      await normal.prepare('fm', v.version, MODEL_FILES, served);
      expect(nices().filter((n) => n === 7).length).toBe(1);
    } finally {
      await normal.close();
    }
  });

  it('a version that takes longer than the timeout is refused and the worker restarted', async () => {
    const fm = createFm(transform.schema, { factors: 4 });
    fm.learn(transform.samplesBatch(samples(6, 500)));
    const v = await publish(fm, 'fm');
    const slow = new ReloadThread({ modelDir: root, timeoutMs: 1 });
    try {
      await expect(slow.prepare('fm', v.version, MODEL_FILES, served)).rejects.toThrow(/took longer than 1 ms; the reload worker was restarted/);
    } finally {
      await slow.close();
    }
  });

  it('the watcher swaps in what the worker prepared, keeps serving through a refused version and follows a rollback', async () => {
    const metrics = new Metrics();
    const w = new ModelWatcher({
      store,
      model: 'fm',
      load: () => Promise.reject(new Error('the event loop must not load')),
      featureSpecHash: transform.spec.hash,
      smokeTest: () => undefined,
      prepare: (version) => thread.prepare('fm', version, MODEL_FILES, served),
      metrics,
      logger: SILENT_LOGGER,
      pollMs: 60_000,
    });
    const fm = createFm(transform.schema, { factors: 4 }) as FmModel;
    fm.learn(transform.samplesBatch(samples(7, 800)));
    const v1 = await publish(fm, 'fm');
    await w.check();
    expect(w.version).toBe(v1.version);
    const serving = w.current();
    await publish(fm, 'fm', undefined, null, false, 'another-spec');
    await w.check();
    expect(w.current()).toBe(serving);
    expect(metrics.value('tessera_serve_model_reloads_total', { outcome: 'refused' })).toBe(1);
    const v3 = await publish(fm, 'fm', { quantize: 'int8' });
    await w.check();
    expect(w.version).toBe(v3.version);
    expect(metrics.value('tessera_serve_model_load_event_loop_ms')).toBeGreaterThanOrEqual(0);
    await store.setPointer('fm', v1.version);
    await w.check();
    expect(w.version).toBe(v1.version);
    expect(metrics.value('tessera_serve_model_reloads_total', { outcome: 'loaded' })).toBe(3);
  });
});
