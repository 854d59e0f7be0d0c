import { EMPTY_CONTEXT, type AnyEvent, type TypedEvent } from '../../../src/events/event-types.js';
import { aggregatorFor, type AggState } from '../../../src/features/aggregators.js';
import type { AggregationDef, CompiledGroup } from '../../../src/features/definitions.js';
import { eventUpdates } from '../../../src/features/event-input.js';
import type { GroupStates } from '../../../src/features/window-assembly.js';
import { Rng } from '../../../src/ingest/rng.js';

/** 2024-05-01T00:00:00Z: a tile-aligned origin for every hop (a whole number of days). */
export const T0 = Date.UTC(2024, 4, 1);

let counter = 0;
const nextId = (prefix: string): string => `${prefix}-${++counter}`;

/** A click with the fields features read; the rest filled with plausible values. */
export function click(userId: string, itemId: string, t: number, extra: Partial<TypedEvent<'click'>> = {}): TypedEvent<'click'> {
  return {
    type: 'click',
    eventId: nextId('clk'),
    eventTime: t,
    requestId: 'req',
    userId,
    itemId,
    categoryId: 'c-1',
    position: 0,
    context: EMPTY_CONTEXT,
    ...extra,
  };
}

/** An impression (see {@link click}). */
export function impression(userId: string, itemId: string, t: number, extra: Partial<TypedEvent<'impression'>> = {}): TypedEvent<'impression'> {
  return {
    type: 'impression',
    eventId: nextId('imp'),
    eventTime: t,
    requestId: 'req',
    userId,
    itemId,
    categoryId: 'c-1',
    position: 0,
    context: EMPTY_CONTEXT,
    ...extra,
  };
}

/** An order (see {@link click}). */
export function order(userId: string, itemId: string, t: number, amount: number, extra: Partial<TypedEvent<'order'>> = {}): TypedEvent<'order'> {
  return {
    type: 'order',
    eventId: nextId('ord'),
    eventTime: t,
    orderId: nextId('o'),
    requestId: null,
    userId,
    itemId,
    categoryId: 'c-1',
    amount,
    currency: 'EUR',
    quantity: 1,
    context: EMPTY_CONTEXT,
    ...extra,
  };
}

/**
 * A random event log over a few users, items and categories: impressions, clicks and orders
 * between `from` and `to`, some without a category, some NaN amounts, and about 5 % producer
 * duplicates (same eventId, same content) placed anywhere in the log.
 */
export function randomEvents(rng: Rng, n: number, from: number, to: number): AnyEvent[] {
  const events: AnyEvent[] = [];
  for (let i = 0; i < n; i++) {
    const user = `u${rng.int(0, 3)}`;
    const item = `i${rng.int(0, 12)}`;
    const t = rng.int(from, to);
    const categoryId = rng.bernoulli(0.1) ? null : `c${rng.int(0, 3)}`;
    const kind = rng.uniform();
    if (kind < 0.6) events.push(impression(user, item, t, { categoryId }));
    else if (kind < 0.85) events.push(click(user, item, t, { categoryId }));
    else events.push(order(user, item, t, rng.bernoulli(0.05) ? Number.NaN : Math.round(rng.uniform(1, 200) * 100) / 100, { categoryId }));
  }
  const duplicates = Math.floor(n / 20);
  for (let i = 0; i < duplicates && events.length > 0; i++) events.splice(rng.int(0, events.length), 0, { ...rng.choice(events) });
  return events;
}

/** Fisher-Yates with the seeded generator. */
export function shuffle<T>(rng: Rng, values: readonly T[]): T[] {
  const out = [...values];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** One entity's states as a tiny in-memory streaming layer would keep them. */
export interface EntityStates extends GroupStates {
  /** Latest event time applied to each tile (`agg:hop:start`) or lifetime state (`agg`). */
  readonly maxTime: Map<string, number>;
}

/**
 * Applies events to per-entity tile and lifetime states the way the streaming layer is meant to:
 * dedupe on eventId (first wins), route with `eventUpdates`, fold with `update`. Event order is
 * whatever the caller passes, so shuffled logs exercise out-of-order arrival.
 */
export function applyEvents(group: CompiledGroup, events: readonly AnyEvent[]): Map<string, EntityStates> {
  const entities = new Map<string, { tiles: Map<string, Map<number, AggState>>; lifetime: Map<number, AggState>; maxTime: Map<string, number> }>();
  const seen = new Set<string>();
  for (const event of events) {
    if (seen.has(event.eventId)) continue;
    seen.add(event.eventId);
    const routed = eventUpdates(group, event);
    if (routed === null) continue;
    let entity = entities.get(routed.entityKey);
    if (entity === undefined) {
      entity = { tiles: new Map(), lifetime: new Map(), maxTime: new Map() };
      entities.set(routed.entityKey, entity);
    }
    for (const u of routed.updates) {
      const agg = aggregatorFor(group.def.aggregations[u.aggregation] as AggregationDef);
      if (u.hopMs === null || u.tileStart === null) {
        entity.lifetime.set(u.aggregation, agg.update(entity.lifetime.get(u.aggregation) ?? agg.init(), u.value, u.t));
        bumpMax(entity.maxTime, `${u.aggregation}`, u.t);
      } else {
        const key = `${u.aggregation}:${u.hopMs}`;
        let tiles = entity.tiles.get(key);
        if (tiles === undefined) {
          tiles = new Map();
          entity.tiles.set(key, tiles);
        }
        tiles.set(u.tileStart, agg.update(tiles.get(u.tileStart) ?? agg.init(), u.value, u.t));
        bumpMax(entity.maxTime, `${key}:${u.tileStart}`, u.t);
      }
    }
  }
  const out = new Map<string, EntityStates>();
  for (const [key, e] of entities) {
    out.set(key, {
      tiles: (aggregation, hopMs) => e.tiles.get(`${aggregation}:${hopMs}`),
      lifetime: (aggregation) => e.lifetime.get(aggregation),
      maxTime: e.maxTime,
    });
  }
  return out;
}

function bumpMax(map: Map<string, number>, key: string, t: number): void {
  const old = map.get(key);
  if (old === undefined || t > old) map.set(key, t);
}

/** Compares feature records: exact for everything, except floats compared to a relative tolerance. */
export function expectFeaturesClose(
  actual: Readonly<Record<string, unknown>>,
  expected: Readonly<Record<string, unknown>>,
  relTol = 1e-9,
): string[] {
  const problems: string[] = [];
  const names = new Set([...Object.keys(actual), ...Object.keys(expected)]);
  for (const name of names) {
    const a = actual[name];
    const e = expected[name];
    if (typeof a === 'number' && typeof e === 'number') {
      const scale = Math.max(Math.abs(a), Math.abs(e), 1e-300);
      if (!(a === e || Math.abs(a - e) / scale <= relTol)) problems.push(`${name}: ${a} != ${e}`);
    } else if (JSON.stringify(a) !== JSON.stringify(e)) {
      problems.push(`${name}: ${JSON.stringify(a)} != ${JSON.stringify(e)}`);
    }
  }
  return problems;
}
