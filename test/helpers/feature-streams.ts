import type { AnyEvent, Context, ReferenceEvent } from '../../src/events/event-types.js';
import { days, hours, minutes, type CompiledGroup, type FeatureGroupDef } from '../../src/features/definitions.js';
import { compileRef, REFERENCE_GROUPS } from './reference.js';
import { aggregatorFor, type AggState, type FeatureValue } from '../../src/features/aggregators.js';
import { eventUpdates } from '../../src/features/event-input.js';
import type { EntityDump } from '../../src/streaming/batch-view.js';
import { Rng } from '../../src/ingest/rng.js';

/** Every op the streaming layer serves, with lifetime and windowed forms. */
export const ALL_OPS_GROUP: FeatureGroupDef = {
  name: 'probe',
  entity: { name: 'probe', keyFields: ['userId'] },
  aggregations: [
    { source: 'order', op: 'sum', field: 'amount', windowsMs: [minutes(30), hours(6)] },
    { source: 'order', op: 'avg', field: 'amount', windowsMs: [hours(2)] },
    { source: 'order', op: 'min', field: 'amount', windowsMs: [days(2)] },
    { source: 'order', op: 'max', field: 'amount', windowsMs: [days(20)] },
    { source: 'order', op: 'count' },
    { source: 'order', op: 'sum', field: 'quantity' },
    { source: 'click', op: 'last', field: 'itemId' },
    { source: 'impression', op: 'last_k', field: 'categoryId', k: 3 },
    { source: 'click', op: 'decayed_count', halfLifeMs: hours(3) },
    { source: 'impression', op: 'last_seen' },
    { source: 'impression', op: 'approx_distinct', field: 'itemId', windowsMs: [hours(1), days(2)] },
    { source: 'click', op: 'approx_distinct', field: 'categoryId' },
  ],
};

/** The op added through its module alone (src/features/ops/decayed-sum.ts): decayed_sum of a double and an int field. */
export const DECAYED_SUM_GROUP: FeatureGroupDef = {
  name: 'probe_decay',
  entity: { name: 'probe_decay', keyFields: ['userId'] },
  aggregations: [
    { source: 'order', op: 'decayed_sum', field: 'amount', halfLifeMs: hours(6) },
    { source: 'order', op: 'decayed_sum', field: 'quantity', halfLifeMs: days(1) },
    { source: 'order', op: 'count', windowsMs: [hours(1)] },
  ],
};

/** The reference project's groups, {@link ALL_OPS_GROUP} and {@link DECAYED_SUM_GROUP}, compiled against its event types. */
export const TEST_GROUPS: readonly CompiledGroup[] = [...REFERENCE_GROUPS, compileRef(ALL_OPS_GROUP), compileRef(DECAYED_SUM_GROUP)];

const CONTEXT: Context = { device: 'ios', os: 'ios', country: 'CN', city: 'Shanghai', page: 'home', timezone: 'Asia/Shanghai' };

/**
 * A random event stream: a few users, items and categories over `spanMs`, out of order by up to
 * `disorderMs`, with `dupRate` of events re-sent later (same eventId: producer retries).
 */
export function randomStream(seed: number, n: number, options: { start?: number; spanMs?: number; disorderMs?: number; dupRate?: number } = {}): AnyEvent[] {
  const rng = new Rng(seed, 'feature-stream');
  const start = options.start ?? Date.UTC(2026, 0, 5);
  const span = options.spanMs ?? days(3);
  const disorder = options.disorderMs ?? minutes(5);
  const events: ReferenceEvent[] = [];
  for (let i = 0; i < n; i++) {
    const t = start + Math.floor(rng.uniform(0, span));
    const userId = `u${rng.int(0, 4)}`;
    const itemId = `i${rng.int(0, 7)}`;
    const categoryId = rng.bernoulli(0.9) ? `c${rng.int(0, 2)}` : null;
    const common = { eventId: `e${seed}-${i}`, eventTime: t, requestId: `r${i}`, userId, itemId, categoryId, context: CONTEXT };
    const kind = rng.uniform();
    if (kind < 0.6) events.push({ type: 'impression', ...common, position: rng.int(0, 9) });
    else if (kind < 0.9) events.push({ type: 'click', ...common, position: null });
    else events.push({ type: 'order', ...common, orderId: `o${i}`, amount: Math.round(rng.uniform(1, 500) * 100) / 100, currency: 'USD', quantity: rng.int(1, 3) });
  }
  // arrival order: by time plus a bounded random delay
  const arrival = events.map((e) => ({ e, at: e.eventTime + rng.uniform(0, disorder) }));
  arrival.sort((a, b) => a.at - b.at);
  const out: AnyEvent[] = arrival.map((a) => a.e);
  const dupRate = options.dupRate ?? 0.1;
  const dups: AnyEvent[] = [];
  for (const e of out) if (rng.bernoulli(dupRate)) dups.push(e);
  // each duplicate re-inserted a little later in the log
  for (const d of dups) out.splice(Math.min(out.length, out.indexOf(d) + 1 + rng.int(0, 20)), 0, d);
  return out;
}

