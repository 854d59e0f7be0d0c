// First: replaces kafkajs's quadratic grouping before kafkajs loads (see the module).
import { kafkajsGroupingIsLinear } from './kafkajs-grouping.js';
import { Kafka, Partitioners, logLevel, type Admin, type ConfigResourceTypes, type Message, type Producer } from 'kafkajs';
import { ConfigError, ServiceError, UsageError } from '../../errors.js';
import { SILENT_LOGGER, type Logger } from '../../ports/logger.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  RECORD_BATCH_HEADER_BYTES,
  assertRecordSizes,
  type BatchHandler,
  type ConsumeOptions,
  type ConsumedRecord,
  type EventLog,
  type OutgoingRecord,
  type PartitionOffset,
  type Subscription,
  type TopicSpec,
} from '../../ports/event-log.js';
import { kafkaError } from './kafka-errors.js';
import { kafkaLogCreator } from './kafka-log-creator.js';
import { readPartition } from './kafka-partition-reader.js';
import { KafkaSubscription, type KafkaConsumerSettings } from './kafka-subscription.js';

/** Options of {@link KafkaEventLog}; every duration is in ms. */
export interface KafkaEventLogOptions {
  /** Bootstrap brokers, `host:port`. Required, non-empty. */
  brokers: readonly string[];
  /** Client id shown in broker logs and metrics. Default `tessera`. */
  clientId?: string;
  /** Receives kafkajs's WARN and ERROR lines (`kafka.client`) and the adapter's own events. Default: silent. */
  logger?: Logger;
  /** Consumer session timeout: a member silent for this long is removed from its group. Default 30 000. */
  sessionTimeoutMs?: number;
  /**
   * Heartbeat interval. It is also how soon a busy member learns that another one joined (kafkajs
   * hears of a rebalance only through a heartbeat), hence 1000 rather than the usual 3000. Keep it
   * below a third of the session timeout. Default 1000.
   */
  heartbeatIntervalMs?: number;
  /** How long the coordinator waits for members to rejoin during a rebalance. Default 60 000. */
  rebalanceTimeoutMs?: number;
  /** Longest a fetch waits for new records at the broker (bounds how long `stop()` takes). Default 500. */
  maxWaitTimeMs?: number;
  /** How often `untilIdle` compares positions with the log end offsets. Default 250. */
  idleCheckIntervalMs?: number;
  /** Attempts kafkajs makes before `send` fails (retriable), roughly 40 s in all by default. Default 8. */
  sendRetries?: number;
  /** `read` gives up (retriable) after this long. Default 30 000. */
  readTimeoutMs?: number;
  /** TCP connect timeout. Default 3000. */
  connectionTimeoutMs?: number;
  /** Request timeout. Default 30 000. */
  requestTimeoutMs?: number;
}

/** Bytes per produce request, at most: a partition's record batch also stays under its topic's `max.message.bytes`. */
const SEND_CHUNK_BYTES = 768 * 1024;
/** kafkajs's `ConfigResourceTypes.TOPIC` (its CommonJS build gives ES modules no named enum export). */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes.TOPIC;

