import { createHash } from 'node:crypto';
import { DateTime } from 'luxon';
import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import type { ReferenceEvent, ReferenceEventType, TypedEvent } from '../../../src/events/event-types.js';
import {
  DEVICES,
  GENERATOR_DEFAULTS,
  SYNTHETIC_MODEL,
  createSyntheticWorld,
  generateEvents,
  type Device,
  type GeneratedRecord,
  type GeneratorOptions,
} from '../../../src/ingest/generator.js';
import { auc, eventProblems } from './event-checks.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A digest of the whole output, so two runs can be compared without holding both. */
function digest(options: GeneratorOptions): string {
  const h = createHash('sha256');
  for (const r of generateEvents(options)) h.update(JSON.stringify(r)).update('\n');
  return h.digest('hex');
}

const keyOf = (e: { requestId: string | null; itemId: string }): string => `${e.requestId}|${e.itemId}`;

describe('generateEvents: determinism', () => {
  const base: GeneratorOptions = { users: 200, items: 1000, events: 20_000, seed: 7 };

  it('gives byte-identical output for the same options and different output for another seed', () => {
    const a = digest(base);
    expect(digest(base)).toBe(a);
    expect(digest({ ...base, seed: 8 })).not.toBe(a);
  });

  it('builds the same world whatever the number of events, so profiles do not move', () => {
    const profiles = (events: number): string =>
      JSON.stringify([...generateEvents({ ...base, events })].filter((r) => r.event.type.endsWith('_profile')).map((r) => r.event));
    expect(profiles(10)).toBe(profiles(5_000));
  });

  it('streams: the first records come without simulating the whole run', () => {
    let n = 0;
    for (const r of generateEvents({ users: 50, items: 100, events: 1e12, seed: 1 })) {
      if (r.event.type === 'impression') n++;
      if (n === 1_000) break;
    }
    expect(n).toBe(1_000);
  });
});

