import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { ServiceError } from '../../errors.js';
import type { Logger } from '../../ports/logger.js';
import type { ConsumedRecord } from '../../ports/event-log.js';
import { kafkaError } from './kafka-errors.js';
import { toConsumed, type KafkaConsumerSettings } from './kafka-subscription.js';

/** What {@link readPartition} needs. */
export interface PartitionReadDeps {
  kafka: Kafka;
  admin: Admin;
  logger: Logger;
  settings: KafkaConsumerSettings;
  timeoutMs: number;
}

/**
 * `EventLog.read` on Kafka. kafkajs has no group-less consumer, so this joins a throw-away group
 * (random id) as its only member, pauses every partition but the one asked for and seeks it (both
 * synchronously inside GROUP_JOIN, before the first fetch), collects `[from, until)` where
 * `until = min(log end, from + maxRecords)` as observed first, then leaves and deletes the group.
 * A start below the log start offset is moved up to it. Rejects with a retriable ServiceError if
 * the range has not arrived within `timeoutMs`.
 */
export async function readPartition(
  deps: PartitionReadDeps,
  topic: string,
  partition: number,
  fromOffset: number,
  maxRecords: number,
): Promise<ConsumedRecord[]> {
  let offsets: Awaited<ReturnType<Admin['fetchTopicOffsets']>>;
  try {
    offsets = await deps.admin.fetchTopicOffsets(topic);
  } catch (err) {
    throw kafkaError(err, `read ${topic}`);
  }
  const bounds = offsets.find((o) => o.partition === partition);
  if (bounds === undefined) throw new ServiceError('kafka', `read: ${topic} has no partition ${partition}`, { retriable: false });
  const from = Math.max(fromOffset, Number(bounds.low));
  const until = Math.min(Number(bounds.high), from + Math.max(0, maxRecords));
  if (from >= until) return [];

  const groupId = `tessera-read-${randomUUID()}`;
  const consumer = deps.kafka.consumer({
    groupId,
    sessionTimeout: deps.settings.sessionTimeoutMs,
    heartbeatInterval: deps.settings.heartbeatIntervalMs,
    rebalanceTimeout: deps.settings.rebalanceTimeoutMs,
    maxWaitTimeInMs: Math.min(deps.settings.maxWaitTimeMs, 100),
    allowAutoTopicCreation: false,
  });
  const records: ConsumedRecord[] = [];
  let finish!: () => void;
  let abort!: (err: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    abort = reject;
  });
  finished.catch(() => undefined); // observed below; may settle before we get there
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const assigned = payload.memberAssignment[topic] ?? [];
    const others = assigned.filter((p) => p !== partition);
    if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
    if (assigned.includes(partition)) consumer.seek({ topic, partition, offset: String(from) });
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) abort(kafkaError(payload.error, `read ${topic}/${partition}`));
  });
  const timer = setTimeout(
    () => abort(new ServiceError('kafka', `read ${topic}/${partition} [${from}, ${until}): timed out after ${deps.timeoutMs} ms`, { retriable: true })),
    deps.timeoutMs,
  );
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, isStale }) => {
        if (batch.topic !== topic || batch.partition !== partition || isStale()) return;
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          const last = records[records.length - 1];
          if (offset >= from && offset < until && (last === undefined || offset > last.offset)) records.push(toConsumed(topic, partition, m));
        }
        resolveOffset(batch.lastOffset());
        if (Number(batch.lastOffset()) + 1 >= until) finish();
      },
    });
    await finished;
  } catch (err) {
    throw kafkaError(err, `read ${topic}/${partition}`);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch((err: unknown) => deps.logger.warn('kafka.read_disconnect_failed', { error: (err as Error).message }));
    await deps.admin.deleteGroups([groupId]).catch(() => undefined); // best effort: an empty group also expires on its own
  }
  return records;
}
