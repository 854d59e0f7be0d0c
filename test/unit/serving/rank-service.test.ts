import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import type { Context, ReferenceEvent } from '../../../src/events/event-types.js';
import { topicSpecs } from '../../../src/events/topics.js';
import { REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../../helpers/reference.js';
import { createEventProducer } from '../../../src/ingest/producer.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import type { OnlineStore } from '../../../src/ports/online-store.js';
import { FeatureReader } from '../../../src/serving/feature-reader.js';
import { createRankHandler, startRankService, watchEventLoopDelay, type RankServiceDeps } from '../../../src/serving/rank-service.js';
import { fixedScorer, type Scorer } from '../../../src/serving/scorer.js';
import { createStreamKeys } from '../../../src/streaming/stream-keys.js';
import { startStream } from '../../../src/streaming/stream-processor.js';

const GROUPS = REFERENCE_GROUPS;
const T0 = Date.UTC(2026, 0, 5, 12);
const CTX: Context = { device: 'ios', os: 'ios', country: 'CN', city: 'Shanghai', page: 'home', timezone: 'Asia/Shanghai' };

/** A store with the stream's state for: i-hot (40 impressions, 12 clicks), i-warm (40, 2), i-cold (nothing). */
async function seededStore(): Promise<OnlineStore> {
  const events: ReferenceEvent[] = [];
  let n = 0;
  for (const [item, clicks] of [['i-hot', 12], ['i-warm', 2]] as const) {
    for (let k = 0; k < 40; k++) {
      const base = { eventId: `e${n++}`, eventTime: T0 - 3_600_000 + k * 60_000, requestId: `r${item}${k}`, userId: `u${k % 3}`, itemId: item, categoryId: 'c1', context: CTX };
      events.push({ type: 'impression', ...base, position: 0 });
      if (k < clicks) events.push({ type: 'click', ...base, eventId: `e${n++}`, eventTime: base.eventTime + 1000, position: 0 });
    }
  }
  const log = new MemoryEventLog();
  const topics = referenceTopics('rk');
  await log.ensureTopics(topicSpecs(topics, 2));
  const registry = referenceRegistry();
  await createEventProducer({ log, registry, topics, clock: () => T0 }).send(events);
  const store = new MemoryOnlineStore();
  await startStream({ log, store, registry, topics, keys: createStreamKeys('t'), groups: GROUPS, logger: SILENT_LOGGER, metrics: new Metrics(), clock: () => T0 }, { untilIdle: true, idleMs: 30 }).done;
  return store;
}

let server: Server | undefined;
afterEach(() => server?.close());

async function serve(store: OnlineStore, extra: Partial<RankServiceDeps> = {}): Promise<{ url: string; metrics: Metrics }> {
  const metrics = new Metrics();
  const reader = new FeatureReader({ store, keys: createStreamKeys('t'), groups: GROUPS, clock: () => T0 });
  server = await startRankService({ reader, scorers: fixedScorer(null), metrics, logger: SILENT_LOGGER, ...extra }, 0);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, metrics };
}

