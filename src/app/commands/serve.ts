import { resolve } from 'node:path';
import type { Command, CommandContext } from '../command.js';
import type { Runtime } from '../runtime.js';
import { numberOption, stringOption } from '../command.js';
import { UsageError } from '../../errors.js';
import { FeatureReader } from '../../serving/feature-reader.js';
import { createFeatureLog, type FeatureLog } from '../../serving/feature-log.js';
import { isQuantizeMode } from '../../models/quantized-model.js';
import { tesseraScorerLoader } from '../../serving/model-scorer.js';
import { ModelWatcher } from '../../serving/model-watcher.js';
import { ReloadThread } from '../../serving/reload-thread.js';
import { RANK_DEFAULTS, startRankService } from '../../serving/rank-service.js';
import { fixedScorer, type Scorer, type ScorerSource } from '../../serving/scorer.js';
import { createStreamKeys } from '../../streaming/stream-keys.js';
import { STREAM_DEFAULTS } from '../../streaming/stream-processor.js';
import { createFeatureTransform } from '../../training/feature-transform.js';
import { MODEL_FILES } from '../../training/publication.js';
import { smokeTestScorer } from '../../serving/smoke-test.js';
import { onShutdownSignal } from '../signals.js';
import { withRuntime } from '../with-runtime.js';
import { announceListening, isServeWorker, runServePrimary, workerMetrics } from '../../serving/serve-cluster.js';

/** Synthetic requests each service process ranks before it reports ready (see RankServiceDeps.warmUp). */
export const SERVE_WARM_UP_REQUESTS = 300;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'The inference service: POST /v1/rank with features from Redis and a hot-reloaded model.',
  usage: 'tessera serve [--port 8080] [--workers N] [--model fm|lr|wide-deep|none] [--feature-log-rate 0.01] [--max-candidates N] [--feature-timeout-ms N] [--quantize auto|int8|none] [--item-cache-ms N] [--warm-up-requests N] [--reload-in worker|event-loop] [--reload-nice 19]',
  details: `POST /v1/rank { userId, candidates: [itemId | { itemId, categoryId }], context?, at? } returns the
candidates sorted by score, the model version and the features' freshness. Features: one Redis round trip
(user, every candidate, user x category). The model named by --model is followed in the model store
(TESSERA_MODEL_DIR): a new version is read, checked (checksums, feature-spec hash, smoke predictions),
decoded and quantised in a worker thread (--reload-in worker), handed over without copying and swapped in; a broken version is refused and the current one keeps
serving. Without a model yet, candidates are ranked by popularity (smoothed 24 h CTR). GET /healthz,
/readyz (ready once the store answers, the model store was read and the warm-up requests ran), /metrics.
--workers N runs N service processes on the port (node:cluster), each following the model store on its
own; /metrics on any of them answers all of their series, labelled by worker. With TESSERA_KAFKA_BROKERS, --feature-log-rate of the requests go to the served topic.
Needs TESSERA_REDIS_URL.`,
  options: {
    port: { type: 'string', description: 'Port on 127.0.0.1 (0: any free port)', defaultText: '8080' },
    host: { type: 'string', description: 'Address to listen on', defaultText: '127.0.0.1' },
    model: { type: 'string', description: 'Model store name to serve, or none', defaultText: 'fm' },
    'poll-ms': { type: 'string', description: 'Model pointer poll interval, ms', defaultText: '1000' },
    'feature-log-rate': { type: 'string', description: 'Fraction of requests written to the served topic', defaultText: '0' },
    'max-candidates': { type: 'string', description: 'Candidates per request at most', defaultText: String(RANK_DEFAULTS.maxCandidates) },
    'max-body-bytes': { type: 'string', description: 'Request body size at most', defaultText: String(RANK_DEFAULTS.maxBodyBytes) },
    'feature-timeout-ms': { type: 'string', description: 'Feature read timeout; slower answers 503', defaultText: String(RANK_DEFAULTS.featureTimeoutMs) },
    'no-fallback': { type: 'boolean', description: 'Answer 503 instead of ranking by popularity while no model is loaded' },
    quantize: { type: 'string', description: 'FM factors and Wide&Deep embeddings in float or INT8 row-wise (auto: as each version\'s manifest says; LR has no rows to quantise)', defaultText: 'auto' },
    'lateness-ms': { type: 'string', description: "The stream's allowed lateness, ms", defaultText: String(STREAM_DEFAULTS.latenessMs) },
    'item-cache-ms': { type: 'string', description: 'Answer item features (candidate groups not keyed by the user) from memory while younger than this, ms: values up to this stale, fewer bytes read; 0 is off', defaultText: '0' },
    'item-cache-entries': { type: 'string', description: 'Entities the item cache keeps at most', defaultText: '100000' },
    workers: { type: 'string', description: 'Service processes sharing the port (node:cluster); 1 serves in this process', defaultText: '1' },
    'reload-in': { type: 'string', description: 'Where a new version is read, decoded, quantised and smoke-tested: worker (a worker thread; the event loop only swaps) or event-loop', defaultText: 'worker' },
    'reload-nice': { type: 'string', description: "The reload worker thread's nice value on Linux, 0-19: 19 gives requests the CPU first", defaultText: '19' },
    'warm-up-requests': { type: 'string', description: 'Synthetic requests ranked through the whole path before /readyz turns ready (each process)', defaultText: String(SERVE_WARM_UP_REQUESTS) },
  },
  async run(ctx) {
    const workers = numberOption(ctx, 'workers', 1, { min: 1 });
    if (workers > 1 && !isServeWorker()) {
      return runServePrimary({ workers, stdout: ctx.stdout, stderr: ctx.stderr, host: stringOption(ctx, 'host') ?? '127.0.0.1' });
    }
    return withRuntime(ctx, {}, async (rt) => {
      // Listen for SIGTERM / SIGINT from the start: a signal that comes while the service is still
      // loading or warming up (a worker being replaced, say) stops it as soon as it listens,
      // instead of being swallowed before the handler exists.
      let requestStop: () => void = () => undefined;
      const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
      const off = onShutdownSignal(() => requestStop());
      try {
        return await serveUntilStopped(ctx, rt, stopRequested);
      } finally {
        off();
      }
    });
  },
};

