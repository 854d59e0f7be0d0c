/**
 * Issue 14 benchmark: where one streamed event's CPU goes, in Node and in Redis, on the real broker
 * and Redis with the reference feature set.
 *
 *   bash bench/run.sh stream-budget [--events 300000]
 *
 * 1. Loads the log, then streams it once (`startStream`, defaults: batches of 2,000 records,
 *    atomic applies of 50), measuring this process's CPU (`process.cpuUsage`, which includes
 *    decoding, planning, encoding and the Redis client) and Redis's (`INFO cpu`) per event, and
 *    the store ops each apply carries.
 * 2. Replays 200 of those applies, captured from the middle of the run, on the state the run
 *    left (without their offset fences) through cuts of the apply script: parsing its arguments only,
 *    then with the fence and the check pass's reads (TYPE, HMGET per key), then with the whole check
 *    pass, and the whole script, timed by Redis (`INFO commandstats`). The
 *    differences split the script's time into parsing, checking and writing; the commands the
 *    script calls are counted apart, from the same stats.
 *
 * Writes bench/results/stream-budget.json and prints it.
 */
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createKafkaEventLog } from '../src/adapters/kafka/kafka-event-log.js';
import { APPLY_LUA, encodeApply, packArgs } from '../src/adapters/redis/apply-script.js';
import { createRedisOnlineStore } from '../src/adapters/redis/redis-online-store.js';
import type { AnyEvent } from '../src/events/event-types.js';
import { topicSpecs } from '../src/events/topics.js';
import { generateEvents } from '../src/ingest/generator.js';
import { createEventProducer } from '../src/ingest/producer.js';
import { Metrics } from '../src/observability/metrics.js';
import type { StoreOp } from '../src/ports/online-store.js';
import { SILENT_LOGGER } from '../src/ports/logger.js';
import { createStreamKeys } from '../src/streaming/stream-keys.js';
import { startStream } from '../src/streaming/stream-processor.js';
import { GROUPS, projectRegistry, projectTopics } from './project.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '300000' }, partitions: { type: 'string', default: '4' } } });
const brokers = (process.env.TESSERA_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const redisUrl = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:16379';
const log = createKafkaEventLog({ brokers, clientId: 'tessera-bench', logger: SILENT_LOGGER });
const store = createRedisOnlineStore({ url: redisUrl });
const admin = new Redis(redisUrl);
const registry = projectRegistry();
const prefix = `benchsb${Date.now().toString(36)}`;
const topics = projectTopics(prefix);
await log.ensureTopics(topicSpecs(topics, Number(values.partitions)));
const producer = createEventProducer({ log, registry, topics, clock: Date.now });

// 1. load the log (not timed), then stream it once
let batch: AnyEvent[] = [];
for (const rec of generateEvents({ users: 20_000, items: 100_000, events: Math.ceil(Number(values.events) * 0.93), seed: 3 })) {
  batch.push(rec.event);
  if (batch.length === 10_000) {
    await producer.send(batch);
    batch = [];
  }
}
await producer.send(batch);

const redisCpuSeconds = async (): Promise<number> => {
  const info = await admin.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
};
const captured: { ops: readonly StoreOp[] }[] = [];
const opCounts = new Map<string, number>();
let applies = 0;
const apply = store.apply.bind(store);
store.apply = (ops, fence) => {
  applies++;
  if (applies > 2000 && captured.length < 200) captured.push({ ops });
  for (const op of ops) opCounts.set(op.op, (opCounts.get(op.op) ?? 0) + 1);
  return apply(ops, fence);
};
const metrics = new Metrics();
let lastApplied = 0;
const redis0 = await redisCpuSeconds();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await startStream(
  { log, store, registry, topics, keys: createStreamKeys(prefix, 'budget'), groups: GROUPS, logger: SILENT_LOGGER, metrics, clock: Date.now },
  { groupId: 'bench-budget', untilIdle: true, idleMs: 1000, onBatchApplied: () => void (lastApplied = performance.now()) },
).done;
const cpu = process.cpuUsage(cpu0);
const redisSeconds = (await redisCpuSeconds()) - redis0;
const seconds = (lastApplied - t0) / 1000;
const events = metrics.total('tessera_stream_events_applied_total') + metrics.total('tessera_stream_duplicates_total') + metrics.total('tessera_stream_late_events_total');

// 2. the captured applies through cuts of the script, on the state the run left (so the script
// reads and simulates stored values as it did live), without their fences
const STOP = 'do return {1} end\n';
const cuts: Record<string, string> = {
  parse: APPLY_LUA.replace('-- 1. fence', `${STOP}-- 1. fence`),
  // parse, fence, and each key's TYPE and HMGET (the check pass's reads) without the simulation
  parseAndReads: APPLY_LUA.replace('for n, op in ipairs(ops) do\n  local c, s = op.c, state(op.k)', `for _, op in ipairs(ops) do state(op.k) end\n${STOP}for n, op in ipairs(ops) do\n  local c, s = op.c, state(op.k)`),
  parseAndCheck: APPLY_LUA.replace('-- 3. writes.', `${STOP}-- 3. writes.`),
  whole: APPLY_LUA,
  // the whole script again, its arguments sent one by one instead of packed (packArgs)
  wholeUnpacked: APPLY_LUA,
};
const capturedOps = captured.reduce((n, c) => n + c.ops.length, 0);
const script: Record<string, { usPerApply: number; usPerOp: number }> = {};
let commands: Record<string, { calls: number; usPerApply: number }> = {};
for (const [name, body] of Object.entries(cuts)) if (name !== 'whole' && name !== 'wholeUnpacked' && body === APPLY_LUA) throw new Error(`the cut ${name} no longer matches the script`);
for (const [name, body] of Object.entries(cuts)) {
  const sha = (await admin.script('LOAD', body)) as string;
  await admin.config('RESETSTAT');
  for (const { ops } of captured) {
    const { keys, args } = encodeApply(ops, undefined, '');
    await admin.evalsha(sha, keys.length, ...keys, ...(name === 'wholeUnpacked' ? args : packArgs(args)));
  }
  const stats = (await admin.info('commandstats')).split('\n');
  const usec = (command: string) => Number(/usec=(\d+)/.exec(stats.find((l) => l.startsWith(`cmdstat_${command}:`)) ?? '')?.[1] ?? 0);
  script[name] = { usPerApply: usec('evalsha') / captured.length, usPerOp: usec('evalsha') / capturedOps };
  if (name === 'whole') {
    commands = Object.fromEntries(
      stats
        .map((l) => /^cmdstat_(\w+):calls=(\d+),usec=(\d+)/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null && !['evalsha', 'config', 'script', 'info', 'scan', 'del'].includes(m[1]!))
        .map((m) => [m[1]!, { calls: Number(m[2]), usPerApply: Number(m[3]) / captured.length }]),
    );
  }
}
await store.deleteByPrefix(`${prefix}:`);
await log.deleteTopics(topicSpecs(topics, Number(values.partitions)).map((s) => s.name));
admin.disconnect();
await store.close();
await log.close();

const commandsUs = Object.values(commands).reduce((a, c) => a + c.usPerApply, 0);
const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? ''}`.trim(),
  events,
  seconds,
  eventsPerSec: events / seconds,
  target: 50_000,
  perEvent: { nodeCpuUs: ((cpu.user + cpu.system) / events), redisCpuUs: (redisSeconds * 1e6) / events },
  applies: { count: applies, eventsPerApply: events / applies, opsPerEvent: Object.fromEntries([...opCounts].map(([op, n]) => [op, n / events])) },
  scriptReplay: {
    applies: captured.length,
    opsPerApply: capturedOps / captured.length,
    cuts: script,
    split: {
      parseUsPerApply: script.parse!.usPerApply,
      checkReadsUsPerApply: script.parseAndReads!.usPerApply - script.parse!.usPerApply,
      checkSimulationUsPerApply: script.parseAndCheck!.usPerApply - script.parseAndReads!.usPerApply,
      writeUsPerApply: script.whole!.usPerApply - script.parseAndCheck!.usPerApply,
      redisCommandsUsPerApply: commandsUs,
    },
    commands,
  },
};
writeFileSync(new URL('./results/stream-budget.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