/**
 * {@link EventLog} on Apache Kafka, through kafkajs.
 *
 * - `send`: one lazily connected idempotent producer (acks = -1) shared by all calls, kafkajs's
 *   Java-compatible murmur2 partitioner passed explicitly (`Partitioners.DefaultPartitioner`),
 *   records grouped by topic into `sendBatch` calls of at most ~768 KiB (less when a topic's
 *   `max.message.bytes` is smaller); a record over its topic's limit fails the call before
 *   anything is sent (the broker would drop the connection, which kafkajs retries). kafkajs serialises an
 *   idempotent producer's requests per broker itself (a lock around sequence numbers), so
 *   `maxInFlightRequests: 1` is not needed for ordering. Retries are bounded (`sendRetries`) so a
 *   dead broker fails the call instead of hanging it; after any failed send the producer is
 *   dropped and the next send starts a new one (new producer id), so kafkajs can never reuse
 *   sequence numbers of a batch that may have been written. Topics must exist: an unknown topic
 *   fails at once (non-retriable) instead of kafkajs retrying a metadata error.
 * - `consume`: one kafkajs consumer per subscription; see {@link KafkaSubscription} for the
 *   positioning, chunking, commit and `untilIdle` design.
 * - `endOffsets` / `startOffsets` / `committedOffsets`: admin `fetchTopicOffsets` (high / low) and
 *   `fetchOffsets`; `read`: see `readPartition` (a throw-away consumer group).
 * - `deleteTopics` also replaces the producer if it had written to a deleted topic: kafkajs keeps
 *   refreshing metadata for every topic it has sent to and fails once one of them is gone.
 *
 * Errors are `ServiceError`s (`KAFKA_ERROR`) with kafkajs's error as `cause`; invalid arguments
 * are `UsageError`s.
 *
 * @example
 * const log = createKafkaEventLog({ brokers: ['127.0.0.1:9092'], logger });
 * await log.ensureTopics([{ name: 'tessera.events.click', partitions: 6 }]);
 * await log.send([{ topic: 'tessera.events.click', key: 'user-1', value: bytes }]);
 */
export class KafkaEventLog implements EventLog {
  private readonly kafka: Kafka;
  private readonly logger: Logger;
  private readonly settings: KafkaConsumerSettings;
  private readonly sendRetries: number;
  private readonly readTimeoutMs: number;
  private adminClient: Promise<Admin> | undefined;
  private producerClient: Promise<Producer> | undefined;
  /** Topics the current producer has written to (see deleteTopics). */
  private producerTopics = new Set<string>();
  private readonly knownTopics = new Set<string>();
  /** maxRecordBytes per topic, read once. */
  private readonly recordLimits = new Map<string, number>();
  private readonly sends = new Set<Promise<unknown>>();
  private readonly subscriptions = new Set<KafkaSubscription>();
  private closed = false;

  constructor(options: KafkaEventLogOptions) {
    if (!Array.isArray(options.brokers) || options.brokers.length === 0 || options.brokers.some((b) => !/^[^:\s]+:\d+$/.test(b))) {
      throw new ConfigError(`Kafka brokers ${JSON.stringify(options.brokers)} are not valid: give host:port pairs, e.g. TESSERA_KAFKA_BROKERS=127.0.0.1:9092`);
    }
    this.logger = options.logger ?? SILENT_LOGGER;
    if (!kafkajsGroupingIsLinear()) {
      this.logger.warn('kafka.quadratic_grouping', { detail: 'kafkajs was loaded before the adapter, so its producer groups messages in quadratic time; sends are correct but slower' });
    }
    this.settings = {
      sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1000,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 60_000,
      maxWaitTimeMs: options.maxWaitTimeMs ?? 500,
      idleCheckIntervalMs: options.idleCheckIntervalMs ?? 250,
    };
    this.sendRetries = options.sendRetries ?? 8;
    this.readTimeoutMs = options.readTimeoutMs ?? 30_000;
    this.kafka = new Kafka({
      clientId: options.clientId ?? 'tessera',
      brokers: [...options.brokers],
      connectionTimeout: options.connectionTimeoutMs ?? 3000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(this.logger),
    });
  }

