/**
 * Issue 3 benchmark: the streaming layer on the real broker and Redis with the reference feature
 * set: sustained events/s end to end (Kafka -> decode -> dedupe -> tiles -> one fenced Lua update
 * per batch), p50/p99 freshness from produce to visible in Redis at half that rate, and the
 * reader's p50/p99 for 1 user + 200 items; beside, in the same run, Kafka's ConsumerPerformance
 * on the same topics and redis-benchmark with pipelining.
 *
 *   bash bench/run.sh stream [--events 1000000]
 */
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { commandLatency, type CommandLatency } from './tools/redis-latency.js';
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createKafkaEventLog } from '../src/adapters/kafka/kafka-event-log.js';
import { createRedisOnlineStore } from '../src/adapters/redis/redis-online-store.js';
import type { AnyEvent } from '../src/events/event-types.js';
import { topicSpecs } from '../src/events/topics.js';
import { generateEvents } from '../src/ingest/generator.js';
import { createEventProducer } from '../src/ingest/producer.js';
import { Metrics } from '../src/observability/metrics.js';
import { SILENT_LOGGER } from '../src/ports/logger.js';
import { FeatureReader } from '../src/serving/feature-reader.js';
import { createStreamKeys } from '../src/streaming/stream-keys.js';
import { startStream } from '../src/streaming/stream-processor.js';
import { GROUPS, projectRegistry, projectTopics } from './project.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '4' },
    'fresh-seconds': { type: 'string', default: '20' },
    /** Records per atomic apply (maxApplyRecords, batches of 2000) to compare on the same log (issue 13: one apply must not hold Redis for long). */
    'apply-batches': { type: 'string', default: '2000,250,100,50' },
    /** Events of the log each apply-batch run streams. */
    'apply-events': { type: 'string', default: '300000' },
    out: { type: 'string' },
  },
});
const target = Number(values.events);
const partitions = Number(values.partitions);
const brokers = (process.env.TESSERA_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const redisUrl = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:16379';
const redisPort = new URL(redisUrl).port;
const libs = process.env.TESSERA_TEST_KAFKA_LIBS;
if (!libs) throw new Error('run through bench/run.sh');

const log = createKafkaEventLog({ brokers, clientId: 'tessera-bench', logger: SILENT_LOGGER });
const store = createRedisOnlineStore({ url: redisUrl });
const registry = projectRegistry();
const groups = GROUPS;
const prefix = `benchst${Date.now().toString(36)}`;
const topics = projectTopics(prefix);
await log.ensureTopics(topicSpecs(topics, partitions));
const producer = createEventProducer({ log, registry, topics, clock: Date.now });
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

// 1. load the log (not timed)
let produced = 0;
let batch: AnyEvent[] = [];
for (const rec of generateEvents({ users: 20_000, items: 100_000, events: Math.ceil(target * 0.93), seed: 3 })) {
  batch.push(rec.event);
  if (batch.length === 10_000) {
    produced += (await producer.send(batch)).sent;
    batch = [];
  }
}
produced += (await producer.send(batch)).sent;
console.error(`loaded ${produced} events`);

// 2. sustained throughput: catch up on the whole log
const keys = createStreamKeys(prefix, 'bench');
const metrics = new Metrics();
let lastApplied = 0;
const t0 = performance.now();
await startStream(
  { log, store, registry, topics, keys, groups, logger: SILENT_LOGGER, metrics, clock: Date.now },
  { groupId: 'bench-stream', untilIdle: true, idleMs: 1000, onBatchApplied: () => void (lastApplied = performance.now()) },
).done;
const streamSecs = (lastApplied - t0) / 1000;
const applied = metrics.total('tessera_stream_events_applied_total') + metrics.total('tessera_stream_duplicates_total') + metrics.total('tessera_stream_late_events_total');
const sustained = applied / streamSecs;
console.error(`stream: ${applied} events in ${streamSecs.toFixed(1)} s = ${Math.round(sustained)}/s`);
const info = execFileSync('redis-cli', ['-p', redisPort, 'info', 'memory'], { encoding: 'utf8' });
const usedMemory = Number(/used_memory:(\d+)/.exec(info)?.[1]);

// 2b. the time one apply holds Redis, by records per apply (batches of 2000 records cut into
// applies of maxApplyRecords, pipelined): the same first events of the log
// streamed again into a fresh namespace per size, with Redis's own histogram of EVALSHA (the
// apply script; reads use EVAL) reset before each
const admin = new Redis(redisUrl);
const applyRuns: ({ maxApplyRecords: number; events: number; seconds: number; eventsPerSec: number } & CommandLatency)[] = [];
for (const size of String(values['apply-batches']).split(',').map(Number).filter((n) => n > 0)) {
  const runMetrics = new Metrics();
  const limit = Number(values['apply-events']);
  let runLast = 0;
  const sub = startStream(
    { log, store, registry, topics, keys: createStreamKeys(prefix, `apply${size}`), groups, logger: SILENT_LOGGER, metrics: runMetrics, clock: Date.now },
    {
      groupId: `bench-apply-${size}`,
      untilIdle: true,
      idleMs: 1000,
      maxBatchRecords: 2000,
      maxApplyRecords: size,
      onBatchApplied: () => {
        runLast = performance.now();
        if (runMetrics.total('tessera_stream_events_applied_total') >= limit) void sub.stop();
      },
    },
  );
  await admin.call('CONFIG', 'RESETSTAT');
  const s0 = performance.now();
  await sub.done;
  const lat = await commandLatency(admin, 'evalsha');
  const n = runMetrics.total('tessera_stream_events_applied_total') + runMetrics.total('tessera_stream_duplicates_total');
  applyRuns.push({ maxApplyRecords: size, events: n, seconds: Math.round((runLast - s0) / 10) / 100, eventsPerSec: Math.round(n / ((runLast - s0) / 1000)), ...lat });
  console.error(`apply batch ${size}: ${JSON.stringify(applyRuns.at(-1))}`);
  await store.deleteByPrefix(`${prefix}:apply${size}:`);
}
admin.disconnect();

// 3. freshness at half the sustained rate: a live consumer, a paced producer, produce -> applied
const freshTopics = projectTopics(`${prefix}f`);
await log.ensureTopics(topicSpecs(freshTopics, partitions));
const freshProducer = createEventProducer({ log, registry, topics: freshTopics, clock: Date.now });
const freshness: number[] = [];
const live = startStream(
  { log, store, registry, topics: freshTopics, keys: createStreamKeys(prefix, 'fresh'), groups, logger: SILENT_LOGGER, metrics: new Metrics(), clock: Date.now },
  {
    groupId: 'bench-fresh',
    maxBatchRecords: 2000,
    onBatchApplied: (b) => {
      const now = Date.now();
      for (const r of b.records) freshness.push(now - r.timestamp);
    },
  },
);
live.done.catch((err: unknown) => console.error('fresh consumer failed:', err));
await new Promise((r) => setTimeout(r, 3000)); // let the group form
const rate = sustained / 2;
const freshSecs = Number(values['fresh-seconds']);
// activity only (profiles are not stream sources), event times around now
const gen = (function* () {
  for (const r of generateEvents({ users: 20_000, items: 100_000, events: Math.ceil(rate * freshSecs), seed: 4, start: Date.now() - 600_000, days: 1 })) {
    if (r.event.type !== 'item_profile' && r.event.type !== 'user_profile') yield r;
  }
})();
const tickMs = 50;
const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
const fStart = Date.now();
let sentFresh = 0;
for (let tick = 0; Date.now() - fStart < freshSecs * 1000; tick++) {
  const slice: AnyEvent[] = [];
  for (let i = 0; i < perTick; i++) {
    const n = gen.next();
    if (n.done) break;
    slice.push(n.value.event);
  }
  if (slice.length === 0) break;
  sentFresh += (await freshProducer.send(slice)).sent;
  const wait = fStart + (tick + 1) * tickMs - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
await new Promise((r) => setTimeout(r, 2000));
await live.stop();
console.error(`freshness: ${freshness.length} events at ~${Math.round(rate)}/s`);

// 4. reader: 1 user + 200 items, sequential requests
const reader = new FeatureReader({ store, keys, groups, clock: Date.now });
const latencies: number[] = [];
for (let i = 0; i < 2000; i++) {
  const items = Array.from({ length: 200 }, (_, j) => ({ itemId: `i${(i * 37 + j * 101) % 100_000}`, categoryId: `c${j % 50}` }));
  const s = performance.now();
  await reader.readRequest({ userId: `u${i % 20_000}`, items, at: 'watermark' });
  latencies.push(performance.now() - s);
}

// 5. ceilings in the same run
// ConsumerPerformance reads one topic: the impression topic, the largest, same broker, same run
const impressions = (await log.endOffsets(topics.events('impression'))).reduce((a, p) => a + p.offset, 0);
const consLines = execFileSync('java', ['-Xmx1g', '-cp', `${libs}/*`, 'org.apache.kafka.tools.ConsumerPerformance', '--bootstrap-server', brokers.join(','), '--topic', topics.events('impression'), '--messages', String(impressions), '--timeout', '60000'], { encoding: 'utf8' }).trim().split('\n');
const consRate = Number((consLines[consLines.length - 1] ?? '').split(',')[5]);
const rb = execFileSync('redis-benchmark', ['-p', redisPort, '-n', '2000000', '-P', '64', '-t', 'hset,zadd', '-q', '--csv'], { encoding: 'utf8' });
const rbRates = Object.fromEntries(rb.trim().split('\n').slice(1).map((l) => l.split(',').map((x) => x.replace(/"/g, ''))).map((f) => [f[0], Number(f[1])]));

await store.deleteByPrefix(`${prefix}:`);
await log.deleteTopics([...topicSpecs(topics, partitions), ...topicSpecs(freshTopics, partitions)].map((s) => s.name));
await store.close();
await log.close();

const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? ''}`.trim(),
  events: produced,
  partitions,
  sustained: { seconds: streamSecs, eventsPerSec: sustained, target: 50_000 },
  applyTimeByBatch: { what: 'the same first events of the log streamed per maxApplyRecords setting (batches of 2000); time inside Redis per apply script call (LATENCY HISTOGRAM / INFO commandstats of EVALSHA)', runs: applyRuns },
  freshness: { rate: Math.round(rate), events: freshness.length, sent: sentFresh, p50Ms: pct(freshness, 50), p99Ms: pct(freshness, 99), targetP99Ms: 1000 },
  reader: { requests: latencies.length, items: 200, p50Ms: pct(latencies, 50), p99Ms: pct(latencies, 99), targetP99Ms: 5 },
  redisUsedMemoryMB: Math.round(usedMemory / 2 ** 20),
  ceiling: { consumerPerfRecordsPerSec: consRate, redisBenchmarkP64: rbRates },
};
writeFileSync(values.out ?? new URL('./results/stream.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
