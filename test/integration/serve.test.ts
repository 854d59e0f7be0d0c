import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFsModelStore, type FsModelStore } from '../../src/adapters/fs/fs-model-store.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { createRedisOnlineStore } from '../../src/adapters/redis/redis-online-store.js';
import { topicSpecs } from '../../src/events/topics.js';
import { createEventProducer } from '../../src/ingest/producer.js';
import { generateEvents } from '../../src/ingest/generator.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import type { OnlineStore } from '../../src/ports/online-store.js';
import { createFeatureLog } from '../../src/serving/feature-log.js';
import { FeatureReader } from '../../src/serving/feature-reader.js';
import { tesseraScorerLoader } from '../../src/serving/model-scorer.js';
import { ModelWatcher } from '../../src/serving/model-watcher.js';
import { ReloadThread } from '../../src/serving/reload-thread.js';
import { MODEL_FILES } from '../../src/training/publication.js';
import { startRankService } from '../../src/serving/rank-service.js';
import { smokeTestScorer } from '../../src/serving/smoke-test.js';
import { createStreamKeys } from '../../src/streaming/stream-keys.js';
import { startStream } from '../../src/streaming/stream-processor.js';
import { createFeatureTransform } from '../../src/training/feature-transform.js';
import { arraySampleSource } from '../../src/training/sample-sources.js';
import { Trainer } from '../../src/training/trainer.js';
import type { ReferenceEvent } from '../../src/events/event-types.js';
import type { Sample } from '../../src/samples/sample.js';
import { TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../helpers/reference.js';

const GROUPS = REFERENCE_GROUPS;

/**
 * The inference service on real Redis: features from the stream's state, a model trained and
 * published by the trainer, hot reload of a new version, refusal of a corrupt one, the feature
 * log, and a Redis that stops answering (CLIENT PAUSE) giving 503 within the timeout.
 */
describe('tessera serve on real Redis', () => {
  const prefix = randomName('sv');
  let dir: string;
  let store: OnlineStore;
  let models: FsModelStore;
  let server: Server;
  let url: string;
  let watcher: ModelWatcher;
  let reloads: ReloadThread;
  let events: ReferenceEvent[];
  const metrics = new Metrics();
  const served: unknown[] = [];
  const transform = createFeatureTransform(GROUPS);

  /** Samples built from the stream's online features at each impression (good enough to train a scorer here). */
  const samplesFrom = async (reader: FeatureReader, n: number): Promise<Sample[]> => {
    const out: Sample[] = [];
    for (const e of events) {
      if (e.type !== 'impression' || out.length >= n) continue;
      const f = await reader.readRequest({ userId: e.userId, items: [{ itemId: e.itemId, categoryId: e.categoryId }], context: e.context, at: 'watermark' });
      const item = f.items[0]!;
      // the request groups' values (the user's), the candidate's groups' (item, user x category when it has a category), the context
      const shared = Object.assign({}, ...f.shared.map((x) => x.values));
      const own = Object.assign({}, ...item.entities.map((x) => x?.values ?? {}));
      out.push({
        impressionId: e.eventId, requestId: e.requestId, userId: e.userId, itemId: e.itemId, categoryId: e.categoryId, position: e.position, eventTime: e.eventTime, context: e.context,
        clickLabel: out.length % 5 === 0 ? 1 : 0, orderLabel: 0, features: { ...shared, ...own, ...f.context },
      });
    }
    return out;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-serve-'));
    store = createRedisOnlineStore({ url: TEST_REDIS_URL });
    models = createFsModelStore(join(dir, 'models'));
    events = [...generateEvents({ users: 50, items: 200, events: 3000, seed: 5 })].map((r) => r.event);
    const log = new MemoryEventLog();
    const topics = referenceTopics(prefix);
    const registry = referenceRegistry();
    await log.ensureTopics(topicSpecs(topics, 2));
    await createEventProducer({ log, registry, topics, clock: Date.now }).send(events);
    await startStream({ log, store, registry, topics, keys: createStreamKeys(prefix), groups: GROUPS, logger: SILENT_LOGGER, metrics: new Metrics(), clock: Date.now }, { untilIdle: true, idleMs: 50 }).done;
    const reader = new FeatureReader({ store, keys: createStreamKeys(prefix), groups: GROUPS, clock: Date.now });
    const samples = await samplesFrom(reader, 400);
    await new Trainer({ source: arraySampleSource(samples), store: models, transform, checkpointDir: join(dir, 'ckpt'), metrics: new Metrics(), logger: SILENT_LOGGER, clock: Date.now }, { kind: 'fm', untilIdle: true, publishEveryMs: 0 }).run();
    // versions are prepared in a worker thread, as `tessera serve` does by default
    reloads = new ReloadThread({ modelDir: join(dir, 'models') });
    watcher = new ModelWatcher({
      store: models, model: 'fm', load: tesseraScorerLoader(transform, GROUPS), featureSpecHash: transform.spec.hash, smokeTest: (s) => smokeTestScorer(s, GROUPS), metrics, logger: SILENT_LOGGER, pollMs: 60_000,
      prepare: (version) => reloads.prepare('fm', version, MODEL_FILES, { groups: GROUPS, transform }),
    });
    await watcher.start();
    const featureLog = createFeatureLog({ log: { send: async (r: unknown[]) => void served.push(...r) } as unknown as MemoryEventLog, topic: 'served', rate: 1, metrics, logger: SILENT_LOGGER, flushMs: 10 });
    server = await startRankService({ reader: new FeatureReader({ store, keys: createStreamKeys(prefix), groups: GROUPS, clock: Date.now }), scorers: watcher, metrics, logger: SILENT_LOGGER, onServed: featureLog.onServed, limits: { featureTimeoutMs: 200 } }, 0);
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    watcher?.stop();
    await reloads?.close();
    server?.close();
    await store.deleteByPrefix(`${prefix}:`);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const rank = async (candidates: unknown[]) => {
    const imp = events.find((e) => e.type === 'impression')!;
    const res = await fetch(`${url}/v1/rank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: imp.userId, candidates, context: { device: 'ios', timezone: 'Asia/Shanghai' }, at: 'watermark' }) });
    return { status: res.status, body: (await res.json()) as { model: { version: string }; items: { itemId: string; score: number }[]; freshness: { userKnown: boolean; itemsKnown: number }; error?: { code: string } } };
  };

  it('ranks 200 candidates with the published model and features read from Redis', async () => {
    const items = [...new Set(events.filter((e) => e.type === 'impression').map((e) => e.itemId))].slice(0, 200);
    const { status, body } = await rank(items.map((itemId, i) => (i % 2 ? itemId : { itemId, categoryId: 'c1' })));
    expect(status).toBe(200);
    expect(body.model.version).toBe(watcher.version);
    expect(body.items).toHaveLength(items.length);
    expect(body.items.every((x) => x.score > 0 && x.score < 1)).toBe(true);
    for (let i = 1; i < body.items.length; i++) expect(body.items[i - 1]!.score).toBeGreaterThanOrEqual(body.items[i]!.score);
    expect(body.freshness.userKnown).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(served.length).toBeGreaterThan(0);
  });

  it('hot-reloads a new version, refuses a corrupt one and keeps serving the current', async () => {
    const first = watcher.version!;
    const v2 = await models.publish('fm', [...(await models.read('fm', first)).files].map(([name, data]) => ({ name, data })), { ...(await models.read('fm', first)).manifest, parent: first });
    await watcher.check();
    expect((await rank(['x1', 'x2'])).body.model.version).toBe(v2.version);
    const v3 = await models.publish('fm', [...(await models.read('fm', first)).files].map(([name, data]) => ({ name, data })), { ...(await models.read('fm', first)).manifest, parent: v2.version });
    await writeFile(join(dir, 'models', 'fm', 'versions', v3.version, 'model.bin'), 'garbage');
    // the refusal comes from the worker (checksum), counted by the watcher
    await watcher.check();
    expect((await rank(['x1', 'x2'])).body.model.version).toBe(v2.version);
    expect(metrics.value('tessera_serve_model_reloads_total', { outcome: 'refused' })).toBe(1);
  });

  it('a paused Redis gives 503 FEATURES_TIMEOUT within the timeout, then the service recovers', async () => {
    const admin = new Redis(TEST_REDIS_URL);
    try {
      await admin.call('CLIENT', 'PAUSE', '800', 'ALL');
      const started = Date.now();
      const { status, body } = await rank(['x1']);
      expect([status, body.error?.code]).toEqual([503, 'FEATURES_TIMEOUT']);
      expect(Date.now() - started).toBeLessThan(700);
      await new Promise((r) => setTimeout(r, 900));
      expect((await rank(['x1'])).status).toBe(200);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
      admin.disconnect();
    }
  });
});
