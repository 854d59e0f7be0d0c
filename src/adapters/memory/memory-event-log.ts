import { ServiceError, UsageError } from '../../errors.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  RECORD_BATCH_HEADER_BYTES,
  assertRecordSizes,
  tpKey,
  type BatchHandler,
  type ConsumeOptions,
  type ConsumedRecord,
  type EventLog,
  type OutgoingRecord,
  type PartitionOffset,
  type RecordBatch,
  type Subscription,
  type TopicPartition,
  type TopicSpec,
} from '../../ports/event-log.js';
import { kafkaPartition } from '../../util/murmur2.js';

/** Options of {@link MemoryEventLog}. */
export interface MemoryEventLogOptions {
  /** Record timestamps, epoch ms. Default `Date.now`. */
  now?: () => number;
}

interface StoredRecord {
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  timestamp: number;
}

interface TopicState {
  partitions: StoredRecord[][];
  /** Next partition for a record without a key. */
  roundRobin: number;
  /** See EventLog.maxRecordBytes: from the topic's `max.message.bytes` config, else Kafka's default. */
  maxRecordBytes: number;
}

/**
 * In-process {@link EventLog}: the embedded default (`tessera demo`) and the unit-test double of
 * `KafkaEventLog`, with the same observable semantics:
 *
 * - keyed records are placed like Kafka's default partitioner (murmur2 of the key's UTF-8 bytes,
 *   positive, modulo the partition count), so a key lands on the same partition number in both
 *   adapters; records without a key go round-robin;
 * - consumer groups hand each partition to one member at a time, round-robin over the members
 *   in join order, and rebalance synchronously when a member joins or leaves; a member that
 *   receives a partition waits until the previous owner has finished its in-flight batch (and
 *   committed it), and then starts, like Kafka, from the `startOffsets` hook's offset, else the
 *   committed offset, else the earliest (`fromBeginning`, default) or the log end;
 * - positions are reset that way at every assignment, also for partitions a member keeps;
 * - handler errors reject `done`, commit nothing of that batch, and stop the member.
 *
 * Everything is asynchronous and members yield to the event loop between batches, so producers
 * and consumers interleave as they would against a broker. Data lives as long as the instance.
 */
export class MemoryEventLog implements EventLog {
  private readonly topics = new Map<string, TopicState>();
  private readonly groups = new Map<string, Group>();
  private readonly members = new Set<Member>();
  private readonly now: () => number;
  private closed = false;

  constructor(options: MemoryEventLogOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** See {@link EventLog.ensureTopics}; of `config`, only `max.message.bytes` has an effect (on maxRecordBytes). */
  async ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    this.ensureOpen();
    for (const spec of specs) {
      if (typeof spec.name !== 'string' || spec.name.length === 0) throw new UsageError('ensureTopics: a topic name must be a non-empty string');
      if (!Number.isSafeInteger(spec.partitions) || spec.partitions < 1) {
        throw new UsageError(`ensureTopics: topic ${spec.name} needs a positive integer partition count (got ${String(spec.partitions)})`);
      }
      const messageBytes = spec.config?.['max.message.bytes'];
      if (messageBytes !== undefined && !(/^\d+$/.test(messageBytes) && Number(messageBytes) > RECORD_BATCH_HEADER_BYTES)) {
        throw new UsageError(`ensureTopics: topic ${spec.name}: max.message.bytes must be an integer above ${RECORD_BATCH_HEADER_BYTES} (got ${messageBytes})`);
      }
    }
    for (const spec of specs) {
      if (!this.topics.has(spec.name)) {
        const messageBytes = Number(spec.config?.['max.message.bytes'] ?? DEFAULT_MAX_MESSAGE_BYTES);
        this.topics.set(spec.name, { partitions: Array.from({ length: spec.partitions }, () => []), roundRobin: 0, maxRecordBytes: messageBytes - RECORD_BATCH_HEADER_BYTES });
      }
    }
  }

  /** See {@link EventLog.maxRecordBytes}. */
  async maxRecordBytes(topic: string): Promise<number> {
    this.ensureOpen();
    return this.topic(topic).maxRecordBytes;
  }