/** The entities of each group that appear in the events. */
export function entitiesOf(group: CompiledGroup, events: readonly AnyEvent[]): Map<string, number> {
  const latest = new Map<string, number>();
  for (const e of events) {
    const r = e as unknown as Record<string, unknown>;
    if (!group.sources.includes(e.type)) continue;
    const key = group.entity.keyFields.map((f) => r[f]);
    if (key.some((v) => v === null || v === undefined || v === '')) continue;
    const k = key.join(':');
    latest.set(k, Math.max(latest.get(k) ?? -Infinity, e.eventTime));
  }
  return latest;
}

/** Feature maps equal, numbers to 1e-9 relative (float sums may add in another order), or 1e-12 absolute. */
export function sameFeatures(a: Record<string, FeatureValue>, b: Record<string, FeatureValue>): string | null {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const n of names) {
    const x = a[n];
    const y = b[n];
    if (typeof x === 'number' && typeof y === 'number') {
      if (Math.abs(x - y) > Math.max(1e-12, 1e-9 * Math.max(Math.abs(x), Math.abs(y)))) return `${n}: ${x} != ${y}`;
    } else if (JSON.stringify(x) !== JSON.stringify(y)) return `${n}: ${JSON.stringify(x)} != ${JSON.stringify(y)}`;
  }
  return null;
}

/**
 * A naive batch recompute for tests: every entity's states as of `until` (events with eventTime <
 * until, deduplicated on eventId), folded one event at a time with the aggregation core, in the
 * shape a batch view is written from.
 */
export function foldDumps(group: CompiledGroup, events: readonly AnyEvent[], until: number): EntityDump[] {
  const seen = new Set<string>();
  const byEntity = new Map<string, { tiles: Map<number, Map<number, Map<number, AggState>>>; lifetime: Map<number, AggState>; tileMax: Map<number, Map<number, number>>; latest: number }>();
  for (const e of events) {
    if (seen.has(e.eventId) || e.eventTime >= until) continue;
    seen.add(e.eventId);
    const planned = eventUpdates(group, e);
    if (planned === null) continue;
    let d = byEntity.get(planned.entityKey);
    if (d === undefined) byEntity.set(planned.entityKey, (d = { tiles: new Map(), lifetime: new Map(), tileMax: new Map(), latest: -Infinity }));
    d.latest = Math.max(d.latest, e.eventTime);
    for (const u of planned.updates) {
      const agg = aggregatorFor(group.def.aggregations[u.aggregation]!);
      if (u.hopMs === null) {
        d.lifetime.set(u.aggregation, agg.update(d.lifetime.get(u.aggregation) ?? agg.init(), u.value, u.t));
        continue;
      }
      let byHop = d.tiles.get(u.aggregation);
      if (byHop === undefined) d.tiles.set(u.aggregation, (byHop = new Map()));
      let byStart = byHop.get(u.hopMs);
      if (byStart === undefined) byHop.set(u.hopMs, (byStart = new Map()));
      byStart.set(u.tileStart!, agg.update(byStart.get(u.tileStart!) ?? agg.init(), u.value, u.t));
      let max = d.tileMax.get(u.hopMs);
      if (max === undefined) d.tileMax.set(u.hopMs, (max = new Map()));
      max.set(u.tileStart!, Math.max(max.get(u.tileStart!) ?? -Infinity, u.t));
    }
  }
  return [...byEntity].map(([entityKey, d]) => ({
    entityKey,
    latestEventTime: d.latest,
    *tileEntries() {
      for (const [aggregation, byHop] of d.tiles) for (const [hopMs, byStart] of byHop) for (const [tileStart, state] of byStart) yield { aggregation, hopMs, tileStart, state };
    },
    *lifetimeEntries() {
      for (const [aggregation, state] of d.lifetime) yield { aggregation, state };
    },
    tileMax: (hopMs: number, start: number) => d.tileMax.get(hopMs)?.get(start) ?? null,
  }));
}
