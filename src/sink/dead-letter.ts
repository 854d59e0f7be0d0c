import type { RejectCode } from '../errors.js';
import type { ConsumedRecord, EventLog, OutgoingRecord } from '../ports/event-log.js';
import type { OfflineStore } from '../ports/offline-store.js';
import type { Topics } from '../events/topics.js';
import { retry } from '../util/retry.js';
import { chTime, DEAD_LETTER_TABLE } from './raw-tables.js';

/** A record that could not be used, with why and where it came from. */
export interface DeadLetter {
  reason: RejectCode;
  message: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  key: string | null;
  /** The original bytes, untouched. */
  payload: Buffer;
  /** The source record's log timestamp, epoch ms (deterministic, so a re-sent letter is identical). */
  loggedAt: number;
}

/** Header names of a dead-letter record; the value is the original payload. */
export const DLQ_HEADERS = {
  reason: 'tessera-reason',
  message: 'tessera-error',
  sourceTopic: 'tessera-source-topic',
  sourcePartition: 'tessera-source-partition',
  sourceOffset: 'tessera-source-offset',
  sourceKey: 'tessera-source-key',
  loggedAt: 'tessera-source-timestamp',
} as const;

/** Builds the dead letter for a consumed record. */
export function deadLetterOf(record: ConsumedRecord, reason: RejectCode, message: string): DeadLetter {
  return {
    reason,
    message,
    sourceTopic: record.topic,
    sourcePartition: record.partition,
    sourceOffset: record.offset,
    key: record.key,
    payload: record.value,
    loggedAt: record.timestamp,
  };
}

/**
 * The dead-letter record: keyed by its source coordinates, so a letter re-sent after a crash is
 * recognisable as the same one (consumers of the topic dedupe on the key; the ClickHouse table
 * does it by its sort key).
 */
export function toDeadLetterRecord(topics: Topics, letter: DeadLetter): OutgoingRecord {
  const headers: Record<string, string> = {
    [DLQ_HEADERS.reason]: letter.reason,
    [DLQ_HEADERS.message]: letter.message,
    [DLQ_HEADERS.sourceTopic]: letter.sourceTopic,
    [DLQ_HEADERS.sourcePartition]: String(letter.sourcePartition),
    [DLQ_HEADERS.sourceOffset]: String(letter.sourceOffset),
    [DLQ_HEADERS.loggedAt]: String(letter.loggedAt),
  };
  if (letter.key !== null) headers[DLQ_HEADERS.sourceKey] = letter.key;
  return {
    topic: topics.deadLetter(),
    key: `${letter.sourceTopic}:${letter.sourcePartition}:${letter.sourceOffset}`,
    value: letter.payload,
    headers,
  };
}

/** Reads a dead-letter record back (CLI, tests). */
export function fromDeadLetterRecord(record: ConsumedRecord): DeadLetter {
  const h = record.headers;
  return {
    reason: (h[DLQ_HEADERS.reason] ?? 'UNDECODABLE') as RejectCode,
    message: h[DLQ_HEADERS.message] ?? '',
    sourceTopic: h[DLQ_HEADERS.sourceTopic] ?? '',
    sourcePartition: Number(h[DLQ_HEADERS.sourcePartition]),
    sourceOffset: Number(h[DLQ_HEADERS.sourceOffset]),
    key: h[DLQ_HEADERS.sourceKey] ?? null,
    payload: record.value,
    loggedAt: Number(h[DLQ_HEADERS.loggedAt]),
  };
}

/**
 * Sends dead letters to the dead-letter topic and records them in the `dead_letters` table.
 * Both writes are idempotent in effect (stable key / ReplacingMergeTree on the source
 * coordinates), so the caller may repeat them after a crash.
 */
export async function writeDeadLetters(log: EventLog, store: OfflineStore, topics: Topics, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  await retry(() => log.send(letters.map((l) => toDeadLetterRecord(topics, l))));
  await retry(() =>
    store.insert(
      DEAD_LETTER_TABLE,
      letters.map((l) => ({
        sourceTopic: l.sourceTopic,
        sourcePartition: l.sourcePartition,
        sourceOffset: l.sourceOffset,
        reason: l.reason,
        message: l.message,
        key: l.key,
        payloadBase64: l.payload.toString('base64'),
        failedAt: chTime(l.loggedAt),
      })),
    ),
  );
}