  /** See {@link EventLog.send}: all records are appended, or none (unknown topics are refused first). */
  async send(records: readonly OutgoingRecord[]): Promise<void> {
    this.ensureOpen();
    for (const r of records) {
      if (!Buffer.isBuffer(r.value)) throw new UsageError(`send: the value of a record for ${r.topic} must be a Buffer`);
      if (r.key !== null && typeof r.key !== 'string') throw new UsageError(`send: a key must be a string or null (topic ${r.topic})`);
      for (const [name, v] of Object.entries(r.headers ?? {})) {
        if (typeof v !== 'string') throw new UsageError(`send: header ${name} must be a string (topic ${r.topic})`);
      }
      this.topic(r.topic);
    }
    assertRecordSizes(records, new Map(records.map((r) => [r.topic, this.topic(r.topic).maxRecordBytes])));
    const touched = new Set<string>();
    for (const r of records) {
      const topic = this.topic(r.topic);
      const n = topic.partitions.length;
      const partition = r.key === null ? topic.roundRobin++ % n : kafkaPartition(r.key, n);
      topic.partitions[partition]?.push({
        key: r.key,
        value: Buffer.from(r.value),
        headers: { ...(r.headers ?? {}) },
        timestamp: this.now(),
      });
      touched.add(r.topic);
    }
    for (const m of this.members) if (m.topics.some((t) => touched.has(t))) m.wake();
  }

  /** See {@link EventLog.consume}. */
  consume(options: ConsumeOptions, handler: BatchHandler): Subscription {
    this.ensureOpen();
    let group = this.groups.get(options.groupId);
    if (group === undefined) {
      group = new Group(options.groupId, (t) => this.topics.get(t)?.partitions.length ?? 0);
      this.groups.set(options.groupId, group);
    }
    const member = new Member(this, group, options, handler);
    this.members.add(member);
    void member.done.then(
      () => this.members.delete(member),
      () => this.members.delete(member),
    );
    member.start();
    return { done: member.done, stop: () => member.stop() };
  }

  /** See {@link EventLog.endOffsets}. */
  async endOffsets(topic: string): Promise<PartitionOffset[]> {
    this.ensureOpen();
    return this.topic(topic).partitions.map((p, partition) => ({ partition, offset: p.length }));
  }

  /** See {@link EventLog.startOffsets}: always 0, nothing is ever truncated. */
  async startOffsets(topic: string): Promise<PartitionOffset[]> {
    this.ensureOpen();
    return this.topic(topic).partitions.map((_, partition) => ({ partition, offset: 0 }));
  }

  /** See {@link EventLog.offsetsForTimestamp}. */
  async offsetsForTimestamp(topic: string, timestampMs: number): Promise<PartitionOffset[]> {
    this.ensureOpen();
    return this.topic(topic).partitions.map((p, partition) => {
      const i = p.findIndex((r) => r.timestamp >= timestampMs);
      return { partition, offset: i < 0 ? p.length : i };
    });
  }

  /** See {@link EventLog.committedOffsets}. */
  async committedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    this.ensureOpen();
    const committed = this.groups.get(groupId)?.committed;
    return this.topic(topic).partitions.map((_, partition) => ({
      partition,
      offset: committed?.get(tpKey(topic, partition)) ?? -1,
    }));
  }

  /** See {@link EventLog.read}. */
  async read(topic: string, partition: number, fromOffset: number, maxRecords: number): Promise<ConsumedRecord[]> {
    this.ensureOpen();
    const records = this.topic(topic).partitions[partition];
    if (records === undefined) throw new ServiceError('memory', `read: ${topic} has no partition ${partition}`, { retriable: false });
    const from = Math.max(0, fromOffset);
    return records.slice(from, from + Math.max(0, maxRecords)).map((r, i) => toConsumed(topic, partition, from + i, r));
  }

  /** See {@link EventLog.deleteTopics}. */
  async deleteTopics(names: readonly string[]): Promise<void> {
    this.ensureOpen();
    for (const name of names) this.topics.delete(name);
    for (const g of this.groups.values()) g.forgetTopics(names);
  }

  /** Stops every subscription (after its batch in flight) and refuses further calls. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.members].map((m) => m.stop()));
  }

  /** @internal the records of one partition, or undefined when the topic is gone. */
  partitionRecords(topic: string, partition: number): StoredRecord[] | undefined {
    return this.topics.get(topic)?.partitions[partition];
  }

  /** @internal */
  hasTopic(topic: string): boolean {
    return this.topics.has(topic);
  }

  private topic(name: string): TopicState {
    const t = this.topics.get(name);
    if (t === undefined) {
      throw new ServiceError('memory', `topic ${name} does not exist (topics are not created on use; call ensureTopics)`, {
        retriable: false,
      });
    }
    return t;
  }

  private ensureOpen(): void {
    if (this.closed) throw new ServiceError('memory', 'the event log is closed', { retriable: false });
  }
}

