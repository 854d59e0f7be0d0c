import { randomUUID } from 'node:crypto';
import { InvalidEventError } from '../errors.js';
import type { EventCatalog } from '../events/event-catalog.js';
import type { AnyEvent, EventType } from '../events/event-types.js';
import type { SchemaRegistry } from '../events/schema-registry.js';
import type { Topics } from '../events/topics.js';
import { validateEvent } from '../events/validate.js';
import type { CompiledGroup } from '../features/definitions.js';
import type { Metrics } from '../observability/metrics.js';
import { tpKey, type EventLog, type RecordBatch, type Subscription, type TopicPartition } from '../ports/event-log.js';
import type { Logger } from '../ports/logger.js';
import type { OnlineStore } from '../ports/online-store.js';
import { DEFAULT_LABEL_RULE, type LabelRule } from '../samples/labels.js';
import { featureSpec, type Sample } from '../samples/sample.js';
import { retry } from '../util/retry.js';
import { JoinerCheckpoints, JoinerFencedError } from './checkpoint.js';
import { sampleRecord } from './joined-samples.js';
import type { JoinerKeys } from './joiner-keys.js';
import { JoinState, type OfferOutcome } from './join-state.js';

/** What `tessera join` needs; wired by the composition root. */
export interface JoinerDeps {
  log: EventLog;
  /** Where checkpoints live (Redis in production). */
  store: OnlineStore;
  registry: SchemaRegistry;
  topics: Topics;
  keys: JoinerKeys;
  /** Compiled feature groups; the sample's feature spec is `featureSpec(groups)` (the project's groups). */
  groups: readonly CompiledGroup[];
  logger: Logger;
  metrics: Metrics;
  /** Wall clock, epoch ms: only for the eventTime sanity check and checkpoint pacing, never for a value. */
  clock: () => number;
}

/** Options of {@link startJoiner}; durations in ms of event time unless they say wall time. */
export interface JoinerOptions {
  /** Label windows. Default 30 min click, 24 h order. */
  rule?: LabelRule;
  /** Allowed lateness behind a partition's watermark (the stream's rule). Default 10 min. */
  latenessMs?: number;
  /** Event-time horizon of eventId dedupe; at least the lateness. Default 24 h. */
  dedupeHorizonMs?: number;
  /** Exit once every partition is caught up (after a last join and checkpoint). */
  untilIdle?: boolean;
  idleMs?: number;
  /** Records per handler call at most. Default 2000. */
  maxBatchRecords?: number;
  /** Least wall time between checkpoints, ms; 0 checkpoints after every batch. Default 1000. */
  checkpointIntervalMs?: number;
  /** How often the log bounds are polled (idle partitions) and the join advanced without new records, ms. Default 500. */
  pollIntervalMs?: number;
  maxFutureMs?: number;
  /** Prefix of the consumer group; each instance adds a random suffix so that it reads every partition. Default `tessera-join`. */
  groupId?: string;
  /** Called after each batch is joined (tests use it to slow down or crash). */
  onBatchJoined?: (batch: RecordBatch) => void | Promise<void>;
}

/** Defaults of {@link JoinerOptions} (lateness and dedupe horizon as in `tessera stream`). */
export const JOIN_DEFAULTS = {
  groupId: 'tessera-join',
  latenessMs: 10 * 60_000,
  dedupeHorizonMs: 24 * 3_600_000,
  maxBatchRecords: 2000,
  checkpointIntervalMs: 1000,
  pollIntervalMs: 500,
} as const;

/** The event types a joiner consumes, in catalog order: the label roles' types plus every source of the groups. */
export function joinedEventTypes(catalog: EventCatalog, groups: readonly CompiledGroup[], rule: LabelRule): EventType[] {
  const wanted = new Set<EventType>([rule.exposure, rule.click, rule.conversion, ...groups.flatMap((g) => g.sources)]);
  return catalog.types.filter((t) => wanted.has(t));
}

