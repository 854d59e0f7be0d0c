import type { AnyEvent, Context, Impression, ReferenceEvent } from '../../../src/events/event-types.js';
import type { FeatureValue } from '../../../src/features/aggregators.js';
import { contextFeatures } from '../../../src/features/context.js';
import type { CompiledGroup } from '../../../src/features/definitions.js';
import { oracleFeatures } from '../../../src/features/oracle.js';
import { Rng } from '../../../src/ingest/rng.js';
import type { LabelRule } from '../../../src/samples/labels.js';
import type { Sample } from '../../../src/samples/sample.js';
import { sameFeatures } from '../../helpers/feature-streams.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

const CONTEXTS: Context[] = [
  { device: 'ios', os: 'ios', country: 'CN', city: 'Shanghai', page: 'home', timezone: 'Asia/Shanghai' },
  { device: null, os: null, country: null, city: null, page: null, timezone: null },
  { device: 'web', os: 'linux', country: 'DE', city: 'Berlin', page: 'search', timezone: 'Europe/Berlin' },
];

export interface JoinStreamOptions {
  start?: number;
  spanMs?: number;
  /** Arrival disorder: each event arrives up to this much after its time. Keep below the lateness. */
  disorderMs?: number;
  dupRate?: number;
  users?: number;
  items?: number;
  clickWindowMs?: number;
  orderWindowMs?: number;
}

/**
 * A random request stream for the joiner: requests of 1-4 distinct items (some at the same ms as
 * another request), impressions without a category, unknown users and items, clicks of the
 * request's items at exactly t, exactly t + click window, one ms after it and anywhere in
 * between, orders at exactly t, at t + order window, one ms after and anywhere; stray clicks and
 * orders; arrival out of order by up to `disorderMs`; producer duplicates.
 */
export function joinStream(seed: number, requests: number, options: JoinStreamOptions = {}): AnyEvent[] {
  const rng = new Rng(seed, 'join-stream');
  const start = options.start ?? Date.UTC(2026, 0, 5);
  const span = options.spanMs ?? 3 * 24 * HOUR;
  const users = options.users ?? 6;
  const items = options.items ?? 10;
  const cw = options.clickWindowMs ?? 30 * MIN;
  const ow = options.orderWindowMs ?? 24 * HOUR;
  const events: ReferenceEvent[] = [];
  let previousT = start;
  let n = 0;
  const id = (kind: string) => `${kind}${seed}-${n++}`;
  for (let r = 0; r < requests; r++) {
    const t = rng.bernoulli(0.1) ? previousT : start + rng.int(0, span);
    previousT = t;
    const userId = rng.bernoulli(0.05) ? `new-u${r}` : `u${rng.int(0, users)}`;
    const requestId = `req${seed}-${r}`;
    const context = rng.choice(CONTEXTS);
    const slate = new Set<string>();
    const size = rng.int(1, 5);
    while (slate.size < size) slate.add(rng.bernoulli(0.03) ? `new-i${r}-${slate.size}` : `i${rng.int(0, items)}`);
    let position = 0;
    for (const itemId of slate) {
      const categoryId = rng.bernoulli(0.15) ? null : `c${itemId.length % 3}`;
      events.push({ type: 'impression', eventId: id('imp'), eventTime: t, requestId, userId, itemId, categoryId, position: position++, context });
      if (rng.bernoulli(0.35)) {
        const delay = rng.choice([0, cw, cw + 1, rng.int(0, cw + 10 * MIN), rng.int(1, 5 * MIN)]);
        events.push({ type: 'click', eventId: id('clk'), eventTime: t + delay, requestId, userId, itemId, categoryId, position: position - 1, context });
      }
      if (rng.bernoulli(0.12)) {
        const delay = rng.choice([0, ow, ow + 1, rng.int(0, ow + 6 * HOUR)]);
        events.push({ type: 'order', eventId: id('ord'), eventTime: t + delay, orderId: id('o'), requestId: null, userId, itemId, categoryId, amount: Math.round(rng.uniform(1, 300) * 100) / 100, currency: 'USD', quantity: rng.int(1, 4), context });
      }
    }
    if (rng.bernoulli(0.1)) {
      // a stray click (another request) and a stray order of a random user
      const u = `u${rng.int(0, users)}`;
      events.push({ type: 'click', eventId: id('clk'), eventTime: t + rng.int(0, HOUR), requestId: `stray${r}`, userId: u, itemId: `i${rng.int(0, items)}`, categoryId: 'c1', position: null, context });
      events.push({ type: 'order', eventId: id('ord'), eventTime: t + rng.int(0, HOUR), orderId: id('o'), requestId: null, userId: u, itemId: `i${rng.int(0, items)}`, categoryId: null, amount: 10, currency: 'USD', quantity: 1, context });
    }
  }
  const disorder = options.disorderMs ?? 5 * MIN;
  const arrival = events.map((e) => ({ e, at: e.eventTime + rng.uniform(0, disorder) }));
  arrival.sort((a, b) => a.at - b.at);
  const out = arrival.map((a) => a.e);
  const dupRate = options.dupRate ?? 0.05;
  const dups = out.filter(() => rng.bernoulli(dupRate));
  for (const d of dups) out.splice(Math.min(out.length, out.indexOf(d) + 1 + rng.int(0, 20)), 0, d);
  return out;
}

