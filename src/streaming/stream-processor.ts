import { InvalidEventError, UsageError } from '../errors.js';
import type { AnyEvent, EventType } from '../events/event-types.js';
import type { SchemaRegistry } from '../events/schema-registry.js';
import type { Topics } from '../events/topics.js';
import { validateEvent } from '../events/validate.js';
import type { CompiledGroup } from '../features/definitions.js';
import type { Metrics } from '../observability/metrics.js';
import { tpKey, type ConsumedRecord, type EventLog, type RecordBatch, type Subscription, type TopicPartition } from '../ports/event-log.js';
import type { Logger } from '../ports/logger.js';
import type { ApplyResult, Fence, OnlineStore, StoreOp } from '../ports/online-store.js';
import { retry } from '../util/retry.js';
import type { StreamKeys } from './stream-keys.js';
import { entityKeyOf } from '../features/event-input.js';
import { coalesceOps } from './coalesce-ops.js';
import { hllTilesToDrop, longestRetentionMs, planEvent, retentionRules, type Touched } from './tile-layout.js';

/** What `tessera stream` needs; wired by the composition root. */
export interface StreamDeps {
  log: EventLog;
  store: OnlineStore;
  registry: SchemaRegistry;
  topics: Topics;
  keys: StreamKeys;
  /** Compiled (validated) feature groups. */
  groups: readonly CompiledGroup[];
  logger: Logger;
  metrics: Metrics;
  /** Wall clock, epoch ms: only for the eventTime sanity check and freshness metrics. */
  clock: () => number;
}

export interface StreamOptions {
  /** Consumer group. Default `tessera-stream`. */
  groupId?: string;
  /** Events later than this behind their partition's watermark go to the late topic. Default 10 min. */
  latenessMs?: number;
  /** Producer duplicates of an eventId within this event-time horizon are applied once. Default 24 h. */
  dedupeHorizonMs?: number;
  /** Exit once caught up. */
  untilIdle?: boolean;
  idleMs?: number;
  /**
   * Partitions handled at the same time, so one partition's decoding and planning overlaps another's
   * store update. Safe: state and fences are per partition, and entities shared across partitions
   * (items) only receive commutative merges. Default 4.
   */
  concurrentPartitions?: number;
  /** Records read, deduplicated and planned together (one read of fence and dedupe set). Default 2000. */
  maxBatchRecords?: number;
  /**
   * Records per atomic store update at most: a batch goes out as chunks of this many, each fenced
   * at its own last offset, pipelined. Bounds how long one apply script holds Redis, which every
   * read waits behind (docs/architecture.md, "Each event counts once"). Default 50.
   */
  maxApplyRecords?: number;
  /**
   * Wall-clock TTL added on top of the longest retention, ms: forgets entities idle that long.
   * Refreshed when an entity appears and once per prune period of its event time. Default 1 day.
   */
  ttlSlackMs?: number;
  maxFutureMs?: number;
  /**
   * Re-read every partition from its earliest offset instead of resuming after the stored fence.
   * Batches already applied are refused by the fence, so the state does not change: a way to
   * check (and prove) that a replay never double-applies.
   */
  rereadFromStart?: boolean;
  /**
   * Where to start a partition that has no stored fence yet (`topic:partition` -> offset), e.g.
   * a rebuild that skips records appended before its `--from`. Default: the log start.
   */
  initialOffsets?: ReadonlyMap<string, number>;
  /** Events with an earlier eventTime are skipped (not applied, counted): a rebuild `--from`. */
  minEventTime?: number;
  /** Called after each batch is applied (tests use it to crash between batches). */
  onBatchApplied?: (batch: RecordBatch, applied: number) => void | Promise<void>;
}

/** One atomic apply of a batch: the ops of a run of its records, fenced at the run's last offset. */
interface Chunk {
  ops: StoreOp[];
  touched: Touched;
  /** eventId -> eventTime of the events it applies (the dedupe set's new members). */
  ids: Map<string, number>;
  records: number;
  applied: number;
  duplicates: number;
  late: number;
  beforeFrom: number;
  oversized: number;
  fence?: Fence;
  watermark?: number;
}

function newChunk(): Chunk {
  return { ops: [], touched: { entities: new Map(), others: new Set() }, ids: new Map(), records: 0, applied: 0, duplicates: 0, late: 0, beforeFrom: 0, oversized: 0 };
}

/** Per-partition state kept in memory; the store holds the truth and is re-read at every assignment. */
interface PartitionState {
  watermark: number;
}

/** How often, in an entity's own event time, its old tiles are pruned. */
export const PRUNE_PERIOD_MS = 3_600_000;

export const STREAM_DEFAULTS = {
  groupId: 'tessera-stream',
  latenessMs: 10 * 60_000,
  dedupeHorizonMs: 24 * 3_600_000,
  maxBatchRecords: 2000,
  maxApplyRecords: 50,
  concurrentPartitions: 4,
  ttlSlackMs: 86_400_000,
} as const;

