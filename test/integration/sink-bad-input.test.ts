import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaEventLog } from '../../src/adapters/kafka/kafka-event-log.js';
import { createChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import type { RejectCode } from '../../src/errors.js';
import type { ReferenceEvent, TypedEvent } from '../../src/events/event-types.js';
import { topicSpecs } from '../../src/events/topics.js';
import { createEventProducer } from '../../src/ingest/producer.js';
import { Metrics } from '../../src/observability/metrics.js';
import { recordBytes, type EventLog, type OutgoingRecord } from '../../src/ports/event-log.js';
import { MAX_ID_BYTES } from '../../src/events/validate.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import { fromDeadLetterRecord } from '../../src/sink/dead-letter.js';
import { prepareRawStore, startRawSink } from '../../src/sink/raw-sink.js';
import { DEAD_LETTER_TABLE, dedupedSource } from '../../src/sink/raw-tables.js';
import { TEST_KAFKA_BROKERS, randomName } from '../helpers/env.js';
import { countByType, sampleEvents } from '../helpers/pipeline.js';
import { REFERENCE_CATALOG, referenceRegistry, referenceTopics } from '../helpers/reference.js';

const DAY = 86_400_000;

describe('bad input through the real broker: dead letters with reasons, nothing else lost', () => {
  let log: EventLog;
  const registry = referenceRegistry();
  const topics = referenceTopics(randomName('bad'));

  beforeAll(async () => {
    log = createKafkaEventLog({ brokers: TEST_KAFKA_BROKERS, clientId: 'tessera-test', logger: SILENT_LOGGER });
    await log.ensureTopics(topicSpecs(topics, 2));
  });
  afterAll(async () => {
    await log.deleteTopics(topicSpecs(topics, 2).map((s) => s.name));
    await log.close();
  });

  it('stores every good event and dead-letters every bad record with its reason and source', async () => {
    const good = sampleEvents(3000, 5);
    const click = good.find((e) => e.type === 'click') as TypedEvent<'click'>;
    const order = good.find((e) => e.type === 'order') as TypedEvent<'order'>;
    const impression = good.find((e) => e.type === 'impression') as TypedEvent<'impression'>;
    const now = Date.now();
    // encodes a changed copy of a reference event (typed here; the registry takes any project's events)
    const encode = (e: ReferenceEvent) => registry.encode(e);
    const clickBytes = registry.encode(click);
    const bad: { topic: string; value: Buffer; reason: RejectCode }[] = [
      { topic: topics.events('click'), value: Buffer.from('definitely not avro'), reason: 'UNDECODABLE' },
      { topic: topics.events('click'), value: Buffer.alloc(0), reason: 'UNDECODABLE' },
      { topic: topics.events('click'), value: clickBytes.subarray(0, 6), reason: 'UNDECODABLE' },
      { topic: topics.events('click'), value: clickBytes.subarray(0, clickBytes.length - 3), reason: 'UNDECODABLE' },
      { topic: topics.events('click'), value: Buffer.concat([clickBytes, Buffer.from([1, 2, 3])]), reason: 'UNDECODABLE' },
      { topic: topics.events('click'), value: Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 0x5a), clickBytes.subarray(10)]), reason: 'UNKNOWN_FINGERPRINT' },
      { topic: topics.events('click'), value: encode({ ...impression, eventId: 'bad-wrong-topic' }), reason: 'SCHEMA_INVALID' },
      { topic: topics.events('order'), value: encode({ ...order, eventId: 'bad-negative-amount', amount: -5 }), reason: 'SCHEMA_INVALID' },
      { topic: topics.events('click'), value: encode({ ...click, eventId: 'bad-zone', context: { ...click.context, timezone: 'Mars/Olympus' } }), reason: 'SCHEMA_INVALID' },
      { topic: topics.events('click'), value: encode({ ...click, eventId: 'bad-no-user', userId: '' }), reason: 'MISSING_ID' },
      { topic: topics.events('click'), value: encode({ ...click, eventId: '' }), reason: 'MISSING_ID' },
      { topic: topics.events('click'), value: encode({ ...click, eventId: 'bad-1999', eventTime: Date.UTC(1999, 11, 31, 23, 59, 59, 999) }), reason: 'EVENT_TIME_OUT_OF_RANGE' },
      { topic: topics.events('click'), value: encode({ ...click, eventId: 'bad-future', eventTime: now + 2 * DAY }), reason: 'EVENT_TIME_OUT_OF_RANGE' },
      { topic: topics.events('click'), value: encode({ ...click, eventId: 'bad-long-id', itemId: 'i'.repeat(MAX_ID_BYTES + 1) }), reason: 'FIELD_TOO_LONG' },
    ];
    // A record as large as the topic takes: its dead letter, with its headers, would not fit, so
    // the letter carries a cut of the payload and says so; the table keeps it whole.
    const limit = await log.maxRecordBytes(topics.events('click'));
    const bigKey = `k${bad.length % 3}`;
    const big = Buffer.alloc(limit - recordBytes({ key: bigKey, value: Buffer.alloc(0) }), 0x7f);
    bad.push({ topic: topics.events('click'), value: big, reason: 'UNDECODABLE' });
    // bad records interleaved with the good ones
    const producer = createEventProducer({ log, registry, topics, clock: Date.now });
    await producer.send(good.slice(0, 1500));
    await log.send(bad.map((b, i): OutgoingRecord => ({ topic: b.topic, key: `k${i % 3}`, value: b.value })));
    await producer.send(good.slice(1500));

    const store = await createChdbOfflineStore({});
    await prepareRawStore(store, REFERENCE_CATALOG);
    const metrics = new Metrics();
    const sub = startRawSink({ log, store, registry, topics, logger: SILENT_LOGGER, metrics, clock: Date.now }, { groupId: 'bad', untilIdle: true, idleMs: 500 });
    await sub.done;

    // every good event arrived
    const expected = countByType(good);
    for (const type of REFERENCE_CATALOG.types) {
      const [r] = await store.query<{ n: number }>(`SELECT count() AS n FROM ${dedupedSource(type)}`);
      expect({ type, n: r?.n }).toEqual({ type, n: expected[type] ?? 0 });
    }
    // every bad record is in the dead-letter topic, with its reason, bytes and source coordinates
    const letters = [];
    for (const p of await log.endOffsets(topics.deadLetter())) {
      if (p.offset > 0) letters.push(...(await log.read(topics.deadLetter(), p.partition, 0, p.offset)).map(fromDeadLetterRecord));
    }
    const cut = letters.filter((l) => l.payloadTruncatedFrom !== undefined);
    expect(cut.map((l) => l.payloadTruncatedFrom)).toEqual([big.length]);
    expect(cut[0]?.payload.length).toBeLessThan(big.length);
    expect(big.subarray(0, cut[0]?.payload.length).equals(cut[0]?.payload as Buffer)).toBe(true);
    const whole = (l: { payload: Buffer; payloadTruncatedFrom?: number }) => (l.payloadTruncatedFrom === undefined ? l.payload : big);
    const got = letters.map((l) => ({ topic: l.sourceTopic, hex: whole(l).toString('hex'), reason: l.reason })).sort((x, y) => x.hex.localeCompare(y.hex));
    const want = bad.map((b) => ({ topic: b.topic, hex: b.value.toString('hex'), reason: b.reason })).sort((x, y) => x.hex.localeCompare(y.hex));
    expect(got).toEqual(want);
    const [bigRow] = await store.query<{ n: number }>(`SELECT length(base64Decode(payloadBase64)) AS n FROM ${DEAD_LETTER_TABLE} FINAL WHERE length(payloadBase64) > 1000000`);
    expect(bigRow?.n).toBe(big.length);
    for (const l of letters) {
      expect(l.message.length).toBeGreaterThan(0);
      expect(l.sourceOffset).toBeGreaterThanOrEqual(0);
    }
    const [dl] = await store.query<{ n: number }>(`SELECT count() AS n FROM ${DEAD_LETTER_TABLE} FINAL`);
    expect(dl?.n).toBe(bad.length);
    expect(metrics.total('tessera_sink_dead_letters_total')).toBe(bad.length);
    await store.close();
  });
});