  /** See {@link EventLog.ensureTopics}: creates the missing topics and waits for their leaders. */
  async ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    this.ensureOpen();
    for (const s of specs) {
      if (typeof s.name !== 'string' || s.name.length === 0) throw new UsageError('ensureTopics: a topic name must be a non-empty string');
      if (!Number.isSafeInteger(s.partitions) || s.partitions < 1) {
        throw new UsageError(`ensureTopics: topic ${s.name} needs a positive integer partition count (got ${String(s.partitions)})`);
      }
    }
    const admin = await this.admin();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((s) => !existing.has(s.name));
      if (missing.length > 0) {
        // Resolves false when all of them exist after all (created concurrently): fine.
        await admin.createTopics({
          waitForLeaders: true,
          timeout: 30_000,
          topics: missing.map((s) => ({
            topic: s.name,
            numPartitions: s.partitions,
            configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
          })),
        });
      }
    } catch (err) {
      throw kafkaError(err, `ensureTopics ${specs.map((s) => s.name).join(', ')}`);
    }
    for (const s of specs) this.knownTopics.add(s.name);
  }

  /** See {@link EventLog.send}. Not atomic across chunks or topics; in order per partition. */
  async send(records: readonly OutgoingRecord[]): Promise<void> {
    this.ensureOpen();
    for (const r of records) {
      if (typeof r.topic !== 'string' || r.topic.length === 0) throw new UsageError('send: every record needs a topic');
      if (!Buffer.isBuffer(r.value)) throw new UsageError(`send: the value of a record for ${r.topic} must be a Buffer`);
      if (r.key !== null && typeof r.key !== 'string') throw new UsageError(`send: a key must be a string or null (topic ${r.topic})`);
      for (const [name, v] of Object.entries(r.headers ?? {})) {
        if (typeof v !== 'string') throw new UsageError(`send: header ${name} must be a string (topic ${r.topic})`);
      }
    }
    if (records.length === 0) return;
    const topics = [...new Set(records.map((r) => r.topic))];
    await this.requireTopics(topics);
    const limits = new Map(await Promise.all(topics.map(async (t) => [t, await this.maxRecordBytes(t)] as const)));
    const sizes = assertRecordSizes(records, limits);
    const task = this.sendChunks(records, sizes, Math.min(SEND_CHUNK_BYTES, ...limits.values()));
    this.sends.add(task);
    try {
      await task;
    } finally {
      this.sends.delete(task);
    }
  }

  /** See {@link EventLog.maxRecordBytes}: the topic's effective `max.message.bytes`, from the broker. */
  async maxRecordBytes(topic: string): Promise<number> {
    this.ensureOpen();
    const known = this.recordLimits.get(topic);
    if (known !== undefined) return known;
    const admin = await this.admin();
    let value: string | undefined;
    try {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['max.message.bytes'] }],
      });
      value = resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue;
    } catch (err) {
      throw kafkaError(err, `reading max.message.bytes of ${topic}`);
    }
    const messageBytes = Number(value);
    const limit = (Number.isSafeInteger(messageBytes) && messageBytes > RECORD_BATCH_HEADER_BYTES ? messageBytes : DEFAULT_MAX_MESSAGE_BYTES) - RECORD_BATCH_HEADER_BYTES;
    this.recordLimits.set(topic, limit);
    return limit;
  }

  /** See {@link EventLog.consume}. */
  consume(options: ConsumeOptions, handler: BatchHandler): Subscription {
    this.ensureOpen();
    if (typeof options.groupId !== 'string' || options.groupId.length === 0) throw new UsageError('consume: groupId must be a non-empty string');
    if (!Array.isArray(options.topics) || options.topics.length === 0) throw new UsageError('consume: give at least one topic');
    const sub = new KafkaSubscription({ kafka: this.kafka, admin: () => this.admin(), logger: this.logger, settings: this.settings }, options, handler);
    this.subscriptions.add(sub);
    const forget = () => this.subscriptions.delete(sub);
    sub.done.then(forget, forget);
    sub.start();
    return sub;
  }

  /** See {@link EventLog.endOffsets}: the high watermark per partition. */
  async endOffsets(topic: string): Promise<PartitionOffset[]> {
    return (await this.topicOffsets(topic)).map((o) => ({ partition: o.partition, offset: Number(o.high) }));
  }

  /** See {@link EventLog.startOffsets}: the log start offset per partition. */
  async startOffsets(topic: string): Promise<PartitionOffset[]> {
    return (await this.topicOffsets(topic)).map((o) => ({ partition: o.partition, offset: Number(o.low) }));
  }

  /** See {@link EventLog.offsetsForTimestamp}: admin `fetchTopicOffsetsByTimestamp` (ListOffsets by time). */
  async offsetsForTimestamp(topic: string, timestampMs: number): Promise<PartitionOffset[]> {
    this.ensureOpen();
    const admin = await this.admin();
    const ends = await this.endOffsets(topic);
    let found: { partition: number; offset: string }[];
    try {
      found = await admin.fetchTopicOffsetsByTimestamp(topic, timestampMs);
    } catch (err) {
      throw kafkaError(err, `offsetsForTimestamp ${topic}`);
    }
    // the broker answers -1 for a partition with no record at or after the time
    return ends.map((e) => {
      const o = Number(found.find((f) => f.partition === e.partition)?.offset ?? -1);
      return { partition: e.partition, offset: o < 0 ? e.offset : o };
    });
  }

  /** See {@link EventLog.committedOffsets}. */
  async committedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    this.ensureOpen();
    const admin = await this.admin();
    try {
      const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return (entry?.partitions ?? [])
        .map((p) => ({ partition: p.partition, offset: Number(p.offset) < 0 ? -1 : Number(p.offset) }))
        .sort((a, b) => a.partition - b.partition);
    } catch (err) {
      throw kafkaError(err, `committedOffsets ${groupId} ${topic}`);
    }
  }

  /** See {@link EventLog.read} and `readPartition`. */
  async read(topic: string, partition: number, fromOffset: number, maxRecords: number): Promise<ConsumedRecord[]> {
    this.ensureOpen();
    const admin = await this.admin();
    return readPartition({ kafka: this.kafka, admin, logger: this.logger, settings: this.settings, timeoutMs: this.readTimeoutMs }, topic, partition, fromOffset, maxRecords);
  }

  /** See {@link EventLog.deleteTopics}; missing topics are ignored. */
  async deleteTopics(names: readonly string[]): Promise<void> {
    this.ensureOpen();
    if (names.length === 0) return;
    const admin = await this.admin();
    try {
      const existing = new Set(await admin.listTopics());
      const doomed = [...new Set(names)].filter((n) => existing.has(n));
      if (doomed.length > 0) await admin.deleteTopics({ topics: doomed, timeout: 30_000 });
    } catch (err) {
      throw kafkaError(err, `deleteTopics ${names.join(', ')}`);
    }
    for (const n of names) {
      this.knownTopics.delete(n);
      this.recordLimits.delete(n);
    }
    if (names.some((n) => this.producerTopics.has(n))) {
      await Promise.allSettled([...this.sends]);
      this.resetProducer();
    }
  }

  /**
   * Deletes consumer groups (tests, rebuilds); groups that do not exist are ignored. Not part of
   * the EventLog port. Fails for a group that still has members.
   */
  async deleteGroups(groupIds: readonly string[]): Promise<void> {
    this.ensureOpen();
    if (groupIds.length === 0) return;
    const admin = await this.admin();
    try {
      await admin.deleteGroups([...groupIds]);
    } catch (err) {
      const groups = (err as { groups?: { groupId: string; error?: { type?: string } }[] }).groups;
      const real = groups?.filter((g) => g.error !== undefined && g.error.type !== 'GROUP_ID_NOT_FOUND');
      if (groups === undefined || (real?.length ?? 0) > 0) throw kafkaError(err, `deleteGroups ${groupIds.join(', ')}`);
    }
  }

  /** Stops every subscription (after its batch in flight), then disconnects the producer and the admin client. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.subscriptions].map((s) => s.stop()));
    await Promise.allSettled([...this.sends]);
    const producer = this.producerClient;
    const admin = this.adminClient;
    this.producerClient = undefined;
    this.adminClient = undefined;
    await Promise.allSettled([producer?.then((p) => p.disconnect()), admin?.then((a) => a.disconnect())]);
  }

  private async sendChunks(records: readonly OutgoingRecord[], sizes: readonly number[], chunkBytes: number): Promise<void> {
    const producer = await this.producer();
    let chunk = new Map<string, Message[]>();
    let bytes = 0;
    const flush = async () => {
      if (chunk.size === 0) return;
      const topicMessages = [...chunk].map(([topic, messages]) => ({ topic, messages }));
      chunk = new Map();
      bytes = 0;
      for (const { topic } of topicMessages) this.producerTopics.add(topic);
      await producer.sendBatch({ acks: -1, topicMessages });
    };
    try {
      for (const [i, r] of records.entries()) {
        const size = sizes[i] as number;
        if (bytes > 0 && bytes + size > chunkBytes) await flush();
        const messages = chunk.get(r.topic) ?? [];
        messages.push({ key: r.key, value: r.value, headers: r.headers === undefined ? undefined : { ...r.headers } });
        chunk.set(r.topic, messages);
        bytes += size;
      }
      await flush();
    } catch (err) {
      // The batch may or may not have been written; a fresh producer id keeps kafkajs from reusing its sequence numbers.
      this.resetProducer();
      throw kafkaError(err, `send to ${[...new Set(records.map((r) => r.topic))].join(', ')}`);
    }
  }

  /** Unknown topics fail fast: with auto creation off, kafkajs would otherwise retry a metadata error for a long time. */
  private async requireTopics(topics: string[]): Promise<void> {
    if (topics.every((t) => this.knownTopics.has(t))) return;
    const admin = await this.admin();
    let existing: Set<string>;
    try {
      existing = new Set(await admin.listTopics());
    } catch (err) {
      throw kafkaError(err, 'send: listing topics');
    }
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      throw new ServiceError('kafka', `send: topic ${missing.join(', ')} does not exist (auto creation is off; call ensureTopics)`, {
        retriable: false,
      });
    }
    for (const t of topics) this.knownTopics.add(t);
  }

  private async topicOffsets(topic: string): Promise<{ partition: number; high: string; low: string }[]> {
    this.ensureOpen();
    const admin = await this.admin();
    try {
      return (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition);
    } catch (err) {
      throw kafkaError(err, `offsets of ${topic}`);
    }
  }

  private admin(): Promise<Admin> {
    if (this.adminClient === undefined) {
      const admin = this.kafka.admin();
      const connecting = admin.connect().then(() => admin);
      this.adminClient = connecting;
      connecting.catch(() => {
        if (this.adminClient === connecting) this.adminClient = undefined; // the next call tries again
      });
    }
    return this.adminClient.catch((err: unknown) => {
      throw kafkaError(err, 'connecting the admin client');
    });
  }

  private producer(): Promise<Producer> {
    if (this.producerClient === undefined) {
      const producer = this.kafka.producer({
        idempotent: true,
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
        retry: { retries: this.sendRetries, initialRetryTime: 300, maxRetryTime: 10_000 },
      });
      const connecting = producer.connect().then(() => producer);
      this.producerClient = connecting;
      this.producerTopics = new Set();
      connecting.catch(() => {
        if (this.producerClient === connecting) this.producerClient = undefined;
      });
    }
    return this.producerClient.catch((err: unknown) => {
      throw kafkaError(err, 'connecting the producer');
    });
  }

  private resetProducer(): void {
    const old = this.producerClient;
    this.producerClient = undefined;
    void old
      ?.then((p) => p.disconnect())
      .catch((err: unknown) => this.logger.debug('kafka.producer_disconnect_failed', { error: (err as Error).message }));
  }

  private ensureOpen(): void {
    if (this.closed) throw new ServiceError('kafka', 'the event log is closed', { retriable: false });
  }
}

/**
 * Creates a {@link KafkaEventLog}. Nothing connects until first use.
 *
 * @throws ConfigError when `brokers` is empty or not `host:port` pairs.
 */
export function createKafkaEventLog(options: KafkaEventLogOptions): KafkaEventLog {
  return new KafkaEventLog(options);
}

