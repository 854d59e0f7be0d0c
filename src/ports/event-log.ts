import { RecordTooLargeError } from '../errors.js';

/**
 * EventLog: a partitioned, replayable log (Apache Kafka in production, an in-process log for the
 * demo and unit tests). Batch-first and free of driver types.
 *
 * Contract (checked by `test/contract/event-log.contract.ts` against both adapters):
 * - records with the same non-null key land in the same partition, in send order;
 * - `send` resolves only when every record is durably appended (acks=all, idempotent producer);
 *   a record whose {@link recordBytes} exceed its topic's {@link EventLog.maxRecordBytes} fails the
 *   call with a `RecordTooLargeError` before anything is sent (a broker would refuse it, and a
 *   record far over the limit makes the broker drop the connection, which clients retry forever);
 * - a consumer group hands each partition to one member at a time; the handler gets a batch of one
 *   partition in offset order; with `commit` (the default) the batch's offsets are committed
 *   after the handler resolves, so a crash re-delivers at most the batch in flight (at-least-once;
 *   consumers make it exactly-once in effect by deduping or by fencing offsets with their state);
 * - `startOffsets` overrides the group's committed offsets at every assignment, for consumers that
 *   keep their offsets beside their own state;
 * - `untilIdle` ends the subscription once every assigned partition has been handled up to the
 *   log end offset observed at the check, and stays so for `idleMs`.
 */
export interface EventLog {
  /** Creates missing topics (existing ones are left as they are). */
  ensureTopics(specs: readonly TopicSpec[]): Promise<void>;
  /** Appends records, possibly to several topics, with one idempotent producer. */
  send(records: readonly OutgoingRecord[]): Promise<void>;
  /**
   * The largest {@link recordBytes} a record of this topic may have: the topic's
   * `max.message.bytes` (the broker's default unless the topic overrides it) less a record batch's
   * header. Read once per topic and process.
   */
  maxRecordBytes(topic: string): Promise<number>;
  /** Starts a consumer group member; the handler is called once per partition batch. */
  consume(options: ConsumeOptions, handler: BatchHandler): Subscription;
  /** The next offset to be written, per partition (the high watermark). */
  endOffsets(topic: string): Promise<PartitionOffset[]>;
  /** The first offset still stored, per partition. */
  startOffsets(topic: string): Promise<PartitionOffset[]>;
  /**
   * Per partition, the first offset whose record timestamp (append time) is at or after
   * `timestampMs`; the end offset when there is none. Lets a replay skip what it cannot need.
   */
  offsetsForTimestamp(topic: string, timestampMs: number): Promise<PartitionOffset[]>;
  /** Offsets a group has committed (the next offset it will read), -1 where none. */
  committedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]>;
  /** Reads a partition range without a group (inspection, tests, dead-letter tools). */
  read(topic: string, partition: number, fromOffset: number, maxRecords: number): Promise<ConsumedRecord[]>;
  /** Deletes topics (tests and rebuilds); missing ones are ignored. */
  deleteTopics(names: readonly string[]): Promise<void>;
  /** Releases connections; pending subscriptions are stopped. */
  close(): Promise<void>;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Broker-side topic configs, e.g. `{ 'retention.ms': '-1' }`. */
  config?: Record<string, string>;
}

/** Kafka's default `max.message.bytes`, the largest record batch a topic accepts: 1 MiB + 12. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/** A record batch's header (v2), which counts against `max.message.bytes`. */
export const RECORD_BATCH_HEADER_BYTES = 61;

/** Upper bound of one record's framing in a batch: length, attributes, deltas, key and value lengths, header count. */
const RECORD_FRAMING_BYTES = 40;

/**
 * An upper bound of the bytes a record takes in a Kafka record batch (uncompressed): its key,
 * value and headers with their framing. What {@link EventLog.maxRecordBytes} is compared with.
 */
export function recordBytes(r: LogRecord): number {
  let n = RECORD_FRAMING_BYTES + r.value.length + (r.key === null ? 0 : Buffer.byteLength(r.key));
  if (r.headers !== undefined) for (const k in r.headers) n += 10 + Buffer.byteLength(k) + Buffer.byteLength(r.headers[k] as string);
  return n;
}

/**
 * Each record's {@link recordBytes}, in order; throws a `RecordTooLargeError` for the first record
 * over its topic's limit (see `EventLog.send`).
 */
export function assertRecordSizes(records: readonly OutgoingRecord[], limits: ReadonlyMap<string, number>): number[] {
  return records.map((r, index) => {
    const bytes = recordBytes(r);
    const limit = limits.get(r.topic);
    if (limit !== undefined && bytes > limit) throw new RecordTooLargeError(r.topic, index, bytes, limit);
    return bytes;
  });
}

export interface LogRecord {
  /** Partition key; null spreads records over partitions. */
  key: string | null;
  value: Buffer;
  headers?: Record<string, string>;
}

export interface OutgoingRecord extends LogRecord {
  topic: string;
}

export interface ConsumedRecord extends LogRecord {
  topic: string;
  partition: number;
  offset: number;
  /** Append time (or producer time), epoch ms; never used for feature values. */
  timestamp: number;
  headers: Record<string, string>;
}

export interface RecordBatch {
  topic: string;
  partition: number;
  /** Non-empty, in offset order. */
  records: ConsumedRecord[];
  /** The partition's log end offset when the batch was fetched; lag = highWatermark - last offset - 1. */
  highWatermark: number;
}

export interface PartitionOffset {
  partition: number;
  offset: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface ConsumeOptions {
  groupId: string;
  topics: readonly string[];
  /** Where a partition with no committed (or supplied) offset starts. Default true: earliest. */
  fromBeginning?: boolean;
  /** Commit each batch's offsets to the log after the handler resolves. Default true. */
  commit?: boolean;
  /**
   * Called at every assignment; the offsets it returns (keyed `topic:partition`) replace the
   * committed ones for those partitions. Used by consumers whose offsets live with their state.
   */
  startOffsets?: (assigned: readonly TopicPartition[]) => Promise<Map<string, number>>;
  /** End the subscription once caught up (see the interface comment). Default false. */
  untilIdle?: boolean;
  /** How long the log must stay caught up before `untilIdle` ends it. Default 1000 ms. */
  idleMs?: number;
  /**
   * How many partitions' batches may be handled at the same time (each partition still strictly
   * in order, one batch at a time). Default 1. An adapter may run fewer.
   */
  concurrentPartitions?: number;
  /** Upper bound on records per handler call. Default 5000. */
  maxBatchRecords?: number;
}

export type BatchHandler = (batch: RecordBatch) => Promise<void>;

export interface Subscription {
  /** Resolves when the subscription ends (idle or stopped); rejects when the handler or the log fails. */
  readonly done: Promise<void>;
  /** Stops after the batch in flight; resolves when stopped. */
  stop(): Promise<void>;
}

/** `topic:partition`, the key of offset maps. */
export function tpKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}