describe('generateEvents: a 50k-impression log', () => {
  const options = { users: 500, items: 2_000, events: 50_000, seed: 42 } satisfies GeneratorOptions;
  const start = GENERATOR_DEFAULTS.start;
  const end = start + GENERATOR_DEFAULTS.days * DAY;
  let records: GeneratedRecord[] = [];
  let events: ReferenceEvent[] = [];
  const ofType = <T extends ReferenceEventType>(type: T): TypedEvent<T>[] => events.filter((e): e is TypedEvent<T> => e.type === type);

  beforeAll(() => {
    records = [...generateEvents(options)];
    events = records.map((r) => r.event);
  });

  it('emits every profile first, then exactly `events` impressions, plus clicks and orders', () => {
    const profiles = options.items + options.users;
    expect(events.slice(0, options.items).every((e) => e.type === 'item_profile')).toBe(true);
    expect(events.slice(options.items, profiles).every((e) => e.type === 'user_profile')).toBe(true);
    expect(events.slice(profiles).some((e) => e.type.endsWith('_profile'))).toBe(false);
    const impressions = ofType('impression').length;
    const clicks = ofType('click').length;
    const orders = ofType('order').length;
    expect(impressions).toBe(options.events);
    expect(events.length).toBe(profiles + impressions + clicks + orders);
    // Click-through near 5 %, orders near 3 % of clicks: loose bounds, the exact check is below.
    expect(clicks / impressions).toBeGreaterThan(0.02);
    expect(clicks / impressions).toBeLessThan(0.1);
    expect(orders).toBeGreaterThan(0);
    expect(orders / clicks).toBeLessThan(0.06);
    const requests = new Set(ofType('impression').map((e) => e.requestId));
    expect(requests.size).toBe(Math.ceil(options.events / GENERATOR_DEFAULTS.slate));
  });

  it('emits only valid events with unique, deterministic-format ids', () => {
    const invalid = events.map((e) => ({ e, problems: eventProblems(e) })).filter((x) => x.problems.length > 0);
    expect(invalid.slice(0, 3)).toEqual([]);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    expect(events.every((e) => /^g42-\d+$/.test(e.eventId))).toBe(true);
    const orders = ofType('order');
    expect(new Set(orders.map((o) => o.orderId)).size).toBe(orders.length);
    const badIds = ofType('impression').filter(
      (e) => !/^r42-\d+$/.test(e.requestId) || !/^u\d+$/.test(e.userId) || !/^i\d+$/.test(e.itemId) || !/^c\d+$/.test(e.categoryId ?? ''),
    );
    expect(badIds.slice(0, 3)).toEqual([]);
  });

  it('keeps times in range: profiles at start, requests in [start, start + days), signups before start', () => {
    const outOfRange = events.filter(
      (e) =>
        ((e.type === 'item_profile' || e.type === 'user_profile') && e.eventTime !== start) ||
        (e.type === 'user_profile' && !(e.signupTime! < start)) ||
        (e.type === 'impression' && !(e.eventTime >= start && e.eventTime < end)),
    );
    expect(outOfRange.slice(0, 3)).toEqual([]);
    const impressions = ofType('impression');
    // Requests cover the whole period, not just its start.
    expect(Math.max(...impressions.map((e) => e.eventTime))).toBeGreaterThan(end - DAY / 4);
  });

  it('keeps out-of-orderness within maxDisorderMs, and does have some', () => {
    let maxSeen = -Infinity;
    let worst = 0;
    let inversions = 0;
    for (const e of events) {
      if (e.eventTime < maxSeen) inversions++;
      worst = Math.max(worst, maxSeen - e.eventTime);
      maxSeen = Math.max(maxSeen, e.eventTime);
    }
    expect(worst).toBeLessThanOrEqual(GENERATOR_DEFAULTS.maxDisorderMs);
    expect(inversions).toBeGreaterThan(0);
  });

  it('is sorted by eventTime when maxDisorderMs is 0', () => {
    let prev = -Infinity;
    let inversions = 0;
    for (const { event } of generateEvents({ ...options, events: 10_000, maxDisorderMs: 0 })) {
      if (event.eventTime < prev) inversions++;
      prev = event.eventTime;
    }
    expect(inversions).toBe(0);
  });

  it('clicks only shown items, after the impression; orders only clicked items, after the click', () => {
    const shown = new Map(ofType('impression').map((e) => [keyOf(e), e]));
    const clicked = new Map<string, TypedEvent<'click'>>();
    for (const c of ofType('click')) {
      const imp = shown.get(keyOf(c));
      expect(imp, `click ${c.eventId} has no impression`).toBeDefined();
      expect(c.eventTime).toBeGreaterThan(imp!.eventTime);
      expect(c.eventTime - imp!.eventTime).toBeLessThanOrEqual(SYNTHETIC_MODEL.lateClickMaxMs);
      expect([c.userId, c.position, c.categoryId]).toEqual([imp!.userId, imp!.position, imp!.categoryId]);
      expect(clicked.has(keyOf(c)), 'one click per impression').toBe(false);
      clicked.set(keyOf(c), c);
    }
    for (const o of ofType('order')) {
      const c = clicked.get(keyOf(o));
      expect(c, `order ${o.orderId} has no click`).toBeDefined();
      expect(o.eventTime).toBeGreaterThan(c!.eventTime);
      expect(o.eventTime - c!.eventTime).toBeLessThanOrEqual(SYNTHETIC_MODEL.orderLateMaxMs);
      expect(o.userId).toBe(c!.userId);
    }
  });

  it('exercises the label windows: some clicks after 30 min, some orders after 24 h', () => {
    const shown = new Map(ofType('impression').map((e) => [keyOf(e), e.eventTime]));
    const clickAt = new Map(ofType('click').map((e) => [keyOf(e), e.eventTime]));
    const lateClicks = ofType('click').filter((c) => c.eventTime - shown.get(keyOf(c))! > 30 * 60_000).length;
    const lateOrders = ofType('order').filter((o) => o.eventTime - shown.get(keyOf(o))! > DAY).length;
    expect(lateClicks).toBeGreaterThan(0);
    expect(lateClicks / ofType('click').length).toBeLessThan(0.02);
    expect(lateOrders).toBeGreaterThan(0);
    const medianDelay = ofType('click').map((c) => c.eventTime - shown.get(keyOf(c))!).sort((a, b) => a - b)[Math.floor(clickAt.size / 2)]!;
    // Exponential with mean 20 s: median 20 ln 2 ~ 13.9 s.
    expect(medianDelay).toBeGreaterThan(10_000);
    expect(medianDelay).toBeLessThan(18_000);
  });

  it('gives every impression its truth, a probability strictly inside (0, 1)', () => {
    const withTruth = records.filter((r) => r.truth !== undefined);
    expect(withTruth.length).toBe(options.events);
    const wrong = withTruth.filter(({ event: e, truth: t }) => {
      if (e.type !== 'impression') return true;
      return t!.requestId !== e.requestId || t!.itemId !== e.itemId || t!.userId !== e.userId || !(t!.pClick > 0 && t!.pClick < 1);
    });
    expect(wrong.slice(0, 3)).toEqual([]);
  });

  it('computes the truth with the documented click model from the event fields', () => {
    const world = createSyntheticWorld(options);
    const m = world.model;
    expect(m.positionEffect[3]).toBeCloseTo(-0.25 * Math.log2(4), 12);
    expect(m.hourEffect[21]).toBeCloseTo(0.2, 12);
    for (const { event, truth } of records.slice(options.items + options.users, options.items + options.users + 3_000)) {
      if (event.type !== 'impression') continue;
      const u = Number(event.userId.slice(1));
      const i = Number(event.itemId.slice(1));
      const localHour = DateTime.fromMillis(event.eventTime, { zone: event.context.timezone ?? 'UTC' }).hour;
      const device = event.context.device as Device;
      expect(DEVICES).toContain(device);
      let dot = 0;
      for (let j = 0; j < m.latentDim; j++) dot += m.userFactors[u * m.latentDim + j]! * m.itemFactors[i * m.latentDim + j]!;
      const logit =
        SYNTHETIC_MODEL.globalBias +
        m.userBias[u]! +
        m.itemBias[i]! +
        dot -
        0.25 * Math.log2(1 + event.position) +
        SYNTHETIC_MODEL.deviceEffect[device] +
        0.2 * Math.cos((2 * Math.PI * (localHour - 21)) / 24);
      expect(truth!.pClick).toBeCloseTo(1 / (1 + Math.exp(-logit)), 12);
      expect(event.categoryId).toBe(`c${world.itemCategory[i]}`);
    }
  });

  it('draws clicks at the true rate: the click count is within 4 sigma of the sum of pClick', () => {
    const clicked = new Set(ofType('click').map(keyOf));
    let expected = 0;
    let varSum = 0;
    let observed = 0;
    for (const r of records) {
      if (!r.truth) continue;
      expected += r.truth.pClick;
      varSum += r.truth.pClick * (1 - r.truth.pClick);
      if (clicked.has(keyOf(r.truth))) observed++;
    }
    expect(Math.abs(observed - expected)).toBeLessThan(4 * Math.sqrt(varSum));
  });

  it('is learnable: the true pClick ranks clicks far above chance (AUC)', () => {
    const clicked = new Set(ofType('click').map(keyOf));
    const truths = records.filter((r) => r.truth).map((r) => r.truth!);
    const a = auc(
      truths.map((t) => t.pClick),
      truths.map((t) => (clicked.has(keyOf(t)) ? 1 : 0)),
    );
    expect(a).toBeGreaterThan(0.7);
    // Shuffled labels give chance: the statistic can fail.
    const shuffled = auc(
      truths.map((_, i) => (i * 7919) % truths.length),
      truths.map((t) => (clicked.has(keyOf(t)) ? 1 : 0)),
    );
    expect(Math.abs(shuffled - 0.5)).toBeLessThan(0.05);
  });

  it('shows distinct items per request at positions 0..slate-1, all at the request time, with one context', () => {
    const byRequest = new Map<string, TypedEvent<'impression'>[]>();
    for (const e of ofType('impression')) byRequest.set(e.requestId, [...(byRequest.get(e.requestId) ?? []), e]);
    for (const slate of byRequest.values()) {
      expect(slate.map((e) => e.position).sort((a, b) => a - b)).toEqual(slate.map((_, i) => i));
      expect(new Set(slate.map((e) => e.itemId)).size).toBe(slate.length);
      expect(new Set(slate.map((e) => `${e.eventTime}|${e.userId}|${JSON.stringify(e.context)}`)).size).toBe(1);
    }
  });

  it('follows popularity, activity and a diurnal pattern in local time', () => {
    const impressions = ofType('impression');
    const count = (f: (e: TypedEvent<'impression'>) => boolean): number => impressions.filter(f).length;
    expect(count((e) => e.itemId === 'i0')).toBeGreaterThan(5 * count((e) => e.itemId === 'i200'));
    expect(count((e) => e.userId === 'u0')).toBeGreaterThan(3 * count((e) => e.userId === 'u100'));
    const localHour = (e: TypedEvent<'impression'>): number => DateTime.fromMillis(e.eventTime, { zone: e.context.timezone ?? 'UTC' }).hour;
    const evening = count((e) => [19, 20, 21, 22].includes(localHour(e)));
    const night = count((e) => [2, 3, 4, 5].includes(localHour(e)));
    expect(evening).toBeGreaterThan(4 * night);
    expect(impressions.filter((e) => e.context.city === 'Berlin' && e.context.timezone !== 'Europe/Berlin')).toEqual([]);
    expect(impressions.filter((e) => e.context.device === 'ios' && e.context.os !== 'iOS')).toEqual([]);
    expect(new Set(impressions.map((e) => e.context.timezone))).toEqual(
      new Set(['Asia/Shanghai', 'Europe/Berlin', 'Europe/London', 'America/New_York', 'America/Los_Angeles', 'UTC']),
    );
  });
});

