import type { EventLog, OutgoingRecord } from '../ports/event-log.js';
import type { Sample } from '../samples/sample.js';

/** Header carrying the feature-spec hash of a sample record (`FeatureSpec.hash`). */
export const FEATURE_SPEC_HEADER = 'tessera-feature-spec';
/** Header naming the value encoding. */
export const CONTENT_TYPE_HEADER = 'content-type';
/** The value encoding of sample records: the `Sample` object as UTF-8 JSON. */
export const SAMPLE_CONTENT_TYPE = 'application/vnd.tessera.sample+json';

/**
 * The samples topic's record for one sample: key userId (a user's samples stay in one partition,
 * in release order), value the `Sample` as JSON, headers the feature-spec hash and the encoding.
 *
 * Format for readers. The joiner writes with an idempotent producer and may write a sample again
 * after a crash, a takeover or a restart from its last checkpoint (at-least-once), always with the
 * same content. It releases samples in `(eventTime, impressionId)` order, so within one partition
 * the records of one writer are strictly increasing in that order; and a writer resumes only from
 * a checkpoint written after every send it covers, so every sample before its restart point is
 * already in the log. Hence a record is either new, and greater than everything its partition
 * holds from writers that also send it, or a re-send of one the partition already holds. A reader drops a record whose `(eventTime,
 * impressionId)` is not greater than the greatest one it has kept from that partition: O(1) state
 * per partition, kept with the reader's offsets (see {@link JoinedSamplesCursor}), and every
 * impression read exactly once.
 */
export function sampleRecord(topic: string, sample: Sample, specHash: string): OutgoingRecord {
  return {
    topic,
    key: sample.userId,
    value: Buffer.from(JSON.stringify(sample)),
    headers: { [FEATURE_SPEC_HEADER]: specHash, [CONTENT_TYPE_HEADER]: SAMPLE_CONTENT_TYPE },
  };
}

/** The sample in a record's value, or null when it is not one. */
export function decodeSample(value: Buffer): Sample | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const s = parsed as Partial<Sample>;
  if (typeof s.impressionId !== 'string' || typeof s.eventTime !== 'number' || typeof s.features !== 'object' || s.features === null) return null;
  if ((s.clickLabel !== 0 && s.clickLabel !== 1) || (s.orderLabel !== 0 && s.orderLabel !== 1)) return null;
  return s as Sample;
}

/** Where a reader is in one partition: the next offset, and the greatest release key kept so far. */
export interface PartitionCursor {
  next: number;
  last: { eventTime: number; impressionId: string } | null;
}

/** A reader's position in the samples topic, per partition; persist it to resume without repeats. */
export interface JoinedSamplesCursor {
  partitions: Record<number, PartitionCursor>;
}

/** What {@link readJoinedSamples} returns. */
export interface JoinedSamplesRead {
  /** Samples in partition order (and within a partition, in release order). */
  samples: Sample[];
  /** Where to continue. */
  cursor: JoinedSamplesCursor;
  /** Re-sent records dropped. */
  duplicates: number;
  /** Records skipped: not a sample, or (with `specHash`) a sample of another feature spec. */
  skipped: number;
}

/**
 * Reads the samples topic from `from` (default: the start) up to the log end observed at the
 * call, dropping re-sent records by the rule of {@link sampleRecord}. A trainer calls it
 * repeatedly with the returned cursor.
 *
 * @example
 * let cursor;
 * const { samples, cursor: next } = await readJoinedSamples(log, topics.samples(), { from: cursor, specHash: spec.hash });
 */
export async function readJoinedSamples(
  log: EventLog,
  topic: string,
  options: { from?: JoinedSamplesCursor; specHash?: string; maxRecordsPerPartition?: number; chunk?: number } = {},
): Promise<JoinedSamplesRead> {
  const cursor: JoinedSamplesCursor = { partitions: {} };
  for (const [p, c] of Object.entries(options.from?.partitions ?? {})) cursor.partitions[Number(p)] = { next: c.next, last: c.last === null ? null : { ...c.last } };
  const samples: Sample[] = [];
  let duplicates = 0;
  let skipped = 0;
  const chunk = options.chunk ?? 5000;
  for (const { partition, offset: end } of await log.endOffsets(topic)) {
    const c = (cursor.partitions[partition] ??= { next: 0, last: null });
    const until = Math.min(end, c.next + (options.maxRecordsPerPartition ?? Infinity));
    while (c.next < until) {
      const records = await log.read(topic, partition, c.next, Math.min(chunk, until - c.next));
      if (records.length === 0) break;
      for (const r of records) {
        c.next = r.offset + 1;
        const sample = decodeSample(r.value);
        if (sample === null || (options.specHash !== undefined && r.headers[FEATURE_SPEC_HEADER] !== options.specHash)) {
          skipped++;
          continue;
        }
        if (c.last !== null && !after(sample, c.last)) {
          duplicates++;
          continue;
        }
        c.last = { eventTime: sample.eventTime, impressionId: sample.impressionId };
        samples.push(sample);
      }
    }
  }
  return { samples, cursor, duplicates, skipped };
}

function after(s: Sample, last: { eventTime: number; impressionId: string }): boolean {
  return s.eventTime > last.eventTime || (s.eventTime === last.eventTime && s.impressionId > last.impressionId);
}