const post = (url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(`${url}/v1/rank`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('rank service', () => {
  it('ranks by popularity without a model, with freshness, and counts latency in /metrics', async () => {
    const { url } = await serve(await seededStore());
    const res = await post(url, { userId: 'u1', candidates: ['i-cold', 'i-warm', { itemId: 'i-hot', categoryId: 'c1' }], context: CTX });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: { version: string }; items: { itemId: string; score: number }[]; freshness: Record<string, unknown> };
    expect(body.model.version).toBe('popularity');
    expect(body.items.map((i) => i.itemId)).toEqual(['i-hot', 'i-warm', 'i-cold']);
    expect(body.items[2]!.score).toBeCloseTo(1 / 20, 12); // unknown item: the CTR prior
    expect(body.freshness).toMatchObject({ userKnown: true, itemsKnown: 2 });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('tessera_serve_request_seconds_count{route="rank",status="200"} 1');
    expect(metrics).toContain('tessera_serve_model_info{version="popularity"} 1');
  });

  it('scores with the current model, sorted, ties in request order; a failing model falls back to popularity', async () => {
    const store = await seededStore();
    let model: Scorer = { version: 'v7', score: (f) => Float64Array.from(f.items.map((x) => (x.itemId === 'i-cold' ? 2 : 1))) };
    const { url, metrics } = await serve(store, { scorers: { current: () => model } });
    const body = (await (await post(url, { userId: 'u1', candidates: ['i-hot', 'i-cold', 'i-warm'] })).json()) as { model: { version: string }; items: { itemId: string }[] };
    expect(body).toMatchObject({ model: { version: 'v7' } });
    expect(body.items.map((i) => i.itemId)).toEqual(['i-cold', 'i-hot', 'i-warm']);
    model = { version: 'v8', score: () => { throw new Error('broken weights'); } };
    const fallback = (await (await post(url, { userId: 'u1', candidates: ['i-warm', 'i-hot'] })).json()) as { model: { version: string }; items: { itemId: string }[] };
    expect(fallback.model.version).toBe('popularity');
    expect(fallback.items.map((i) => i.itemId)).toEqual(['i-hot', 'i-warm']);
    model = { version: 'v9', score: () => new Float64Array(1) };
    expect(((await (await post(url, { userId: 'u1', candidates: ['i-warm', 'i-hot'] })).json()) as { model: { version: string } }).model.version).toBe('popularity');
    expect(metrics.total('tessera_serve_scoring_errors_total')).toBe(2);
  });

  it('answers bad input with a 4xx and a reason, and keeps serving', async () => {
    const { url } = await serve(await seededStore(), { limits: { maxCandidates: 500, maxBodyBytes: 64 * 1024 } });
    const cases: [unknown, number, string][] = [
      ['{"userId": "u1", "candidates": [', 400, 'BAD_JSON'],
      [[1, 2], 400, 'BAD_REQUEST'],
      [{ candidates: ['i1'] }, 400, 'BAD_REQUEST'],
      [{ userId: 'u1', candidates: [] }, 400, 'BAD_REQUEST'],
      [{ userId: 'u1', candidates: [42] }, 400, 'BAD_REQUEST'],
      [{ userId: 'u1', candidates: [{ categoryId: 'c' }] }, 400, 'BAD_REQUEST'],
      [{ userId: 'u1', candidates: ['i1'], contxt: {} }, 400, 'BAD_REQUEST'],
      [{ userId: 'u1', candidates: ['i1'], context: { device: 3 } }, 400, 'BAD_REQUEST'],
      [{ userId: 'u1', candidates: ['i1'], context: { planet: 'mars' } }, 400, 'BAD_REQUEST'],
      [{ userId: 'u1', candidates: ['i1'], at: 'yesterday-ish' }, 400, 'BAD_REQUEST'],
      [{ userId: 'x'.repeat(300), candidates: ['i1'] }, 400, 'BAD_REQUEST'],
      [{ userId: 'u1', candidates: Array.from({ length: 10_000 }, (_, i) => `i${i}`) }, 413, 'BODY_TOO_LARGE'],
      [{ userId: 'u1', candidates: Array.from({ length: 501 }, (_, i) => `i${i}`) }, 413, 'TOO_MANY_CANDIDATES'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(url, body);
      const json = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, json.error.code], JSON.stringify(body).slice(0, 80)).toEqual([status, code]);
      expect(json.error.message.length).toBeGreaterThan(10);
    }
    expect((await post(url, { userId: 'u1', candidates: ['i1'] }, { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await fetch(`${url}/v1/rank`)).status).toBe(405);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    // unknown users and items: cold-start features, ranked anyway
    const ok = await post(url, { userId: 'nobody', candidates: ['nothing', 'i-hot'] });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { freshness: { userKnown: boolean } }).freshness.userKnown).toBe(false);
  });

  it('a slow or failing store gives 503 with the reason, within the configured timeout, then recovers', async () => {
    const real = await seededStore();
    let mode: 'ok' | 'slow' | 'down' = 'slow';
    const flaky: OnlineStore = {
      apply: (ops, fence) => real.apply(ops, fence),
      read: async (q) => {
        if (mode === 'slow') await new Promise((r) => setTimeout(r, 300));
        if (mode === 'down') throw new Error('connection refused');
        return real.read(q);
      },
      deleteByPrefix: (p) => real.deleteByPrefix(p),
      close: () => real.close(),
    };
    const { url, metrics } = await serve(flaky, { limits: { featureTimeoutMs: 40 } });
    const started = Date.now();
    const slow = await post(url, { userId: 'u1', candidates: ['i-hot'] });
    expect(Date.now() - started).toBeLessThan(250);
    expect([slow.status, ((await slow.json()) as { error: { code: string } }).error.code]).toEqual([503, 'FEATURES_TIMEOUT']);
    mode = 'down';
    const down = await post(url, { userId: 'u1', candidates: ['i-hot'] });
    expect([down.status, ((await down.json()) as { error: { code: string } }).error.code]).toEqual([503, 'FEATURES_UNAVAILABLE']);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    expect(metrics.total('tessera_serve_store_errors_total')).toBe(2);
    mode = 'ok';
    expect((await post(url, { userId: 'u1', candidates: ['i-hot'] })).status).toBe(200);
  });

  it('without the popularity fallback and no model it is not ready and answers 503 NO_MODEL', async () => {
    const { url } = await serve(await seededStore(), { popularityFallback: false });
    const res = await post(url, { userId: 'u1', candidates: ['i-hot'] });
    expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([503, 'NO_MODEL']);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
  });

  it('warms up through the whole path before /readyz turns ready; warm-up requests are neither logged nor counted', async () => {
    const store = await seededStore();
    let scored = 0;
    const served: string[] = [];
    const metrics = new Metrics();
    const reader = new FeatureReader({ store, keys: createStreamKeys('t'), groups: GROUPS, clock: () => T0 });
    const handlerScorer: Scorer = {
      version: 'v1',
      score: (f) => {
        scored++;
        return new Float64Array(f.items.length).fill(0.5);
      },
    };
    const starting = startRankService({ reader, scorers: { current: () => handlerScorer }, metrics, logger: SILENT_LOGGER, warmUp: { requests: 40, candidates: 25 }, onServed: (s) => served.push(s.request.userId) }, 0);
    server = await starting;
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // startRankService resolves after the warm-up: every warm-up request was scored by then
    expect(scored).toBe(40);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(metrics.value('tessera_serve_warm_up_ms')).toBeGreaterThan(0);
    expect(metrics.count('tessera_serve_request_seconds')).toBe(0);
    expect(served).toEqual([]);
    expect((await post(url, { userId: 'u1', candidates: ['i-hot'] })).status).toBe(200);
    expect(served).toEqual(['u1']);
    expect(metrics.count('tessera_serve_request_seconds')).toBe(1);
  });

  it('is not ready while warming up', async () => {
    const store = await seededStore();
    let release = (): void => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let first = true;
    // the first warm-up read waits for the gate: the server listens, warm-up has not finished
    const slowStore: OnlineStore = { ...store, read: async (q) => { if (first) { first = false; await gate; } return store.read(q); }, apply: (o, f) => store.apply(o, f), deleteByPrefix: (p) => store.deleteByPrefix(p), close: () => store.close() };
    const slowReader = new FeatureReader({ store: slowStore, keys: createStreamKeys('t'), groups: GROUPS, clock: () => T0 });
    const handler = createRankHandler({ reader: slowReader, scorers: fixedScorer(null), metrics: new Metrics(), logger: SILENT_LOGGER, warmUp: { requests: 5, candidates: 3 } });
    server = createServer(handler);
    await new Promise<void>((r) => (server as Server).listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const warming = handler.warmUp(5, 3);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    release();
    await warming;
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    handler.warmed();
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('the model-info series names only the version serving now', async () => {
    const store = await seededStore();
    let version = 'v1';
    const scorer = (): Scorer => ({ version, score: (f) => new Float64Array(f.items.length).fill(0.5) });
    const { url } = await serve(store, { scorers: { current: scorer } });
    expect((await post(url, { userId: 'u1', candidates: ['i-hot'] })).status).toBe(200);
    version = 'v2';
    expect((await post(url, { userId: 'u1', candidates: ['i-hot'] })).status).toBe(200);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text.split('\n').filter((l) => l.startsWith('tessera_serve_model_info'))).toEqual(['tessera_serve_model_info{version="v2"} 1']);
  });
});

describe('the event-loop delay histogram', () => {
  it('records each second the longest time the loop was held', async () => {
    const metrics = new Metrics();
    const stop = watchEventLoopDelay(metrics, 200);
    try {
      await new Promise((r) => setTimeout(r, 250));
      const busyUntil = Date.now() + 120;
      while (Date.now() < busyUntil) {
        // the loop is held, as a decode on the serving thread would hold it
      }
      await new Promise((r) => setTimeout(r, 450));
      expect(metrics.count('tessera_serve_event_loop_delay_max_seconds')).toBeGreaterThanOrEqual(2);
      const text = metrics.render();
      const bucket = (le: string) => Number(text.split('\n').find((l) => l.startsWith(`tessera_serve_event_loop_delay_max_seconds_bucket{le="${le}"}`))?.split(' ')[1]);
      // one interval saw a delay over 100 ms, the others did not
      expect(bucket('+Inf') - bucket('0.1')).toBe(1);
    } finally {
      stop();
    }
  });
});