describe('generateEvents: options', () => {
  it('fills the last request partially so the impression count is exact', () => {
    const events = [...generateEvents({ users: 5, items: 50, events: 25, seed: 1, slate: 10 })].map((r) => r.event);
    const impressions = events.filter((e): e is TypedEvent<'impression'> => e.type === 'impression');
    expect(impressions.length).toBe(25);
    expect(new Set(impressions.map((e) => e.requestId)).size).toBe(3);
  });

  it('fills a slate as large as the catalogue with distinct items', () => {
    const events = [...generateEvents({ users: 3, items: 12, events: 120, seed: 2, slate: 12 })].map((r) => r.event);
    const byRequest = new Map<string, Set<string>>();
    for (const e of events) if (e.type === 'impression') byRequest.set(e.requestId, (byRequest.get(e.requestId) ?? new Set()).add(e.itemId));
    expect([...byRequest.values()].every((s) => s.size === 12)).toBe(true);
  });

  it('honours start and days', () => {
    const start = Date.UTC(2025, 2, 28); // across the European DST change of 2025-03-30
    const events = [...generateEvents({ users: 50, items: 100, events: 5_000, seed: 3, start, days: 3 })].map((r) => r.event);
    for (const e of events) if (e.type === 'impression') expect(e.eventTime >= start && e.eventTime < start + 3 * DAY).toBe(true);
  });

  it('rejects bad options with a UsageError naming the option', () => {
    const bad: [Partial<GeneratorOptions>, RegExp][] = [
      [{ items: 5 }, /'items'/],
      [{ users: 0 }, /'users'/],
      [{ events: -1 }, /'events'/],
      [{ seed: 0.5 }, /'seed'/],
      [{ days: 0 }, /'days'/],
      [{ maxDisorderMs: -1 }, /'maxDisorderMs'/],
    ];
    for (const [patch, message] of bad) {
      const run = (): unknown => [...generateEvents({ users: 10, items: 100, events: 10, seed: 1, ...patch })];
      expect(run).toThrow(UsageError);
      expect(run).toThrow(message);
    }
  });
});