/** A consumer group: members, the current assignment, committed offsets and batches in flight. */
class Group {
  readonly committed = new Map<string, number>();
  /** Partition key -> settles when the batch in flight on that partition is done. */
  readonly busy = new Map<string, Promise<void>>();
  readonly owner = new Map<string, Member>();
  readonly members: Member[] = [];
  generation = 0;

  constructor(
    readonly id: string,
    private readonly partitionCount: (topic: string) => number,
  ) {}

  join(m: Member): void {
    this.members.push(m);
    this.rebalance();
  }

  leave(m: Member): void {
    const i = this.members.indexOf(m);
    if (i >= 0) this.members.splice(i, 1);
    this.rebalance();
  }

  forgetTopics(names: readonly string[]): void {
    const gone = new Set(names);
    for (const key of [...this.committed.keys()]) if (gone.has(key.slice(0, key.lastIndexOf(':')))) this.committed.delete(key);
    this.rebalance();
  }

  assignmentOf(m: Member): TopicPartition[] {
    const out: TopicPartition[] = [];
    for (const [key, owner] of this.owner) {
      if (owner !== m) continue;
      const i = key.lastIndexOf(':');
      out.push({ topic: key.slice(0, i), partition: Number(key.slice(i + 1)) });
    }
    return out;
  }

  /** Round-robin over the members (join order) of every subscribed partition, sorted by topic then partition. */
  private rebalance(): void {
    this.generation++;
    this.owner.clear();
    const topics = [...new Set(this.members.flatMap((m) => m.topics))].sort();
    let turn = 0;
    for (const topic of topics) {
      const candidates = this.members.filter((m) => m.topics.includes(topic));
      for (let p = 0; p < this.partitionCount(topic); p++) {
        const owner = candidates[turn++ % candidates.length];
        if (owner !== undefined) this.owner.set(tpKey(topic, p), owner);
      }
    }
    for (const m of this.members) m.wake();
  }
}

/** One subscription: a group member's loop. */
class Member {
  readonly topics: string[];
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (err: unknown) => void;
  private generationSeen = -1;
  private assigned: TopicPartition[] = [];
  private positions = new Map<string, number>();
  private nextPick = 0;
  private stopping = false;
  private wakeUp: (() => void) | undefined;
  private lastHandledAt = 0;
  private idleSince: number | undefined;
  private loop: Promise<void> | undefined;
  private readonly commit: boolean;
  private readonly untilIdle: boolean;
  private readonly idleMs: number;
  private readonly maxBatchRecords: number;

  constructor(
    private readonly log: MemoryEventLog,
    private readonly group: Group,
    private readonly options: ConsumeOptions,
    private readonly handler: BatchHandler,
  ) {
    this.topics = [...options.topics];
    this.commit = options.commit ?? true;
    this.untilIdle = options.untilIdle ?? false;
    this.idleMs = options.idleMs ?? 1000;
    this.maxBatchRecords = Math.max(1, options.maxBatchRecords ?? 5000);
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // `done` may legitimately be left unobserved when the caller only awaits stop().
    this.done.catch(() => undefined);
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
  }

  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private async run(): Promise<void> {
    const missing = this.topics.filter((t) => !this.log.hasTopic(t));
    if (missing.length > 0) {
      this.rejectDone(new ServiceError('memory', `consume: topic ${missing.join(', ')} does not exist (call ensureTopics)`, { retriable: false }));
      return;
    }
    this.group.join(this);
    try {
      await yieldToEventLoop();
      while (!this.stopping) {
        if (this.generationSeen !== this.group.generation) {
          await this.onAssignment();
          continue;
        }
        const tp = this.pick();
        if (tp !== undefined) {
          await this.handle(tp);
          await yieldToEventLoop();
          continue;
        }
        if (this.untilIdle) {
          const now = Date.now();
          this.idleSince = Math.max(this.idleSince ?? now, this.lastHandledAt);
          if (now - this.idleSince >= this.idleMs) break;
        }
        await this.sleep(this.untilIdle ? Math.max(1, this.idleMs - (Date.now() - (this.idleSince ?? Date.now()))) : undefined);
      }
      this.group.leave(this);
      this.resolveDone();
    } catch (err) {
      this.group.leave(this);
      this.rejectDone(err);
    }
  }

