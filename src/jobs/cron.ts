import { IANAZone } from 'luxon';
import { CronError } from './job-errors.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** Wider than any daylight-saving shift (Antarctica/Troll moves by 2 h). */
const SHIFT_MARGIN_MS = 3 * HOUR_MS;
/** How far `next`/`prev` look before giving up; `parseCron` refuses schedules that never fire. */
const SEARCH_LIMIT_MS = 60 * 366 * DAY_MS;

/**
 * A parsed 5-field cron schedule in a time zone. Fire times are instants (epoch ms UTC); the
 * fields are matched against the wall clock of `zone`.
 *
 * Daylight saving follows Vixie cron, so a schedule behaves the way operators expect on the two
 * days a year the wall clock jumps:
 * - a **fixed-time** schedule (neither the minute nor the hour field starts with `*`, e.g.
 *   `30 2 * * *`) fires once a day: a time skipped by spring-forward fires at the end of the gap
 *   (03:00 in Europe/Berlin), and a time repeated by fall-back fires only at its first occurrence;
 * - a **wildcard** schedule (`15 * * * *`, `*\/5 * * * *`) follows elapsed time: skipped wall
 *   times do not fire, repeated ones fire at both occurrences, so an hourly job still runs once
 *   per real hour.
 */
export interface CronSchedule {
  /** The expression as written (a macro such as `@daily` stays as written). */
  readonly expression: string;
  /** IANA zone whose wall clock the fields are matched against. */
  readonly zone: string;
  /** The first fire time strictly after `after`. */
  next(after: number): number;
  /** The latest fire time at or before `atOrBefore`, or undefined when none within 60 years. */
  prev(atOrBefore: number): number | undefined;
}

