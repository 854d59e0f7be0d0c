import { InvalidEventError } from '../errors.js';
import type { EventCatalog } from '../events/event-catalog.js';
import type { AnyEvent, EventType } from '../events/event-types.js';
import type { SchemaRegistry } from '../events/schema-registry.js';
import type { Topics } from '../events/topics.js';
import { validateEvent } from '../events/validate.js';
import type { EventLog, RecordBatch, Subscription } from '../ports/event-log.js';
import type { Logger } from '../ports/logger.js';
import type { OfflineStore } from '../ports/offline-store.js';
import type { Metrics } from '../observability/metrics.js';
import { retry } from '../util/retry.js';
import { deadLetterOf, writeDeadLetters, type DeadLetter } from './dead-letter.js';
import { createRawBatches, rawStoreDdl, rawTable } from './raw-tables.js';

/** What the raw sink needs; wired by the composition root. */
export interface RawSinkDeps {
  log: EventLog;
  store: OfflineStore;
  registry: SchemaRegistry;
  topics: Topics;
  logger: Logger;
  metrics: Metrics;
  /** Wall clock, epoch ms: only for the "more than maxFutureMs ahead" check. */
  clock: () => number;
}

export interface RawSinkOptions {
  /** Consumer group. Default `tessera-sink`. */
  groupId?: string;
  /** Event types to sink. Default every type of the registry's catalog. */
  types?: readonly EventType[];
  /** Exit once caught up. Default false. */
  untilIdle?: boolean;
  /** Caught-up time before `untilIdle` ends the run, ms. Default 1000. */
  idleMs?: number;
  /**
   * Partitions handled at the same time, each in order: one partition's batch is decoded while
   * another's insert runs in the engine. Default 4.
   */
  concurrentPartitions?: number;
  /** Records per insert at most. Default 20000. */
  maxBatchRecords?: number;
  /** How far in the future an eventTime may lie, ms. Default 1 day. */
  maxFutureMs?: number;
  /** Called after each batch is durably stored and before its offsets are committed (tests use it to crash). */
  onBatchStored?: (batch: RecordBatch, stored: number, deadLettered: number) => void | Promise<void>;
}

/** Creates the raw tables of the catalog's event types and the dead-letter table if missing. */
export async function prepareRawStore(store: OfflineStore, catalog: EventCatalog): Promise<void> {
  for (const sql of rawStoreDdl(catalog)) await store.command(sql);
}

/**
 * `tessera sink`: consumes the event topics into the ClickHouse raw tables.
 *
 * Exactly once in effect: a batch's rows are inserted (and its bad records dead-lettered) before
 * its offsets are committed, so a crash, rebalance or redelivery can only repeat a batch, never
 * skip one; a repeated batch is dropped by ClickHouse's insert-block deduplication or collapsed
 * by the ReplacingMergeTree key that ends in `eventId` (reads use `FINAL`). Producer duplicates
 * of an eventId collapse the same way.
 *
 * Bad records (undecodable, unknown fingerprint, schema-invalid, missing ids, eventTime out of
 * range) go to the dead-letter topic and table with the original bytes and reason; the rest of
 * the batch is stored. Nothing else is dropped: a store failure that survives retries stops the
 * sink without committing, and a restart resumes from the last committed batch.
 */
export function startRawSink(deps: RawSinkDeps, options: RawSinkOptions = {}): Subscription {
  const { log, store, registry, topics, logger, metrics, clock } = deps;
  const types = options.types ?? registry.catalog.types;
  const newBatch = createRawBatches(registry.catalog);
  const maxFutureMs = options.maxFutureMs ?? 86_400_000;

  const handle = async (batch: RecordBatch): Promise<void> => {
    const type = topics.typeOf(batch.topic);
    if (type === undefined) throw new Error(`sink subscribed to ${batch.topic}, which is not an event topic`);
    const rows = newBatch(type);
    const dead: DeadLetter[] = [];
    const now = clock();
    for (const record of batch.records) {
      let event: AnyEvent;
      try {
        event = registry.decode(record.value, type);
        validateEvent(event, registry.catalog, now, maxFutureMs);
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        dead.push(deadLetterOf(record, err.reason, err.message));
        continue;
      }
      rows.add(event, { topic: record.topic, partition: record.partition, offset: record.offset, logTime: record.timestamp });
    }
    const onRetry = (err: unknown, attempt: number, delayMs: number) => logger.warn('sink.retry', { err, attempt, delayMs, topic: batch.topic, partition: batch.partition });
    if (rows.size > 0) await retry(() => store.insertColumns(rawTable(type), rows.columns()), { onRetry });
    await writeDeadLetters(log, store, topics, dead);
    metrics.inc('tessera_sink_events_stored_total', { type }, rows.size, 'Events written to the raw tables');
    for (const d of dead) metrics.inc('tessera_sink_dead_letters_total', { type, reason: d.reason }, 1, 'Records sent to the dead-letter topic');
    const last = batch.records[batch.records.length - 1];
    if (last) metrics.set('tessera_sink_lag', batch.highWatermark - last.offset - 1, { topic: batch.topic, partition: String(batch.partition) }, 'Records behind the log end');
    logger.debug('sink.batch_stored', { topic: batch.topic, partition: batch.partition, stored: rows.size, deadLettered: dead.length });
    await options.onBatchStored?.(batch, rows.size, dead.length);
  };

  return log.consume(
    {
      groupId: options.groupId ?? 'tessera-sink',
      topics: types.map((t) => topics.events(t)),
      fromBeginning: true,
      commit: true,
      untilIdle: options.untilIdle ?? false,
      idleMs: options.idleMs ?? 1000,
      maxBatchRecords: options.maxBatchRecords ?? 20_000,
      concurrentPartitions: options.concurrentPartitions ?? 4,
    },
    handle,
  );
}
