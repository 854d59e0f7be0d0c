import { DateTime, type Duration } from 'luxon';
import { UsageError } from '../errors.js';
import { formatInstant } from '../events/time.js';

/**
 * How a job splits its work. A partition is the unit the ledger records, resumes and leases:
 * - `hour`: UTC hours `[h, h + 1 h)`; the same instants in every zone with a whole-hour offset;
 * - `day`: calendar days of the job's zone, local midnight to local midnight (23 or 25 h on the
 *   days daylight saving starts or ends);
 * - `single`: one partition per run, identified by its as-of time (a check, not a range).
 */
export type PartitionUnit = 'hour' | 'day' | 'single';

export const PARTITION_UNITS: readonly PartitionUnit[] = ['hour', 'day', 'single'];

/** A half-open time range `[from, to)`, epoch ms UTC. For `single` jobs from = to = the as-of time. */
export interface TimeRange {
  readonly from: number;
  readonly to: number;
}

/** One partition of a run: the ledger's key and the time range the task covers. */
export interface Partition {
  /** Stable, sortable, readable: `2026-01-06T03:00Z` (hour, single), `2026-01-06` (day). */
  readonly key: string;
  readonly from: number;
  readonly to: number;
}

/** More partitions than this in one run is almost certainly a typo in --from/--to. */
export const MAX_PARTITIONS_PER_RUN = 100_000;

const HOUR_MS = 3_600_000;

/**
 * The partition arithmetic of one job: boundaries, listing and the range a scheduled firing
 * covers. Pure; every instant is epoch ms UTC.
 */
export class Partitioning {
  constructor(
    readonly unit: PartitionUnit,
    /** IANA zone of `day` boundaries (ignored by `hour` and `single`). */
    readonly zone = 'UTC',
  ) {}

  /** The partition boundary at or before t (t itself for `single`). */
  floor(t: number): number {
    switch (this.unit) {
      case 'hour':
        return Math.floor(t / HOUR_MS) * HOUR_MS;
      case 'day':
        return DateTime.fromMillis(t, { zone: this.zone }).startOf('day').toMillis();
      case 'single':
        return t;
    }
  }

  /** The boundary after boundary b. */
  private step(b: number): number {
    if (this.unit === 'hour') return b + HOUR_MS;
    return DateTime.fromMillis(b, { zone: this.zone }).plus({ days: 1 }).startOf('day').toMillis();
  }

  /** The ledger key of the partition starting at `from`. */
  key(from: number): string {
    if (this.unit === 'day') return DateTime.fromMillis(from, { zone: this.zone }).toISODate() ?? String(from);
    return instantKey(from);
  }

  /** What one boundary is called in messages: "an hour boundary (UTC)". */
  private boundaryName(): string {
    return this.unit === 'hour' ? 'an hour boundary (partitions are UTC hours)' : `a local midnight in ${this.zone} (partitions are days of that zone)`;
  }

  /**
   * The partitions of a range, oldest first. `hour`/`day` ranges must start and end on
   * boundaries, so that a partition is always the same range whoever asks for it (the ledger
   * would otherwise mark a half-hour "done" for a full one).
   *
   * @throws UsageError naming the nearest boundaries when the range is misaligned, empty or too long.
   */
  list(range: TimeRange): Partition[] {
    if (this.unit === 'single') return [{ key: instantKey(range.to), from: range.from, to: range.to }];
    for (const [name, t] of [['--from', range.from], ['--to', range.to]] as const) {
      const f = this.floor(t);
      if (f !== t) {
        throw new UsageError(`${name} ${formatInstant(t)} is not on ${this.boundaryName()}; use ${formatInstant(f)} or ${formatInstant(this.step(f))}`);
      }
    }
    if (range.to <= range.from) throw new UsageError(`the range is empty: --to ${formatInstant(range.to)} must be after --from ${formatInstant(range.from)}`);
    const out: Partition[] = [];
    for (let b = range.from; b < range.to; ) {
      const next = this.step(b);
      out.push({ key: this.key(b), from: b, to: next });
      if (out.length > MAX_PARTITIONS_PER_RUN) throw new UsageError(`the range holds more than ${MAX_PARTITIONS_PER_RUN} ${this.unit} partitions; split it into smaller runs`);
      b = next;
    }
    return out;
  }

  /**
   * The range a firing at `firedAt` covers: the partitions of `lookback` that ended at least
   * `settle` before it (settle = how long after a partition's end its input is complete: label
   * windows plus lateness for samples). A run skips finished partitions, so a lookback longer
   * than the schedule's period lets one firing catch up on what missed firings left undone.
   */
  scheduledRange(firedAt: number, settle: Duration, lookback: Duration): TimeRange {
    if (this.unit === 'single') return { from: firedAt, to: firedAt };
    const zone = this.unit === 'day' ? this.zone : 'UTC';
    const to = this.floor(DateTime.fromMillis(firedAt, { zone }).minus(settle).toMillis());
    const from = this.floor(DateTime.fromMillis(to, { zone }).minus(lookback).toMillis());
    return { from: Math.min(from, to), to };
  }
}

/** `2026-01-06T03:00Z` for a whole minute, the full ISO instant otherwise. */
export function instantKey(ms: number): string {
  const iso = formatInstant(ms);
  return ms % 60_000 === 0 ? `${iso.slice(0, 16)}Z` : iso;
}
