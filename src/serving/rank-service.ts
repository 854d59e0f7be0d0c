import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { TesseraError } from '../errors.js';
import type { Context } from '../events/event-types.js';
import { formatInstant, parseInstant } from '../events/time.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { FeatureReader, QueryTime } from './feature-reader.js';
import type { Candidate, RequestFeatures } from './request-plan.js';
import { popularityScorer, type Scorer, type ScorerSource } from './scorer.js';

/** Limits and timeouts of the ranking service; every one is configurable. */
export interface RankServiceLimits {
  /** Candidates per request at most. Default 1000. */
  maxCandidates: number;
  /** Request body size at most, bytes. Default 256 KiB. */
  maxBodyBytes: number;
  /** Time allowed for the feature read, ms; a slower store answers 503. Default 100. */
  featureTimeoutMs: number;
  /** Time allowed to receive the body, ms. Default 2000. */
  bodyTimeoutMs: number;
}

export const RANK_DEFAULTS: RankServiceLimits = { maxCandidates: 1000, maxBodyBytes: 256 * 1024, featureTimeoutMs: 100, bodyTimeoutMs: 2000 };

/** A validated `POST /v1/rank` body. */
export interface RankRequest {
  userId: string;
  candidates: Candidate[];
  context: Context;
  at: QueryTime;
}

/** What a served request exposes to the feature log (see {@link RankServiceDeps.onServed}). */
export interface ServedRequest {
  request: RankRequest;
  features: RequestFeatures;
  modelVersion: string;
  scores: Float64Array;
}

export interface RankServiceDeps {
  reader: FeatureReader;
  scorers: ScorerSource;
  metrics: Metrics;
  logger: Logger;
  limits?: Partial<RankServiceLimits>;
  /** Rank by popularity while no model is loaded (cold start). Default true; false answers 503. */
  popularityFallback?: boolean;
  /** Called after each ranked request (the sampled feature log); errors are logged, never returned. */
  onServed?: (served: ServedRequest) => void;
  /** Extra readiness condition (e.g. the model store was read once). */
  ready?: () => boolean;
  /**
   * Synthetic requests ranked through the whole path (feature read, transform, model, answer
   * body) after the service listens and before `/readyz` turns ready, so that the first real
   * requests do not pay for compilation: a cold service otherwise answers its first few hundred
   * requests several times slower and builds a queue a steady rate never drains. Not counted in
   * the request metrics, never written to the feature log. Default: none.
   */
  warmUp?: { requests: number; candidates: number };
  /** What `/metrics` answers; default this process's `metrics.render()` (a worker of several gathers every worker's). */
  renderMetrics?: () => Promise<string>;
}

/** The HTTP handler plus the warm-up {@link startRankService} runs before readiness. */
export interface RankHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Ranks `requests` synthetic requests of `candidates` unknown items each through the whole path, one after the other; resolves to the ms taken. */
  warmUp(requests: number, candidates: number): Promise<number>;
  /** Marks the warm-up done (`/readyz` may turn ready). */
  warmed(): void;
}

/** A request the service refuses; `status` and `code` go to the client with the message. */
export class RankRequestError extends TesseraError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

const CONTEXT_FIELDS = ['device', 'os', 'country', 'city', 'page', 'timezone'] as const;
const TOP_FIELDS = new Set(['userId', 'candidates', 'context', 'at']);
const MAX_ID_LENGTH = 256;

function bad(message: string): RankRequestError {
  return new RankRequestError(400, 'BAD_REQUEST', message);
}

function idOf(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') throw bad(`${where} must be a non-empty string`);
  if (v.length > MAX_ID_LENGTH) throw bad(`${where} is longer than ${MAX_ID_LENGTH} characters`);
  return v;
}

/**
 * Validates a parsed `POST /v1/rank` body. A candidate object has `itemId`, optionally
 * `categoryId`, and optionally the other key fields of the project's candidate groups
 * (`candidateFields`, e.g. `brand`); any other field is refused.
 *
 * @throws RankRequestError (400) naming the first problem and how to fix it.
 */
