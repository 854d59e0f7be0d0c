/**
 * Progress bars for long commands (`tessera jobs run`, and any other that wants one).
 *
 * - `tty`: one line on stderr, redrawn in place at most every 100 ms: bar, percent, count, rate
 *   and ETA;
 * - `lines`: the same text as a plain line at most every 5 s (CI logs, pipes, `kubectl logs`),
 *   so logs stay readable and still show a long job is alive;
 * - `quiet`: nothing (`--json`, where stdout/stderr carry machine output only).
 *
 * Rendering is a pure function of a snapshot ({@link renderProgress}), and time comes from an
 * injected clock, so both are tested without a terminal or waiting.
 */

/** How a bar writes. */
export type ProgressMode = 'tty' | 'lines' | 'quiet';

/** Where a bar writes: stderr by default. */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Options of {@link ProgressBar}. */
export interface ProgressOptions {
  /** Shown first, e.g. the job name. */
  label: string;
  /** Units in all; unknown (no percent or ETA) when undefined. */
  total?: number;
  /** What is counted, plural: `rows`, `partitions`. */
  unit?: string;
  out?: ProgressStream;
  /** Default: `tty` when `out` is a terminal, else `lines`. */
  mode?: ProgressMode;
  /** Epoch ms. Default Date.now. */
  clock?: () => number;
  /** Least time between two draws, ms. Default 100 (tty) or 5000 (lines). */
  intervalMs?: number;
}

/** Everything a progress line shows. */
export interface ProgressSnapshot {
  label: string;
  done: number;
  total: number | undefined;
  unit: string;
  elapsedMs: number;
  /** Free text after the figures, e.g. the partition in flight. */
  detail?: string;
}

const BAR_WIDTH = 24;

/**
 * One progress line: `label [#######.........]  42% 3/7 partitions  1.5 partitions/min  ETA 2m40s  detail`.
 * Without a total: count and rate only. Rate and ETA come from the average since the start,
 * which is steady for the even partitions jobs have.
 */
export function renderProgress(s: ProgressSnapshot): string {
  const parts = [s.label];
  const known = s.total !== undefined && s.total > 0;
  if (known) {
    const frac = Math.min(Math.max(s.done / (s.total as number), 0), 1);
    const full = Math.round(frac * BAR_WIDTH);
    parts.push(`[${'#'.repeat(full)}${'.'.repeat(BAR_WIDTH - full)}]`, `${Math.floor(frac * 100)}%`.padStart(4));
  }
  parts.push(`${formatCount(s.done)}${known ? `/${formatCount(s.total as number)}` : ''} ${s.unit}`);
  const rate = s.elapsedMs > 0 ? s.done / s.elapsedMs : 0;
  if (rate > 0) parts.push(formatRate(rate, s.unit));
  if (known && rate > 0 && s.done < (s.total as number)) parts.push(`ETA ${formatDuration(((s.total as number) - s.done) / rate)}`);
  else parts.push(`${formatDuration(s.elapsedMs)} elapsed`);
  if (s.detail) parts.push(s.detail);
  return parts.join('  ');
}

/** `1,234` for whole numbers, one decimal otherwise (`3.4`). */
export function formatCount(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

/** A rate per ms as the largest-unit figure that is at least 1: `/s`, `/min` or `/h`. */
export function formatRate(perMs: number, unit: string): string {
  const perSecond = perMs * 1000;
  if (perSecond >= 1) return `${trim(perSecond)} ${unit}/s`;
  if (perSecond * 60 >= 1) return `${trim(perSecond * 60)} ${unit}/min`;
  return `${trim(perSecond * 3600)} ${unit}/h`;
}

/** `0.4s`, `12s`, `2m05s`, `1h02m`, `3d04h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

function trim(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/**
 * A progress bar (see the module comment for its modes).
 *
 * @example
 * const bar = new ProgressBar({ label: 'hourly-samples', total: 48, unit: 'partitions' });
 * bar.update(3.5, '2026-01-06T03:00Z 1,200/5,000');
 * bar.finish('48 partitions done');
 */
export class ProgressBar {
  readonly mode: ProgressMode;
  private readonly out: ProgressStream;
  private readonly clock: () => number;
  private readonly started: number;
  private readonly intervalMs: number;
  private total: number | undefined;
  private done = 0;
  private detail: string | undefined;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private drawn = false;
  private finished = false;

  constructor(private readonly options: ProgressOptions) {
    this.out = options.out ?? process.stderr;
    this.mode = options.mode ?? (this.out.isTTY ? 'tty' : 'lines');
    this.clock = options.clock ?? Date.now;
    this.started = this.clock();
    this.total = options.total;
    this.intervalMs = options.intervalMs ?? (this.mode === 'tty' ? 100 : 5000);
  }

  /** Sets the count (absolute) and redraws when due. */
  update(done: number, detail?: string): void {
    this.done = done;
    if (detail !== undefined) this.detail = detail;
    this.maybeDraw();
  }

  /** Adds to the count and redraws when due. */
  tick(n = 1, detail?: string): void {
    this.update(this.done + n, detail);
  }

  /** Changes the total (it may be learnt late). */
  setTotal(total: number | undefined): void {
    this.total = total;
  }

  /** The current line, as it would be drawn. */
  snapshot(): ProgressSnapshot {
    return { label: this.options.label, done: this.done, total: this.total, unit: this.options.unit ?? 'items', elapsedMs: this.clock() - this.started, ...(this.detail ? { detail: this.detail } : {}) };
  }

  /** Draws the last state (or `message` instead) and ends the line. Idempotent. */
  finish(message?: string): void {
    if (this.finished) return;
    this.finished = true;
    if (this.mode === 'quiet') return;
    const text = message === undefined ? renderProgress(this.snapshot()) : `${this.options.label}  ${message}`;
    if (this.mode === 'tty') this.out.write(`\r\x1b[2K${this.fit(text)}\n`);
    else this.out.write(`${text}\n`);
  }

  /**
   * Clears the bar's line on a terminal (before someone else prints there); the next update
   * draws it again.
   */
  clear(): void {
    if (this.mode === 'tty' && this.drawn) {
      this.out.write('\r\x1b[2K');
      this.drawn = false;
      this.lastDraw = Number.NEGATIVE_INFINITY;
    }
  }

  private maybeDraw(): void {
    if (this.mode === 'quiet' || this.finished) return;
    const now = this.clock();
    if (now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    const text = renderProgress(this.snapshot());
    if (this.mode === 'tty') {
      this.out.write(`\r\x1b[2K${this.fit(text)}`);
      this.drawn = true;
    } else this.out.write(`${text}\n`);
  }

  private fit(text: string): string {
    const cols = this.out.columns;
    return cols && cols > 10 && text.length >= cols ? `${text.slice(0, cols - 2)}…` : text;
  }
}
