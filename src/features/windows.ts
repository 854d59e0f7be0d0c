/**
 * Window arithmetic: the one implementation of the sawtooth rule of docs/architecture.md
 * ("Windows"). Streaming, batch and serving all call these
 * functions instead of repeating the formulas, so a window means the same thing on every path.
 *
 * A window aggregation of width W read at query time q covers the events with
 * `floor((q - W) / h) * h <= eventTime < q`, h being the hop of W ({@link hopFor}). The head
 * (`< q`) is exact; the tail moves in steps of h, so a window is always a whole number of tiles
 * of size h plus the head tile. An event at exactly q is never part of q's features.
 * A lifetime aggregation covers every event with `eventTime < q`.
 */

/** One second in ms. */
export const SECOND_MS = 1000;
/** One minute in ms. */
export const MINUTE_MS = 60 * SECOND_MS;
/** One hour in ms. */
export const HOUR_MS = 60 * MINUTE_MS;
/** One day (24 h; epoch ms have no leap seconds or DST) in ms. */
export const DAY_MS = 24 * HOUR_MS;

/** The half-open event-time range `[from, to)` a window covers at one query time. */
export interface WindowRange {
  /** First included event time: the start of the oldest tile of the window. */
  readonly from: number;
  /** First excluded event time: the query time itself. */
  readonly to: number;
}

/**
 * The hop (tile size) of a window of width `windowMs`: 1 min up to 1 h, 5 min up to 12 h, 1 h up
 * to 12 days, 1 day beyond. Each bound is inclusive (a 1 h window hops by 1 min).
 *
 * @throws RangeError when `windowMs` is not a positive finite number.
 * @example hopFor(HOUR_MS) === MINUTE_MS; hopFor(7 * DAY_MS) === HOUR_MS
 */
export function hopFor(windowMs: number): number {
  if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`a window must be a positive number of ms, got ${String(windowMs)}`);
  if (windowMs <= HOUR_MS) return MINUTE_MS;
  if (windowMs <= 12 * HOUR_MS) return 5 * MINUTE_MS;
  if (windowMs <= 12 * DAY_MS) return HOUR_MS;
  return DAY_MS;
}

/**
 * The start of the tile of size `hopMs` that contains instant `t`: `floor(t / h) * h`, also for
 * negative t (pre-1970 instants round down, not towards zero).
 *
 * Integer remainder arithmetic rather than `Math.floor(t / h) * h`, so that the result is exact
 * for every safe integer and never depends on how a division rounds.
 *
 * @example tileStart(125_000, MINUTE_MS) === 120_000; tileStart(-1, MINUTE_MS) === -60_000
 */
export function tileStart(t: number, hopMs: number): number {
  const r = t % hopMs;
  // `%` keeps the sign of t; subtracting a negative remainder would round towards zero.
  return r < 0 ? t - r - hopMs : t - r;
}

/**
 * The event-time range of a window of width `windowMs` at query time `q`:
 * `from = floor((q - W) / h) * h`, `to = q`; an event t belongs iff `from <= t < q`.
 *
 * @example windowRange(Date.UTC(2024, 0, 1, 10, 30, 15), HOUR_MS)
 *   // { from: Date.UTC(2024, 0, 1, 9, 30), to: Date.UTC(2024, 0, 1, 10, 30, 15) }
 */
export function windowRange(q: number, windowMs: number): WindowRange {
  return { from: tileStart(q - windowMs, hopFor(windowMs)), to: q };
}

/**
 * Whether an event at `t` is part of a feature read at `q`: `windowMs === null` is a lifetime
 * aggregation (every t < q), otherwise the sawtooth window of {@link windowRange}.
 */
export function isInWindow(t: number, q: number, windowMs: number | null): boolean {
  if (t >= q) return false;
  return windowMs === null || t >= windowRange(q, windowMs).from;
}

/**
 * How long after its start a tile of size `hopMs` can still serve a window of width `windowMs`:
 * the tile starting at s is read by queries q with `s < q < s + windowMs + hopMs` only, so once
 * the stream's watermark reaches `s + windowMs + hopMs` it can be dropped. The streaming layer
 * derives TTLs from this (with the longest window that uses the hop).
 */
export function tileRetentionMs(hopMs: number, windowMs: number): number {
  return windowMs + hopMs;
}

/**
 * A duration as it appears in feature names: the largest of `d`, `h`, `m`, `s` that divides it
 * exactly, with one exception: days are used only from 2 days on, so that one day prints as `24h`
 * (the reference names are `_1h`, `_24h`, `_7d`, `_30d`). Anything that is not a whole number of
 * seconds prints in `ms`.
 *
 * @throws RangeError when `ms` is not a positive safe integer.
 * @example formatWindow(DAY_MS) === '24h'; formatWindow(2 * DAY_MS) === '2d';
 *   formatWindow(36 * HOUR_MS) === '36h'; formatWindow(90_000) === '90s'
 */
export function formatWindow(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`a duration in a name must be a positive whole number of ms, got ${String(ms)}`);
  if (ms % DAY_MS === 0 && ms >= 2 * DAY_MS) return `${ms / DAY_MS}d`;
  if (ms % HOUR_MS === 0) return `${ms / HOUR_MS}h`;
  if (ms % MINUTE_MS === 0) return `${ms / MINUTE_MS}m`;
  if (ms % SECOND_MS === 0) return `${ms / SECOND_MS}s`;
  return `${ms}ms`;
}
