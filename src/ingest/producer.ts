import { InvalidEventError } from '../errors.js';
import type { AnyEvent } from '../events/event-types.js';
import type { SchemaRegistry } from '../events/schema-registry.js';
import type { Topics } from '../events/topics.js';
import { validateEvent } from '../events/validate.js';
import { recordBytes, type EventLog, type OutgoingRecord } from '../ports/event-log.js';
import { retry } from '../util/retry.js';

export interface EventProducerDeps {
  log: EventLog;
  registry: SchemaRegistry;
  topics: Topics;
  /** Wall clock, epoch ms, for the eventTime range check. */
  clock: () => number;
  /** Default 1 day. */
  maxFutureMs?: number;
}

/** Per-event outcome of a send: every event is either sent or listed here with its reason. */
export interface SendReport {
  sent: number;
  rejected: { index: number; error: InvalidEventError }[];
}

/**
 * The producer API: validates events, encodes them as Avro single-object messages and writes
 * each to its kind's topic, keyed by userId (item profiles by itemId), through the log's
 * idempotent producer. Invalid events are reported, not sent; valid ones in the same call are sent.
 * An event whose record would exceed its topic's limit (`EventLog.maxRecordBytes`) is rejected
 * as `RECORD_TOO_LARGE` the same way, so one oversized event never fails or stalls the others.
 *
 * @example
 * const report = await producer.send([{ type: 'click', eventId: 'e1', eventTime: Date.now(), ... }]);
 */
export interface EventProducer {
  send(events: readonly AnyEvent[]): Promise<SendReport>;
}

export function createEventProducer(deps: EventProducerDeps): EventProducer {
  const maxFutureMs = deps.maxFutureMs ?? 86_400_000;
  // the topics' limits, so that the per-event check needs no await once a topic was seen
  const limits = new Map<string, number>();
  const fetchLimit = async (topic: string) => {
    const limit = await deps.log.maxRecordBytes(topic);
    limits.set(topic, limit);
    return limit;
  };
  return {
    async send(events) {
      const records: OutgoingRecord[] = [];
      const rejected: SendReport['rejected'] = [];
      const now = deps.clock();
      for (const [index, event] of events.entries()) {
        try {
          validateEvent(event, deps.registry.catalog, now, maxFutureMs);
          const record = { topic: deps.topics.events(event.type), key: deps.registry.catalog.partitionKeyOf(event), value: deps.registry.encode(event) };
          const bytes = recordBytes(record);
          const limit = limits.get(record.topic) ?? (await fetchLimit(record.topic));
          if (bytes > limit) {
            throw new InvalidEventError('RECORD_TOO_LARGE', `the encoded event takes ${bytes} bytes; ${record.topic} accepts at most ${limit} (its max.message.bytes less the batch header)`);
          }
          records.push(record);
        } catch (err) {
          if (!(err instanceof InvalidEventError)) throw err;
          rejected.push({ index, error: err });
        }
      }
      if (records.length > 0) await retry(() => deps.log.send(records));
      return { sent: records.length, rejected };
    },
  };
}