/**
 * `tessera join`: the streaming joiner. Turns impressions, clicks and orders into labelled
 * training samples with point-in-time features, on the stream, by the same rule as the batch
 * sample job (docs/architecture.md, "Labels"); see {@link JoinState} for the join itself.
 *
 * One logical joiner reads every partition. Item features depend on the events of every user,
 * that is of every partition, and the completeness bound is a minimum over all partitions, so
 * the state is not split: each instance consumes with a consumer group of its own (a random
 * suffix on `groupId`) and thus is assigned every partition, and the newest instance takes
 * ownership through the checkpoint fence (an older one stops at its next checkpoint with
 * `JoinerFencedError`). Scaling limit: one process (one core) joins the whole input; a second
 * instance is a takeover, not a share of the work.
 *
 * Exactly once in effect:
 * - input: offsets are part of the checkpoint (see `JoinerCheckpoints`), written atomically with
 *   the state they produced; on start the joiner restores it and seeks every partition to its
 *   checkpointed offset, so every record is applied once, whatever crashes or replays happen;
 * - output: samples are sent (idempotent producer, acks=all) before the checkpoint that records
 *   their release, so a crash can only make the joiner send a sample again, never lose one; the
 *   join is deterministic (same samples, same order), and readers drop re-sent records by the
 *   release-order rule documented on `sampleRecord` (`readJoinedSamples` does).
 *
 * Kafka transactions were not used: the state lives in Redis, so a Kafka transaction could not
 * cover it, and the dedupe-by-order rule costs readers O(1) per partition.
 */
