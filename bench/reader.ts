/**
 * Feature reader latency on its own: populates Redis by streaming generated events through the
 * real stream (Kafka -> stream processor -> Redis, as in bench/stream.ts), then times sequential
 * `readRequest`s of 1 user + 200 items + 200 user x category entities at `watermark` (one Redis
 * round trip each). Beside it, in the same run and on the same keys, the round-trip floor: the
 * same MULTI/EXEC of HGETALLs (and last-k ZREVRANGEs) sent with a plain ioredis call that decodes
 * nothing.
 *
 * With --item-cache-ms N (issue 13), two more readers take the same requests at `now`, one
 * without and one with the item cache of that staleness, and the result goes to
 * results/reader-cache.json with the cache's hit rate.
 *
 *   bash bench/run.sh reader [--events 300000] [--requests 3000] [--item-cache-ms 1000]
 *   (development: --keep leaves the state in Redis and prints its prefix; --prefix <p> reuses it)
 */
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
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
    events: { type: 'string', default: '300000' },
    requests: { type: 'string', default: '3000' },
    partitions: { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
    prefix: { type: 'string' },
    'item-cache-ms': { type: 'string' },
  },
});
const cacheMs = values['item-cache-ms'] === undefined ? null : Number(values['item-cache-ms']);
const target = Number(values.events);
const requests = Number(values.requests);
const partitions = Number(values.partitions);
const brokers = (process.env.TESSERA_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const redisUrl = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:16379';

const store = createRedisOnlineStore({ url: redisUrl });
const groups = GROUPS;
const reused = values.prefix !== undefined;
const prefix = values.prefix ?? `benchrd${Date.now().toString(36)}`;
const keys = createStreamKeys(prefix, 'bench');
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const round = (x: number) => Math.round(x * 1000) / 1000;

// 1. populate Redis through the real stream (not timed)
let produced = 0;
let applied = 0;
if (!reused) {
  const log = createKafkaEventLog({ brokers, clientId: 'tessera-bench-reader', logger: SILENT_LOGGER });
  const registry = projectRegistry();
  const topics = projectTopics(prefix);
  await log.ensureTopics(topicSpecs(topics, partitions));
  const producer = createEventProducer({ log, registry, topics, clock: Date.now });
  let batch: AnyEvent[] = [];
  for (const rec of generateEvents({ users: 20_000, items: 100_000, events: target, seed: 3 })) {
    if (rec.event.type === 'item_profile' || rec.event.type === 'user_profile') continue; // not stream sources
    batch.push(rec.event);
    if (batch.length === 10_000) {
      produced += (await producer.send(batch)).sent;
      batch = [];
    }
  }
  produced += (await producer.send(batch)).sent;
  const metrics = new Metrics();
  await startStream(
    { log, store, registry, topics, keys, groups, logger: SILENT_LOGGER, metrics, clock: Date.now },
    { groupId: 'bench-reader', untilIdle: true, idleMs: 1000 },
  ).done;
  applied = metrics.total('tessera_stream_events_applied_total');
  console.error(`streamed ${produced} events, ${applied} applied`);
  await log.deleteTopics(topicSpecs(topics, partitions).map((s) => s.name));
  await log.close();
}

// 2. the requests: 1 user + 200 items (+ 200 user x category), as in bench/stream.ts
const request = (i: number) => ({
  userId: `u${(i * 7) % 20_000}`,
  items: Array.from({ length: 200 }, (_, j) => ({ itemId: `i${(i * 37 + j * 101) % 100_000}`, categoryId: `c${j % 50}` })),
});
const reader = new FeatureReader({ store, keys, groups, clock: Date.now });
const cacheMetrics = new Metrics();
const atNow = new FeatureReader({ store, keys, groups, clock: Date.now });
const cached = cacheMs === null ? null : new FeatureReader({ store, keys, groups, clock: Date.now, cache: { maxAgeMs: cacheMs, metrics: cacheMetrics } });
const userGroup = groups.find((g) => g.name === 'user');
const lastKAggs = (userGroup?.aggregations ?? []).filter((a) => a.def.op === 'last_k');

// the floor: the same commands in one MULTI/EXEC, plain ioredis, no decoding
const raw = new Redis(redisUrl, { lazyConnect: true });
await raw.connect();
const floorOnce = async (i: number) => {
  const r = request(i);
  const tx = raw.multi();
  tx.call('HGETALL', keys.watermarks());
  tx.call('HGETALL', keys.entity('user', r.userId));
  for (const a of lastKAggs) tx.zrevrange(keys.lastK('user', a.index, r.userId), 0, (a.def.k ?? 1) - 1, 'WITHSCORES');
  for (const c of r.items) {
    tx.call('HGETALL', keys.entity('item', c.itemId));
    tx.call('HGETALL', keys.entity('user_category', `${r.userId}:${c.categoryId}`));
  }
  await tx.exec();
};

// warm-up (JIT, connections), not counted
for (let i = 0; i < 200; i++) {
  await reader.readRequest({ ...request(i), at: 'watermark' });
  await floorOnce(i);
}

// interleaved in blocks so both see the same machine conditions
const latencies: number[] = [];
const floor: number[] = [];
const nowPlain: number[] = [];
const nowCached: number[] = [];
let known = 0;
let entities = 0;
let fields = 0;
for (let i = 0; i < requests; i++) {
  const r = request(i);
  const s = performance.now();
  const out = await reader.readRequest({ ...r, at: 'watermark' });
  latencies.push(performance.now() - s);
  const s2 = performance.now();
  await floorOnce(i);
  floor.push(performance.now() - s2);
  if (cached !== null) {
    const s3 = performance.now();
    await atNow.readRequest({ ...r, at: 'now' });
    nowPlain.push(performance.now() - s3);
    const s4 = performance.now();
    await cached.readRequest({ ...r, at: 'now' });
    nowCached.push(performance.now() - s4);
  }
  if (i % 100 === 0) {
    // the request groups' entities (the user) and each candidate's (item, user x category when it has one)
    for (const e of [...out.shared, ...out.items.flatMap((x) => x.entities.filter((c) => c !== null))]) {
      entities++;
      if (e.known) known++;
    }
  }
}
// how much data one request moves (one sample)
{
  const r = request(0);
  const tx = raw.multi();
  tx.call('HLEN', keys.entity('user', r.userId));
  for (const c of r.items) {
    tx.call('HLEN', keys.entity('item', c.itemId));
    tx.call('HLEN', keys.entity('user_category', `${r.userId}:${c.categoryId}`));
  }
  fields = ((await tx.exec()) ?? []).reduce((a, [, n]) => a + Number(n), 0);
}

if (!values.keep) await store.deleteByPrefix(`${prefix}:`);
else console.error(`kept state under prefix ${prefix} (reuse with --prefix ${prefix})`);
await store.close();
raw.disconnect();

const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? ''}`.trim(),
  node: process.version,
  populate: reused ? { reusedPrefix: prefix } : { events: produced, applied, partitions },
  request: { users: 1, items: 200, userCategories: 200, redisCommands: 2 + lastKAggs.length + 400, hashFieldsSample: fields, knownEntityShare: round(known / entities) },
  reader: { requests, p50Ms: round(pct(latencies, 50)), p99Ms: round(pct(latencies, 99)), maxMs: round(Math.max(...latencies)), targetP99Ms: 5 },
  roundTripFloor: { what: 'same MULTI/EXEC of HGETALLs + ZREVRANGE via plain ioredis, no decoding', p50Ms: round(pct(floor, 50)), p99Ms: round(pct(floor, 99)) },
};
const hits = cacheMetrics.total('tessera_reader_cache_hits_total');
const misses = cacheMetrics.total('tessera_reader_cache_misses_total');
const out =
  cached === null
    ? result
    : {
        ...result,
        atNow: { what: 'the same requests at now, no cache', p50Ms: round(pct(nowPlain, 50)), p99Ms: round(pct(nowPlain, 99)) },
        atNowItemCache: { maxAgeMs: cacheMs, p50Ms: round(pct(nowCached, 50)), p99Ms: round(pct(nowCached, 99)), itemHitRate: round(hits / (hits + misses)), itemReads: hits + misses },
      };
if (!reused) writeFileSync(new URL(cached === null ? './results/reader.json' : './results/reader-cache.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
console.log(JSON.stringify(out, null, 2));
