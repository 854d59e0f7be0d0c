import { existsSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Command, CommandContext } from '../command.js';
import { numberOption, stringOption } from '../command.js';
import { UsageError } from '../../errors.js';
import { buildSamples } from '../../batch/build-samples.js';
import { TAOBAO_DEFAULTS } from '../../ingest/importers/taobao.js';
import { importSample } from './replay.js';
import type { ModelKind } from '../../models/model.js';
import { Metrics } from '../../observability/metrics.js';
import { tesseraScorerLoader } from '../../serving/model-scorer.js';
import { ModelWatcher } from '../../serving/model-watcher.js';
import { startRankService } from '../../serving/rank-service.js';
import { smokeTestScorer } from '../../serving/smoke-test.js';
import type { StreamKeys } from '../../streaming/stream-keys.js';
import { createFeatureTransform, type CrossBase, type FeatureTransform } from '../../training/feature-transform.js';
import type { CompiledModel } from '../../project/compile-project.js';
import { MODEL_FILES } from '../../training/publication.js';
import { offlineSampleSource } from '../../training/sample-sources.js';
import { Trainer } from '../../training/trainer.js';
import { DEFAULT_DATA_DIR } from '../paths.js';
import { type AnyEvent, type TypedEvent } from '../../events/event-types.js';
import { formatInstant } from '../../events/time.js';
import { generateEvents } from '../../ingest/generator.js';
import { createEventProducer } from '../../ingest/producer.js';
import type { OutgoingRecord } from '../../ports/event-log.js';
import { DEAD_LETTER_TABLE, dedupedSource, rawTable } from '../../sink/raw-tables.js';
import { prepareRawStore, startRawSink } from '../../sink/raw-sink.js';
import { SILENT_LOGGER } from '../../ports/logger.js';
import { ProgressBar } from '../../observability/progress.js';
import type { Runtime } from '../runtime.js';
import { REFERENCE_PROJECT_DIR, withRuntime } from '../with-runtime.js';
import { createProjectEventMapper, type ProjectEventMapper } from '../../ingest/project-events.js';
import { compileGroup, type CompiledGroup } from '../../features/definitions.js';
import { FeatureReader } from '../../serving/feature-reader.js';
import { requestPlan } from '../../serving/request-plan.js';
import { createStreamKeys } from '../../streaming/stream-keys.js';
import { startStream } from '../../streaming/stream-processor.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: "The whole system end to end on the embedded defaults: events, raw store, streaming features, samples, the project's models trained, published, served, ranked.",
  usage: 'tessera demo [--source auto|taobao|generator] [--events <n>] [--users <n>] [--items <n>] [--seed <n>] [--keep] [--no-train]',
  details: `Runs in one process: the in-process event log, the in-process online store and chDB
(TESSERA_CHDB_PATH, default .tessera/chdb), or Kafka / Redis / a ClickHouse server when their variables
are set. It runs on the project of --project (default examples/reference, whose models are FM,
Wide&Deep and LR). It replays the Taobao sample of ../shared/data (--source auto picks it when
present; the seeded generator otherwise), puts the events into the project's own event types (its
label roles; README, "Synthetic data"), mixes in a few malformed records to show the dead-letter
path, sinks everything into the raw tables, builds the streaming features, builds point-in-time
samples in ClickHouse, trains the project's models on them (progressive validation; Wide&Deep with
64-32 hidden units unless the project sets them), publishes them to TESSERA_MODEL_DIR, starts the
ranking service in-process on a free port with the first model, ranks candidates for a few users
over HTTP and prints a summary. The raw tables and the demo's trainer checkpoints are emptied
first unless --keep is given.`,
  options: {
    events: { type: 'string', description: 'Impressions to generate', defaultText: '20000' },
    users: { type: 'string', description: 'Users', defaultText: '500' },
    items: { type: 'string', description: 'Items', defaultText: '2000' },
    seed: { type: 'string', description: 'Generator seed', defaultText: '7' },
    keep: { type: 'boolean', description: 'Keep rows from earlier runs' },
    source: { type: 'string', description: 'auto, taobao or generator', defaultText: 'auto' },
    'no-train': { type: 'boolean', description: 'Stop after the streaming features (no samples, models or serving)' },
  },
  async run(ctx) {
    const options = {
      events: numberOption(ctx, 'events', 20_000, { min: 1 }),
      users: numberOption(ctx, 'users', 500, { min: 1 }),
      items: numberOption(ctx, 'items', 2000, { min: 1 }),
      seed: numberOption(ctx, 'seed', 7),
    };
    return withRuntime(ctx, { embeddedLogAllowed: true, logger: SILENT_LOGGER, defaultProject: REFERENCE_PROJECT_DIR }, async (rt) => {
      const rule = rt.project.labels;
      const out = (s: string) => ctx.stdout.write(s + '\n');
      const store = await rt.offline();
      out(`Tessera demo: event log ${rt.embeddedLog ? 'in-process' : `Kafka ${rt.config.kafkaBrokers?.join(',')}`}, offline store ${store.engine}`);
      await rt.ensureTopics();
      await prepareRawStore(store, rt.project.catalog);
      if (!ctx.values.keep) for (const t of rt.project.catalog.types) await store.command(`TRUNCATE TABLE ${rawTable(t)}`);
      if (!ctx.values.keep) await store.command(`TRUNCATE TABLE ${DEAD_LETTER_TABLE}`);

      // 1. replay (or generate) and produce
      const producer = createEventProducer({ log: rt.log(), registry: rt.registry, topics: rt.topics, clock: rt.clock, maxFutureMs: rt.config.maxFutureMs });
      const progress = new ProgressBar({ label: 'produce', unit: 'events', out: ctx.stderr });
      let batch: AnyEvent[] = [];
      let produced = 0;
      const taobaoPath = resolve(DEFAULT_DATA_DIR, 'taobao', 'UserBehavior_head_84k.csv');
      const sourceName = stringOption(ctx, 'source') ?? 'auto';
      if (!['auto', 'taobao', 'generator'].includes(sourceName)) throw new UsageError('--source must be auto, taobao or generator');
      const useTaobao = sourceName === 'taobao' || (sourceName === 'auto' && existsSync(taobaoPath));
      if (sourceName === 'taobao' && !existsSync(taobaoPath)) throw new UsageError(`--source taobao: ${taobaoPath} is absent (the public samples live in ../shared/data)`);
      // the sources write the reference vocabulary; the mapper puts it into the project's
      const mapper = createProjectEventMapper(rt.project.catalog, rule, { companions: !useTaobao });
      out(`project ${rt.project.name}${mapper.identity ? '' : `: ${mapper.summary.join('; ')}`}`);
      out(useTaobao ? `source: the Taobao sample (${taobaoPath}), impressions sampled as in \`tessera replay taobao\`` : `source: the seeded generator (${options.events} impressions)${sourceName === 'auto' ? '; ../shared/data/taobao is absent' : ''}`);
      const events: AsyncIterable<AnyEvent> | Iterable<AnyEvent> = useTaobao ? importSample('taobao', taobaoPath, TAOBAO_DEFAULTS.negatives, options.seed, rt.project.catalog) : (function* () {
        for (const rec of generateEvents({ ...options })) yield rec.event;
      })();
      for await (const source of events) {
        for (const event of mapper.map(source)) batch.push(event);
        if (batch.length >= 5000) {
          produced += (await producer.send(batch)).sent;
          progress.tick(batch.length);
          batch = [];
        }
      }
      produced += (await producer.send(batch)).sent;
      progress.tick(batch.length);
      progress.finish();
      const bad = malformedRecords(rt, mapper);
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
      const demoStarted = Date.now();
      const groups = rt.project.groups;
      const keys = createStreamKeys(rt.config.topicPrefix, 'demo');
      const streamProgress = new ProgressBar({ label: 'stream', total: produced + bad.length, unit: 'events', out: ctx.stderr });
      await startStream(
        { log: rt.log(), store: rt.online(), registry: rt.registry, topics: rt.topics, keys, groups, logger: rt.logger, metrics: rt.metrics, clock: rt.clock },
        { groupId: 'tessera-demo-stream', untilIdle: true, idleMs: 300, onBatchApplied: (b) => streamProgress.tick(b.records.length) },
      ).done;
      streamProgress.finish();
      const m = rt.metrics;
      out(`\nstreaming features: applied ${m.total('tessera_stream_events_applied_total')} events (${m.total('tessera_stream_duplicates_total')} duplicates, ${m.total('tessera_stream_late_events_total')} late) into the ${rt.config.redisUrl ? 'Redis' : 'in-process'} online store`);
      const [top] = await store.query<{ userId: string }>(`SELECT userId FROM ${dedupedSource(rule.click)} GROUP BY userId ORDER BY count() DESC, userId LIMIT 1`);
      // a group of the user alone, when the project has one
      const userGroup = requestPlan(groups).requestGroups[0];
      if (top && userGroup) {
        const reader = new FeatureReader({ store: rt.online(), keys, groups, clock: rt.clock });
        const { q, entities } = await reader.read([{ group: userGroup.name, key: top.userId }], 'watermark');
        const e = entities[0]!;
        out(`features of the most active user, ${e.group}:${e.key}, at the stream watermark ${formatInstant(q)}:`);
        for (const [name, value] of Object.entries(e.values)) out(`  ${name.padEnd(30)} ${JSON.stringify(value)}`);
      }
      if (ctx.values['no-train'] === true) return 0;
      await trainAndServe(ctx, rt, { groups, keys, produced, seed: options.seed, fresh: ctx.values.keep !== true, startedAt: demoStarted }, out);
      return 0;
    });
  },
};