/** Starts the service, waits for `stopRequested`, then closes it. */
async function serveUntilStopped(ctx: CommandContext, rt: Runtime, stopRequested: Promise<void>): Promise<number> {
  if (!rt.config.redisUrl) throw new UsageError('serve reads features from Redis: set TESSERA_REDIS_URL (`tessera demo` serves in-process)');
  const groups = await rt.servingGroups();
  const transform = createFeatureTransform(groups);
  const reader = new FeatureReader({
    store: rt.online(),
    keys: createStreamKeys(rt.config.topicPrefix),
    groups: rt.project.groups,
    ...(rt.definitions ? { definitions: rt.definitions } : {}),
    clock: rt.clock,
    latenessMs: numberOption(ctx, 'lateness-ms', STREAM_DEFAULTS.latenessMs, { min: 0 }),
    cache: { maxAgeMs: numberOption(ctx, 'item-cache-ms', 0, { min: 0 }), maxEntries: numberOption(ctx, 'item-cache-entries', 100_000, { min: 1 }), metrics: rt.metrics },
  });
  const modelName = stringOption(ctx, 'model') ?? 'fm';
  const quantize = stringOption(ctx, 'quantize') ?? 'auto';
  if (quantize !== 'auto' && !isQuantizeMode(quantize)) throw new UsageError(`--quantize must be auto, int8 or none, got ${quantize}`);
  const reloadIn = stringOption(ctx, 'reload-in') ?? 'worker';
  if (reloadIn !== 'worker' && reloadIn !== 'event-loop') throw new UsageError(`--reload-in must be worker or event-loop, got ${reloadIn}`);
  let scorers: ScorerSource = fixedScorer(null);
  let watcher: ModelWatcher | null = null;
  let reloadThread: ReloadThread | null = null;
  if (modelName !== 'none') {
    // a version is loaded for the features serving when it arrives: after a registry flip, one
    // trained on the new versions loads without a restart (docs/architecture.md, The registry)
    let serving = { groups, transform, load: tesseraScorerLoader(transform, groups, { quantize }) };
    const current = async () => {
      if (rt.definitions === null) return serving;
      const now = await rt.servingGroups();
      const t = createFeatureTransform(now);
      if (t.spec.hash !== serving.transform.spec.hash) serving = { groups: now, transform: t, load: tesseraScorerLoader(t, now, { quantize }) };
      return serving;
    };
    const nice = numberOption(ctx, 'reload-nice', 19, { min: 0 });
    if (nice > 19) throw new UsageError(`--reload-nice must be a whole number from 0 to 19, got ${nice}`);
    if (reloadIn === 'worker') reloadThread = new ReloadThread({ modelDir: resolve(rt.config.modelDir), quantize, nice });
    watcher = new ModelWatcher({
      store: rt.models(),
      model: modelName,
      load: async (manifest, files, store) => (await current()).load(manifest, files, store),
      featureSpecHash: transform.spec.hash,
      servedSpec: async () => {
        const { transform: t } = await current();
        return { hash: t.spec.hash, names: t.spec.entries.map((e) => e.name) };
      },
      files: MODEL_FILES,
      smokeTest: (s: Scorer) => smokeTestScorer(s, serving.groups),
      ...(reloadThread ? { prepare: async (version: string) => (reloadThread as ReloadThread).prepare(modelName, version, MODEL_FILES, await current()) } : {}),
      metrics: rt.metrics,
      logger: rt.logger,
      pollMs: numberOption(ctx, 'poll-ms', 1000, { min: 50 }),
    });
    await watcher.start();
    scorers = watcher;
  }
  const rate = Number(stringOption(ctx, 'feature-log-rate') ?? 0);
  let featureLog: FeatureLog | null = null;
  if (rate > 0) {
    if (!rt.config.kafkaBrokers) throw new UsageError('--feature-log-rate needs TESSERA_KAFKA_BROKERS (the served topic)');
    await rt.ensureTopics();
    featureLog = createFeatureLog({ log: rt.log(), topic: rt.topics.served(), rate, metrics: rt.metrics, logger: rt.logger });
  }
  const server = await startRankService(
    {
      reader,
      scorers,
      metrics: rt.metrics,
      logger: rt.logger,
      popularityFallback: ctx.values['no-fallback'] !== true,
      limits: {
        maxCandidates: numberOption(ctx, 'max-candidates', RANK_DEFAULTS.maxCandidates, { min: 1 }),
        maxBodyBytes: numberOption(ctx, 'max-body-bytes', RANK_DEFAULTS.maxBodyBytes, { min: 1024 }),
        featureTimeoutMs: numberOption(ctx, 'feature-timeout-ms', RANK_DEFAULTS.featureTimeoutMs, { min: 1 }),
      },
      ...(featureLog ? { onServed: featureLog.onServed } : {}),
      ...(watcher ? { ready: () => (watcher as ModelWatcher).ready } : {}),
      warmUp: { requests: numberOption(ctx, 'warm-up-requests', SERVE_WARM_UP_REQUESTS, { min: 0 }), candidates: Math.min(200, numberOption(ctx, 'max-candidates', RANK_DEFAULTS.maxCandidates, { min: 1 })) },
      ...(isServeWorker() ? { renderMetrics: workerMetrics(rt.metrics, () => rt.metrics.render()) } : {}),
    },
    numberOption(ctx, 'port', 8080, { min: 0 }),
    stringOption(ctx, 'host') ?? '127.0.0.1',
  );
  const address = server.address();
  if (isServeWorker()) announceListening(typeof address === 'object' && address ? address.port : 0, watcher?.version ?? null);
  else ctx.stdout.write(`serving on http://${stringOption(ctx, 'host') ?? '127.0.0.1'}:${typeof address === 'object' && address ? address.port : '?'} (model ${modelName}${watcher?.version ? ` ${watcher.version}` : ', popularity until one is published'})\n`);
  await stopRequested;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  watcher?.stop();
  await reloadThread?.close();
  await featureLog?.close();
  return 0;
}
