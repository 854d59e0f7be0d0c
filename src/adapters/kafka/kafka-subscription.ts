import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { ServiceError, UsageError } from '../../errors.js';
import type { Logger } from '../../ports/logger.js';
import {
  tpKey,
  type BatchHandler,
  type ConsumeOptions,
  type ConsumedRecord,
  type Subscription,
  type TopicPartition,
} from '../../ports/event-log.js';
import { kafkaError } from './kafka-errors.js';

/** Consumer settings shared by every subscription of one `KafkaEventLog`. */
export interface KafkaConsumerSettings {
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  maxWaitTimeMs: number;
  idleCheckIntervalMs: number;
}

/** What a subscription needs from its `KafkaEventLog`. */
export interface KafkaSubscriptionDeps {
  kafka: Kafka;
  admin: () => Promise<Admin>;
  logger: Logger;
  settings: KafkaConsumerSettings;
}

interface PartitionState {
  topic: string;
  partition: number;
  /** False from the assignment until its seek is registered: batches for it are dropped. */
  ready: boolean;
  /** The next offset to hand over (last handled + 1, or the initial position). */
  position: number;
}

/**
 * One `EventLog.consume` on Kafka: a kafkajs consumer of its own, `eachBatch` with auto-commit
 * and auto-resolve off.
 *
 * Positioning (`startOffsets`, committed, earliest/latest) is done by us, with an explicit seek of
 * every assigned partition at every assignment, which also makes every position known for
 * `untilIdle`. kafkajs applies a seek at the start of the next fetch, so without care a fetch
 * from the old position could be handed over first. The sequence is:
 * 1. on GROUP_JOIN (emitted synchronously right after the sync, before any fetch of the new
 *    generation), pause every assigned partition and mark it not ready: kafkajs leaves paused
 *    partitions out of fetch requests and drops them from responses that arrive meanwhile;
 * 2. asynchronously: call `startOffsets`, read committed offsets (admin) for the rest, earliest or
 *    latest for partitions with neither, then, if no newer assignment came meanwhile, `seek` each
 *    partition, mark it ready and resume it. The next fetch applies the seeks before it builds its
 *    request, so the first batch of a resumed partition starts at the sought offset;
 * 3. in `eachBatch`, a batch is dropped without resolving its offsets (so kafkajs refetches from
 *    the sought position) when its partition is not ready or no longer assigned, when kafkajs
 *    reports it stale (a seek is pending for it), or when the subscription is stopping.
 *
 * Batches are handed to the handler in chunks of `maxBatchRecords`; after each chunk the offset is
 * resolved, committed (with `commit`, the default: last + 1, synchronously, before the next chunk)
 * and a heartbeat sent, which is where kafkajs learns about a rebalance; the member then finishes
 * and rejoins, so the previous owner's batch in flight is committed before anyone else gets the
 * partition. A handler error stops the subscription without committing that chunk and rejects
 * `done` with that error.
 */
export class KafkaSubscription implements Subscription {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (err: unknown) => void;
  private consumer: Consumer | undefined;
  private epoch = 0;
  private joined = false;
  private partitions = new Map<string, PartitionState>();
  private stopping = false;
  private failure: { error: unknown } | undefined;
  private shutdownPromise: Promise<void> | undefined;
  private started: Promise<void> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private checkingIdle = false;
  private idleSince: number | undefined;
  private lastHandledAt = 0;
  private readonly maxBatchRecords: number;
  private readonly commit: boolean;
  private readonly idleMs: number;

  constructor(
    private readonly deps: KafkaSubscriptionDeps,
    private readonly options: ConsumeOptions,
    private readonly handler: BatchHandler,
  ) {
    this.maxBatchRecords = Math.max(1, options.maxBatchRecords ?? 5000);
    this.commit = options.commit ?? true;
    this.idleMs = options.idleMs ?? 1000;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A caller that only awaits stop() must not get an unhandled rejection.
    this.done.catch(() => undefined);
  }

  /** Connects, subscribes and starts consuming in the background; failures reject `done`. */
  start(): void {
    this.started = this.run().catch((err: unknown) => this.fail(kafkaError(err, `consume (group ${this.options.groupId})`)));
  }

  /** Stops after the chunk in flight, leaves the group and disconnects; resolves when done settled. */
  async stop(): Promise<void> {
    await this.shutdown();
  }

