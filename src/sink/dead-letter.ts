import type { RejectCode } from '../errors.js';
import { recordBytes, type ConsumedRecord, type EventLog, type OutgoingRecord } from '../ports/event-log.js';
import type { OfflineStore } from '../ports/offline-store.js';
import type { Topics } from '../events/topics.js';
import { retry } from '../util/retry.js';
import { DEAD_LETTER_TABLE } from './raw-tables.js';

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
  /** Read back from the topic only: the original payload's length when the letter carries a cut of it. */
  payloadTruncatedFrom?: number;
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
  /** Present when the payload was cut to fit the dead-letter topic: the original length in bytes. */
  truncatedFrom: 'tessera-payload-truncated-from',
} as const;

/** Longest error message a dead letter carries (an unknown type's name, say, may be arbitrarily long). */
const MAX_MESSAGE_CHARS = 2000;

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
export function toDeadLetterRecord(topics: Topics, letter: DeadLetter, maxRecordBytes = Number.POSITIVE_INFINITY): OutgoingRecord {
  const message = letter.message.length > MAX_MESSAGE_CHARS ? `${letter.message.slice(0, MAX_MESSAGE_CHARS)}…` : letter.message;
  const headers: Record<string, string> = {
    [DLQ_HEADERS.reason]: letter.reason,
    [DLQ_HEADERS.message]: message,
    [DLQ_HEADERS.sourceTopic]: letter.sourceTopic,
    [DLQ_HEADERS.sourcePartition]: String(letter.sourcePartition),
    [DLQ_HEADERS.sourceOffset]: String(letter.sourceOffset),
    [DLQ_HEADERS.loggedAt]: String(letter.loggedAt),
  };
  if (letter.key !== null) headers[DLQ_HEADERS.sourceKey] = letter.key;
  const record = { topic: topics.deadLetter(), key: `${letter.sourceTopic}:${letter.sourcePartition}:${letter.sourceOffset}`, value: letter.payload, headers };
  // The letter's headers make it larger than its source record: a record at its topic's limit
  // would make the letter too large to send, and the sink would stall on it. Its payload is cut
  // to fit instead (the `dead_letters` table keeps it whole).
  if (recordBytes(record) > maxRecordBytes) {
    headers[DLQ_HEADERS.truncatedFrom] = String(letter.payload.length);
    record.value = letter.payload.subarray(0, Math.max(0, letter.payload.length - (recordBytes(record) - maxRecordBytes)));
  }
  return record;
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
    ...(h[DLQ_HEADERS.truncatedFrom] === undefined ? {} : { payloadTruncatedFrom: Number(h[DLQ_HEADERS.truncatedFrom]) }),
  };
}

/**
 * Sends dead letters to the dead-letter topic and records them in the `dead_letters` table.
 * Both writes are idempotent in effect (stable key / ReplacingMergeTree on the source
 * coordinates), so the caller may repeat them after a crash.
 */
export async function writeDeadLetters(log: EventLog, store: OfflineStore, topics: Topics, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const limit = await retry(() => log.maxRecordBytes(topics.deadLetter()));
  await retry(() => log.send(letters.map((l) => toDeadLetterRecord(topics, l, limit))));
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
        failedAt: l.loggedAt,
      })),
    ),
  );
}
