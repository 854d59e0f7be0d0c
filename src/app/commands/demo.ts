import type { Command } from '../command.js';
import { numberOption } from '../command.js';
import type { AnyEvent, EventType } from '../../events/event-types.js';
import { EVENT_TYPES, partitionKeyOf } from '../../events/event-types.js';
import { formatInstant } from '../../events/time.js';
import { generateEvents } from '../../ingest/generator.js';
import { createEventProducer } from '../../ingest/producer.js';
import type { OutgoingRecord } from '../../ports/event-log.js';
import { DEAD_LETTER_TABLE, dedupedSource, rawTable } from '../../sink/raw-tables.js';
import { prepareRawStore, startRawSink } from '../../sink/raw-sink.js';
import { SILENT_LOGGER } from '../../ports/logger.js';
import { ProgressBar } from '../../observability/progress.js';
import type { Runtime } from '../runtime.js';
import { withRuntime } from '../with-runtime.js';
import { compileGroup } from '../../features/definitions.js';
import { REFERENCE_GROUPS } from '../../features/reference.js';
import { FeatureReader } from '../../serving/feature-reader.js';
import { createStreamKeys } from '../../streaming/stream-keys.js';
import { startStream } from '../../streaming/stream-processor.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Run the pipeline end to end on the embedded defaults: generate events, produce them as Avro, sink them into ClickHouse, build streaming features, report.',
  usage: 'tessera demo [--events <n>] [--users <n>] [--items <n>] [--seed <n>] [--keep]',
  details: `Runs in one process: the in-process event log and chDB (TESSERA_CHDB_PATH, default
.tessera/chdb), or Kafka / a ClickHouse server when their variables are set. A few malformed
records are mixed in on purpose to show the dead-letter path. The raw tables are emptied first
unless --keep is given (re-running with --keep and the same seed adds nothing: rows dedupe on eventId).`,
  options: {
    events: { type: 'string', description: 'Impressions to generate', defaultText: '20000' },
    users: { type: 'string', description: 'Users', defaultText: '500' },
    items: { type: 'string', description: 'Items', defaultText: '2000' },
    seed: { type: 'string', description: 'Generator seed', defaultText: '7' },
    keep: { type: 'boolean', description: 'Keep rows from earlier runs' },
  },
  async run(ctx) {
    const options = {
      events: numberOption(ctx, 'events', 20_000, { min: 1 }),
      users: numberOption(ctx, 'users', 500, { min: 1 }),
      items: numberOption(ctx, 'items', 2000, { min: 1 }),
      seed: numberOption(ctx, 'seed', 7),
    };
    return withRuntime(ctx, { embeddedLogAllowed: true, logger: SILENT_LOGGER }, async (rt) => {
      const out = (s: string) => ctx.stdout.write(s + '\n');
      const store = await rt.offline();
      out(`Tessera demo: event log ${rt.embeddedLog ? 'in-process' : `Kafka ${rt.config.kafkaBrokers?.join(',')}`}, offline store ${store.engine}`);
      await rt.ensureTopics();
      await prepareRawStore(store);
      if (!ctx.values.keep) for (const t of EVENT_TYPES) await store.command(`TRUNCATE TABLE ${rawTable(t)}`);
      if (!ctx.values.keep) await store.command(`TRUNCATE TABLE ${DEAD_LETTER_TABLE}`);

      // 1. generate and produce
      const producer = createEventProducer({ log: rt.log(), registry: rt.registry, topics: rt.topics, clock: rt.clock, maxFutureMs: rt.config.maxFutureMs });
      const progress = new ProgressBar({ label: 'produce', unit: 'events', out: ctx.stderr });
      let batch: AnyEvent[] = [];
      let produced = 0;
      for (const rec of generateEvents({ ...options })) {
        batch.push(rec.event);
        if (batch.length === 5000) {
          produced += (await producer.send(batch)).sent;
          progress.tick(batch.length);
          batch = [];
        }
      }
      produced += (await producer.send(batch)).sent;
      progress.tick(batch.length);
      progress.finish();
      const bad = malformedRecords(rt);
      await rt.log().send(bad);
      out(`produced ${produced} events as Avro single-object messages, plus ${bad.length} malformed records`);

      // 2. sink until caught up
      const sinkProgress = new ProgressBar({ label: 'sink', total: produced + bad.length, unit: 'events', out: ctx.stderr });
      const sub = startRawSink(
        { log: rt.log(), store, registry: rt.registry, topics: rt.topics, logger: rt.logger, metrics: rt.metrics, clock: rt.clock },
        { groupId: `tessera-demo-sink`, untilIdle: true, idleMs: 300, onBatchStored: (b) => sinkProgress.tick(b.records.length) },
      );
      await sub.done;
      sinkProgress.finish();

      // 3. what reached the raw store
      await report(rt, out);

      // 4. streaming features from the same log, read back as the serving path would
      const groups = REFERENCE_GROUPS.map(compileGroup);
      const keys = createStreamKeys(rt.config.topicPrefix, 'demo');
      const streamProgress = new ProgressBar({ label: 'stream', total: produced + bad.length, unit: 'events', out: ctx.stderr });
      await startStream(
        { log: rt.log(), store: rt.online(), registry: rt.registry, topics: rt.topics, keys, groups, logger: rt.logger, metrics: rt.metrics, clock: rt.clock },
        { groupId: 'tessera-demo-stream', untilIdle: true, idleMs: 300, onBatchApplied: (b) => streamProgress.tick(b.records.length) },
      ).done;
      streamProgress.finish();
      const m = rt.metrics;
      out(`\nstreaming features: applied ${m.total('tessera_stream_events_applied_total')} events (${m.total('tessera_stream_duplicates_total')} duplicates, ${m.total('tessera_stream_late_events_total')} late) into the ${rt.config.redisUrl ? 'Redis' : 'in-process'} online store`);
      const [top] = await store.query<{ userId: string }>(`SELECT userId FROM ${dedupedSource('click')} GROUP BY userId ORDER BY count() DESC, userId LIMIT 1`);
      if (top) {
        const reader = new FeatureReader({ store: rt.online(), keys, groups, clock: rt.clock });
        const { q, entities } = await reader.read([{ group: 'user', key: top.userId }], 'watermark');
        const e = entities[0]!;
        out(`features of the most active user, ${e.group}:${e.key}, at the stream watermark ${formatInstant(q)}:`);
        for (const [name, value] of Object.entries(e.values)) out(`  ${name.padEnd(30)} ${JSON.stringify(value)}`);
      }
      return 0;
    });
  },
};

