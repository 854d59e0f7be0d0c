/**
 * The ranking service under load (issue 6): real Redis, `tessera serve` (the compiled CLI) in its
 * own process, and the load generator (bench/tools/serve-load.ts) in a second one.
 *
 * 1. Features: generated events produced to Kafka and run through the real stream into Redis (as
 *    bench/reader.ts), under a fresh prefix (the service reads it through TESSERA_TOPIC_PREFIX).
 * 2. Model: an FM trained on impressions of the first 80 % of the log (features read from Redis,
 *    labels from the clicks of the same request and item) and published to a fresh model store.
 * 3. INT8: AUC of the float and the INT8 FM on the last 20 % (held out), and the factor table's
 *    bytes in both forms. The features are read at the stream's watermark, not point in time, so
 *    the absolute AUC is optimistic; the figure that matters is the difference on the same samples.
 * 4. Steady state: 1 user + N candidates per request at a fixed rate (open loop); then the Redis
 *    round-trip floor at the same rate from the load process: the service's very Redis reads for
 *    the same requests (recorded from its own FeatureReader: same keys, repeated refs read once)
 *    sent with the Redis adapter's own encoding (`sendRead`: one MULTI/EXEC, the hashes packed by
 *    one EVAL), replies neither unpacked nor decoded. It is the cheapest one-round-trip read of
 *    that data we know (a MULTI of one HGETALL per hash costs Redis less but its client several
 *    times more), so service p99 minus floor p99 is what the service itself adds. CPU per request
 *    of the service, of Redis and of the load process is reported for every phase.
 * 5. Reloads: `--reloads` new versions published (full snapshots, model.bin + weights.kv, cycling
 *    through a few differently trained models), each once the previous one serves and at most one per
 *    `--reload-every-ms`, while the same load runs; p99 while reloading beside the steady p99.
 *    Memory: once each version serves, the service's RSS (/proc) and the memory it retains after
 *    full GCs (its `tessera_serve_heap_after_gc_bytes` and `..._array_buffers_after_gc_bytes`
 *    gauges, sampled by V8's GC observer right after each mark-compact, so garbage is not counted);
 *    the trend is the least-squares slope over reloads 10..N (MB per 100 reloads), the first ones
 *    being warm-up.
 *    `--reload-in worker|event-loop` chooses where the service prepares versions (A/B of the reload
 *    worker), `--reload-nice` the worker thread's nice value.
 * 6. The same steady load once an INT8 version (manifest `quantize: int8`) is serving.
 *
 *   npm run build && bash bench/run.sh serve [--events 200000] [--rate 500] [--seconds 30] [--reloads 100] [--reload-every-ms 400]
 */
import { execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createFsModelStore } from '../src/adapters/fs/fs-model-store.js';
import { createKafkaEventLog } from '../src/adapters/kafka/kafka-event-log.js';
import { createRedisOnlineStore } from '../src/adapters/redis/redis-online-store.js';
import type { ReferenceEvent, TypedEvent } from '../src/events/event-types.js';
import { topicSpecs } from '../src/events/topics.js';
import { generateEvents } from '../src/ingest/generator.js';
import { createEventProducer } from '../src/ingest/producer.js';
import { createFm } from '../src/models/fm.js';
import { QuantizedFm } from '../src/models/quantized-model.js';
import { encodeModel, keyValueLines } from '../src/models/serialization.js';
import { Metrics } from '../src/observability/metrics.js';
import { SILENT_LOGGER } from '../src/ports/logger.js';
import type { ModelFile } from '../src/ports/model-store.js';
import type { Sample } from '../src/samples/sample.js';
import { FeatureReader } from '../src/serving/feature-reader.js';
import { createStreamKeys } from '../src/streaming/stream-keys.js';
import { startStream } from '../src/streaming/stream-processor.js';
import { auc } from '../src/training/evaluation.js';
import { createFeatureTransform } from '../src/training/feature-transform.js';
import { publishModel } from '../src/training/publication.js';
import { GROUPS, PROJECT_ENV, projectRegistry, projectTopics } from './project.js';
import { commandLatency } from './tools/redis-latency.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    users: { type: 'string', default: '20000' },
    items: { type: 'string', default: '50000' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '30' },
    candidates: { type: 'string', default: '200' },
    reloads: { type: 'string', default: '100' },
    'reload-every-ms': { type: 'string', default: '400' },
    'train-samples': { type: 'string', default: '60000' },
    out: { type: 'string' },
    /** Service processes (tessera serve --workers). */
    workers: { type: 'string', default: '1' },
    /** Events/s the stream applies during the phase "steady while the stream writes" (0 skips it). */
    'stream-rate': { type: 'string', default: '10000' },
    /** tessera stream --max-apply in that phase (records per apply script); default the stream's own. */
    'stream-max-apply': { type: 'string' },
    /** Rate of the overload phase that measures how many requests/s the service answers at most (0 skips it). */
    'capacity-rate': { type: 'string', default: '1500' },
    /** Where the service prepares a new version (tessera serve --reload-in): worker or event-loop. */
    'reload-in': { type: 'string', default: 'worker' },
    /** tessera serve --reload-nice: the reload worker's nice value (Linux). */
    'reload-nice': { type: 'string', default: '19' },
    /** Extra node flags for the service process, e.g. --server-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof" (development). */
    'server-node-args': { type: 'string', default: '' },
  },
});
const num = (k: keyof typeof values) => Number(values[k]);
const [target, users, items, rate, seconds, candidates, reloads, reloadEveryMs, trainSamples] = (
  ['events', 'users', 'items', 'rate', 'seconds', 'candidates', 'reloads', 'reload-every-ms', 'train-samples'] as const
).map(num) as [number, number, number, number, number, number, number, number, number];
const categories = 50;
const workers = Number(values.workers);
const streamRate = Number(values['stream-rate']);
const capacityRate = Number(values['capacity-rate']);
const brokers = (process.env.TESSERA_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const redisUrl = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:16379';
const root = fileURLToPath(new URL('..', import.meta.url));
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const say = (s: string) => process.stderr.write(`[serve-bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A TCP port nothing listens on right now. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
/** Least-squares slope of y over x. */
const slope = (xs: number[], ys: number[]): number => {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => ((num += (x - mx) * ((ys[i] as number) - my)), (den += (x - mx) ** 2)));
  return den === 0 ? NaN : num / den;
};
/** The memory samples of reloads first..last: each series' first and last value and its slope per 100 reloads. */
const trend = (samples: { reload: number; rssMb: number; heapAfterGcMb: number; arrayBuffersAfterGcMb: number; fullGcs: number }[]) => {
  const x = samples.map((m) => m.reload);
  const series = (k: 'rssMb' | 'heapAfterGcMb' | 'arrayBuffersAfterGcMb') => {
    const y = samples.map((m) => m[k]);
    // medians of the first and the last ten samples: a sawtooth (GC, allocator) moves single samples a lot
    return { first: y[0] ?? NaN, last: y.at(-1) ?? NaN, min: Math.min(...y), max: Math.max(...y), firstTenMedian: median(y.slice(0, 10)), lastTenMedian: median(y.slice(-10)), mbPer100Reloads: r3(slope(x, y) * 100) };
  };
  return { reloads: [x[0] ?? NaN, x.at(-1) ?? NaN], fullGcs: (samples.at(-1)?.fullGcs ?? 0) - (samples[0]?.fullGcs ?? 0), rss: series('rssMb'), heapAfterGc: series('heapAfterGcMb'), arrayBuffersAfterGc: series('arrayBuffersAfterGcMb') };
};

const prefix = `benchsv${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-serve-'));
const modelDir = join(dir, 'models');
const groups = GROUPS;
const transform = createFeatureTransform(groups);
const online = createRedisOnlineStore({ url: redisUrl });
const keys = createStreamKeys(prefix);

// 1. features through the real stream
say(`populating Redis: ${target} impressions through Kafka and the stream (prefix ${prefix})`);
const events: ReferenceEvent[] = [];
for (const rec of generateEvents({ users, items, events: target, seed: 11, categories })) if (rec.event.type !== 'item_profile' && rec.event.type !== 'user_profile') events.push(rec.event);
{
  const log = createKafkaEventLog({ brokers, clientId: 'tessera-bench-serve', logger: SILENT_LOGGER });
  const registry = projectRegistry();
  const topics = projectTopics(prefix);
  await log.ensureTopics(topicSpecs(topics, 4));
  const producer = createEventProducer({ log, registry, topics, clock: Date.now });
  for (let i = 0; i < events.length; i += 10_000) await producer.send(events.slice(i, i + 10_000));
  await startStream({ log, store: online, registry, topics, keys, groups, logger: SILENT_LOGGER, metrics: new Metrics(), clock: Date.now }, { groupId: `${prefix}-stream`, untilIdle: true, idleMs: 1000 }).done;
  await log.deleteTopics(topicSpecs(topics, 4).map((s) => s.name));
  await log.close();
}

// 2. samples: impressions (in log order) with features read from Redis, labels from clicks
say('building samples');
const clicked = new Set(events.filter((e) => e.type === 'click').map((e) => `${e.requestId}|${e.itemId}`));
const impressions = events.filter((e): e is TypedEvent<'impression'> => e.type === 'impression');
const wanted = impressions.slice(0, Math.min(impressions.length, Math.round(trainSamples / 0.8)));
const byRequest = new Map<string, typeof wanted>();
for (const e of wanted) byRequest.set(e.requestId, [...(byRequest.get(e.requestId) ?? []), e]);
const reader = new FeatureReader({ store: online, keys, groups, clock: Date.now });
const samples: Sample[] = [];
for (const slate of byRequest.values()) {
  const first = slate[0] as (typeof slate)[number];
  const f = await reader.readRequest({ userId: first.userId, items: slate.map((e) => ({ itemId: e.itemId, categoryId: e.categoryId })), context: first.context, at: 'watermark' });
  const shared = Object.assign({}, ...f.shared.map((x) => x.values));
  slate.forEach((e, k) => {
    const it = f.items[k] as (typeof f.items)[number];
    // the request groups' values (the user's), the candidate's groups' (item, user x category when it has a category), the context
    const own = Object.assign({}, ...it.entities.map((x) => x?.values ?? {}));
    samples.push({
      impressionId: e.eventId, requestId: e.requestId, userId: e.userId, itemId: e.itemId, categoryId: e.categoryId, position: e.position, eventTime: e.eventTime, context: e.context,
      clickLabel: clicked.has(`${e.requestId}|${e.itemId}`) ? 1 : 0, orderLabel: 0,
      features: { ...shared, ...own, ...f.context },
    });
  });
}
samples.sort((a, b) => a.eventTime - b.eventTime);
const cut = Math.floor(samples.length * 0.8);
const train = transform.samplesBatch(samples.slice(0, cut));
const held = transform.samplesBatch(samples.slice(cut));

// 3. the model, its INT8 form, and the versions the reload experiment will publish
say(`training FM on ${train.size} samples, ${held.size} held out`);
const fm = createFm(transform.schema);
fm.learn(train);
const floatPred = fm.predict(held);
const q = new QuantizedFm(fm);
const int8Pred = q.predict(held);
let maxAbsDiff = 0;
for (let i = 0; i < held.size; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs((floatPred[i] as number) - (int8Pred[i] as number)));
const aucFloat = auc(floatPred, held.labels);
const aucInt8 = auc(int8Pred, held.labels);
const store = createFsModelStore(modelDir);
const first = await publishModel(store, { model: fm, name: 'fm', featureSpecHash: transform.spec.hash, parent: null, delta: false, data: { samples: train.size, from: null, to: null }, metrics: { auc: aucFloat } });
// a few differently trained snapshots to cycle through (encoding once: the publisher's CPU is not the service's)
const snapshots: ModelFile[][] = [];
for (let s = 0; s < 4; s++) {
  fm.learn(transform.samplesBatch(samples.slice(cut + Math.floor(((samples.length - cut) * s) / 4), cut + Math.floor(((samples.length - cut) * (s + 1)) / 4))));
  snapshots.push([
    { name: 'model.bin', data: encodeModel(fm) },
    { name: 'weights.kv', data: Buffer.from([...keyValueLines(fm, fm.changedSince(-1))].join('\n') + '\n', 'utf8') },
  ]);
}
const modelBytes = (snapshots[0] as ModelFile[]).map((f) => ({ name: f.name, bytes: f.data.length }));

// 4. the service (compiled CLI) and the load generator, each in its own process
say('starting tessera serve');
const server = spawn(process.execPath, [...(values['server-node-args'] ?? '').split(' ').filter(Boolean), join(root, 'bin/tessera.js'), 'serve', '--port', '0', '--model', 'fm', '--poll-ms', '100', '--workers', String(workers), '--reload-in', String(values['reload-in']), '--reload-nice', String(values['reload-nice'])], {
  cwd: root,
  env: { ...process.env, ...PROJECT_ENV, TESSERA_REDIS_URL: redisUrl, TESSERA_MODEL_DIR: modelDir, TESSERA_TOPIC_PREFIX: prefix, TESSERA_KAFKA_BROKERS: '', TESSERA_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    const m = /serving on (http:\/\/[^\s]+)/.exec(out);
    if (m) resolve(m[1] as string);
  });
  server.on('exit', (code) => reject(new Error(`tessera serve exited with ${code}: ${out}`)));
});
/** The service's processes: the one spawned and, with --workers, its workers. */
const servicePids = (): number[] => {
  if (workers === 1) return [server.pid as number];
  let children: number[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(server.pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    // none (yet)
  }
  return [server.pid as number, ...children];
};
const procRssMb = (pid: number): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
};
/** Resident memory of every service process together, MB. */
const rssMb = (): number => Math.round(servicePids().reduce((a, pid) => a + procRssMb(pid), 0) * 10) / 10;
// CPU spent by the service process (/proc) and by Redis (INFO cpu) during a phase, per request:
// on a 2-core machine this says which side cannot carry the rate
const redisAdmin = new Redis(redisUrl);
const clockTicks = 100; // USER_HZ on Linux
const procCpuMs = (pid: number): number => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks;
  } catch {
    return 0;
  }
};
/** CPU of every service process (workers included; a worker that exited is no longer counted). */
const serverCpuMs = (): number => servicePids().reduce((a, pid) => a + procCpuMs(pid), 0);
/** Bytes Redis sent and received in total (INFO stats). */
const redisNetBytes = async (): Promise<{ out: number; in: number }> => {
  const info = await redisAdmin.info('stats');
  return { out: Number(/total_net_output_bytes:(\d+)/.exec(info)?.[1] ?? NaN), in: Number(/total_net_input_bytes:(\d+)/.exec(info)?.[1] ?? NaN) };
};
const redisCpuMs = async (): Promise<number> => {
  const info = await redisAdmin.info('cpu');
  const v = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return (v('used_cpu_sys') + v('used_cpu_user')) * 1000;
};
const scrape = async (): Promise<string> => (await fetch(`${url}/metrics`)).text();
const metricValue = (text: string, name: string, label = ''): number => {
  const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(label));
  return line ? Number(line.split(' ').at(-1)) : 0;
};
/** The version a one-candidate request is ranked with ('' while the service answers otherwise, e.g. 503 under overload). */
const servingVersion = async (): Promise<string> => {
  const res = await fetch(`${url}/v1/rank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'u1', candidates: ['i1'], at: 'watermark' }) });
  return ((await res.json()) as { model?: { version?: string } }).model?.version ?? '';
};
while ((await servingVersion()) !== first.version) await sleep(100);

const load = fork(join(root, 'bench/tools/serve-load.ts'), [], { env: { ...process.env, ...PROJECT_ENV }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const waitFor = (type: string) =>
  new Promise<Record<string, unknown>>((resolve, reject) => {
    const on = (m: Record<string, unknown>) => {
      if (m.type === 'error') reject(new Error(String(m.message)));
      if (m.type !== type) return;
      load.off('message', on);
      resolve(m);
    };
    load.on('message', on);
  });
/** The service's histogram of per-second longest event-loop delays (cumulative bucket counts by bound, seconds). */
const loopDelayBuckets = async (): Promise<Map<number, number>> => {
  const out = new Map<number, number>();
  for (const line of (await scrape()).split('\n')) {
    const m = /^tessera_serve_event_loop_delay_max_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)/.exec(line);
    if (m === null) continue;
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    out.set(le, (out.get(le) ?? 0) + Number(m[2]));
  }
  return out;
};
/** Over a phase: how many seconds had their longest event-loop delay above 20 ms and above 50 ms, and the bound of the worst. */
const loopDelaySummary = (a: Map<number, number>, b: Map<number, number>) => {
  const bounds = [...b.keys()].sort((x, y) => x - y);
  const at = (le: number) => (b.get(le) ?? 0) - (a.get(le) ?? 0);
  const seconds = at(Infinity);
  const above = (ms: number) => seconds - at(bounds.find((x) => x >= ms / 1000) ?? Infinity);
  const worst = bounds.find((x) => at(x) === seconds) ?? Infinity;
  return { seconds, over20ms: above(20), over50ms: above(50), worstAtMostMs: worst * 1000, what: "the service's per-second longest event-loop delay (tessera_serve_event_loop_delay_max_seconds) over the phase" };
};
const run = async (type: 'http' | 'floor', phase: string, secs: number, extra: { warmupSeconds?: number; rate?: number } = {}): Promise<Record<string, unknown>> => {
  const done = waitFor('result');
  const loop0 = await loopDelayBuckets();
  const [s0, r0, n0] = [serverCpuMs(), await redisCpuMs(), await redisNetBytes()];
  load.send({ type, phase, seconds: secs, ...extra });
  const { type: _t, ...rest } = (await done) as Record<string, number>;
  const [s1, r1, n1] = [serverCpuMs(), await redisCpuMs(), await redisNetBytes()];
  const loop1 = await loopDelayBuckets();
  const sent = (rest.sent as number) + (rest.warmupSent as number);
  return {
    ...rest,
    eventLoopDelay: loopDelaySummary(loop0, loop1),
    cpuMsPerRequest: { service: r3((s1 - s0) / sent), redis: r3((r1 - r0) / sent), note: 'process CPU over the phase and its warm-up, divided by the requests of both' },
    redisBytesPerRequest: { sent: Math.round((n1.out - n0.out) / sent), received: Math.round((n1.in - n0.in) / sent), note: "Redis's network bytes over the phase (every client's) divided by the requests" },
  };
};
const hello = waitFor('hello');
await hello;
const ready = waitFor('ready');
load.send({ type: 'init', url, redisUrl, prefix, users, items, categories, candidates, rate });
await ready;

try {
  // right after readiness, every request counted (no warm-up of the load generator's): the cold start
  for (let waited = 0; waited < 120_000 && (await fetch(`${url}/readyz`)).status !== 200; waited += 100) await sleep(100);
  say(`cold start: ${rate} requests/s right after /readyz, no warm-up, 10 s`);
  const cold = await run('http', 'cold', 10, { warmupSeconds: 0 });
  say(`cold: ${JSON.stringify(cold)}`);
  say(`steady state: ${rate} requests/s x ${candidates} candidates for ${seconds} s`);
  const rssBeforeSteady = rssMb();
  await redisAdmin.call('CONFIG', 'RESETSTAT');
  const steady = await run('http', 'steady', seconds);
  const readScriptIdle = await commandLatency(redisAdmin, 'eval');
  say(`steady: ${JSON.stringify(steady)}`);
  say('Redis round-trip floor at the same rate');
  const floor = await run('floor', 'floor', Math.min(seconds, 20));
  say(`floor: ${JSON.stringify(floor)}`);

  // (b) the same load while `tessera stream` applies streamRate events/s from Kafka
  let withStream: Record<string, unknown> | null = null;
  if (streamRate > 0) {
    const log = createKafkaEventLog({ brokers, clientId: 'tessera-bench-serve-stream', logger: SILENT_LOGGER });
    const topics = projectTopics(prefix);
    await log.ensureTopics(topicSpecs(topics, 4));
    const metricsPort = await freePort();
    const streamMetricsUrl = `http://127.0.0.1:${metricsPort}`;
    const streamArgs = ['stream', '--metrics-port', String(metricsPort), '--group', `${prefix}-live`, ...(values['stream-max-apply'] ? ['--max-apply', values['stream-max-apply']] : [])];
    const streamProc = spawn(process.execPath, [join(root, 'bin/tessera.js'), ...streamArgs], {
      cwd: root,
      env: { ...process.env, ...PROJECT_ENV, TESSERA_REDIS_URL: redisUrl, TESSERA_TOPIC_PREFIX: prefix, TESSERA_KAFKA_BROKERS: brokers.join(','), TESSERA_LOG_LEVEL: 'warn', TESSERA_PARTITIONS: '4' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const streamCpuMs = () => procCpuMs(streamProc.pid as number);
    const producer = createEventProducer({ log, registry: projectRegistry(), topics, clock: Date.now });
    // the events continue the populated week in event time (the stream's watermark is at its end)
    const start = events.reduce((m, e) => Math.max(m, e.eventTime), -Infinity) + 1;
    const phaseSecs = seconds + 2;
    const gen = generateEvents({ users, items, events: Math.ceil(streamRate * (phaseSecs + 10) * 0.8), seed: 12, categories, start, days: 1 })[Symbol.iterator]();
    const tickMs = 50;
    const perTick = Math.round((streamRate * tickMs) / 1000);
    let producing = true;
    let produced = 0;
    const producerDone = (async () => {
      const t0 = Date.now();
      for (let tick = 0; producing; tick++) {
        const slice: ReferenceEvent[] = [];
        while (slice.length < perTick) {
          const n = gen.next();
          if (n.done) break;
          if (n.value.event.type !== 'item_profile' && n.value.event.type !== 'user_profile') slice.push(n.value.event as ReferenceEvent);
        }
        if (slice.length === 0) break;
        produced += (await producer.send(slice)).sent;
        const wait = t0 + (tick + 1) * tickMs - Date.now();
        if (wait > 0) await sleep(wait);
      }
    })();
    await sleep(4000); // the stream joins its group and catches up with the first seconds
    const applied = async (): Promise<number> => {
      try {
        const text = await (await fetch(`${streamMetricsUrl}/metrics`)).text();
        return text.split('\n').filter((l) => l.startsWith('tessera_stream_events_applied_total')).reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);
      } catch {
        return NaN;
      }
    };
    const a0 = await applied();
    const c0 = streamCpuMs();
    const p0 = produced;
    const t0 = performance.now();
    await redisAdmin.call('CONFIG', 'RESETSTAT');
    say(`steady while the stream applies ~${streamRate} events/s: ${rate} requests/s for ${seconds} s`);
    const phase = await run('http', 'steady-with-stream', seconds);
    const elapsed = (performance.now() - t0) / 1000;
    const applyScript = await commandLatency(redisAdmin, 'evalsha');
    const readScript = await commandLatency(redisAdmin, 'eval');
    const a1 = await applied();
    const c1 = streamCpuMs();
    const p1 = produced;
    producing = false;
    await producerDone;
    streamProc.kill('SIGTERM');
    await new Promise((r) => streamProc.once('exit', r));
    await log.deleteTopics(topicSpecs(topics, 4).map((t) => t.name));
    await log.close();
    withStream = {
      ...phase,
      stream: {
        producedPerSecond: Math.round((p1 - p0) / elapsed),
        appliedPerSecond: Math.round((a1 - a0) / elapsed),
        streamCpuShare: r3((c1 - c0) / 1000 / elapsed),
        maxApplyRecords: values['stream-max-apply'] ?? 'the stream default',
        applyScriptInRedis: applyScript,
        readScriptInRedis: readScript,
      },
      targetP99Ms: 10,
    };
    say(`with stream: ${JSON.stringify(withStream)}`);
  }

  say(`reloads: ${reloads} versions, one every ${reloadEveryMs} ms, under the same load`);
  const before = await scrape();
  const loadedBefore = metricValue(before, 'tessera_serve_model_reloads_total', 'outcome="loaded"');
  const reloadsBefore = loadedBefore + metricValue(before, 'tessera_serve_model_reloads_total', 'outcome="refused"');
  const rss: number[] = [];
  const rssStart = rssMb();
  const sampler = setInterval(() => rss.push(rssMb()), 250);
  // memory at the same point of every reload cycle: right after the version serves
  const memory: { reload: number; rssMb: number; heapAfterGcMb: number; arrayBuffersAfterGcMb: number; fullGcs: number }[] = [];
  // the load runs until every version has been loaded (a stop message), at most this long
  const reloading = run('http', 'reloading', (reloads * Math.max(reloadEveryMs, 5000)) / 1000 + 60);
  await sleep(2500); // the load generator's warm-up
  const publishedAt: number[] = [];
  const loadMs: number[] = [];
  /** Per reload, the service's time on its serving thread (worker mode: wrapping the handed-over arrays). */
  const eventLoopMs: number[] = [];
  let last = first.version;
  for (let v = 0; v < reloads; v++) {
    const t = performance.now();
    const m = await store.publish('fm', snapshots[v % snapshots.length] as ModelFile[], { kind: 'fm', featureSpecHash: transform.spec.hash, type: 'full', parent: last, data: { samples: train.size, from: null, to: null }, metrics: {}, config: { schemaHash: fm.schemaHash, mark: fm.mark() } });
    last = m.version;
    publishedAt.push(performance.now() - t);
    // one reload per version: the next is published once this one serves (or was refused)
    for (let waited = 0; waited < 30_000; waited += 50) {
      const text = await scrape();
      const n = metricValue(text, 'tessera_serve_model_reloads_total', 'outcome="loaded"') + metricValue(text, 'tessera_serve_model_reloads_total', 'outcome="refused"');
      if (n >= reloadsBefore + v + 1) {
        const mb = (name: string) => r3(metricValue(text, name) / 2 ** 20);
        if (values['reload-in'] === 'worker') eventLoopMs.push(metricValue(text, 'tessera_serve_model_load_event_loop_ms'));
        memory.push({ reload: v + 1, rssMb: rssMb(), heapAfterGcMb: mb('tessera_serve_heap_after_gc_bytes'), arrayBuffersAfterGcMb: mb('tessera_serve_array_buffers_after_gc_bytes'), fullGcs: metricValue(text, 'tessera_serve_full_gcs_total') });
        break;
      }
      await sleep(50);
    }
    loadMs.push(performance.now() - t);
    if (v % 10 === 9) await store.prune('fm', 10);
    await sleep(Math.max(0, reloadEveryMs - (performance.now() - t)));
  }
  load.send({ type: 'stop' });
  const reload = await reloading;
  clearInterval(sampler);
  while ((await servingVersion()) !== last) await sleep(100);
  await sleep(2000);
  const rssEnd = rssMb();
  const after = await scrape();
  const loaded = metricValue(after, 'tessera_serve_model_reloads_total', 'outcome="loaded"') - loadedBefore;
  const refused = metricValue(after, 'tessera_serve_model_reloads_total', 'outcome="refused"');
  const memoryTrend = trend(memory.filter((m) => m.reload >= Math.min(10, reloads)));
  say(`reloading: ${JSON.stringify(reload)}; loaded ${loaded}, refused ${refused}; RSS ${rssStart} -> ${rssEnd} MB (max ${Math.max(...rss)}); memory over reloads: ${JSON.stringify(memoryTrend)}`);

  say('INT8: publishing the same model with quantize int8, then the steady load again');
  const int8V = await publishModel(store, { model: fm, name: 'fm', featureSpecHash: transform.spec.hash, parent: null, delta: false, data: { samples: train.size, from: null, to: null }, metrics: {}, serving: { quantize: 'int8' } });
  while ((await servingVersion()) !== int8V.version) await sleep(100);
  const steadyInt8 = await run('http', 'steady-int8', seconds);
  say(`steady int8: ${JSON.stringify(steadyInt8)}`);
  const rssInt8 = rssMb();
  let capacity: Record<string, unknown> | null = null;
  if (capacityRate > 0) {
    say(`capacity: ${capacityRate} requests/s offered (more than the service answers) for 10 s`);
    capacity = await run('http', 'capacity', 10, { rate: capacityRate });
    say(`capacity: ${JSON.stringify(capacity)}`);
  }

  const result = {
    date: new Date().toISOString(),
    machine: `${cpus().length} cores, ${cpus()[0]?.model ?? ''}`.trim(),
    node: process.version,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    setup: {
      events: events.length,
      users,
      items,
      candidatesPerRequest: candidates,
      rate,
      seconds,
      processes: 'tessera serve (compiled CLI) | load generator (bench/tools/serve-load.ts, open loop, keep-alive) | this script (publisher)',
      model: { kind: 'fm', factors: fm.config.factors, trainSamples: train.size, heldOut: held.size, files: modelBytes },
    },
    workers,
    coldStart: { ...cold, what: 'right after /readyz turned 200, no warm-up by the load generator: every request counted', target: 'no request above 50 ms' },
    steady: { ...steady, targetP99Ms: 5, rssMb: rssBeforeSteady, readScriptInRedis: readScriptIdle },
    steadyWithStream: withStream,
    capacity: capacity === null ? null : { ...capacity, what: 'an offered rate above what the service answers: answeredPerSecond is its throughput (256 requests in flight at most)' },
    redisFloor: { what: "the service's own Redis reads for the same requests (recorded from its FeatureReader), sent with the Redis adapter's encoding (one MULTI/EXEC, hashes packed by one EVAL), replies not unpacked or decoded, same rate, from the load process", ...floor },
    reload: {
      reloadIn: values['reload-in'],
      reloadNice: Number(values['reload-nice']),
      eventLoopMsPerReload: eventLoopMs.length === 0 ? null : { p50: r3(median(eventLoopMs)), max: r3(Math.max(...eventLoopMs)), what: "the service's own gauge: its serving thread's time per version (the rest ran in the reload worker)" },
      versionsPublished: reloads,
      everyMs: reloadEveryMs,
      loaded,
      refused,
      publishMsP50: r3(median(publishedAt)),
      publishToServingMsP50: r3(median(loadMs)),
      publishToServingMsMax: r3(Math.max(...loadMs)),
      ...reload,
      p99VsSteady: r3((reload.p99Ms as number) / (steady.p99Ms as number)),
      targetRatio: 1.2,
      rssMb: { start: rssStart, end: rssEnd, max: Math.max(...rss), min: Math.min(...rss), samples: rss.length },
      memory: { ...memoryTrend, perReload: memory },
    },
    int8: {
      heldOutSamples: held.size,
      aucFloat: Number(aucFloat.toFixed(6)),
      aucInt8: Number(aucInt8.toFixed(6)),
      aucCost: Number((aucFloat - aucInt8).toFixed(6)),
      targetAucCost: 0.0005,
      maxAbsPredictionDiff: Number(maxAbsDiff.toExponential(3)),
      factorTable: { ...q.memory, valueBytesSaved: q.memory.floatValueBytes - q.memory.int8ValueBytes, valueSavedShare: r3(1 - q.memory.int8ValueBytes / q.memory.floatValueBytes), tableSavedShare: r3(1 - q.memory.int8TableBytes / q.memory.floatTableBytes) },
      serving: { ...steadyInt8, rssMb: rssInt8 },
    },
  };
  writeFileSync(values.out ?? new URL('./results/serve.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
} finally {
  load.send({ type: 'exit' });
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await online.deleteByPrefix(`${prefix}:`);
  await online.close();
  redisAdmin.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