/**
 * Steps 5-8 of the demo: point-in-time samples in ClickHouse, the project's models trained on
 * them and published, the ranking service started in-process with the first of them hot-loaded,
 * a few users' candidates ranked over HTTP, and the summary.
 */
async function trainAndServe(
  ctx: CommandContext,
  rt: Runtime,
  d: { groups: readonly CompiledGroup[]; keys: StreamKeys; produced: number; seed: number; fresh: boolean; startedAt: number },
  out: (s: string) => void,
): Promise<void> {
  const offline = await rt.offline();
  // 5. samples
  const [span] = await offline.query<{ lo: number; hi: number }>(`SELECT toUnixTimestamp64Milli(min(eventTime)) AS lo, toUnixTimestamp64Milli(max(eventTime)) AS hi FROM ${dedupedSource(rt.project.labels.exposure)}`);
  const built = await buildSamples(
    { offline, logger: rt.logger },
    { catalog: rt.project.catalog, groups: d.groups, rule: rt.project.labels, from: Number(span?.lo ?? 0), to: Number(span?.hi ?? 0) + 1 },
  );
  out(`\npoint-in-time samples: ${built.samples} of ${built.impressions} impressions (${built.immature} still maturing), ${built.clickPositives} clicked, in ${built.seconds.toFixed(1)} s`);
  const range = await offline.query<{ lo: number; hi: number }>(`SELECT toUnixTimestamp64Milli(min(eventTime)) AS lo, toUnixTimestamp64Milli(max(eventTime)) AS hi FROM samples`);
  const lo = Number(range[0]?.lo ?? 0);
  const hi = Number(range[0]?.hi ?? 0) + 1;

  // 6. train and publish the project's models (an FM when it names none)
  const inputs: readonly CompiledModel[] = Object.values(rt.project.models).length > 0 ? Object.values(rt.project.models) : [{ name: 'fm', kind: 'fm', label: 'click', crosses: [], config: {} }];
  const checkpointDir = resolve(rt.config.modelDir, '..', 'demo-trainer');
  if (d.fresh) rmSync(checkpointDir, { recursive: true, force: true });
  const models: { name: string; kind: ModelKind; auc: number; logloss: number; versions: string[]; seconds: number }[] = [];
  const transforms = new Map<string, FeatureTransform>();
  for (const input of inputs) {
    const transform = createFeatureTransform(d.groups, { label: input.label === 'conversion' ? 'order' : 'click', crosses: input.crosses.map(([a, b]) => [a, b] as [CrossBase, CrossBase]) });
    transforms.set(input.name, transform);
    const bar = new ProgressBar({ label: `train ${input.name}`, total: built.samples, unit: 'samples', out: ctx.stderr });
    const started = Date.now();
    const metrics = new Metrics();
    // the demo keeps Wide&Deep small (64-32) unless the project sets its layers
    const modelConfig = { seed: d.seed, ...(input.kind === 'wide-deep' ? { hidden: [64, 32] } : {}), ...input.config };
    const trainer = new Trainer(
      { source: offlineSampleSource(offline, { from: lo, to: hi, groups: d.groups }), store: rt.models(), transform, checkpointDir, metrics, logger: rt.logger, clock: rt.clock },
      { kind: input.kind, name: `demo-${input.name}`, untilIdle: true, publishEverySamples: Math.max(1000, Math.ceil(built.samples / 3)), publishEveryMs: 0, fullEvery: 3, modelConfig },
    );
    const ticker = setInterval(() => bar.update(metrics.total('tessera_train_samples_total')), 200);
    const r = await trainer.run().finally(() => clearInterval(ticker));
    bar.update(r.learned);
    bar.finish();
    models.push({ name: input.name, kind: input.kind, auc: r.auc, logloss: r.logloss, versions: r.published, seconds: (Date.now() - started) / 1000 });
  }
  const served = inputs[0] as CompiledModel;
  const transform = transforms.get(served.name) as FeatureTransform;

  // 7. serve in-process and rank for a few users
  const watcher = new ModelWatcher({
    store: rt.models(),
    model: `demo-${served.name}`,
    load: tesseraScorerLoader(transform, d.groups),
    featureSpecHash: transform.spec.hash,
    files: MODEL_FILES,
    smokeTest: (s) => smokeTestScorer(s, d.groups),
    metrics: rt.metrics,
    logger: rt.logger,
  });
  await watcher.check();
  const reader = new FeatureReader({ store: rt.online(), keys: d.keys, groups: d.groups, clock: rt.clock });
  const server = await startRankService({ reader, scorers: watcher, metrics: rt.metrics, logger: rt.logger }, 0);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/rank`;
  const users = await offline.query<{ userId: string }>(`SELECT userId FROM ${dedupedSource(rt.project.labels.click)} GROUP BY userId ORDER BY count() DESC, userId LIMIT 3`);
  const items = await offline.query<{ itemId: string; categoryId: string | null }>(`SELECT itemId, any(categoryId) AS categoryId FROM ${dedupedSource(rt.project.labels.exposure)} GROUP BY itemId ORDER BY count() DESC, itemId LIMIT 50`);
  const candidates = items.map((i) => (i.categoryId ? { itemId: i.itemId, categoryId: i.categoryId } : i.itemId));
  const latencies: number[] = [];
  const rank = async (userId: string) => {
    const t0 = performance.now();
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId, candidates, context: { device: 'ios', page: 'home', timezone: 'Asia/Shanghai' }, at: 'watermark' }) });
    const body = (await res.json()) as { model?: { version: string }; items?: { itemId: string; score: number }[]; error?: { message: string } };
    latencies.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`rank for ${userId}: ${res.status} ${body.error?.message ?? ''}`);
    return body;
  };
  try {
    out(`\nranking service on ${url} (model demo-${served.name} ${watcher.version ?? 'none: popularity'}), ${candidates.length} candidates per request:`);
    for (const u of users) {
      const body = await rank(u.userId);
      out(`  user ${u.userId}: ${body.items?.slice(0, 5).map((x) => `${x.itemId} ${x.score.toFixed(3)}`).join(', ')} ...`);
    }
    for (let i = 0; i < 200; i++) await rank(users[i % Math.max(1, users.length)]?.userId ?? 'nobody');
  } finally {
    server.close();
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;

  // 8. summary
  const m = rt.metrics;
  out('\nsummary');
  out(`  events          ${d.produced} produced, ${m.total('tessera_sink_events_stored_total') || d.produced} stored, ${m.total('tessera_sink_dead_letters_total')} dead letters`);
  out(`  features        ${m.total('tessera_stream_events_applied_total')} events applied to the online store`);
  out(`  samples         ${built.samples} (click rate ${(built.clickPositives / Math.max(1, built.samples)).toFixed(4)})`);
  for (const x of models) out(`  ${`${x.name} (${x.kind})`.padEnd(15)} progressive AUC ${x.auc.toFixed(4)}, logloss ${x.logloss.toFixed(4)}, ${x.versions.length} version(s) published (${x.versions.at(-1) ?? '-'}), ${x.seconds.toFixed(1)} s`);
  out(`  serving         ${latencies.length} requests of ${candidates.length} candidates in-process over HTTP: p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms`);
  out(`  models in       ${resolve(rt.config.modelDir)}; whole demo ${((Date.now() - d.startedAt) / 1000).toFixed(0)} s after the raw store`);
}

/** A few records of each kind of bad input (on the click role's topic), so the demo shows where they go. */
function malformedRecords(rt: Runtime, mapper: ProjectEventMapper): OutgoingRecord[] {
  const topic = rt.topics.events(rt.project.labels.click);
  const click: TypedEvent<'click'> = {
    type: 'click', eventId: 'demo-bad-1', eventTime: Date.UTC(1999, 11, 31), requestId: 'r', userId: 'u-bad', itemId: 'i',
    categoryId: null, position: 0, context: { device: null, os: null, country: null, city: null, page: null, timezone: null },
  };
  const base = mapper.map(click)[0] as AnyEvent;
  // the click role always carries itemId, an id
  const noItem = { ...base, eventId: 'demo-bad-2', eventTime: Date.UTC(2026, 0, 6), itemId: '' } as AnyEvent;
  const unknownFingerprint = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 0x42), Buffer.from('body')]);
  return [
    { topic, key: 'u-bad', value: Buffer.from('this is not avro') },
    { topic, key: 'u-bad', value: unknownFingerprint },
    { topic, key: rt.registry.catalog.partitionKeyOf(base), value: rt.registry.encode(base) },
    { topic, key: 'u-bad', value: rt.registry.encode(noItem) },
  ];
}

async function report(rt: Runtime, out: (s: string) => void): Promise<void> {
  const store = await rt.offline();
  out('\nraw store (deduplicated on eventId):');
  for (const t of rt.project.catalog.types) {
    const [r] = await store.query<{ n: number; lo: string | null; hi: string | null }>(
      `SELECT count() AS n, toUnixTimestamp64Milli(min(eventTime)) AS lo, toUnixTimestamp64Milli(max(eventTime)) AS hi FROM ${dedupedSource(t)}`,
    );
    const span = r && r.n > 0 ? `  ${formatInstant(Number(r.lo))} .. ${formatInstant(Number(r.hi))}` : '';
    out(`  ${rawTable(t).padEnd(20)} ${String(r?.n ?? 0).padStart(9)}${span}`);
  }
  const [ctr] = await store.query<{ imps: number; clicked: number }>(
    `SELECT count() AS imps, countIf(c.eventId != '') AS clicked
     FROM (SELECT requestId, itemId FROM ${dedupedSource(rt.project.labels.exposure)}) AS i
     LEFT JOIN (SELECT requestId, itemId, any(eventId) AS eventId FROM ${dedupedSource(rt.project.labels.click)} GROUP BY requestId, itemId) AS c
       ON i.requestId = c.requestId AND i.itemId = c.itemId
     SETTINGS join_use_nulls = 0`,
  );
  if (ctr && ctr.imps > 0) out(`  impressions with a click in the same request: ${ctr.clicked} (${((100 * ctr.clicked) / ctr.imps).toFixed(2)} %)`);
  const top = await store.query<{ itemId: string; clicks: number }>(
    `SELECT itemId, count() AS clicks FROM ${dedupedSource(rt.project.labels.click)} GROUP BY itemId ORDER BY clicks DESC, itemId LIMIT 5`,
  );
  out(`  items with the most ${rt.project.labels.click} events: ${top.map((t) => `${t.itemId} (${t.clicks})`).join(', ')}`);
  const dead = await store.query<{ reason: string; n: number }>(`SELECT reason, count() AS n FROM ${DEAD_LETTER_TABLE} FINAL GROUP BY reason ORDER BY reason`);
  out(`dead letters: ${dead.map((d) => `${d.reason} ${d.n}`).join(', ') || 'none'}`);
}
