/**
 * Issue 14 item 5, first measurement: kafkajs (the client Tessera uses, through its own
 * `KafkaEventLog`) beside @platformatic/kafka (maintained, supports Kafka 4.1) on the same broker,
 * the same records and the same settings, in one run.
 *
 *   bash bench/run.sh kafka-clients [--events 500000] [--rounds 2]
 *
 * Records: the generator's events, Avro single-object encoded by the project's registry and keyed
 * like Tessera keys them, encoded once up front, so only the clients are timed. Produce: batches of
 * 10,000 records, idempotent, acks=all, each awaited before the next (what `EventProducer.send`
 * does after validating and encoding), into a 4-partition topic per client and round; kafkajs goes
 * through `KafkaEventLog.send` (its size checks and ~768 KiB sends included), @platformatic/kafka
 * through `Producer.send`. Consume: every record of one of those topics from the beginning, in a new
 * group, without committing; kafkajs through `KafkaEventLog.consume` (its batch handler, the path
 * the sink and the stream use), @platformatic/kafka through its message stream's `data` events. The rounds
 * alternate the clients, so a change of this VM's speed does not favour one.
 *
 * This compares the clients, not a Tessera adapter on the second one: that adapter (and the
 * exactly-once, rebalance and crash tests on it) is the rest of item 5.
 *
 * Writes bench/results/kafka-clients.json and prints a table.
 */
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Consumer, MessagesStreamModes, Producer } from '@platformatic/kafka';
import { createKafkaEventLog } from '../src/adapters/kafka/kafka-event-log.js';
import { topicSpecs } from '../src/events/topics.js';
import { generateEvents } from '../src/ingest/generator.js';
import type { OutgoingRecord } from '../src/ports/event-log.js';
import { SILENT_LOGGER } from '../src/ports/logger.js';
import { CATALOG, projectRegistry, projectTopics } from './project.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '500000' }, rounds: { type: 'string', default: '2' } } });
const brokers = (process.env.TESSERA_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const log = createKafkaEventLog({ brokers, clientId: 'tessera-bench', logger: SILENT_LOGGER });
const registry = projectRegistry();
const topics = projectTopics(`benchkc${Date.now().toString(36)}`);

// the records, encoded once: impressions only (one topic), keyed by the type's partition key
const records: { key: string; value: Buffer }[] = [];
const key = CATALOG.spec('impression').partitionKey;
for (const { event } of generateEvents({ users: 20_000, items: 100_000, events: Number(values.events), seed: 1 })) {
  if (event.type !== 'impression') continue;
  records.push({ key: String((event as unknown as Record<string, unknown>)[key]), value: registry.encode(event) });
}
const bytes = records.reduce((n, r) => n + r.value.length, 0);
const BATCH = 10_000;

async function produceKafkajs(topic: string): Promise<number> {
  // the producer connects and fetches metadata on its first send: warm up outside the timing
  await log.send([{ topic: `${topic}-warm`, key: 'k', value: Buffer.from('v') }]);
  const t = performance.now();
  for (let i = 0; i < records.length; i += BATCH) {
    await log.send(records.slice(i, i + BATCH).map((r): OutgoingRecord => ({ topic, key: r.key, value: r.value })));
  }
  return (performance.now() - t) / 1000;
}

async function producePlatformatic(topic: string): Promise<number> {
  const producer = new Producer({ clientId: 'tessera-bench-pk', bootstrapBrokers: brokers, idempotent: true, acks: -1, autocreateTopics: false });
  try {
    // the same warm-up: connection, metadata and the producer id on the first send
    await producer.send({ messages: [{ topic: `${topic}-warm`, key: Buffer.from('k'), value: Buffer.from('v') }] });
    const t = performance.now();
    for (let i = 0; i < records.length; i += BATCH) {
      await producer.send({ messages: records.slice(i, i + BATCH).map((r) => ({ topic, key: Buffer.from(r.key), value: r.value })) });
    }
    return (performance.now() - t) / 1000;
  } finally {
    await producer.close();
  }
}

async function consumeKafkajs(topic: string): Promise<number> {
  let seen = 0;
  let last = 0;
  const t = performance.now();
  await log.consume({ groupId: `kj-${topic}-${Date.now()}`, topics: [topic], fromBeginning: true, commit: false, untilIdle: true, idleMs: 500, maxBatchRecords: 5000 }, async (batch) => {
    seen += batch.records.length;
    last = performance.now();
  }).done;
  if (seen !== records.length) throw new Error(`kafkajs consumed ${seen} of ${records.length}`);
  return (last - t) / 1000;
}

async function consumePlatformatic(topic: string): Promise<number> {
  const consumer = new Consumer({ clientId: 'tessera-bench-pk', groupId: `pk-${topic}-${Date.now()}`, bootstrapBrokers: brokers });
  try {
    const t = performance.now();
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    // 'data' events rather than `for await`, which adds a promise per message
    await new Promise<void>((resolve, reject) => {
      let seen = 0;
      stream.on('error', reject);
      stream.on('data', () => {
        if (++seen === records.length) resolve();
      });
    });
    const seconds = (performance.now() - t) / 1000;
    await stream.close();
    return seconds;
  } finally {
    await consumer.close(true);
  }
}

const rounds: { round: number; client: string; produceSeconds: number; consumeSeconds: number }[] = [];
const created: string[] = [];
for (let round = 1; round <= Number(values.rounds); round++) {
  const order = round % 2 === 1 ? ['kafkajs', '@platformatic/kafka'] : ['@platformatic/kafka', 'kafkajs'];
  for (const client of order) {
    const topic = `${topics.events('impression')}-${client === 'kafkajs' ? 'kj' : 'pk'}${round}`;
    await log.ensureTopics([{ name: topic, partitions: 4 }, { name: `${topic}-warm`, partitions: 1 }]);
    created.push(topic, `${topic}-warm`);
    const produceSeconds = client === 'kafkajs' ? await produceKafkajs(topic) : await producePlatformatic(topic);
    const consumeSeconds = client === 'kafkajs' ? await consumeKafkajs(topic) : await consumePlatformatic(topic);
    rounds.push({ round, client, produceSeconds, consumeSeconds });
    console.error(`${client} round ${round}: produce ${Math.round(records.length / produceSeconds)}/s, consume ${Math.round(records.length / consumeSeconds)}/s`);
  }
}
await log.deleteTopics(created);
await log.close();

const rate = (s: number) => records.length / s;
const summary = (client: string) => {
  const mine = rounds.filter((r) => r.client === client);
  return { producePerSec: mine.map((r) => Math.round(rate(r.produceSeconds))), consumePerSec: mine.map((r) => Math.round(rate(r.consumeSeconds))) };
};
const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? ''}`.trim(),
  broker: 'Apache Kafka 4.1.1, single-node KRaft on loopback',
  records: records.length,
  avgRecordBytes: Math.round(bytes / records.length),
  produce: 'batches of 10,000, idempotent, acks=all, each awaited',
  consume: 'every record from the beginning, new group, no commits',
  kafkajs: { version: '2.2.4', path: 'KafkaEventLog.send / KafkaEventLog.consume', ...summary('kafkajs') },
  platformatic: { version: '1.35.0', path: 'Producer.send / Consumer.consume message stream', ...summary('@platformatic/kafka') },
  rounds,
};
writeFileSync(new URL('./results/kafka-clients.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
const f = (xs: number[]) => xs.map((x) => x.toLocaleString('en-US')).join(' / ');
console.log(`| client | produce records/s (rounds) | consume records/s (rounds) |
|---|---|---|
| kafkajs 2.2.4 via KafkaEventLog | ${f(result.kafkajs.producePerSec)} | ${f(result.kafkajs.consumePerSec)} |
| @platformatic/kafka 1.35.0 | ${f(result.platformatic.producePerSec)} | ${f(result.platformatic.consumePerSec)} |

${result.records.toLocaleString('en-US')} records of ${result.avgRecordBytes} B on average, 4 partitions.`);