/**
 * `tessera stream`: the speed layer. Consumes the event topics the feature groups read and turns
 * each partition batch into atomic, offset-fenced updates of the online store:
 *
 * 1. decode (records the sink dead-letters are skipped and counted here: the sink owns the
 *    dead-letter topic);
 * 2. drop producer duplicates: eventIds already applied for this partition within the dedupe
 *    horizon (event time), and repeats inside the batch;
 * 3. route events older than the partition watermark minus the allowed lateness to the late topic;
 * 4. plan the tile updates of every other event, advance the watermark, record the eventIds,
 *    prune the touched entities' tiles that fell out of every window (in event time, behind each
 *    entity's latest event), refresh wall-clock TTLs;
 * 5. apply it as chunks of at most `maxApplyRecords` records, each one atomic step fenced at the
 *    offset after its last record (compare-and-set on the chunk before), sent back to back.
 *
 * Offsets live in the store beside the state (the log's committed offsets are not used), so a
 * crash, rebalance or replay re-delivers only records whose fence is already stored, which the
 * store then refuses: nothing is applied twice.
 */
export function startStream(deps: StreamDeps, options: StreamOptions = {}): Subscription {
  const { log, store, registry, topics, keys, groups, logger, metrics, clock } = deps;
  const groupId = options.groupId ?? STREAM_DEFAULTS.groupId;
  const latenessMs = options.latenessMs ?? STREAM_DEFAULTS.latenessMs;
  const horizonMs = options.dedupeHorizonMs ?? STREAM_DEFAULTS.dedupeHorizonMs;
  const maxApplyRecords = Math.max(1, options.maxApplyRecords ?? STREAM_DEFAULTS.maxApplyRecords);
  const maxFutureMs = options.maxFutureMs ?? 86_400_000;
  const ttlMs = Math.max(...groups.map((g) => longestRetentionMs(g, latenessMs))) + (options.ttlSlackMs ?? STREAM_DEFAULTS.ttlSlackMs);
  const rules = new Map(groups.map((g) => [g.name, retentionRules(g, latenessMs)]));
  const sources = new Set<EventType>(groups.flatMap((g) => g.sources));
  const partitions = new Map<string, PartitionState>();
  const offsetsKey = keys.offsets(groupId);

  const startOffsets = async (assigned: readonly TopicPartition[]): Promise<Map<string, number>> => {
    const fields = assigned.map((tp) => tpKey(tp.topic, tp.partition));
    const [offs, wms] = await store.read([
      { kind: 'hmget', key: offsetsKey, fields },
      { kind: 'hmget', key: keys.watermarks(), fields },
    ]);
    const out = new Map<string, number>();
    fields.forEach((f, i) => {
      const next = offs?.kind === 'hmget' ? offs.value[i] : null;
      const wm = wms?.kind === 'hmget' ? wms.value[i] : null;
      partitions.set(f, { watermark: wm == null ? -Infinity : Number(wm) });
      if (next != null && !options.rereadFromStart) out.set(f, Number(next));
      else if (options.rereadFromStart) out.set(f, 0);
      else if (options.initialOffsets?.has(f)) out.set(f, options.initialOffsets.get(f) as number);
    });
    logger.info('stream.assigned', { partitions: fields, resumeFrom: Object.fromEntries(out) });
    return out;
  };

  const handle = async (batch: RecordBatch): Promise<void> => {
    // A refused compare-and-set means another owner applied part of this range meanwhile: re-read
    // the fence and apply what is left.
    for (let attempt = 0; attempt < 5; attempt++) if ((await applyBatch(batch)) === 'done') return;
    throw new Error(`stream: ${batch.topic}[${batch.partition}] kept losing the offset fence to another consumer`);
  };

  const applyBatch = async (batch: RecordBatch): Promise<'done' | 'retry'> => {
    const tp = tpKey(batch.topic, batch.partition);
    const type = topics.typeOf(batch.topic);
    if (type === undefined) throw new Error(`stream subscribed to ${batch.topic}, which is not an event topic`);
    const dedupeKey = keys.dedupe(batch.topic, batch.partition);
    const now = clock();

    // 1. decode; bad records are the sink's to dead-letter
    const decoded: { record: ConsumedRecord; event: AnyEvent }[] = [];
    for (const record of batch.records) {
      try {
        const event = registry.decode(record.value, type);
        validateEvent(event, registry.catalog, now, maxFutureMs);
        decoded.push({ record, event });
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        metrics.inc('tessera_stream_bad_records_total', { type, reason: err.reason }, 1, 'Records skipped as undecodable or invalid (dead-lettered by the sink)');
      }
    }

    // 2. the fence, the dedupe set and the touched entities' prune periods, in one round trip
    const entityKeys = new Set<string>();
    for (const { event } of decoded) {
      for (const g of groups) {
        if (!g.sources.includes(event.type)) continue;
        const k = entityKeyOf(g.entity, event);
        if (k !== null) entityKeys.add(keys.entity(g.name, k));
      }
    }
    const entityList = [...entityKeys];
    const [stored, seen, ...epochRead] = await store.read([
      { kind: 'hmget', key: offsetsKey, fields: [tp] },
      { kind: 'zscores', key: dedupeKey, members: decoded.map((d) => d.event.eventId) },
      ...entityList.map((key) => ({ kind: 'hmget' as const, key, fields: ['_p'] })),
    ]);
    const pruneEpochs = new Map<string, number>();
    entityList.forEach((key, i) => {
      const v = epochRead[i];
      const p = v?.kind === 'hmget' ? v.value[0] : null;
      if (p != null) pruneEpochs.set(key, Number(p));
    });
    const storedNext = stored?.kind === 'hmget' && stored.value[0] != null ? Number(stored.value[0]) : -1;
    const last = batch.records[batch.records.length - 1] as ConsumedRecord;
    if (storedNext > last.offset) {
      metrics.inc('tessera_stream_redelivered_batches_total', {}, 1, 'Batches skipped because their offsets were already applied');
      return 'done';
    }
    const seenScores = seen?.kind === 'zscores' ? seen.value : [];

    // 3 + 4. plan, in chunks of at most maxApplyRecords records: each chunk is one atomic apply
    // fenced at its own last offset (compare-and-set on the previous chunk's), so no single script
    // holds Redis for long (readers wait behind a running script), while the chunks of a batch
    // share one read above and go out pipelined, in order, without a round trip each
    const planRetention = { latenessMs, pruneReference: (key: string) => { const p = pruneEpochs.get(key); return p === undefined ? undefined : p * PRUNE_PERIOD_MS; } };
    const state = partitions.get(tp) ?? { watermark: -Infinity };
    let watermark = state.watermark;
    const chunks: Chunk[] = [];
    const late: ConsumedRecord[] = [];
    const inBatch = new Set<string>(); // eventIds applied by this batch (its earlier chunks included)
    let chunk = newChunk();
    let lastDecodedOffset = -1;
    let expected: number | null = storedNext < 0 ? null : storedNext;
    const closeChunk = (fenceOffset: number, final: boolean) => {
      for (const [id, t] of chunk.ids) chunk.ops.push({ op: 'zadd', key: dedupeKey, member: id, score: t });
      if (Number.isFinite(watermark)) {
        chunk.ops.push({ op: 'hmax', key: keys.watermarks(), field: tp, value: watermark });
        if (final) chunk.ops.push({ op: 'zremBelow', key: dedupeKey, below: watermark - horizonMs });
        for (const [key, { group, entityKey, latest }] of chunk.touched.entities) {
          const groupRules = rules.get(group.name) ?? [];
          // Pruning scans the entity's fields, so it runs only when the entity's latest event enters
          // a new prune period (`_p` holds the last one): tiles then outlive their retention by at
          // most one period, which keeps more than reads need, never less.
          const epoch = Math.floor(latest / PRUNE_PERIOD_MS);
          const previous = pruneEpochs.get(key);
          const due = previous === undefined || epoch > previous;
          if (due) chunk.ops.push({ op: 'hmax', key, field: '_p', value: epoch });
          if (due && previous !== undefined && groupRules.length > 0) chunk.ops.push({ op: 'hprune', key, rules: groupRules.map((r) => ({ prefix: r.prefix, below: latest - r.keepMs })) });
          if (due && previous !== undefined) {
            for (const { aggregation, label } of hllTilesToDrop(group, latenessMs, latest, previous, PRUNE_PERIOD_MS)) {
              chunk.ops.push({ op: 'del', key: keys.hll(group.name, aggregation, label, entityKey) });
            }
          }
          if (due) {
            chunk.ops.push({ op: 'expire', key, ttlMs });
            // later chunks see the prune as done, as a batch planned after this chunk would
            pruneEpochs.set(key, epoch);
          }
        }
        for (const key of chunk.touched.others) chunk.ops.push({ op: 'expire', key, ttlMs }); // last-k sets and HyperLogLog tiles written
      }
      chunk.fence = { key: offsetsKey, field: tp, offset: fenceOffset, expected };
      chunk.watermark = watermark;
      expected = fenceOffset;
      chunks.push(chunk);
      chunk = newChunk();
    };
    decoded.forEach(({ record, event }, i) => {
      if (record.offset < storedNext) return; // already applied by an earlier owner
      if (chunk.records >= maxApplyRecords) closeChunk(lastDecodedOffset + 1, false);
      chunk.records++;
      lastDecodedOffset = record.offset;
      if (seenScores[i] != null || inBatch.has(event.eventId)) {
        chunk.duplicates++;
        return;
      }
      if (options.minEventTime !== undefined && event.eventTime < options.minEventTime) {
        chunk.beforeFrom++;
        return;
      }
      if (event.eventTime < watermark - latenessMs) {
        late.push(record);
        chunk.late++;
        return;
      }
      inBatch.add(event.eventId);
      chunk.ids.set(event.eventId, event.eventTime);
      if (!sources.has(event.type)) return;
      chunk.oversized += planEvent(groups, keys, event, chunk.ops, chunk.touched, planRetention).oversized;
      watermark = Math.max(watermark, event.eventTime);
      chunk.applied++;
    });
    // the last chunk's fence covers the whole batch (undecodable records at its end included)
    closeChunk(last.offset + 1, true);

    // late events: to the late topic before the state moves on (at-least-once, keyed by source)
    if (late.length > 0) {
      await retry(() =>
        log.send(
          late.map((r) => ({
            topic: topics.late(),
            key: `${r.topic}:${r.partition}:${r.offset}`,
            value: r.value,
            headers: { 'tessera-reason': 'LATE', 'tessera-watermark': String(state.watermark), 'tessera-source-topic': r.topic, 'tessera-source-partition': String(r.partition), 'tessera-source-offset': String(r.offset) },
          })),
        ),
      );
    }

    // 5. the chunks, each one atomic fenced step, sent back to back (the store runs them in order)
    const results = await Promise.all(
      chunks.map(async (c) => {
        const coalesced = coalesceOps(c.ops);
        const started = performance.now();
        const result = await retry(() => store.apply(coalesced, c.fence as Fence));
        metrics.observe('tessera_stream_apply_seconds', (performance.now() - started) / 1000, {}, 'Time from sending one atomic apply (a chunk of a batch) to its answer, queueing behind the chunks before it included');
        return result;
      }),
    );
    let applied = 0;
    for (const [i, c] of chunks.entries()) {
      if (!(results[i] as ApplyResult).applied) break;
      applied += c.applied;
      metrics.inc('tessera_stream_events_applied_total', { type }, c.applied, 'Events applied to the online store');
      metrics.inc('tessera_stream_duplicates_total', { type }, c.duplicates, 'Producer duplicates dropped (same eventId within the dedupe horizon)');
      metrics.inc('tessera_stream_late_events_total', { type }, c.late, 'Events later than the allowed lateness, routed to the late topic');
      if (c.beforeFrom > 0) metrics.inc('tessera_stream_before_from_total', { type }, c.beforeFrom, 'Events skipped because they are older than a rebuild\'s --from');
      metrics.inc('tessera_stream_oversized_values_total', { type }, c.oversized, 'Text values too long for last / last_k, left out (the rest of the event is applied)');
      metrics.inc('tessera_stream_applies_total', {}, 1, 'Atomic applies (chunks of at most maxApplyRecords records) the store accepted');
    }
    if (results.some((r) => !r.applied)) {
      // another owner moved the fence since we read it (or a chunk before this one did not
      // apply): take the stored watermark and plan what is left again
      metrics.inc('tessera_stream_fence_conflicts_total', {}, 1, 'Batches re-planned because another consumer moved the offset fence');
      const [wm] = await store.read([{ kind: 'hmget', key: keys.watermarks(), fields: [tp] }]);
      const v = wm?.kind === 'hmget' ? wm.value[0] : null;
      partitions.set(tp, { watermark: v == null ? -Infinity : Number(v) });
      return 'retry';
    }
    partitions.set(tp, { watermark });
    metrics.set('tessera_stream_lag', batch.highWatermark - last.offset - 1, { topic: batch.topic, partition: String(batch.partition) }, 'Records behind the log end');
    if (Number.isFinite(watermark)) {
      metrics.set('tessera_stream_watermark_ms', watermark, { topic: batch.topic, partition: String(batch.partition) }, 'Latest event time applied');
    }
    metrics.set('tessera_stream_freshness_ms', now - last.timestamp, { topic: batch.topic, partition: String(batch.partition) }, 'Wall time from append to applied, for the last record of the latest batch');
    await options.onBatchApplied?.(batch, applied);
    return 'done';
  };

  return log.consume(
    {
      groupId,
      topics: [...sources].map((t) => topics.events(t)),
      fromBeginning: true,
      commit: false,
      startOffsets,
      untilIdle: options.untilIdle ?? false,
      idleMs: options.idleMs ?? 1000,
      maxBatchRecords: options.maxBatchRecords ?? STREAM_DEFAULTS.maxBatchRecords,
      concurrentPartitions: options.concurrentPartitions ?? STREAM_DEFAULTS.concurrentPartitions,
    },
    handle,
  );
}