  private async run(): Promise<void> {
    const admin = await this.deps.admin();
    const existing = new Set(await admin.listTopics());
    const missing = this.options.topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      throw new ServiceError('kafka', `consume: topic ${missing.join(', ')} does not exist (auto creation is off; call ensureTopics)`, {
        retriable: false,
      });
    }
    if (this.stopping) return;
    const { settings } = this.deps;
    const consumer = this.deps.kafka.consumer({
      groupId: this.options.groupId,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      rebalanceTimeout: settings.rebalanceTimeoutMs,
      maxWaitTimeInMs: settings.maxWaitTimeMs,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.onAssignment(payload.memberAssignment));
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      // Batches of only control records or aborted messages never reach eachBatch; kafkajs moves past them itself.
      if (payload.batchSize !== 0) return;
      const state = this.partitions.get(tpKey(payload.topic, payload.partition));
      if (state?.ready) state.position = Math.max(state.position, Number(payload.lastOffset) + 1);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.epoch++; // a pending positioning must not seek into a consumer that is being torn down
      for (const s of this.partitions.values()) s.ready = false;
      if (payload.restart) {
        this.deps.logger.warn('kafka.consumer_restarting', { groupId: this.options.groupId, error: payload.error.message });
      } else {
        this.fail(kafkaError(payload.error, `consumer of group ${this.options.groupId} crashed`));
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.options.topics], fromBeginning: this.options.fromBeginning ?? true });
    if (this.stopping) return;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, this.options.concurrentPartitions ?? 1),
      eachBatch: (payload) => this.eachBatch(payload),
    });
    if (this.options.untilIdle === true && !this.stopping) {
      this.idleTimer = setInterval(() => void this.checkIdle(), this.deps.settings.idleCheckIntervalMs);
    }
  }

  /** Step 1 (synchronous, inside kafkajs's join): pause and forget the old positions. */
  private onAssignment(memberAssignment: Record<string, number[]>): void {
    const epoch = ++this.epoch;
    const assigned: TopicPartition[] = Object.entries(memberAssignment).flatMap(([topic, parts]) =>
      parts.map((partition) => ({ topic, partition })),
    );
    this.partitions = new Map(assigned.map((tp) => [tpKey(tp.topic, tp.partition), { ...tp, ready: false, position: 0 }]));
    this.joined = true;
    this.idleSince = undefined;
    if (assigned.length === 0) return;
    try {
      this.consumer?.pause(byTopic(assigned));
    } catch (err) {
      // Unpaused partitions could be fetched from a stale position; never hand them over.
      this.fail(kafkaError(err, `consume: pausing the new assignment of group ${this.options.groupId}`));
      return;
    }
    void this.position(epoch, assigned).catch((err: unknown) => this.fail(err));
  }

  /** Step 2: find every partition's start, then seek and resume unless a newer assignment came. */
  private async position(epoch: number, assigned: TopicPartition[]): Promise<void> {
    const supplied = new Map<string, number>();
    if (this.options.startOffsets !== undefined) {
      for (const [key, offset] of await this.options.startOffsets(assigned)) {
        if (!Number.isSafeInteger(offset)) throw new UsageError(`startOffsets returned ${String(offset)} for ${key}: offsets are integers`);
        if (offset >= 0) supplied.set(key, offset); // negative: "none", fall back to the committed offset
      }
    }
    const rest = assigned.filter((tp) => !supplied.has(tpKey(tp.topic, tp.partition)));
    const start = new Map(supplied);
    if (rest.length > 0) {
      const admin = await this.deps.admin();
      const topics = [...new Set(rest.map((tp) => tp.topic))];
      try {
        for (const { topic, partitions } of await admin.fetchOffsets({ groupId: this.options.groupId, topics })) {
          for (const { partition, offset } of partitions) {
            const key = tpKey(topic, partition);
            if (Number(offset) >= 0 && !supplied.has(key)) start.set(key, Number(offset));
          }
        }
        for (const topic of topics) {
          if (!rest.some((tp) => tp.topic === topic && !start.has(tpKey(topic, tp.partition)))) continue;
          for (const o of await admin.fetchTopicOffsets(topic)) {
            const key = tpKey(topic, o.partition);
            if (!start.has(key)) start.set(key, Number(this.options.fromBeginning === false ? o.high : o.low));
          }
        }
      } catch (err) {
        throw kafkaError(err, `consume: reading the start offsets of group ${this.options.groupId}`);
      }
    }
    if (epoch !== this.epoch || this.stopping || this.consumer === undefined) return;
    try {
      for (const tp of assigned) {
        const key = tpKey(tp.topic, tp.partition);
        const offset = start.get(key) ?? 0;
        this.consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(offset) });
        const state = this.partitions.get(key);
        if (state !== undefined) {
          state.position = offset;
          state.ready = true;
        }
      }
      this.consumer.resume(byTopic(assigned));
    } catch (err) {
      // The consumer is being restarted after a crash; its next GROUP_JOIN positions again.
      for (const s of this.partitions.values()) s.ready = false;
      this.deps.logger.debug('kafka.seek_skipped', { groupId: this.options.groupId, error: (err as Error).message });
    }
  }

  /** Step 3: hand the batch over in chunks, or drop it when it may come from a stale position. */
  private async eachBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const state = this.partitions.get(tpKey(topic, partition));
    if (this.stopping || state === undefined || !state.ready || isStale() || !isRunning()) {
      this.deps.logger.debug('kafka.batch_dropped', {
        groupId: this.options.groupId,
        topic,
        partition,
        firstOffset: batch.firstOffset(),
        reason: this.stopping ? 'stopping' : state === undefined ? 'not assigned' : !state.ready ? 'not positioned yet' : isStale() ? 'seek pending' : 'consumer stopping',
      });
      return;
    }
    const messages = batch.messages;
    const highWatermark = Number(batch.highWatermark);
    const batchEnd = Number(batch.lastOffset()) + 1; // past trailing control records too
    for (let i = 0; i < messages.length; i += this.maxBatchRecords) {
      const chunk = messages.slice(i, i + this.maxBatchRecords);
      const last = chunk[chunk.length - 1];
      if (last === undefined) break;
      try {
        await this.handler({ topic, partition, records: chunk.map((m) => toConsumed(topic, partition, m)), highWatermark });
      } catch (err) {
        this.fail(err);
        return;
      }
      const next = i + chunk.length >= messages.length ? batchEnd : Number(last.offset) + 1;
      resolveOffset(last.offset);
      if (this.commit) {
        await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: String(next) }] }] });
      }
      if (this.partitions.get(tpKey(topic, partition)) === state) state.position = next;
      this.lastHandledAt = Date.now();
      await heartbeat();
      if (this.stopping || isStale() || !isRunning() || this.partitions.get(tpKey(topic, partition)) !== state) return;
    }
  }

  /** `untilIdle`: every assigned partition positioned at its log end offset for `idleMs`. */
  private async checkIdle(): Promise<void> {
    if (this.checkingIdle || this.stopping) return;
    this.checkingIdle = true;
    try {
      const epoch = this.epoch;
      const states = [...this.partitions.values()];
      if (!this.joined || states.some((s) => !s.ready)) {
        this.idleSince = undefined;
        return;
      }
      const admin = await this.deps.admin();
      const ends = new Map<string, number>();
      for (const topic of new Set(states.map((s) => s.topic))) {
        for (const o of await admin.fetchTopicOffsets(topic)) ends.set(tpKey(topic, o.partition), Number(o.high));
      }
      if (epoch !== this.epoch || this.stopping) return;
      const caughtUp = states.every((s) => s.ready && s.position >= (ends.get(tpKey(s.topic, s.partition)) ?? 0));
      const now = Date.now();
      if (!caughtUp) {
        this.idleSince = undefined;
        return;
      }
      this.idleSince = Math.max(this.idleSince ?? now, this.lastHandledAt);
      if (now - this.idleSince >= this.idleMs) void this.shutdown();
    } catch (err) {
      this.deps.logger.warn('kafka.idle_check_failed', { groupId: this.options.groupId, error: (err as Error).message });
    } finally {
      this.checkingIdle = false;
    }
  }

  /** Records the first failure (it rejects `done`) and shuts down; later failures are dropped. */
  private fail(error: unknown): void {
    this.failure ??= { error };
    void this.shutdown();
  }

  private shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.stopping = true;
      this.epoch++;
      if (this.idleTimer !== undefined) clearInterval(this.idleTimer);
      await this.started; // never rejects; a consumer still joining is disconnected once it has joined
      try {
        await this.consumer?.disconnect();
      } catch (err) {
        this.deps.logger.warn('kafka.consumer_disconnect_failed', { groupId: this.options.groupId, error: (err as Error).message });
      }
      if (this.failure === undefined) this.resolveDone();
      else this.rejectDone(this.failure.error);
    })();
    return this.shutdownPromise;
  }
}

function byTopic(tps: readonly TopicPartition[]): { topic: string; partitions: number[] }[] {
  const m = new Map<string, number[]>();
  for (const { topic, partition } of tps) m.set(topic, [...(m.get(topic) ?? []), partition]);
  return [...m].map(([topic, partitions]) => ({ topic, partitions }));
}

/** A kafkajs message as the port's record: offsets as numbers, key and header values as UTF-8 strings. */
export function toConsumed(topic: string, partition: number, m: KafkaMessage): ConsumedRecord {
  const headers: Record<string, string> = {};
  for (const [name, v] of Object.entries(m.headers ?? {})) {
    if (v === undefined) continue;
    const one = Array.isArray(v) ? v[v.length - 1] : v; // repeated header: the last value wins
    if (one !== undefined) headers[name] = Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
  }
  return {
    topic,
    partition,
    offset: Number(m.offset),
    key: m.key === null ? null : m.key.toString('utf8'),
    value: m.value ?? Buffer.alloc(0),
    headers,
    timestamp: Number(m.timestamp),
  };
}