export function parseRankRequest(body: unknown, limits: RankServiceLimits = RANK_DEFAULTS, candidateFields: readonly string[] = []): RankRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body must be a JSON object { userId, candidates: [itemId | { itemId, categoryId }], context?, at? }');
  const o = body as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !TOP_FIELDS.has(k));
  if (unknown.length > 0) throw bad(`unknown field(s) ${unknown.join(', ')}; allowed: ${[...TOP_FIELDS].join(', ')}`);
  const userId = idOf(o.userId, 'userId');
  if (!Array.isArray(o.candidates) || o.candidates.length === 0) throw bad('candidates must be a non-empty array of item ids or { itemId, categoryId } objects');
  if (o.candidates.length > limits.maxCandidates) {
    throw new RankRequestError(413, 'TOO_MANY_CANDIDATES', `${o.candidates.length} candidates; at most ${limits.maxCandidates} per request (split the request or raise the service's maxCandidates)`);
  }
  const extra = candidateFields.filter((f) => f !== 'categoryId');
  const allowed = ['itemId', 'categoryId', ...extra];
  const candidates = o.candidates.map((c, i): Candidate => {
    if (typeof c === 'string') return { itemId: idOf(c, `candidates[${i}]`), categoryId: null };
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw bad(`candidates[${i}] must be an item id or { ${allowed.join(', ')} }`);
    const cc = c as Record<string, unknown>;
    for (const k of Object.keys(cc)) if (!allowed.includes(k)) throw bad(`candidates[${i}].${k} is not a candidate field (${allowed.join(', ')})`);
    const optional = (k: string): string | null => (cc[k] === undefined || cc[k] === null ? null : idOf(cc[k], `candidates[${i}].${k}`));
    const categoryId = optional('categoryId');
    const itemId = idOf(cc.itemId, `candidates[${i}].itemId`);
    if (extra.length === 0) return { itemId, categoryId };
    const fields: Record<string, string | null> = {};
    for (const k of extra) fields[k] = optional(k);
    return { itemId, categoryId, fields };
  });
  const context: Context = { device: null, os: null, country: null, city: null, page: null, timezone: null };
  if (o.context !== undefined && o.context !== null) {
    if (typeof o.context !== 'object' || Array.isArray(o.context)) throw bad('context must be an object with optional device, os, country, city, page, timezone');
    for (const [k, v] of Object.entries(o.context as Record<string, unknown>)) {
      if (!(CONTEXT_FIELDS as readonly string[]).includes(k)) throw bad(`context.${k} is not a context field (${CONTEXT_FIELDS.join(', ')})`);
      if (v !== null && typeof v !== 'string') throw bad(`context.${k} must be a string or null`);
      (context as unknown as Record<string, string | null>)[k] = v === '' ? null : (v as string | null);
    }
  }
  let at: QueryTime = 'now';
  if (o.at !== undefined && o.at !== null && o.at !== 'now') {
    if (o.at === 'watermark') at = 'watermark';
    else {
      try {
        at = parseInstant(o.at as string | number);
      } catch (err) {
        throw bad(`at: ${(err as Error).message} (ISO-8601 with a zone, epoch ms, "now" or "watermark")`);
      }
    }
  }
  return { userId, candidates, context, at };
}

