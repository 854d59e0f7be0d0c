import type { CompiledGroup } from '../features/definitions.js';
import type { EventLog } from '../ports/event-log.js';
import type { OfflineStore } from '../ports/offline-store.js';
import { readSamples } from '../batch/read-samples.js';
import type { Sample } from '../samples/sample.js';
import { decodeSample, FEATURE_SPEC_HEADER } from '../joiner/joined-samples.js';

/**
 * Where the trainer reads samples from, in a deterministic order: the same log or table content
 * gives the same sequence, and a cursor taken after any sample resumes right after it. That is
 * what makes a restarted trainer learn exactly the samples an uninterrupted one would, in the
 * same order.
 */
export interface SampleSource {
  /** A short description for logs and manifests. */
  readonly name: string;
  /**
   * Up to `max` samples after `cursor` (null: from the start), the cursor after each of them, and
   * whether the source had nothing more at the time of the call.
   */
  next(cursor: SourceCursor | null, max: number): Promise<{ samples: Sample[]; cursors: SourceCursor[]; exhausted: boolean }>;
}

/** A JSON value that says where a source stands. */
export type SourceCursor = Readonly<Record<string, unknown>>;

interface PartitionPos {
  /** Next offset to read. */
  next: number;
  /** Release key of the last sample taken from this partition (the joiner's re-send rule). */
  last: { t: number; id: string } | null;
}

const keyAfter = (s: Sample, last: { t: number; id: string } | null) => last === null || s.eventTime > last.t || (s.eventTime === last.t && s.impressionId > last.id);
const keyLess = (a: Sample, b: Sample) => a.eventTime < b.eventTime || (a.eventTime === b.eventTime && a.impressionId < b.impressionId);

/**
 * The joiner's samples topic. Each partition holds samples in release order (eventTime,
 * impressionId); re-sent records are dropped by the joiner's rule (a sample not after the last one
 * kept from its partition). Partitions are merged by release key over everything readable at the
 * call, so a static log always gives one global order; the cursor is the per-partition position
 * after a sample, so resuming after sample k continues with sample k + 1 of that order.
 */
export function topicSampleSource(log: EventLog, topic: string, options: { specHash?: string; readChunk?: number } = {}): SampleSource {
  return {
    name: `topic ${topic}`,
    async next(cursor, max) {
      const pos = new Map<number, PartitionPos>();
      for (const [p, c] of Object.entries((cursor?.partitions as Record<string, PartitionPos> | undefined) ?? {})) pos.set(Number(p), { next: c.next, last: c.last });
      const heads = new Map<number, { sample: Sample; offset: number }[]>();
      const more = new Set<number>(); // partitions with records left unread by this call
      let exhausted = true;
      for (const { partition, offset: end } of await log.endOffsets(topic)) {
        const p = pos.get(partition) ?? { next: 0, last: null };
        pos.set(partition, p);
        const queue: { sample: Sample; offset: number }[] = [];
        let at = p.next;
        let last = p.last;
        // read at most `max` usable samples per partition: enough for any merge of `max`
        while (at < end && queue.length < max) {
          const records = await log.read(topic, partition, at, Math.min(options.readChunk ?? 2000, end - at));
          if (records.length === 0) break;
          for (const r of records) {
            at = r.offset + 1;
            const s = decodeSample(r.value);
            if (s === null || (options.specHash !== undefined && r.headers[FEATURE_SPEC_HEADER] !== options.specHash) || !keyAfter(s, last)) {
              queue.push({ sample: null as unknown as Sample, offset: r.offset }); // skipped: still advances the position
              continue;
            }
            last = { t: s.eventTime, id: s.impressionId };
            queue.push({ sample: s, offset: r.offset });
            if (queue.filter((q) => q.sample !== null).length >= max) break;
          }
        }
        if (at < end) {
          exhausted = false;
          more.add(partition);
        }
        heads.set(partition, queue);
      }
      const samples: Sample[] = [];
      const cursors: SourceCursor[] = [];
      const snapshot = (): SourceCursor => ({ partitions: Object.fromEntries([...pos].map(([p, c]) => [p, { next: c.next, last: c.last }])) });
      const skipNulls = (partition: number) => {
        const q = heads.get(partition) as { sample: Sample; offset: number }[];
        while (q.length > 0 && q[0]?.sample === null) (pos.get(partition) as PartitionPos).next = (q.shift() as { offset: number }).offset + 1;
      };
      while (samples.length < max) {
        let best: number | null = null;
        let blocked = false;
        for (const [partition, q] of heads) {
          skipNulls(partition);
          const head = q[0];
          if (head === undefined) {
            // unread records of this partition may sort before every head: stop here, the next call reads them
            if (more.has(partition)) blocked = true;
            continue;
          }
          if (best === null || keyLess(head.sample, (heads.get(best) as { sample: Sample }[])[0]?.sample as Sample)) best = partition;
        }
        if (best === null || blocked) break;
        const q = heads.get(best) as { sample: Sample; offset: number }[];
        const { sample, offset } = q.shift() as { sample: Sample; offset: number };
        pos.set(best, { next: offset + 1, last: { t: sample.eventTime, id: sample.impressionId } });
        samples.push(sample);
        cursors.push(snapshot());
      }
      // a partition whose buffer ran dry before its end may still hold samples that sort earlier
      const leftover = [...heads.values()].some((q) => q.some((x) => x.sample !== null));
      return { samples, cursors, exhausted: exhausted && !leftover };
    },
  };
}

