/**
 * Issue 4 item 5 benchmark: the streaming joiner with the reference feature set.
 *
 * 1. the join core alone (JoinState in memory, no I/O): events/s and samples/s, the ceiling;
 * 2. `startJoiner` end to end on the real broker and Redis (decode, dedupe, reorder buffer,
 *    features through the aggregation core, labels, samples to Kafka, fenced incremental
 *    checkpoints every second): events/s, samples/s, peak RSS, the state held at the end and the
 *    Redis memory it takes;
 * 3. recovery: reading and restoring the last checkpoint, ms;
 * 4. readJoinedSamples: samples/s read back with the re-send rule.
 *
 *   bash bench/run.sh join [--events 300000] [--partitions 4]
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createKafkaEventLog } from '../src/adapters/kafka/kafka-event-log.js';
import { createRedisOnlineStore } from '../src/adapters/redis/redis-online-store.js';
import type { AnyEvent } from '../src/events/event-types.js';
import { topicSpecs } from '../src/events/topics.js';
import { generateEvents } from '../src/ingest/generator.js';
import { createEventProducer } from '../src/ingest/producer.js';
import { JoinerCheckpoints } from '../src/joiner/checkpoint.js';
import { readJoinedSamples } from '../src/joiner/joined-samples.js';
import { createJoinerKeys } from '../src/joiner/joiner-keys.js';
import { JOIN_DEFAULTS, startJoiner } from '../src/joiner/joiner.js';
import { JoinState } from '../src/joiner/join-state.js';
import { Metrics } from '../src/observability/metrics.js';
import { SILENT_LOGGER } from '../src/ports/logger.js';
import { DEFAULT_LABEL_RULE } from '../src/samples/labels.js';
import { featureSpec } from '../src/samples/sample.js';
import { GROUPS, projectRegistry, projectTopics } from './project.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '300000' }, partitions: { type: 'string', default: '4' } } });
const impressions = Number(values.events);
const partitions = Number(values.partitions);
const brokers = (process.env.TESSERA_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const redisUrl = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:16379';
const redisPort = new URL(redisUrl).port;

const log = createKafkaEventLog({ brokers, clientId: 'tessera-bench', logger: SILENT_LOGGER });
const store = createRedisOnlineStore({ url: redisUrl });
const registry = projectRegistry();
const groups = GROUPS;
const spec = featureSpec(groups);
const prefix = `benchjn${Date.now().toString(36)}`;
const topics = projectTopics(prefix);
await log.ensureTopics(topicSpecs(topics, partitions));
const producer = createEventProducer({ log, registry, topics, clock: Date.now });

// 0. the input: the seeded generator (7 days), activity only kept in memory for the core run
const activity: AnyEvent[] = [];
let batch: AnyEvent[] = [];
let produced = 0;
for (const rec of generateEvents({ users: 20_000, items: 100_000, events: impressions, seed: 5 })) {
  batch.push(rec.event);
  if (rec.event.type === 'impression' || rec.event.type === 'click' || rec.event.type === 'order') activity.push(rec.event);
  if (batch.length === 10_000) {
    produced += (await producer.send(batch)).sent;
    batch = [];
  }
}
produced += (await producer.send(batch)).sent;
console.error(`loaded ${produced} events (${activity.length} impressions, clicks and orders)`);

// 1. the join core alone
const rssPeak = { value: 0 };
const sampler = setInterval(() => (rssPeak.value = Math.max(rssPeak.value, process.memoryUsage().rss)), 100);
const core = new JoinState({ groups, spec, rule: DEFAULT_LABEL_RULE, latenessMs: JOIN_DEFAULTS.latenessMs, dedupeHorizonMs: JOIN_DEFAULTS.dedupeHorizonMs });
core.observe('all', 0, { start: 0, end: activity.length });
let coreSamples = 0;
const c0 = performance.now();
for (let i = 0; i < activity.length; i += 2000) {
  for (let j = i; j < Math.min(activity.length, i + 2000); j++) core.offer('all', 0, j, activity[j] as AnyEvent);
  coreSamples += core.advance().length;
}
coreSamples += core.advance().length;
const coreSecs = (performance.now() - c0) / 1000;
const coreHeld = { held: core.held, buffered: core.buffered, entities: core.entities };
console.error(`core: ${activity.length} events in ${coreSecs.toFixed(1)} s, ${coreSamples} samples`);
activity.length = 0;
global.gc?.();
rssPeak.value = 0;

// 2. end to end on Kafka + Redis
const keys = createJoinerKeys(prefix, 'bench');
const metrics = new Metrics();
let lastBatch = 0;
const t0 = performance.now();
await startJoiner(
  { log, store, registry, topics, keys, groups, logger: SILENT_LOGGER, metrics, clock: Date.now },
  { untilIdle: true, idleMs: 1000, onBatchJoined: () => void (lastBatch = performance.now()) },
).done;
const e2eSecs = (lastBatch - t0) / 1000;
const consumed = metrics.total('tessera_join_events_accepted_total') + metrics.total('tessera_join_duplicates_total') + metrics.total('tessera_join_late_events_total');
const emitted = metrics.total('tessera_join_samples_emitted_total');
console.error(`joiner: ${consumed} events in ${e2eSecs.toFixed(1)} s, ${emitted} samples`);
clearInterval(sampler);
const info = execFileSync('redis-cli', ['-p', redisPort, 'info', 'memory'], { encoding: 'utf8' });
const usedMemory = Number(/used_memory:(\d+)/.exec(info)?.[1]);

// 3. recovery: read and restore the last checkpoint
const r0 = performance.now();
const checkpoints = new JoinerCheckpoints(store, keys, 'bench-read-only', groups.map((g) => g.name));
const restored = await checkpoints.read().catch(async () => {
  // the fingerprint differs on purpose (read-only); read through a joiner-configured instance instead
  const fp = `spec=${spec.hash};click=${DEFAULT_LABEL_RULE.clickWindowMs};order=${DEFAULT_LABEL_RULE.orderWindowMs};lateness=${JOIN_DEFAULTS.latenessMs};dedupe=${JOIN_DEFAULTS.dedupeHorizonMs};types=impression,click,order`;
  return new JoinerCheckpoints(store, keys, fp, groups.map((g) => g.name)).read();
});
const again = new JoinState({ groups, spec, rule: DEFAULT_LABEL_RULE, latenessMs: JOIN_DEFAULTS.latenessMs, dedupeHorizonMs: JOIN_DEFAULTS.dedupeHorizonMs });
again.restore(restored.state);
const restoreMs = performance.now() - r0;

// 4. reading the samples back
const s0 = performance.now();
const read = await readJoinedSamples(log, topics.samples(), { specHash: spec.hash });
const readSecs = (performance.now() - s0) / 1000;

await store.deleteByPrefix(`${prefix}:`);
await log.deleteTopics(topicSpecs(topics, partitions).map((s) => s.name));
await store.close();
await log.close();

const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? ''}`.trim(),
  events: produced,
  impressions,
  partitions,
  core: { seconds: coreSecs, eventsPerSec: consumed / coreSecs, samples: coreSamples, samplesPerSec: coreSamples / coreSecs, heldAtEnd: coreHeld },
  endToEnd: {
    seconds: e2eSecs,
    eventsPerSec: consumed / e2eSecs,
    samples: emitted,
    samplesPerSec: emitted / e2eSecs,
    checkpoints: metrics.total('tessera_join_checkpoints_total'),
    /** the process's RSS peak while joining (RSS does not shrink: includes the heap the core run left) */
    peakRssMB: Math.round(rssPeak.value / 2 ** 20),
    heldAtEnd: { held: metrics.value('tessera_join_held_impressions'), buffered: metrics.value('tessera_join_buffered_events'), entities: metrics.value('tessera_join_entities') },
    /** the whole Redis (the joiner's checkpoint is most of it on a quiet machine) */
    redisUsedMemoryMB: Math.round(usedMemory / 2 ** 20),
  },
  sameSamplesAsCore: coreSamples === emitted && read.samples.length === emitted,
  recovery: { restoreMs, held: again.held, entities: again.entities },
  readBack: { seconds: readSecs, samples: read.samples.length, samplesPerSec: read.samples.length / readSecs, duplicates: read.duplicates },
};
writeFileSync(new URL('./results/join.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