export function startJoiner(deps: JoinerDeps, options: JoinerOptions = {}): Subscription {
  const { log, store, registry, topics, keys, groups, logger, metrics, clock } = deps;
  const rule = options.rule ?? DEFAULT_LABEL_RULE;
  const spec = featureSpec(groups);
  const latenessMs = options.latenessMs ?? JOIN_DEFAULTS.latenessMs;
  const dedupeHorizonMs = options.dedupeHorizonMs ?? JOIN_DEFAULTS.dedupeHorizonMs;
  const checkpointIntervalMs = options.checkpointIntervalMs ?? JOIN_DEFAULTS.checkpointIntervalMs;
  const maxFutureMs = options.maxFutureMs ?? 86_400_000;
  const types = joinedEventTypes(registry.catalog, groups, rule);
  const eventTopics = types.map((t) => topics.events(t));
  const state = new JoinState({ groups, spec, rule, latenessMs, dedupeHorizonMs });
  const fingerprint = `spec=${spec.hash};roles=${rule.exposure},${rule.click},${rule.conversion};click=${rule.clickWindowMs};order=${rule.orderWindowMs};lateness=${latenessMs};dedupe=${dedupeHorizonMs};types=${types.join(',')}`;
  const checkpoints = new JoinerCheckpoints(store, keys, fingerprint, groups.map((g) => g.name));

  let seq: number | null = null;
  let lastCheckpointAt = -Infinity;
  let chain: Promise<unknown> = Promise.resolve();
  const locked = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  };
  let sub: Subscription | undefined;
  let stopping = false;
  let failure: { error: unknown } | undefined;

  const observeBounds = async (): Promise<void> => {
    for (const topic of eventTopics) {
      const [ends, starts] = await Promise.all([log.endOffsets(topic), log.startOffsets(topic)]);
      for (const e of ends) state.observe(topic, e.partition, { end: e.offset, start: starts.find((s) => s.partition === e.partition)?.offset ?? 0 });
    }
  };

  const emit = async (samples: Sample[]): Promise<void> => {
    if (samples.length === 0) return;
    await retry(() => log.send(samples.map((s) => sampleRecord(topics.samples(), s, spec.hash))));
    metrics.inc('tessera_join_samples_emitted_total', {}, samples.length, 'Samples sent to the samples topic (re-sends after a restart included)');
    const clicked = samples.reduce((n, s) => n + s.clickLabel, 0);
    const ordered = samples.reduce((n, s) => n + s.orderLabel, 0);
    metrics.inc('tessera_join_positive_labels_total', { label: 'click' }, clicked, 'Emitted samples with a positive label');
    metrics.inc('tessera_join_positive_labels_total', { label: 'order' }, ordered);
  };

  const step = async (force: boolean): Promise<void> => {
    await emit(state.advance());
    const now = clock();
    if (force || now - lastCheckpointAt >= checkpointIntervalMs) {
      seq = await checkpoints.write(seq, state.drainChanges());
      lastCheckpointAt = now;
      metrics.inc('tessera_join_checkpoints_total', {}, 1, 'Checkpoints written (state and offsets, fenced)');
    }
    metrics.set('tessera_join_held_impressions', state.held, {}, 'Impressions held until their label windows close');
    metrics.set('tessera_join_buffered_events', state.buffered, {}, 'Accepted events waiting for the completeness bound');
    metrics.set('tessera_join_entities', state.entities, {}, 'Entities with feature state, over all groups');
    if (Number.isFinite(state.appliedBound)) metrics.set('tessera_join_bound_ms', state.appliedBound, {}, 'Every event before this event time is joined');
  };

  const count = (outcome: OfferOutcome, type: EventType): void => {
    switch (outcome) {
      case 'accepted':
        metrics.inc('tessera_join_events_accepted_total', { type }, 1, 'Events accepted for joining');
        return;
      case 'duplicate':
        metrics.inc('tessera_join_duplicates_total', { type }, 1, 'Producer duplicates dropped (same eventId within the dedupe horizon)');
        return;
      case 'late':
        metrics.inc('tessera_join_late_events_total', { type, reason: 'lateness' }, 1, 'Events counted but not joined (left to the batch layer)');
        return;
      case 'behind':
        metrics.inc('tessera_join_late_events_total', { type, reason: 'behind_bound' }, 1);
        return;
      default:
        return;
    }
  };

  const handle = async (batch: RecordBatch): Promise<void> => {
    const type = topics.typeOf(batch.topic);
    if (type === undefined) throw new Error(`join subscribed to ${batch.topic}, which is not an event topic`);
    const now = clock();
    for (const record of batch.records) {
      let event: AnyEvent | null = null;
      try {
        event = registry.decode(record.value, type);
        validateEvent(event, registry.catalog, now, maxFutureMs);
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        event = null;
        metrics.inc('tessera_join_bad_records_total', { type, reason: err.reason }, 1, 'Records skipped as undecodable or invalid (dead-lettered by the sink)');
      }
      count(state.offer(batch.topic, batch.partition, record.offset, event), type);
    }
    state.observe(batch.topic, batch.partition, { end: batch.highWatermark });
    const last = batch.records[batch.records.length - 1];
    if (last !== undefined) metrics.set('tessera_join_lag', batch.highWatermark - last.offset - 1, { topic: batch.topic, partition: String(batch.partition) }, 'Records behind the log end');
    await step(false);
    await options.onBatchJoined?.(batch);
  };

  const startOffsets = (assigned: readonly TopicPartition[]): Promise<Map<string, number>> =>
    locked(async () => {
      const out = new Map<string, number>();
      for (const tp of assigned) {
        const p = state.partitions.get(tpKey(tp.topic, tp.partition));
        if (p !== undefined && p.next > 0) out.set(tpKey(tp.topic, tp.partition), p.next);
      }
      logger.info('join.assigned', { partitions: assigned.length, resumeFrom: Object.fromEntries(out) });
      return out;
    });

  const fail = (error: unknown): void => {
    failure ??= { error };
    void sub?.stop();
  };

  const run = async (): Promise<void> => {
    // restore, then claim ownership with an empty checkpoint; retry if another instance moved meanwhile
    for (let attempt = 0; ; attempt++) {
      const restored = await checkpoints.read();
      state.restore(restored.state);
      try {
        seq = await checkpoints.write(restored.seq, null);
        break;
      } catch (err) {
        if (!(err instanceof JoinerFencedError) || attempt >= 4) throw err;
      }
    }
    logger.info('join.restored', { checkpoint: seq, held: state.held, buffered: state.buffered, entities: state.entities, bound: state.appliedBound });
    await observeBounds();
    if (stopping) return;
    sub = log.consume(
      {
        groupId: `${options.groupId ?? JOIN_DEFAULTS.groupId}-${randomUUID()}`,
        topics: eventTopics,
        fromBeginning: true,
        commit: false,
        startOffsets,
        untilIdle: options.untilIdle ?? false,
        idleMs: options.idleMs ?? 1000,
        maxBatchRecords: options.maxBatchRecords ?? JOIN_DEFAULTS.maxBatchRecords,
        concurrentPartitions: 1,
      },
      (batch) => locked(() => handle(batch)),
    );
    const timer = setInterval(() => {
      if (stopping || failure !== undefined) return;
      void locked(async () => {
        await observeBounds();
        await step(false);
      }).catch(fail);
    }, options.pollIntervalMs ?? JOIN_DEFAULTS.pollIntervalMs);
    try {
      await sub.done;
    } catch (err) {
      failure ??= { error: err };
    } finally {
      clearInterval(timer);
    }
    if (failure !== undefined) throw failure.error;
    // caught up or stopped: join what the bound now allows and write a last checkpoint
    await locked(async () => {
      await observeBounds();
      await step(true);
    });
  };

  const done = run();
  done.catch(() => undefined);
  return {
    done,
    async stop() {
      stopping = true;
      await sub?.stop();
      await done.catch(() => undefined);
    },
  };
}
