import type { AnyEvent, Click, Context, EventType, Impression, Order, ReferenceEvent, TypedEvent } from '../../src/events/event-types.js';
import { contextFeatures } from '../../src/features/context.js';
import { days, hours, minutes, type CompiledGroup } from '../../src/features/definitions.js';
import type { FeatureValue } from '../../src/features/aggregators.js';
import { oracleFeatures } from '../../src/features/oracle.js';
import { Rng } from '../../src/ingest/rng.js';
import type { OfflineStore } from '../../src/ports/offline-store.js';
import type { Sample } from '../../src/samples/sample.js';
import { prepareRawStore } from '../../src/sink/raw-sink.js';
import { createRawBatches, rawTable, type RawColumnBatch } from '../../src/sink/raw-tables.js';
import { sameFeatures } from '../helpers/feature-streams.js';
import { REFERENCE_CATALOG } from '../helpers/reference.js';

/**
 * Shared pieces of the batch integration tests: loading events the way the sink stores them,
 * random event streams with labels to find, and a naive re-implementation of the sample rule
 * (dedupe, maturity, labels, features by the feature oracle, context) to compare against.
 */

/**
 * Loads events into the raw tables the way the sink does (its column batches, one insert per event
 * kind and chunk), in the given order: duplicates of an eventId land as separate rows and are
 * collapsed by the tables' `FINAL` reads, as in production. `asRows`: the same rows through
 * `insert` (JSONEachRow), for a store whose transport cannot carry a binary body.
 */
export async function loadRawEvents(store: OfflineStore, events: readonly AnyEvent[], options: { chunk?: number; asRows?: boolean } = {}): Promise<void> {
  const chunk = options.chunk ?? 5000;
  await prepareRawStore(store, REFERENCE_CATALOG);
  const newBatch = createRawBatches(REFERENCE_CATALOG);
  let offset = 0;
  for (let i = 0; i < events.length; i += chunk) {
    const byType = new Map<EventType, RawColumnBatch>();
    for (const event of events.slice(i, i + chunk)) {
      let rows = byType.get(event.type);
      if (rows === undefined) byType.set(event.type, (rows = newBatch(event.type)));
      rows.add(event, { topic: `t.${event.type}`, partition: 0, offset: offset++, logTime: 0 });
    }
    for (const [type, rows] of byType) {
      if (options.asRows === true) await store.insert(rawTable(type), rows.rows());
      else await store.insertColumns(rawTable(type), rows.columns());
    }
  }
}

/** Drops every raw table (the next load recreates them). */
export async function dropRawTables(store: OfflineStore): Promise<void> {
  for (const type of REFERENCE_CATALOG.types) await store.command(`DROP TABLE IF EXISTS ${rawTable(type)}`);
}

const ZONES = ['Asia/Shanghai', 'America/New_York', 'Europe/London', 'UTC', 'UTC+5:30', 'Asia/Kolkata', 'Not/AZone', null] as const;
const DEVICES = ['ios', 'android', '', null] as const;
const PAGES = ['home', 'detail', null] as const;

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(0, xs.length)] as T;
}

function context(rng: Rng): Context {
  return {
    device: pick(rng, DEVICES),
    os: rng.bernoulli(0.5) ? 'ios' : null,
    country: rng.bernoulli(0.5) ? 'CN' : null,
    city: null,
    page: pick(rng, PAGES),
    timezone: pick(rng, ZONES),
  };
}

/**
 * A random log for the sample job: requests of 1-3 impressions (same user and time) of a few
 * users, items and categories (some missing), clicks on some of them at delays that hit the label
 * window's edges (0, exactly the window, the window + 1 ms), stray clicks, orders at the order
 * window's edges, item profiles, several events at the same ms, out of arrival order, and `dupRate`
 * of the events sent twice.
 */