/** A few records of each kind of bad input, so the demo shows where they go. */
function malformedRecords(rt: Runtime): OutgoingRecord[] {
  const topic = rt.topics.events('click');
  const base: AnyEvent = {
    type: 'click', eventId: 'demo-bad-1', eventTime: Date.UTC(1999, 11, 31), requestId: 'r', userId: 'u-bad', itemId: 'i',
    categoryId: null, position: 0, context: { device: null, os: null, country: null, city: null, page: null, timezone: null },
  };
  const unknownFingerprint = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 0x42), Buffer.from('body')]);
  return [
    { topic, key: 'u-bad', value: Buffer.from('this is not avro') },
    { topic, key: 'u-bad', value: unknownFingerprint },
    { topic, key: partitionKeyOf(base), value: rt.registry.encode(base) },
    { topic, key: 'u-bad', value: rt.registry.encode({ ...base, eventId: 'demo-bad-2', eventTime: Date.UTC(2026, 0, 6), userId: '' }) },
  ];
}

async function report(rt: Runtime, out: (s: string) => void): Promise<void> {
  const store = await rt.offline();
  out('\nraw store (deduplicated on eventId):');
  for (const t of EVENT_TYPES as readonly EventType[]) {
    const [r] = await store.query<{ n: number; lo: string | null; hi: string | null }>(
      `SELECT count() AS n, toUnixTimestamp64Milli(min(eventTime)) AS lo, toUnixTimestamp64Milli(max(eventTime)) AS hi FROM ${dedupedSource(t)}`,
    );
    const span = r && r.n > 0 ? `  ${formatInstant(Number(r.lo))} .. ${formatInstant(Number(r.hi))}` : '';
    out(`  ${rawTable(t).padEnd(20)} ${String(r?.n ?? 0).padStart(9)}${span}`);
  }
  const [ctr] = await store.query<{ imps: number; clicked: number }>(
    `SELECT count() AS imps, countIf(c.eventId != '') AS clicked
     FROM (SELECT requestId, itemId FROM ${dedupedSource('impression')}) AS i
     LEFT JOIN (SELECT requestId, itemId, any(eventId) AS eventId FROM ${dedupedSource('click')} GROUP BY requestId, itemId) AS c
       ON i.requestId = c.requestId AND i.itemId = c.itemId
     SETTINGS join_use_nulls = 0`,
  );
  if (ctr && ctr.imps > 0) out(`  impressions with a click in the same request: ${ctr.clicked} (${((100 * ctr.clicked) / ctr.imps).toFixed(2)} %)`);
  const top = await store.query<{ itemId: string; clicks: number }>(
    `SELECT itemId, count() AS clicks FROM ${dedupedSource('click')} GROUP BY itemId ORDER BY clicks DESC, itemId LIMIT 5`,
  );
  out(`  most clicked items: ${top.map((t) => `${t.itemId} (${t.clicks})`).join(', ')}`);
  const dead = await store.query<{ reason: string; n: number }>(`SELECT reason, count() AS n FROM ${DEAD_LETTER_TABLE} FINAL GROUP BY reason ORDER BY reason`);
  out(`dead letters: ${dead.map((d) => `${d.reason} ${d.n}`).join(', ') || 'none'}`);
}
