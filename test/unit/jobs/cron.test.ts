import { describe, expect, it } from 'vitest';
import { IANAZone } from 'luxon';
import { parseCron } from '../../../src/jobs/cron.js';
import { CronError } from '../../../src/jobs/job-errors.js';
import { Rng } from '../../../src/ingest/rng.js';

const MIN = 60_000;
const iso = (t: number | undefined) => (t === undefined ? 'none' : new Date(t).toISOString());
const at = (s: string) => Date.parse(s);

/** The next n fire times after `from`, as ISO strings. */
function fires(expr: string, zone: string, from: string, n: number): string[] {
  const c = parseCron(expr, zone);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) out.push(iso((t = c.next(t))));
  return out;
}

describe('parseCron: fields', () => {
  it('reads steps, ranges, lists, names and macros', () => {
    expect(fires('*/20 * * * *', 'UTC', '2026-01-05T10:05:00Z', 4)).toEqual([
      '2026-01-05T10:20:00.000Z',
      '2026-01-05T10:40:00.000Z',
      '2026-01-05T11:00:00.000Z',
      '2026-01-05T11:20:00.000Z',
    ]);
    expect(fires('15 9-17/4 * * *', 'UTC', '2026-01-05T00:00:00Z', 4)).toEqual([
      '2026-01-05T09:15:00.000Z',
      '2026-01-05T13:15:00.000Z',
      '2026-01-05T17:15:00.000Z',
      '2026-01-06T09:15:00.000Z',
    ]);
    // 2026-01-05 is a Monday
    expect(fires('0 6 * * MON-wed,Fri', 'UTC', '2026-01-05T07:00:00Z', 4)).toEqual([
      '2026-01-06T06:00:00.000Z',
      '2026-01-07T06:00:00.000Z',
      '2026-01-09T06:00:00.000Z',
      '2026-01-12T06:00:00.000Z',
    ]);
    expect(fires('0 0 1 jan,jul *', 'UTC', '2026-01-05T00:00:00Z', 2)).toEqual(['2026-07-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(fires('@daily', 'UTC', '2026-01-05T00:00:00Z', 1)).toEqual(['2026-01-06T00:00:00.000Z']);
    expect(fires('@hourly', 'UTC', '2026-01-05T00:00:00Z', 1)).toEqual(['2026-01-05T01:00:00.000Z']);
    expect(fires('@weekly', 'UTC', '2026-01-05T00:00:00Z', 1)).toEqual(['2026-01-11T00:00:00.000Z']);
  });

  it('treats 0 and 7 as Sunday', () => {
    expect(fires('0 12 * * 7', 'UTC', '2026-01-05T00:00:00Z', 1)).toEqual(fires('0 12 * * 0', 'UTC', '2026-01-05T00:00:00Z', 1));
    expect(fires('0 12 * * 7', 'UTC', '2026-01-05T00:00:00Z', 1)).toEqual(['2026-01-11T12:00:00.000Z']);
  });

  it('ORs day-of-month and day-of-week when both are restricted, ANDs when one starts with *', () => {
    // January 2026: the 13th is a Tuesday; Fridays are the 2nd, 9th, 16th...
    expect(fires('0 0 13 * fri', 'UTC', '2026-01-01T00:00:00Z', 4)).toEqual([
      '2026-01-02T00:00:00.000Z',
      '2026-01-09T00:00:00.000Z',
      '2026-01-13T00:00:00.000Z',
      '2026-01-16T00:00:00.000Z',
    ]);
    // */1 starts with *, so the day-of-month is unrestricted in Vixie's sense: Fridays only
    expect(fires('0 0 */1 * fri', 'UTC', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-02T00:00:00.000Z', '2026-01-09T00:00:00.000Z']);
  });

  it('handles month ends and leap days', () => {
    expect(fires('0 0 31 * *', 'UTC', '2026-01-31T00:00:00Z', 3)).toEqual(['2026-03-31T00:00:00.000Z', '2026-05-31T00:00:00.000Z', '2026-07-31T00:00:00.000Z']);
    expect(fires('0 0 29 2 *', 'UTC', '2026-01-01T00:00:00Z', 2)).toEqual(['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z']);
    expect(iso(parseCron('0 0 29 2 *').prev(at('2026-01-01T00:00:00Z')))).toBe('2024-02-29T00:00:00.000Z');
  });

  it('prev is the latest fire at or before the instant', () => {
    const c = parseCron('15 * * * *');
    expect(iso(c.prev(at('2026-01-05T10:15:00Z')))).toBe('2026-01-05T10:15:00.000Z');
    expect(iso(c.prev(at('2026-01-05T10:14:59.999Z')))).toBe('2026-01-05T09:15:00.000Z');
  });

  it('matches the wall clock of a zone without daylight saving', () => {
    expect(fires('30 1 * * *', 'Asia/Shanghai', '2026-01-05T00:00:00Z', 2)).toEqual(['2026-01-05T17:30:00.000Z', '2026-01-06T17:30:00.000Z']);
    expect(fires('0 * * * *', 'Asia/Kolkata', '2026-01-05T00:00:00Z', 2)).toEqual(['2026-01-05T00:30:00.000Z', '2026-01-05T01:30:00.000Z']);
  });
});

describe('parseCron: daylight saving (Vixie rules)', () => {
  // Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z)
  it('fires a fixed time skipped by spring-forward once, at the end of the gap', () => {
    expect(fires('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', 3)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST: 02:30 does not exist
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
    // two fixed times in the gap still fire once
    expect(fires('0,30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 2)).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:00:00.000Z']);
  });

  it('fires a fixed time repeated by fall-back once, at its first occurrence', () => {
    expect(fires('30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 2)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it('runs a wildcard schedule by elapsed time: skipped hour not fired, repeated hour fired twice', () => {
    expect(fires('30 * * * *', 'Europe/Berlin', '2026-03-28T23:00:00Z', 3)).toEqual([
      '2026-03-28T23:30:00.000Z', // 00:30 CET
      '2026-03-29T00:30:00.000Z', // 01:30 CET
      '2026-03-29T01:30:00.000Z', // 03:30 CEST
    ]);
    expect(fires('30 * * * *', 'Europe/Berlin', '2026-10-24T23:00:00Z', 4)).toEqual([
      '2026-10-24T23:30:00.000Z', // 01:30 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:30:00.000Z', // 02:30 CET
      '2026-10-25T02:30:00.000Z', // 03:30 CET
    ]);
  });

  it('follows America/New_York and a 30-minute shift (Australia/Lord_Howe)', () => {
    // 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z)
    expect(fires('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 2)).toEqual(['2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z']);
    // Lord Howe: 2026-10-04 02:00 +10:30 -> 02:30 +11 (15:30Z the day before)
    expect(fires('15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00:00Z', 1)).toEqual(['2026-10-03T15:30:00.000Z']);
  });

  it('prev agrees with next across the transitions', () => {
    const c = parseCron('30 2 * * *', 'Europe/Berlin');
    expect(iso(c.prev(at('2026-03-29T05:00:00Z')))).toBe('2026-03-29T01:00:00.000Z');
    expect(iso(c.prev(at('2026-10-25T01:45:00Z')))).toBe('2026-10-25T00:30:00.000Z');
    const w = parseCron('30 * * * *', 'Europe/Berlin');
    expect(iso(w.prev(at('2026-10-25T01:45:00Z')))).toBe('2026-10-25T01:30:00.000Z');
  });
});

describe('parseCron: invalid expressions say how to fix them', () => {
  it.each([
    ['0 25 * * *', /hour field "25" has the value 25, outside 0-23/],
    ['* * * *', /has 4 fields, expected 5/],
    ['0 0 1 1 * 2026', /6 fields.*seconds and year fields are not supported/],
    ['0 0 30 2 *', /never fires/],
    ['0 0 31 4,6,9,11 *', /never fires/],
    ['0 0 ? * *', /Quartz syntax/],
    ['0 0 L * *', /Quartz syntax/],
    ['0 0 * * 5#3', /Quartz syntax/],
    ['*/0 * * * *', /step "\/0"/],
    ['0 22-2 * * *', /running backwards.*22-23,0-2/],
    ['0 0 * * funday', /not a number or a name \(allowed: 0-7 or sun-sat\)/],
    ['0 0 * foo *', /allowed: 1-12 or jan-dec/],
    ['0,,5 * * * *', /empty list item/],
    ['@reboot', /unknown macro/],
    ['1-2-3 * * * *', /malformed range/],
  ])('%s', (expr, message) => {
    expect(() => parseCron(expr)).toThrow(CronError);
    try {
      parseCron(expr);
    } catch (err) {
      expect((err as Error).message).toMatch(message);
      if (!/zone/.test((err as Error).message)) expect((err as Error).message).toMatch(/e\.g\. "15 \* \* \* \*"/);
    }
  });

  it('rejects unknown zones with examples', () => {
    expect(() => parseCron('0 * * * *', 'Europe/Berln')).toThrow(/not an IANA zone name; use e\.g\. "UTC", "Europe\/Berlin"/);
  });
});

// ---- oracle: minute-by-minute over instants, straight from the definition of the rules ----

interface Sets {
  minute: boolean[];
  hour: boolean[];
  dom: boolean[];
  month: boolean[];
  dow: boolean[];
  domStar: boolean;
  dowStar: boolean;
  fixed: boolean;
}

/** A random field over min..max; `explicit` leaves out the forms starting with * (they span the field's full range). */
function genField(rng: Rng, min: number, max: number, starBias: number, explicit = false): { text: string; set: boolean[] } {
  const set = new Array<boolean>(max + 1).fill(false);
  const kind = explicit ? rng.int(2, 6) : rng.bernoulli(starBias) ? 0 : rng.int(1, 6);
  const span = max - min + 1;
  if (kind === 0) {
    for (let v = min; v <= max; v++) set[v] = true;
    return { text: '*', set };
  }
  if (kind === 1) {
    const k = rng.int(2, Math.max(3, Math.floor(span / 2)));
    for (let v = min; v <= max; v += k) set[v] = true;
    return { text: `*/${k}`, set };
  }
  if (kind === 2) {
    const v = rng.int(min, max + 1);
    set[v] = true;
    return { text: String(v), set };
  }
  const a = rng.int(min, max + 1);
  const b = rng.int(a, max + 1);
  if (kind === 3) {
    for (let v = a; v <= b; v++) set[v] = true;
    return { text: `${a}-${b}`, set };
  }
  if (kind === 4) {
    const k = rng.int(1, 4);
    for (let v = a; v <= b; v += k) set[v] = true;
    return { text: `${a}-${b}/${k}`, set };
  }
  const vals = [rng.int(min, max + 1), rng.int(min, max + 1), rng.int(min, max + 1)];
  for (const v of vals) set[v] = true;
  return { text: vals.join(','), set };
}

function genExpression(rng: Rng, nearTransition: boolean): { text: string; sets: Sets } {
  // near a transition: times around 01:00-03:59 every day, the cases the Vixie rules are about
  // (a third of them with a */k minute: wildcard jobs, which fire on both occurrences of a repeated hour)
  const minute = nearTransition && rng.bernoulli(1 / 3) ? genField(rng, 0, 59, 0.3, false) : genField(rng, 0, 59, 0.15, nearTransition);
  const hour = nearTransition ? genField(rng, 1, 3, 0, true) : genField(rng, 0, 23, 0.3);
  const dom = genField(rng, 1, 31, nearTransition ? 1 : 0.7);
  const month = genField(rng, 1, 12, nearTransition ? 1 : 0.85);
  const dow = genField(rng, 0, 6, nearTransition ? 1 : 0.7);
  const text = [minute.text, hour.text, dom.text, month.text, dow.text].join(' ');
  return {
    text,
    sets: {
      minute: minute.set,
      hour: hour.set,
      dom: dom.set,
      month: month.set,
      dow: dow.set,
      domStar: dom.text.startsWith('*'),
      dowStar: dow.text.startsWith('*'),
      fixed: !minute.text.startsWith('*') && !hour.text.startsWith('*'),
    },
  };
}

function naiveFires(s: Sets, zone: string, from: number, to: number): number[] {
  const tz = IANAZone.create(zone);
  const wall = (t: number) => t + tz.offset(t) * MIN;
  const matches = (w: number) => {
    const d = new Date(w);
    const dom = s.dom[d.getUTCDate()] === true;
    const dow = s.dow[d.getUTCDay()] === true;
    const day = s.domStar || s.dowStar ? dom && dow : dom || dow;
    return s.minute[d.getUTCMinutes()] === true && s.hour[d.getUTCHours()] === true && s.month[d.getUTCMonth() + 1] === true && day;
  };
  const out = new Set<number>();
  for (let t = Math.floor(from / MIN) * MIN + MIN; t <= to; t += MIN) {
    const w = wall(t);
    if (matches(w)) {
      let repeat = false;
      if (s.fixed) for (let k = 1; k <= 12 && !repeat; k++) repeat = wall(t - k * 15 * MIN) === w;
      if (!repeat) out.add(t);
    }
    const wPrev = wall(t - MIN);
    if (s.fixed && w - wPrev > MIN) {
      // the wall clock jumped: fixed times in the skipped interval fire now
      for (let x = wPrev + MIN; x < w; x += MIN) if (matches(x)) out.add(t);
    }
  }
  return [...out].sort((a, b) => a - b);
}

describe('parseCron: next and prev against a minute-by-minute oracle', () => {
  const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'];
  const starts = ['2026-03-26T00:00:00Z', '2026-10-23T00:00:00Z', '2026-03-06T00:00:00Z', '2026-11-29T00:00:00Z', '2026-10-02T00:00:00Z', '2026-04-03T00:00:00Z', '2026-06-14T00:00:00Z'];

  // the day before each transition of the daylight-saving zones
  const transitions: [string, string][] = [
    ['Europe/Berlin', '2026-03-28T00:00:00Z'],
    ['Europe/Berlin', '2026-10-24T00:00:00Z'],
    ['America/New_York', '2026-03-07T00:00:00Z'],
    ['America/New_York', '2026-10-31T00:00:00Z'],
    ['Australia/Lord_Howe', '2026-10-03T00:00:00Z'],
    ['Australia/Lord_Howe', '2026-04-04T00:00:00Z'],
  ];

  it('agrees on 120 random expressions, zones and windows, half of them fixed times across a transition', () => {
    const rng = new Rng(20261127, 'cron-oracle');
    let compared = 0;
    for (let i = 0; i < 120; i++) {
      const near = i % 2 === 0;
      const { text, sets } = genExpression(rng, near);
      const [zone, start] = near ? (transitions[rng.int(0, transitions.length)] as [string, string]) : [zones[rng.int(0, zones.length)] as string, starts[rng.int(0, starts.length)] as string];
      const from = at(start) + (near ? -rng.int(0, 12) : rng.int(0, 24)) * 3_600_000;
      const to = from + 3 * 86_400_000;
      const expected = naiveFires(sets, zone, from, to);
      const c = parseCron(text, zone);
      const got: number[] = [];
      for (let t = c.next(from); t <= to; t = c.next(t)) got.push(t);
      expect(got.map(iso), `${text} in ${zone} from ${iso(from)}`).toEqual(expected.map(iso));
      for (let k = 0; k < 5; k++) {
        const q = from + rng.int(0, to - from);
        const want = [...expected].reverse().find((t) => t <= q);
        if (want !== undefined) expect(iso(c.prev(q)), `prev ${text} in ${zone} at ${iso(q)}`).toBe(iso(want));
      }
      compared += expected.length;
    }
    expect(compared).toBeGreaterThan(1000); // the windows did hold fires
  });
});