export function sampleStream(seed: number, requests: number, options: { start?: number; spanMs?: number; dupRate?: number; maxSlate?: number } = {}): ReferenceEvent[] {
  const rng = new Rng(seed, 'batch-sample-stream');
  const start = options.start ?? Date.UTC(2026, 2, 27, 12);
  const span = options.spanMs ?? days(3);
  const events: ReferenceEvent[] = [];
  let n = 0;
  const id = () => `b${seed}-${n++}`;
  for (let i = 0; i < 12; i++) {
    events.push({ type: 'item_profile', eventId: id(), eventTime: start + Math.floor(rng.uniform(-hours(2), span)), itemId: `i${rng.int(0, 9)}`, categoryId: `c${rng.int(0, 2)}`, price: rng.bernoulli(0.8) ? Math.round(rng.uniform(1, 300) * 100) / 100 : null, brand: rng.bernoulli(0.7) ? `b${rng.int(0, 3)}` : null });
  }
  for (let r = 0; r < requests; r++) {
    // a coarse time grid makes same-ms events across requests common
    const t = start + Math.floor(rng.uniform(0, span / 1000)) * 1000 + (rng.bernoulli(0.3) ? 0 : rng.int(0, 999));
    const userId = `u${rng.int(0, 5)}`;
    const ctx = context(rng);
    const requestId = `r${seed}-${r}`;
    const slate = rng.int(1, (options.maxSlate ?? 2) + 1);
    for (let p = 0; p < slate; p++) {
      const itemId = `i${rng.int(0, 9)}`;
      const categoryId = rng.bernoulli(0.85) ? `c${rng.int(0, 2)}` : rng.bernoulli(0.5) ? '' : null;
      const imp: Impression = { eventId: id(), eventTime: t, requestId, userId, itemId, categoryId, position: p, context: ctx };
      events.push({ type: 'impression', ...imp });
      if (rng.bernoulli(0.35)) {
        const delay = pick(rng, [0, 1, minutes(30), minutes(30) + 1, Math.floor(rng.uniform(0, minutes(40)))]);
        const click: Click = { eventId: id(), eventTime: t + delay, requestId, userId, itemId, categoryId, position: p, context: ctx };
        events.push({ type: 'click', ...click });
      }
      if (rng.bernoulli(0.12)) {
        const delay = pick(rng, [0, hours(24), hours(24) + 1, Math.floor(rng.uniform(0, hours(30)))]);
        const order: Order = { eventId: id(), eventTime: t + delay, orderId: `o${seed}-${n}`, requestId: null, userId, itemId, categoryId, amount: Math.round(rng.uniform(0.5, 400) * 100) / 100, currency: 'USD', quantity: rng.int(1, 3), context: ctx };
        events.push({ type: 'order', ...order });
      }
    }
    if (rng.bernoulli(0.1)) {
      events.push({ type: 'click', eventId: id(), eventTime: t + rng.int(0, 5000), requestId: `stray-${r}`, userId, itemId: `i${rng.int(0, 9)}`, categoryId: `c${rng.int(0, 2)}`, position: null, context: ctx });
    }
  }
  // arrival order differs from time order, and some events are sent twice
  const shuffled = events.map((e) => ({ e, at: e.eventTime + rng.uniform(0, minutes(20)) })).sort((a, b) => a.at - b.at).map((x) => x.e);
  const dupRate = options.dupRate ?? 0.08;
  const out: ReferenceEvent[] = [];
  for (const e of shuffled) {
    out.push(e);
    if (rng.bernoulli(dupRate)) out.push({ ...e });
  }
  return out;
}

/** The first occurrence of every eventId (what `FINAL` keeps of producer duplicates). */
export function dedupe<E extends AnyEvent>(events: readonly E[]): E[] {
  const seen = new Set<string>();
  return events.filter((e) => (seen.has(e.eventId) ? false : (seen.add(e.eventId), true)));
}

/** The sample the rule defines for one impression, computed naively. */
export interface ExpectedSample {
  readonly impression: Impression;
  readonly clickLabel: 0 | 1;
  readonly orderLabel: 0 | 1;
  readonly features: Record<string, FeatureValue>;
}

/**
 * The samples of [from, to) by the rule, from scratch: every deduplicated impression in the
 * range whose label windows close by `completeThrough`; labels by a direct scan of the clicks and
 * orders; features from the feature oracle at q = t for the impression's entity of each group (cold
 * start when it has none), then the context features.
 */
export function expectedSamples(
  events: readonly ReferenceEvent[],
  groups: readonly CompiledGroup[],
  range: { from: number; to: number; completeThrough: number; clickWindowMs?: number; orderWindowMs?: number },
): ExpectedSample[] {
  const clickW = range.clickWindowMs ?? minutes(30);
  const orderW = range.orderWindowMs ?? hours(24);
  const all = dedupe(events);
  const clicks = all.filter((e): e is TypedEvent<'click'> => e.type === 'click');
  const orders = all.filter((e): e is TypedEvent<'order'> => e.type === 'order');
  const out: ExpectedSample[] = [];
  for (const e of all) {
    if (e.type !== 'impression') continue;
    const t = e.eventTime;
    if (t < range.from || t >= range.to || t + Math.max(clickW, orderW) > range.completeThrough) continue;
    const clickLabel = clicks.some((c) => c.requestId === e.requestId && c.itemId === e.itemId && c.eventTime >= t && c.eventTime <= t + clickW) ? 1 : 0;
    const orderLabel = orders.some((o) => o.userId === e.userId && o.itemId === e.itemId && o.eventTime >= t && o.eventTime <= t + orderW) ? 1 : 0;
    const features: Record<string, FeatureValue> = {};
    for (const group of groups) {
      const record = e as unknown as Record<string, unknown>;
      const parts = group.entity.keyFields.map((f) => record[f]);
      const key = parts.some((p) => p === undefined || p === null || p === '') ? null : parts.join(':');
      Object.assign(features, oracleFeatures(group, key === null ? [] : all, key ?? '', t));
    }
    Object.assign(features, contextFeatures(e.context, t));
    out.push({ impression: e, clickLabel, orderLabel, features });
  }
  return out;
}

/** Null when a sample read back matches the expected one, else the first difference. */
export function sampleDiff(got: Sample, want: ExpectedSample): string | null {
  const imp = want.impression;
  const base: [string, unknown, unknown][] = [
    ['requestId', got.requestId, imp.requestId],
    ['userId', got.userId, imp.userId],
    ['itemId', got.itemId, imp.itemId],
    ['categoryId', got.categoryId, imp.categoryId],
    ['position', got.position, imp.position],
    ['eventTime', got.eventTime, imp.eventTime],
    ['context', JSON.stringify(got.context), JSON.stringify(imp.context)],
    ['clickLabel', got.clickLabel, want.clickLabel],
    ['orderLabel', got.orderLabel, want.orderLabel],
  ];
  for (const [name, a, b] of base) if (a !== b) return `${name}: ${String(a)} != ${String(b)}`;
  return sameFeatures(got.features, want.features);
}