async function readBody(req: IncomingMessage, limits: RankServiceLimits): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limits.maxBodyBytes) throw new RankRequestError(413, 'BODY_TOO_LARGE', `the body has ${declared} bytes; at most ${limits.maxBodyBytes}`);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      reject(new RankRequestError(408, 'BODY_TIMEOUT', `the body did not arrive within ${limits.bodyTimeoutMs} ms`));
      req.destroy();
    }, limits.bodyTimeoutMs);
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limits.maxBodyBytes) {
        clearTimeout(timer);
        reject(new RankRequestError(413, 'BODY_TOO_LARGE', `the body is larger than ${limits.maxBodyBytes} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The smallest age among entities (the freshest information behind them), null when none is known. */
function newest(entities: readonly ({ ageMs: number | null } | null)[]): number | null {
  let min: number | null = null;
  for (const e of entities) if (e !== null && e.ageMs !== null && (min === null || e.ageMs < min)) min = e.ageMs;
  return min;
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms)))]).finally(() => clearTimeout(timer));
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The inference service's HTTP handler:
 * - `POST /v1/rank` `{ userId, candidates: [itemId | { itemId, categoryId }], context?, at? }` ->
 *   `{ model: { version }, q, items: [{ itemId, score }] (best first), freshness }`: features for
 *   the user, every candidate and user x category in one store round trip, scored in one batch;
 * - `GET /healthz` (the process answers), `GET /readyz` (the store answers within the timeout and a
 *   model or the fallback can rank), `GET /metrics` (Prometheus text: request latency, model
 *   version and reloads, feature age, store errors; with {@link startRankService} also the memory
 *   retained after each full GC).
 * Bad input gets a 4xx with `{ error: { code, message } }`; a slow or failing store a 503; nothing
 * a client sends can crash the process.
 */
export function createRankHandler(deps: RankServiceDeps): RankHandler {
  const limits: RankServiceLimits = { ...RANK_DEFAULTS, ...deps.limits };
  const { metrics } = deps;
  const fallback = deps.popularityFallback !== false;
  const popularity = popularityScorer(deps.reader.groupList);
  const candidateFields = deps.reader.plan.candidateFields;

  const rank = async (req: IncomingMessage): Promise<{ status: number; body: unknown }> => {
    if (!(req.headers['content-type'] ?? 'application/json').includes('json')) throw new RankRequestError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
    const text = await readBody(req, limits);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new RankRequestError(400, 'BAD_JSON', `the body is not valid JSON: ${(err as Error).message}`);
    }
    return rankRequest(parseRankRequest(parsed, limits, candidateFields), false);
  };

  /** Ranks a validated request; a warm-up one is neither logged to the feature log nor counted. */
  const rankRequest = async (request: RankRequest, warmUp: boolean): Promise<{ status: number; body: unknown }> => {
    const scorer: Scorer | null = deps.scorers.current() ?? (fallback ? popularity : null);
    if (scorer === null) throw new RankRequestError(503, 'NO_MODEL', 'no model is loaded yet and the popularity fallback is off');
    let features: RequestFeatures;
    try {
      features = await withTimeout(
        deps.reader.readRequest({ userId: request.userId, items: request.candidates, context: request.context, at: request.at }),
        limits.featureTimeoutMs,
        () => new RankRequestError(503, 'FEATURES_TIMEOUT', `the online store did not answer within ${limits.featureTimeoutMs} ms`),
      );
    } catch (err) {
      if (err instanceof RankRequestError) {
        metrics.inc('tessera_serve_store_errors_total', { reason: 'timeout' }, 1, 'Feature reads that failed or timed out');
        throw err;
      }
      if (err instanceof TesseraError && err.code === 'QUERY_NOT_EXACT') throw new RankRequestError(422, 'QUERY_NOT_EXACT', err.message);
      metrics.inc('tessera_serve_store_errors_total', { reason: 'error' }, 1, 'Feature reads that failed or timed out');
      throw new RankRequestError(503, 'FEATURES_UNAVAILABLE', `the online store failed: ${(err as Error).message}`);
    }
    let used = scorer;
    let scores: Float64Array;
    try {
      scores = scorer.score(features);
      if (scores.length !== request.candidates.length) throw new Error(`the model returned ${scores.length} scores for ${request.candidates.length} candidates`);
    } catch (err) {
      if (!fallback || scorer === popularity) throw err;
      metrics.inc('tessera_serve_scoring_errors_total', { version: scorer.version }, 1, 'Requests the model failed to score (ranked by popularity instead)');
      deps.logger.error('serve.scoring_failed', { version: scorer.version, error: (err as Error).message });
      used = popularity;
      scores = popularity.score(features);
    }
    if (!warmUp) modelInfo(used.version);
    const order = request.candidates.map((_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
    // freshness: the newest event behind the user's features (over its request groups), the candidates' item entities
    const user = newest(features.shared);
    const ages: number[] = [];
    for (const c of features.items) {
      const a = newest(c.entities);
      if (a !== null) ages.push(a);
    }
    if (user !== null && !warmUp) metrics.set('tessera_serve_user_feature_age_ms', user, {}, "Age of the newest event behind the last request's user features");
    try {
      if (!warmUp) deps.onServed?.({ request, features, modelVersion: used.version, scores });
    } catch (err) {
      deps.logger.error('serve.feature_log_failed', { error: (err as Error).message });
    }
    return {
      status: 200,
      body: {
        model: { version: used.version },
        q: formatInstant(features.q),
        items: order.map((i) => ({ itemId: request.candidates[i]?.itemId, score: scores[i] })),
        freshness: {
          userKnown: features.shared.some((e) => e.known),
          userAgeMs: user,
          itemsKnown: ages.length,
          itemAgeMsMin: ages.length > 0 ? Math.min(...ages) : null,
          itemAgeMsMax: ages.length > 0 ? Math.max(...ages) : null,
        },
      },
    };
  };

  // one series, the version serving now (not one per version ever served), kept current by every
  // answer and every scrape, so a gathered scrape of several workers shows each one's
  let infoVersion: string | null = null;
  const modelInfo = (version: string) => {
    if (version === infoVersion) return;
    infoVersion = version;
    metrics.clear('tessera_serve_model_info');
    metrics.set('tessera_serve_model_info', 1, { version }, 'The model version serving (the label), always 1');
  };

  let warmedUp = deps.warmUp === undefined || deps.warmUp.requests <= 0;
  const ready = async (): Promise<boolean> => {
    if (!warmedUp) return false;
    if (deps.ready && !deps.ready()) return false;
    if (deps.scorers.current() === null && !fallback) return false;
    try {
      await withTimeout(deps.reader.read([], 'now'), limits.featureTimeoutMs * 5, () => new Error('timeout'));
      return true;
    } catch {
      return false;
    }
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    const route = req.url?.split('?')[0] ?? '';
    const done = (status: number, body: unknown) => {
      send(res, status, body);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (route === '/v1/rank') metrics.observe('tessera_serve_request_seconds', seconds, { route: 'rank', status: String(status) }, 'Ranking request latency, seconds');
    };
    const fail = (err: unknown) => {
      if (err instanceof RankRequestError) return done(err.status, { error: { code: err.code, message: err.message } });
      deps.logger.error('serve.internal_error', { error: (err as Error)?.stack ?? String(err) });
      done(500, { error: { code: 'INTERNAL', message: 'internal error (logged)' } });
    };
    try {
      if (route === '/v1/rank') {
        if (req.method !== 'POST') return done(405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'use POST /v1/rank' } });
        rank(req).then((r) => done(r.status, r.body), fail);
        return;
      }
      if (req.method === 'GET' && route === '/healthz') return done(200, { ok: true });
      if (req.method === 'GET' && route === '/readyz') {
        ready().then((ok) => done(ok ? 200 : 503, { ready: ok, model: (deps.scorers.current() ?? (fallback ? popularity : null))?.version ?? null }), fail);
        return;
      }
      if (req.method === 'GET' && route === '/metrics') {
        modelInfo((deps.scorers.current() ?? (fallback ? popularity : null))?.version ?? 'none');
        (deps.renderMetrics ?? (async () => metrics.render()))().then((text) => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          res.end(text);
        }, fail);
        return;
      }
      done(404, { error: { code: 'NOT_FOUND', message: 'routes: POST /v1/rank, GET /healthz, GET /readyz, GET /metrics' } });
    } catch (err) {
      fail(err);
    }
  };

  const warmUp = async (requests: number, candidates: number): Promise<number> => {
    const started = performance.now();
    const context: Context = { device: 'ios', os: 'ios', country: null, city: null, page: 'home', timezone: 'UTC' };
    let failures = 0;
    let lastError = '';
    for (let i = 0; i < requests; i++) {
      const request: RankRequest = {
        userId: `tessera-warm-up-user-${i % 10}`,
        candidates: Array.from({ length: candidates }, (_, j) => ({ itemId: `tessera-warm-up-item-${(i * 7 + j) % 1000}`, categoryId: j % 3 === 0 ? null : `tessera-warm-up-category-${j % 50}` })),
        context,
        // both query-time paths of the reader
        at: i % 2 === 0 ? 'now' : 'watermark',
      };
      try {
        // the answer body is serialised like a real one: that is part of what gets compiled
        JSON.stringify((await rankRequest(request, true)).body);
      } catch (err) {
        // e.g. no watermark yet (nothing streamed) or a store that does not answer: readiness
        // checks the store anyway; the warm-up goes on with what works and gives up on a dead end
        failures++;
        lastError = (err as Error).message;
        if (failures >= 50 && failures > i / 2) break;
      }
    }
    if (failures > 0) deps.logger.warn('serve.warm_up_failures', { failures, requests, error: lastError });
    return performance.now() - started;
  };
  return Object.assign(handler, { warmUp, warmed: () => void (warmedUp = true) });
}

/**
 * Keeps the gauges of memory retained, sampled right after each full (mark-compact) garbage
 * collection, when the garbage awaiting collection is gone, so their trend over hours or over model
 * reloads shows whether memory is kept (a sample at an arbitrary time mostly measures garbage):
 * `tessera_serve_heap_after_gc_bytes` (the V8 heap outside the young generation) and
 * `tessera_serve_array_buffers_after_gc_bytes` (typed arrays and buffers, where models keep their
 * tables), with `tessera_serve_full_gcs_total`. Returns the function that stops it.
 */
export function watchMemoryAfterGc(metrics: Metrics): () => void {
  const observer = new PerformanceObserver((list) => {
    let full = 0;
    for (const e of list.getEntries()) if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) full++;
    if (full === 0) return;
    let heap = 0;
    for (const space of getHeapSpaceStatistics()) if (space.space_name !== 'new_space' && space.space_name !== 'new_large_object_space') heap += space.space_used_size;
    metrics.inc('tessera_serve_full_gcs_total', {}, full, 'Full (mark-compact) garbage collections');
    metrics.set('tessera_serve_heap_after_gc_bytes', heap, {}, 'V8 heap in use outside the young generation, right after the latest full GC');
    metrics.set('tessera_serve_array_buffers_after_gc_bytes', process.memoryUsage().arrayBuffers, {}, 'Typed arrays and buffers (model tables), right after the latest full GC');
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

/** Buckets of the per-second longest event-loop delay, seconds. */
const LOOP_DELAY_BUCKETS_S = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];

/**
 * Observes, once a second, the longest delay the event loop had in that second
 * (`tessera_serve_event_loop_delay_max_seconds`, a histogram of per-second maxima): a step that
 * holds the loop, a reload's decode say, delays every request in flight by as much, and shows here
 * whatever the request latencies around it. Returns the function that stops it.
 */
export function watchEventLoopDelay(metrics: Metrics, everyMs = 1000): () => void {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const timer = setInterval(() => {
    metrics.observe('tessera_serve_event_loop_delay_max_seconds', h.max / 1e9, {}, 'Longest event-loop delay in each second', LOOP_DELAY_BUCKETS_S);
    h.reset();
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    h.disable();
  };
}

/**
 * Starts the service on host:port (0: any free port); resolves once listening and warmed up
 * ({@link RankServiceDeps.warmUp}: `/readyz` answers 503 until then). Keeps the
 * {@link watchMemoryAfterGc} gauges and the {@link watchEventLoopDelay} histogram until it closes.
 */
export async function startRankService(deps: RankServiceDeps, port: number, host = '127.0.0.1'): Promise<Server> {
  const handler = createRankHandler(deps);
  const server = createServer({ keepAliveTimeout: 65_000 }, handler);
  server.on('clientError', (_err, socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  const unwatch = watchMemoryAfterGc(deps.metrics);
  const unwatchLoop = watchEventLoopDelay(deps.metrics);
  server.once('close', () => {
    unwatch();
    unwatchLoop();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  if (deps.warmUp !== undefined && deps.warmUp.requests > 0) {
    const ms = await handler.warmUp(deps.warmUp.requests, deps.warmUp.candidates);
    deps.metrics.set('tessera_serve_warm_up_ms', ms, {}, 'Time the warm-up before readiness took');
    deps.logger.info('serve.warmed_up', { requests: deps.warmUp.requests, candidates: deps.warmUp.candidates, ms: Math.round(ms) });
  }
  handler.warmed();
  return server;
}
