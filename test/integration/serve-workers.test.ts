import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFsModelStore } from '../../src/adapters/fs/fs-model-store.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { createRedisOnlineStore } from '../../src/adapters/redis/redis-online-store.js';
import { topicSpecs } from '../../src/events/topics.js';
import { generateEvents } from '../../src/ingest/generator.js';
import { createEventProducer } from '../../src/ingest/producer.js';
import { createFm } from '../../src/models/fm.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import type { OnlineStore } from '../../src/ports/online-store.js';
import { createStreamKeys } from '../../src/streaming/stream-keys.js';
import { startStream } from '../../src/streaming/stream-processor.js';
import { createFeatureTransform } from '../../src/training/feature-transform.js';
import { publishModel } from '../../src/training/publication.js';
import { TEST_PROJECT_ENV, TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { exited, spawnTessera, tempDir } from '../helpers/pipeline.js';
import { REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../helpers/reference.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `tessera serve --workers 2` (the compiled CLI) on real Redis: both processes take requests on one
 * port, each follows the model store and swaps a new version on its own, `/metrics` on either shows
 * both workers' series, a killed worker is replaced, and SIGTERM stops them all.
 */
describe('tessera serve --workers on real Redis', () => {
  const prefix = randomName('svw');
  const dir = tempDir('tessera-serve-workers-');
  const models = createFsModelStore(join(dir, 'models'));
  const transform = createFeatureTransform(REFERENCE_GROUPS);
  const fm = createFm(transform.schema);
  let store: OnlineStore;
  let serve: ReturnType<typeof spawnTessera>;
  let url = '';

  // Every request on its own connection and with a deadline: a pooled keep-alive connection to the
  // worker this test kills must not carry the next request, and no request may hang the test.
  const metric = async (pattern: RegExp): Promise<string[]> =>
    (await (await fetch(`${url}/metrics`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) })).text()).split('\n').filter((l) => pattern.test(l));
  const rank = async (close: boolean) => {
    const res = await fetch(`${url}/v1/rank`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(close ? { connection: 'close' } : {}) },
      signal: AbortSignal.timeout(10_000),
      body: JSON.stringify({ userId: 'u1', candidates: ['i1', 'i2', { itemId: 'i3', categoryId: 'c1' }], at: 'watermark' }),
    });
    return { status: res.status, body: (await res.json()) as { model: { version: string }; items: unknown[] } };
  };

  beforeAll(async () => {
    store = createRedisOnlineStore({ url: TEST_REDIS_URL });
    const log = new MemoryEventLog();
    const topics = referenceTopics(prefix);
    await log.ensureTopics(topicSpecs(topics, 2));
    await createEventProducer({ log, registry: referenceRegistry(), topics, clock: Date.now }).send([...generateEvents({ users: 30, items: 100, events: 800, seed: 9 })].map((r) => r.event));
    await startStream({ log, store, registry: referenceRegistry(), topics, keys: createStreamKeys(prefix), groups: REFERENCE_GROUPS, logger: SILENT_LOGGER, metrics: new Metrics(), clock: Date.now }, { untilIdle: true, idleMs: 50 }).done;
    await publishModel(models, { model: fm, name: 'fm', featureSpecHash: transform.spec.hash, parent: null, delta: false, data: { samples: 0, from: null, to: null }, metrics: {} });
    serve = spawnTessera(['serve', '--workers', '2', '--port', '0', '--poll-ms', '100', '--warm-up-requests', '50'], {
      ...TEST_PROJECT_ENV,
      TESSERA_REDIS_URL: TEST_REDIS_URL,
      TESSERA_TOPIC_PREFIX: prefix,
      TESSERA_MODEL_DIR: join(dir, 'models'),
      TESSERA_KAFKA_BROKERS: '',
    });
    for (let waited = 0; waited < 60_000 && url === ''; waited += 100) {
      const m = /serving on (http:\/\/\S+) \(2 workers/.exec(serve.output());
      if (m) url = m[1] as string;
      else await sleep(100);
    }
    expect(url, serve.output()).not.toBe('');
  });
  afterAll(async () => {
    if (serve.exitCode === null) serve.kill('SIGKILL');
    await store.deleteByPrefix(`${prefix}:`);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('both workers answer on one port, warmed up and ready, each counted under its own label', async () => {
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    for (let i = 0; i < 30; i++) {
      const { status, body } = await rank(true);
      expect(status).toBe(200);
      expect(body.items).toHaveLength(3);
    }
    const counts = await metric(/^tessera_serve_request_seconds_count\{/);
    const byWorker = new Map(counts.map((l) => [/worker="(\d+)"/.exec(l)?.[1], Number(l.split(' ').at(-1))]));
    expect([...byWorker.keys()].sort()).toEqual(['1', '2']);
    expect([...byWorker.values()].reduce((a, b) => a + b, 0)).toBe(30);
    for (const n of byWorker.values()) expect(n).toBeGreaterThan(0);
    expect(await metric(/^tessera_serve_warm_up_ms\{/)).toHaveLength(2);
    expect(await metric(/^tessera_serve_workers /)).toEqual(['tessera_serve_workers 2']);
  });

  it('a new version reaches every worker', async () => {
    const v2 = await publishModel(models, { model: fm, name: 'fm', featureSpecHash: transform.spec.hash, parent: null, delta: false, data: { samples: 0, from: null, to: null }, metrics: {} });
    for (let waited = 0; waited < 20_000; waited += 100) {
      const loaded = (await metric(/^tessera_serve_model_reloads_total\{.*outcome="loaded"/)).map((l) => Number(l.split(' ').at(-1)));
      if (loaded.length === 2 && loaded.every((n) => n >= 2)) break;
      await sleep(100);
    }
    for (let i = 0; i < 10; i++) expect((await rank(true)).body.model.version).toBe(v2.version);
  });

  it('a killed worker is replaced; SIGTERM stops the service', async () => {
    const children = execFileSync('pgrep', ['-P', String(serve.pid)], { encoding: 'utf8' }).trim().split('\n').map(Number);
    expect(children).toHaveLength(2);
    process.kill(children[0] as number, 'SIGKILL');
    for (let waited = 0; waited < 30_000; waited += 200) {
      const restarts = await metric(/^tessera_serve_worker_restarts_total /).catch(() => []);
      const workers = await metric(/^tessera_serve_workers /).catch(() => []);
      if (restarts[0] === 'tessera_serve_worker_restarts_total 1' && workers[0] === 'tessera_serve_workers 2') break;
      await sleep(200);
    }
    expect(await metric(/^tessera_serve_worker_restarts_total /)).toEqual(['tessera_serve_worker_restarts_total 1']);
    expect(await metric(/^tessera_serve_workers /)).toEqual(['tessera_serve_workers 2']);
    for (let i = 0; i < 10; i++) expect((await rank(true)).status).toBe(200);
    serve.kill('SIGTERM');
    const code = await Promise.race([exited(serve), sleep(60_000).then(() => 'still running 60 s after SIGTERM')]);
    expect(code, serve.output()).toBe(0);
  });
});
