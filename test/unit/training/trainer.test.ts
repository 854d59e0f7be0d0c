import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsModelStore, type FsModelStore } from '../../../src/adapters/fs/fs-model-store.js';
import type { FeatureValue } from '../../../src/features/aggregators.js';
import { Rng } from '../../../src/ingest/rng.js';
import type { ModelKind } from '../../../src/models/model.js';
import { encodeModel } from '../../../src/models/serialization.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import { featureSpec, type Sample } from '../../../src/samples/sample.js';
import { BackgroundPublisher } from '../../../src/training/background-publisher.js';
import { createFeatureTransform } from '../../../src/training/feature-transform.js';
import { loadPublished } from '../../../src/training/publication.js';
import { arraySampleSource, type SampleSource } from '../../../src/training/sample-sources.js';
import { publishCheckpoint, Trainer, type TrainerOptions } from '../../../src/training/trainer.js';
import { REFERENCE_GROUPS } from '../../helpers/reference.js';

const SPEC = featureSpec(REFERENCE_GROUPS);
const T0 = Date.UTC(2026, 0, 5);

/** Samples with every reference feature and a click probability that depends on some of them. */
function samples(n: number, seed: number): Sample[] {
  const rng = new Rng(seed, 'trainer-test');
  const out: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const user = rng.int(0, 49);
    const item = rng.int(0, 199);
    const features: Record<string, FeatureValue> = {};
    for (const e of SPEC.entries) {
      if (e.kind === 'number') features[e.name] = e.group === 'context' ? rng.int(0, 23) : Math.floor(rng.uniform(0, 50));
      else if (e.kind === 'nullableNumber') features[e.name] = rng.bernoulli(0.5) ? rng.uniform(0, 1e9) + T0 : null;
      else if (e.kind === 'textList') features[e.name] = [`i${rng.int(0, 199)}`, `i${rng.int(0, 199)}`];
      else if (e.kind === 'category') features[e.name] = rng.bernoulli(0.5) ? 'ios' : 'web';
      else features[e.name] = null;
    }
    const z = -2 + (item % 7) * 0.4 + (user % 3) * 0.3 - 0.1 * Number(features.user_impression_count_1h);
    const clicked = rng.bernoulli(1 / (1 + Math.exp(-z)));
    out.push({
      impressionId: `imp${seed}-${i}`, requestId: `r${i}`, userId: `u${user}`, itemId: `i${item}`, categoryId: `c${item % 5}`, position: rng.int(0, 9), eventTime: T0 + i * 1000,
      context: { device: 'ios', os: 'ios', country: 'CN', city: 'Shanghai', page: 'home', timezone: 'Asia/Shanghai' }, clickLabel: clicked ? 1 : 0, orderLabel: 0, features,
    });
  }
  return out;
}

/** A source that fails after `reads` successful reads: a crash in the middle of training. */
function crashingAfter(source: SampleSource, reads: number): SampleSource {
  let n = 0;
  return { name: source.name, next: (c, m) => (n++ >= reads ? Promise.reject(new Error('killed')) : source.next(c, m)) };
}

