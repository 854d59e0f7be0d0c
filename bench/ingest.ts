/**
 * Issue 2 benchmark: produce and sink throughput on the real broker and chDB for >= 1 M events,
 * beside the broker's own ceiling measured in the same run with Kafka's perf tools
 * (org.apache.kafka.tools.ProducerPerformance / ConsumerPerformance) on the same broker, with
 * records of the same size.
 *
 *   bash bench/run.sh ingest [--events 1000000]
 *
 * Writes bench/results/ingest.json and prints a Markdown table for bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createKafkaEventLog } from '../src/adapters/kafka/kafka-event-log.js';
import { createChdbOfflineStore } from '../src/adapters/chdb/chdb-offline-store.js';
import type { AnyEvent, EventType } from '../src/events/event-types.js';
import { topicSpecs } from '../src/events/topics.js';
import { generateEvents } from '../src/ingest/generator.js';
import { createEventProducer } from '../src/ingest/producer.js';
import { Metrics } from '../src/observability/metrics.js';
import { SILENT_LOGGER } from '../src/ports/logger.js';
import { validateEvent } from '../src/events/validate.js';
import { prepareRawStore, startRawSink } from '../src/sink/raw-sink.js';
import { createRawBatches, dedupedSource, rawTable, type RawColumnBatch } from '../src/sink/raw-tables.js';
import { CATALOG, projectRegistry, projectTopics } from './project.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '1000000' }, partitions: { type: 'string', default: '4' } } });
const target = Number(values.events);
const partitions = Number(values.partitions);
const brokers = (process.env.TESSERA_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const libs = process.env.TESSERA_TEST_KAFKA_LIBS;
if (!libs) throw new Error('run through bench/run.sh, which starts the broker and sets TESSERA_TEST_KAFKA_LIBS');

const log = createKafkaEventLog({ brokers, clientId: 'tessera-bench', logger: SILENT_LOGGER });
const registry = projectRegistry();
const topics = projectTopics(`bench${Date.now().toString(36)}`);
await log.ensureTopics(topicSpecs(topics, partitions));
const producer = createEventProducer({ log, registry, topics, clock: Date.now });

// --- produce: generate -> validate -> Avro -> Kafka, >= target events
// The generator's `events` counts impressions; the total (with clicks, orders, profiles) is a bit more.
let produced = 0;
let bytes = 0;
let batch: AnyEvent[] = [];
let peakRss = 0;
const sample = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));
const t0 = performance.now();
for (const rec of generateEvents({ users: 20_000, items: 100_000, events: Math.ceil(target * 0.93), seed: 1 })) {
  batch.push(rec.event);
  if (batch.length === 10_000) {
    produced += (await producer.send(batch)).sent;
    batch = [];
    sample();
  }
}
produced += (await producer.send(batch)).sent;
const produceSecs = (performance.now() - t0) / 1000;
for (const e of [...generateEvents({ users: 20, items: 100, events: 2000, seed: 2 })].map((r) => r.event)) bytes += registry.encode(e).length;
const avgBytes = Math.round(bytes / 2000); // average Avro record size, from a 2000-event sample
console.error(`produced ${produced} events in ${produceSecs.toFixed(1)} s`);

// --- sink: Kafka -> decode -> validate -> chDB raw tables
const chdbDir = mkdtempSync(join(tmpdir(), 'tessera-bench-chdb-'));
const store = await createChdbOfflineStore({ path: chdbDir });
await prepareRawStore(store, CATALOG);
const metrics = new Metrics();
let lastStored = 0;
const t1 = performance.now();
const sub = startRawSink(
  { log, store, registry, topics, logger: SILENT_LOGGER, metrics, clock: Date.now },
  { groupId: 'bench-sink', untilIdle: true, idleMs: 1000, maxBatchRecords: 20_000, onBatchStored: () => { lastStored = performance.now(); sample(); } },
);
await sub.done;
const sinkSecs = (lastStored - t1) / 1000;
const stored = metrics.total('tessera_sink_events_stored_total');
let rows = 0;
const t2 = performance.now();
for (const t of CATALOG.types) rows += Number((await store.query<{ n: number }>(`SELECT count() AS n FROM ${dedupedSource(t)}`))[0]?.n);
const countSecs = (performance.now() - t2) / 1000;

// --- the sink's parts alone, on the same events (regenerated: the generator is seeded), in this
// process without Kafka: the JavaScript work per event (Avro decode + validate + columns), then
// the engine's insert of the same columns in the sink's format (Arrow columns, `insertColumns`)
// and, for reference, the JSONEachRow rows it replaced, one 20,000-event insert at a time.
const sinkPeakRss = peakRss;
const byType = new Map<EventType, Buffer[]>();
for (const rec of generateEvents({ users: 20_000, items: 100_000, events: Math.ceil(target * 0.93), seed: 1 })) {
  let list = byType.get(rec.event.type);
  if (list === undefined) byType.set(rec.event.type, (list = []));
  list.push(registry.encode(rec.event));
}
const newBatch = createRawBatches(CATALOG);
const chunks: { type: EventType; batch: RawColumnBatch }[] = [];
let decoded = 0;
const t3 = performance.now();
for (const [type, list] of byType) {
  for (let i = 0; i < list.length; i += 20_000) {
    const batch = newBatch(type);
    for (let j = i; j < Math.min(i + 20_000, list.length); j++) {
      const event = registry.decode(list[j]!, type);
      validateEvent(event, CATALOG, Date.now(), 86_400_000);
      batch.add(event, { topic: topics.events(type), partition: 0, offset: j, logTime: 1_700_000_000_000 + j });
      decoded++;
    }
    chunks.push({ type, batch });
  }
}
const decodeUs = ((performance.now() - t3) * 1000) / decoded;
byType.clear();
const insertAlone = async (insert: (type: EventType, batch: RawColumnBatch) => Promise<void>): Promise<number> => {
  for (const t of CATALOG.types) await store.command(`DROP TABLE IF EXISTS ${rawTable(t)}`);
  await prepareRawStore(store, CATALOG);
  const t = performance.now();
  for (const { type, batch } of chunks) await insert(type, batch);
  return decoded / ((performance.now() - t) / 1000);
};
const columnsRate = await insertAlone((type, batch) => store.insertColumns(rawTable(type), batch.columns()));
const jsonRate = await insertAlone((type, batch) => store.insert(rawTable(type), batch.rows()));
chunks.length = 0;
await store.close();
rmSync(chdbDir, { recursive: true, force: true });
console.error(`sank ${stored} events in ${sinkSecs.toFixed(1)} s; ${rows} rows after FINAL`);

// --- the broker's ceiling: Kafka's own perf tools, same broker, same record size and count
const perfTopic = `${topics.events('impression')}-perf`;
await log.ensureTopics([{ name: perfTopic, partitions }]);
const java = (main: string, args: string[]) => execFileSync('java', ['-Xmx1g', '-cp', `${libs}/*`, main, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
const prodOut = java('org.apache.kafka.tools.ProducerPerformance', [
  '--topic', perfTopic, '--num-records', String(produced), '--record-size', String(avgBytes), '--throughput', '-1',
  '--producer-props', `bootstrap.servers=${brokers.join(',')}`, 'acks=all', 'enable.idempotence=true', 'linger.ms=5', 'batch.size=262144',
]);
const prodLine = prodOut.trim().split('\n').pop() ?? '';
const prodRate = Number(/([\d.]+) records\/sec/.exec(prodLine)?.[1]);
const consLines = java('org.apache.kafka.tools.ConsumerPerformance', [
  '--bootstrap-server', brokers.join(','), '--topic', perfTopic, '--messages', String(produced), '--timeout', '60000',
]).trim().split('\n');
// header: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
const consFields = (consLines[consLines.length - 1] ?? '').split(',').map((s) => s.trim());
const consRate = Number(consFields[5]);
const consFetchRate = Number(consFields[9]);

await log.deleteTopics([...topicSpecs(topics, partitions).map((s) => s.name), perfTopic]);
await log.close();

const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? ''}`.trim(),
  broker: 'Apache Kafka 4.1.1, single-node KRaft on loopback',
  partitions,
  events: produced,
  avgAvroBytes: avgBytes,
  produce: { seconds: produceSecs, eventsPerSec: produced / produceSecs },
  sink: { seconds: sinkSecs, eventsPerSec: stored / sinkSecs, stored, rowsAfterFinal: rows, countFinalSeconds: countSecs, concurrentPartitions: 4 },
  sinkParts: {
    note: 'the same events in this process, no Kafka, one 20,000-event insert at a time',
    decodeValidateColumnsMicrosPerEvent: decodeUs,
    chdbInsertColumnsEventsPerSec: columnsRate,
    chdbInsertJsonEachRowEventsPerSec: jsonRate,
  },
  ceiling: { producerPerfRecordsPerSec: prodRate, producerPerfLine: prodLine, consumerPerfRecordsPerSec: consRate, consumerPerfFetchRecordsPerSec: consFetchRate },
  peakRssMB: Math.round(sinkPeakRss / 2 ** 20),
};
writeFileSync(new URL('./results/ingest.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
const f = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`| stage | events | events/s | ceiling (same broker, same run) | share of ceiling |
|---|---|---|---|---|
| produce (validate + Avro + kafkajs idempotent, acks=all) | ${f(produced)} | ${f(result.produce.eventsPerSec)} | ProducerPerformance ${f(prodRate)} rec/s (${avgBytes} B, acks=all, idempotent) | ${((100 * result.produce.eventsPerSec) / prodRate).toFixed(0)} % |
| sink (kafkajs -> decode + validate -> chDB insert, exactly once in effect) | ${f(stored)} | ${f(result.sink.eventsPerSec)} | ConsumerPerformance ${f(consRate)} rec/s | ${((100 * result.sink.eventsPerSec) / consRate).toFixed(0)} % |
| sink's insert alone (Arrow columns into chDB, 20k per insert) | ${f(decoded)} | ${f(columnsRate)} | the same rows as JSONEachRow: ${f(jsonRate)} events/s | |
| sink's JavaScript alone (Avro decode + validate + columns) | ${f(decoded)} | ${f(1e6 / decodeUs)} | ${decodeUs.toFixed(2)} µs per event | |

Peak RSS ${result.peakRssMB} MB; ${rows} rows after FINAL (count ${countSecs.toFixed(2)} s).`);