/** Samples from an array (tests, the demo): the cursor is the index of the next sample. */
export function arraySampleSource(all: readonly Sample[]): SampleSource {
  return {
    name: 'array',
    async next(cursor, max) {
      const from = Number(cursor?.index ?? 0);
      const samples = all.slice(from, from + max);
      return { samples, cursors: samples.map((_, i) => ({ index: from + i + 1 })), exhausted: from + samples.length >= all.length };
    },
  };
}

/**
 * The batch samples table (`tessera batch samples`) for [from, to): in its (eventTime,
 * impressionId) order; the cursor is the last sample's key, and a read resumes after it.
 *
 * One reader is kept across calls while each call continues where the previous one ended (the
 * trainer's sequential case), so its next page is being fetched while the trainer learns the
 * current one and each day's row histogram is read once; a call with any other cursor (a restart,
 * a new epoch) starts a new reader there.
 */
export function offlineSampleSource(offline: OfflineStore, options: { from: number; to: number; groups: readonly CompiledGroup[]; table?: string }): SampleSource {
  type Key = { t: number; id: string };
  let live: { rows: AsyncIterableIterator<Sample>; last: Key | null; head: Sample | null } | null = null;
  const sameKey = (a: Key | null, b: Key | null) => (a === null ? b === null : b !== null && a.t === b.t && a.id === b.id);
  return {
    name: `clickhouse ${options.table ?? 'samples'} [${new Date(options.from).toISOString()}, ${new Date(options.to).toISOString()})`,
    async next(cursor, max) {
      const after = cursor === null ? null : { t: Number(cursor.t), id: String(cursor.id) };
      if (live === null || !sameKey(live.last, after)) {
        await live?.rows.return?.();
        const rows = readSamples(offline, { groups: options.groups, from: after?.t ?? options.from, to: options.to, pageSize: Math.max(1000, 4 * max), ...(options.table ? { table: options.table } : {}) });
        live = { rows, last: after, head: null };
      }
      const reader = live;
      const samples: Sample[] = [];
      const cursors: SourceCursor[] = [];
      let exhausted = false;
      while (samples.length < max) {
        let s = reader.head;
        reader.head = null;
        if (s === null) {
          const r = await reader.rows.next();
          if (r.done === true) {
            exhausted = true;
            break;
          }
          s = r.value;
        }
        if (!keyAfter(s, after)) continue; // a new reader starts at after.t, which it may share with earlier samples
        samples.push(s);
        cursors.push({ t: s.eventTime, id: s.impressionId });
      }
      if (!exhausted) {
        // one sample ahead: tells whether the source has more, and keeps the next page coming
        const r = await reader.rows.next();
        if (r.done === true) exhausted = true;
        else reader.head = r.value;
      }
      const last = samples[samples.length - 1];
      if (exhausted) live = null;
      else reader.last = last === undefined ? after : { t: last.eventTime, id: last.impressionId };
      return { samples, cursors, exhausted };
    },
  };
}