describe.each([
  ['on its own thread', false],
  ['in a worker thread', true],
])('incremental trainer, publishing %s', (_where, inWorker) => {
  let dir: string;
  let store: FsModelStore;
  let publisher: BackgroundPublisher | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-train-'));
    store = createFsModelStore(join(dir, 'models'));
    publisher = inWorker ? new BackgroundPublisher({ modelDir: join(dir, 'models') }) : undefined;
  });
  afterEach(async () => {
    await publisher?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const trainer = (source: SampleSource, options: Partial<TrainerOptions> & { kind: ModelKind }, ckpt = 'ckpt') =>
    new Trainer(
      { source, store, transform: createFeatureTransform(REFERENCE_GROUPS), checkpointDir: join(dir, ckpt), metrics: new Metrics(), logger: SILENT_LOGGER, clock: Date.now, ...(publisher ? { publisher } : {}) },
      { untilIdle: true, readChunk: 700, miniBatch: 64, publishEveryMs: 0, ...options },
    );

  it.each(['lr', 'fm', 'wide-deep'] as const)('%s: killed twice mid-run and restarted, ends with the parameters of an uninterrupted run', async (kind) => {
    const data = samples(3000, 1);
    const config = kind === 'wide-deep' ? { hidden: [16, 8] } : {};
    const clean = await trainer(arraySampleSource(data), { kind, name: `${kind}-clean`, publishEverySamples: 1000, checkpointEverySamples: 300, modelConfig: config }, 'c1').run();
    expect(clean.learned).toBe(3000);
    expect(clean.resumedFrom).toBe('fresh');
    const name = `${kind}-crash`;
    for (const reads of [2, 2]) {
      await expect(trainer(crashingAfter(arraySampleSource(data), reads), { kind, name, publishEverySamples: 1000, checkpointEverySamples: 300, modelConfig: config }, 'c2').run()).rejects.toThrow('killed');
    }
    const resumed = await trainer(arraySampleSource(data), { kind, name, publishEverySamples: 1000, checkpointEverySamples: 300, modelConfig: config }, 'c2').run();
    expect(resumed.resumedFrom).toBe('checkpoint');
    expect(resumed.learned).toBe(3000);
    // the complete state (optimiser included) in the final checkpoints, and the published weights
    const modelPart = async (file: string) => {
      const bytes = await readFile(file);
      return bytes.subarray(8 + bytes.readUInt32LE(4));
    };
    const ca = await modelPart(join(dir, 'c1', `${kind}-clean.ckpt`));
    expect(ca.length).toBeGreaterThan(1000);
    expect((await modelPart(join(dir, 'c2', `${name}.ckpt`))).equals(ca)).toBe(true);
    const a = await loadPublished(store, `${kind}-clean`, (await store.pointer(`${kind}-clean`))!);
    const b = await loadPublished(store, name, (await store.pointer(name))!);
    expect(Buffer.from(encodeModel(b.model)).equals(Buffer.from(encodeModel(a.model)))).toBe(true);
    expect(clean.auc).toBeGreaterThan(0.6);
  });

  it('publishes deltas between full snapshots; loading any version gives the trainer’s model at that point', async () => {
    const data = samples(2500, 2);
    const result = await trainer(arraySampleSource(data), { kind: 'fm', name: 'fm', publishEverySamples: 500, fullEvery: 3, keepVersions: 100 }).run();
    const versions = await store.list('fm');
    expect(versions.map((v) => v.type)).toEqual(['full', 'delta', 'delta', 'full', 'delta']);
    expect(result.published).toEqual(versions.map((v) => v.version));
    expect(versions[1]!.parent).toBe(versions[0]!.version);
    expect(versions.at(-1)!.data).toMatchObject({ samples: 2500, from: data[0]!.eventTime, to: data.at(-1)!.eventTime });
    // the delta chain reproduces the predictions of the full state
    const latest = await loadPublished(store, 'fm', versions.at(-1)!.version);
    const ckptModel = (await trainer(arraySampleSource([]), { kind: 'fm', name: 'fm' }).run(), await loadPublished(store, 'fm', (await store.pointer('fm'))!)).model;
    const transform = createFeatureTransform(REFERENCE_GROUPS);
    const batch = transform.samplesBatch(samples(200, 3));
    const p1 = latest.model.predict(batch);
    const p2 = ckptModel.predict(batch);
    for (let i = 0; i < p1.length; i++) expect(p1[i]).toBeCloseTo(p2[i]!, 12);
    expect(Object.keys(versions.at(-1)!.metrics)).toEqual(expect.arrayContaining(['auc', 'logloss', 'calibration']));
  });

  it('warm-starts from the latest published version and its cursor when there is no checkpoint', async () => {
    const data = samples(2000, 4);
    await trainer(crashingAfter(arraySampleSource(data), 2), { kind: 'lr', name: 'lr', publishEverySamples: 700, checkpointEverySamples: 1e9 }, 'gone').run().catch(() => undefined);
    const first = await store.list('lr');
    expect(first.length).toBe(1); // published at 700 learned, then killed
    const result = await trainer(arraySampleSource(data), { kind: 'lr', name: 'lr', publishEverySamples: 700 }, 'fresh-dir').run();
    expect(result.resumedFrom).toBe('published');
    expect(result.learned).toBe(2000);
  });

  it('bad samples (NaN, infinities, wrong types, other spec) never reach the parameters', async () => {
    const data = samples(1500, 5);
    const poisoned = data.map((s, i) => (i % 10 === 0 ? { ...s, features: { ...s.features, user_click_count_1h: i % 20 === 0 ? Number.NaN : Number.POSITIVE_INFINITY, item_ctr_24h: 'x' as unknown as number } } : s));
    poisoned.push({ ...data[0]!, impressionId: 'alien', features: { not_a_feature: 1 } });
    const clean = await trainer(arraySampleSource(data), { kind: 'fm', name: 'a', publishEverySamples: 0 }, 'a').run();
    const dirty = await trainer(arraySampleSource(poisoned), { kind: 'fm', name: 'b', publishEverySamples: 0 }, 'b').run();
    const model = (await loadPublished(store, 'b', (await store.pointer('b'))!)).model;
    for (const t of model.params()) for (const k of t.keys()) { const r = t.row(k)!; for (let j = 0; j < t.width; j++) expect(Number.isFinite(r.values[r.offset + j])).toBe(true); }
    expect(Math.abs(dirty.auc - clean.auc)).toBeLessThan(0.03);
  });

  it('models publish: the latest checkpoint becomes a full version continuing the trainer\'s chain', async () => {
    const data = samples(1200, 6);
    await trainer(arraySampleSource(data), { kind: 'lr', name: 'lr', publishEverySamples: 1000, publishOnExit: false }, 'pc').run();
    const before = await store.list('lr');
    expect(before).toHaveLength(1); // at 1024 learned; the last 176 only in the checkpoint
    const version = await publishCheckpoint(store, join(dir, 'pc'), 'lr', createFeatureTransform(REFERENCE_GROUPS).spec.hash);
    const after = await store.list('lr');
    expect(after.at(-1)).toMatchObject({ version, type: 'full', parent: before[0]!.version, data: { samples: 1200 } });
    expect(await store.pointer('lr')).toBe(version);
    await expect(publishCheckpoint(store, join(dir, 'nowhere'), 'lr', 'x')).rejects.toThrow(/no trainer checkpoint/);
  });
});