interface Field {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day-of-week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const HOW =
  'A schedule has 5 fields, minute hour day-of-month month day-of-week, e.g. "15 * * * *" (hourly at :15), ' +
  '"30 1 * * *" (daily at 01:30) or "0 6 * * mon-fri"; macros @hourly, @daily, @weekly, @monthly, @yearly.';

const MAX_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Parses a 5-field cron expression (`minute hour day-of-month month day-of-week`: `*`, lists,
 * ranges, steps, month and weekday names, 0 or 7 for Sunday, the `@daily`-style macros) for the
 * wall clock of an IANA zone. As in Vixie cron, when both day fields are restricted a day matches
 * if either does (`0 0 13 * fri` fires on every 13th and every Friday).
 *
 * @throws CronError with a message that names the bad field and shows a valid example; also for
 *   schedules that can never fire (`0 0 30 2 *`) and unknown zones.
 * @example parseCron('30 2 * * *', 'Europe/Berlin').next(Date.parse('2026-03-28T12:00:00Z'))
 *   // 2026-03-29T01:00:00Z: 02:30 does not exist that night, so the job fires at 03:00 CEST
 */
export function parseCron(expression: string, zone = 'UTC'): CronSchedule {
  const tz = IANAZone.create(zone);
  if (!tz.isValid) {
    throw new CronError(`time zone ${JSON.stringify(zone)} is not an IANA zone name; use e.g. "UTC", "Europe/Berlin" or "Asia/Shanghai"`);
  }
  const text = expression.trim();
  const where = `cron ${JSON.stringify(expression)}`;
  let body = text;
  if (text.startsWith('@')) {
    const macro = MACROS[text.toLowerCase()];
    if (macro === undefined) throw new CronError(`${where}: unknown macro ${text}. ${HOW}`);
    body = macro;
  }
  const parts = body.split(/\s+/).filter((p) => p !== '');
  if (parts.length !== 5) {
    const extra = parts.length === 6 || parts.length === 7 ? ' (seconds and year fields are not supported)' : '';
    throw new CronError(`${where} has ${parts.length} field${parts.length === 1 ? '' : 's'}, expected 5${extra}. ${HOW}`);
  }
  const sets = FIELDS.map((f, i) => parseField(parts[i] as string, f, where));
  const [minute, hour, dom, month, dow] = sets as [boolean[], boolean[], boolean[], boolean[], boolean[]];
  if (dow[7]) dow[0] = true;
  const spec: Spec = {
    minute,
    hour,
    dom,
    month,
    dow,
    domStar: (parts[2] as string).startsWith('*'),
    dowStar: (parts[4] as string).startsWith('*'),
  };
  if (!spec.domStar && spec.dowStar) {
    const possible = month.some((on, m) => on && m >= 1 && dom.some((d, day) => d && day >= 1 && day <= (MAX_DAYS[m] ?? 0)));
    if (!possible) throw new CronError(`${where} never fires: no chosen month has the chosen day-of-month. ${HOW}`);
  }
  const fixed = !(parts[0] as string).startsWith('*') && !(parts[1] as string).startsWith('*');
  return new ZonedCron(expression, zone, tz, spec, fixed);
}

interface Spec {
  minute: boolean[];
  hour: boolean[];
  dom: boolean[];
  month: boolean[];
  dow: boolean[];
  domStar: boolean;
  dowStar: boolean;
}

function parseField(text: string, field: Field, where: string): boolean[] {
  const set = new Array<boolean>(field.max + 1).fill(false);
  const range = `${field.min}-${field.max}${field.names ? ` or ${field.names[0]}-${field.names[field.names.length - 1]}` : ''}`;
  const fail = (what: string): never => {
    throw new CronError(`${where}: ${field.name} field ${JSON.stringify(text)} ${what}. ${HOW}`);
  };
  for (const item of text.split(',')) {
    if (item === '') fail('has an empty list item');
    if (item === '?' || item.includes('#') || /^(\d*L|L?W|\d+W)$/i.test(item)) fail('uses Quartz syntax (?, L, W, #), which standard cron does not have; use * or explicit values');
    const [base, stepText, ...more] = item.split('/');
    if (more.length > 0 || base === undefined || base === '') fail(`has a malformed item "${item}"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) fail(`has step "/${stepText}"; a step is a whole number of at least 1, as in */15`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (base === '*') {
      lo = field.min;
      hi = field.name === 'day-of-week' ? 6 : field.max;
    } else {
      const bounds = (base as string).split('-');
      if (bounds.length > 2) fail(`has a malformed range "${base}"`);
      lo = value(bounds[0] as string, field, fail, range);
      const top = field.name === 'day-of-week' ? 6 : field.max;
      hi = bounds.length === 2 ? value(bounds[1] as string, field, fail, range) : stepText !== undefined ? top : lo;
      if (lo > hi) fail(`has the range "${base}" running backwards; cron ranges do not wrap, so split it in two: ${lo}-${top},${field.min}-${hi}`);
    }
    for (let v = lo; v <= hi; v += step) set[v] = true;
  }
  return set;
}

function value(text: string, field: Field, fail: (what: string) => never, range: string): number {
  let n: number;
  if (/^\d+$/.test(text)) n = Number(text);
  else {
    const idx = field.names?.indexOf(text.toLowerCase()) ?? -1;
    if (idx < 0) fail(`has "${text}", which is not a number${field.names ? ' or a name' : ''} (allowed: ${range})`);
    n = idx + (field.name === 'month' ? 1 : 0);
  }
  if (n < field.min || n > field.max) fail(`has the value ${n}, outside ${range}`);
  return n;
}

class ZonedCron implements CronSchedule {
  constructor(
    readonly expression: string,
    readonly zone: string,
    private readonly tz: IANAZone,
    private readonly spec: Spec,
    /** Vixie's "fixed-time" job: fires once per wall-clock occurrence day, see CronSchedule. */
    private readonly fixed: boolean,
  ) {}

  next(after: number): number {
    const start = this.wall(after);
    let w = start - (this.shiftNear(after) ? SHIFT_MARGIN_MS : 0);
    let best: number | undefined;
    let stopAfter = start + SEARCH_LIMIT_MS;
    for (;;) {
      const found = this.nextWall(w, stopAfter);
      if (found === undefined) break;
      for (const t of this.instants(found)) {
        if (t > after && (best === undefined || t < best)) {
          best = t;
          stopAfter = this.wall(t) + (this.shiftNear(t) ? SHIFT_MARGIN_MS : 0);
        }
      }
      w = found + MINUTE_MS;
    }
    if (best === undefined) throw new CronError(`cron ${JSON.stringify(this.expression)} does not fire within 60 years of ${new Date(after).toISOString()}`);
    return best;
  }

  prev(atOrBefore: number): number | undefined {
    const start = this.wall(atOrBefore);
    let w = start + (this.shiftNear(atOrBefore) ? SHIFT_MARGIN_MS : 0);
    let best: number | undefined;
    let stopBefore = start - SEARCH_LIMIT_MS;
    for (;;) {
      const found = this.prevWall(w, stopBefore);
      if (found === undefined) break;
      for (const t of this.instants(found)) {
        if (t <= atOrBefore && (best === undefined || t > best)) {
          best = t;
          stopBefore = this.wall(t) - (this.shiftNear(t) ? SHIFT_MARGIN_MS : 0);
        }
      }
      w = found - MINUTE_MS;
    }
    return best;
  }

  /** Offset of the zone at an instant, ms. */
  private offset(t: number): number {
    return this.tz.offset(t) * MINUTE_MS;
  }

  /** The zone's wall clock at instant t, written as if it were UTC. */
  private wall(t: number): number {
    return t + this.offset(t);
  }

  private shiftNear(t: number): boolean {
    return this.offset(t - SHIFT_MARGIN_MS) !== this.offset(t + SHIFT_MARGIN_MS);
  }

  /** The instants at which wall time w fires, after the daylight-saving rules. */
  private instants(w: number): number[] {
    const before = this.offset(w - DAY_MS);
    const after = this.offset(w + DAY_MS);
    const valid = [...new Set([before, after])].map((o) => w - o).filter((t) => this.wall(t) === w).sort((a, b) => a - b);
    if (valid.length === 0) return this.fixed ? [this.gapEnd(w - after, w - before, after)] : [];
    if (valid.length > 1 && this.fixed) return valid.slice(0, 1);
    return valid;
  }

  /** The first instant in [lo, hi] whose offset is already `target`: where a skipped wall time's gap ends. */
  private gapEnd(lo: number, hi: number, target: number): number {
    let a = Math.floor(lo / MINUTE_MS);
    let b = Math.ceil(hi / MINUTE_MS);
    while (a < b) {
      const mid = Math.floor((a + b) / 2);
      if (this.offset(mid * MINUTE_MS) === target) b = mid;
      else a = mid + 1;
    }
    return a * MINUTE_MS;
  }

  private dayMatches(d: Date): boolean {
    const dom = this.spec.dom[d.getUTCDate()] === true;
    const dow = this.spec.dow[d.getUTCDay()] === true;
    return this.spec.domStar || this.spec.dowStar ? dom && dow : dom || dow;
  }

  /** The first matching wall minute at or after w (wall ms), up to `limit`. */
  private nextWall(w: number, limit: number): number | undefined {
    let t = Math.ceil(w / MINUTE_MS) * MINUTE_MS;
    while (t <= limit) {
      const d = new Date(t);
      const y = d.getUTCFullYear();
      const mo = d.getUTCMonth();
      const day = d.getUTCDate();
      const h = d.getUTCHours();
      if (!this.spec.month[mo + 1]) t = Date.UTC(y, mo + 1, 1);
      else if (!this.dayMatches(d)) t = Date.UTC(y, mo, day + 1);
      else if (!this.spec.hour[h]) t = Date.UTC(y, mo, day, h + 1);
      else {
        const m = this.spec.minute.indexOf(true, d.getUTCMinutes());
        if (m >= 0) return Date.UTC(y, mo, day, h, m);
        t = Date.UTC(y, mo, day, h + 1);
      }
    }
    return undefined;
  }

  /** The last matching wall minute at or before w (wall ms), down to `limit`. */
  private prevWall(w: number, limit: number): number | undefined {
    let t = Math.floor(w / MINUTE_MS) * MINUTE_MS;
    while (t >= limit) {
      const d = new Date(t);
      const y = d.getUTCFullYear();
      const mo = d.getUTCMonth();
      const day = d.getUTCDate();
      const h = d.getUTCHours();
      if (!this.spec.month[mo + 1]) t = Date.UTC(y, mo, 1) - MINUTE_MS;
      else if (!this.dayMatches(d)) t = Date.UTC(y, mo, day) - MINUTE_MS;
      else if (!this.spec.hour[h]) t = Date.UTC(y, mo, day, h) - MINUTE_MS;
      else {
        const m = this.spec.minute.lastIndexOf(true, d.getUTCMinutes());
        if (m >= 0) return Date.UTC(y, mo, day, h, m);
        t = Date.UTC(y, mo, day, h) - MINUTE_MS;
      }
    }
    return undefined;
  }
}