  /** Takes the new assignment once the previous owners' batches in flight are done, and positions every partition. */
  private async onAssignment(): Promise<void> {
    const generation = this.group.generation;
    const assigned = this.group.assignmentOf(this);
    await Promise.all(assigned.map((tp) => this.group.busy.get(tpKey(tp.topic, tp.partition))));
    if (generation !== this.group.generation || this.stopping) return;
    const supplied = new Map<string, number>();
    if (this.options.startOffsets !== undefined) {
      for (const [key, offset] of await this.options.startOffsets(assigned)) {
        if (!Number.isSafeInteger(offset)) throw new UsageError(`startOffsets returned ${String(offset)} for ${key}: offsets are integers`);
        if (offset >= 0) supplied.set(key, offset); // negative: "none", fall back to the committed offset (as KafkaEventLog)
      }
    }
    if (generation !== this.group.generation || this.stopping) return;
    const positions = new Map<string, number>();
    for (const { topic, partition } of assigned) {
      const key = tpKey(topic, partition);
      const end = this.log.partitionRecords(topic, partition)?.length ?? 0;
      positions.set(key, supplied.get(key) ?? this.group.committed.get(key) ?? (this.options.fromBeginning === false ? end : 0));
    }
    this.positions = positions;
    this.assigned = assigned;
    this.generationSeen = generation;
    this.idleSince = undefined;
  }

  /** The next owned partition with records to hand over, round-robin so no partition starves. */
  private pick(): TopicPartition | undefined {
    for (let i = 0; i < this.assigned.length; i++) {
      const tp = this.assigned[(this.nextPick + i) % this.assigned.length];
      if (tp === undefined) continue;
      const key = tpKey(tp.topic, tp.partition);
      const records = this.log.partitionRecords(tp.topic, tp.partition);
      if (records !== undefined && (this.positions.get(key) ?? 0) < records.length && this.group.owner.get(key) === this) {
        this.nextPick = (this.nextPick + i + 1) % this.assigned.length;
        return tp;
      }
    }
    return undefined;
  }

  private async handle({ topic, partition }: TopicPartition): Promise<void> {
    const key = tpKey(topic, partition);
    // Checked synchronously with marking the partition busy: a rebalance cannot slip in between.
    if (this.generationSeen !== this.group.generation || this.group.owner.get(key) !== this) return;
    const records = this.log.partitionRecords(topic, partition) ?? [];
    const from = this.positions.get(key) ?? 0;
    const slice = records.slice(from, from + this.maxBatchRecords);
    if (slice.length === 0) return;
    const batch: RecordBatch = {
      topic,
      partition,
      records: slice.map((r, i) => toConsumed(topic, partition, from + i, r)),
      highWatermark: records.length,
    };
    let release!: () => void;
    this.group.busy.set(key, new Promise<void>((r) => (release = r)));
    try {
      await this.handler(batch);
      const next = from + slice.length;
      this.positions.set(key, next);
      if (this.commit) this.group.committed.set(key, next);
      this.lastHandledAt = Date.now();
    } finally {
      this.group.busy.delete(key);
      release();
    }
  }

  private sleep(ms: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.wake(), ms);
      this.wakeUp = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      if (this.stopping) this.wake();
    });
  }
}

function toConsumed(topic: string, partition: number, offset: number, r: StoredRecord): ConsumedRecord {
  return { topic, partition, offset, key: r.key, value: Buffer.from(r.value), headers: { ...r.headers }, timestamp: r.timestamp };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