/**
 * The naive samples of a stream, restated from the definitions: dedupe on eventId; an
 * impression is mature when `t + max(windows) < completeBefore`; click label: a click with the
 * same requestId and itemId in [t, t + clickWindow]; order label: an order of the same user and
 * item in [t, t + orderWindow]; features from the naive oracle at t per group (cold start when
 * the impression lacks a key field), then the context features at t.
 */
export function naiveSamples(events: readonly AnyEvent[], groups: readonly CompiledGroup[], rule: LabelRule, completeBefore: number): Map<string, Sample> {
  const unique = new Map<string, ReferenceEvent>();
  for (const e of events as readonly ReferenceEvent[]) if (!unique.has(e.eventId)) unique.set(e.eventId, e);
  const all = [...unique.values()];
  const clicks = all.filter((e) => e.type === 'click');
  const orders = all.filter((e) => e.type === 'order');
  const out = new Map<string, Sample>();
  for (const e of all) {
    if (e.type !== 'impression') continue;
    const t = e.eventTime;
    if (!(t + Math.max(rule.clickWindowMs, rule.orderWindowMs) < completeBefore)) continue;
    const features: Record<string, FeatureValue> = {};
    for (const g of groups) {
      const r = e as unknown as Record<string, unknown>;
      const parts = g.entity.keyFields.map((f) => r[f]);
      const key = parts.some((v) => v === null || v === undefined || v === '') ? '\u0000none' : parts.join(':');
      Object.assign(features, oracleFeatures(g, all, key, t));
    }
    Object.assign(features, contextFeatures(e.context, t));
    const { type: _t, ...imp } = e;
    const i = imp as Impression;
    out.set(e.eventId, {
      impressionId: i.eventId,
      requestId: i.requestId,
      userId: i.userId,
      itemId: i.itemId,
      categoryId: i.categoryId,
      position: i.position,
      eventTime: t,
      context: i.context,
      clickLabel: clicks.some((c) => c.requestId === i.requestId && c.itemId === i.itemId && c.eventTime >= t && c.eventTime <= t + rule.clickWindowMs) ? 1 : 0,
      orderLabel: orders.some((o) => o.userId === i.userId && o.itemId === i.itemId && o.eventTime >= t && o.eventTime <= t + rule.orderWindowMs) ? 1 : 0,
      features,
    });
  }
  return out;
}

/** The first difference between joined samples and the naive ones (null when equal), samples matched by impressionId. */
export function compareSamples(got: readonly Sample[], want: ReadonlyMap<string, Sample>): string | null {
  const ids = new Set<string>();
  for (const s of got) {
    if (ids.has(s.impressionId)) return `${s.impressionId} emitted twice`;
    ids.add(s.impressionId);
    const w = want.get(s.impressionId);
    if (w === undefined) return `${s.impressionId} emitted but not mature or unknown`;
    const { features: fg, ...restG } = s;
    const { features: fw, ...restW } = w;
    if (JSON.stringify(restG) !== JSON.stringify(restW)) return `${s.impressionId}: ${JSON.stringify(restG)} != ${JSON.stringify(restW)}`;
    if (Object.keys(fg).join() !== Object.keys(fw).join()) return `${s.impressionId}: feature names ${Object.keys(fg).join()} != ${Object.keys(fw).join()}`;
    const diff = sameFeatures(fg, fw);
    if (diff !== null) return `${s.impressionId}: ${diff}`;
  }
  for (const id of want.keys()) if (!ids.has(id)) return `${id} is mature but was not emitted`;
  return null;
}
