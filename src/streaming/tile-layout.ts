import type { AnyEvent } from '../events/event-types.js';
import type { AggregationDef, FeatureGroupDef } from '../features/definitions.js';
import { hopFor, tileStart } from '../features/windows.js';
import type { StoreOp } from '../ports/online-store.js';
import type { StreamKeys } from './stream-keys.js';

/**
 * How one feature group's state is laid out in the online store, and how an event becomes store
 * operations. Every operation is a commutative merge the store applies atomically (add, max, min,
 * latest-wins, sorted-set add, HyperLogLog add), so two consumers that own different partitions can
 * update the same item entity without reading it first.
 *
 * Entity hash fields (`|`-separated; `<i>` is the aggregation's index in the group):
 * - `<i>|<hop>|<tileStart>`   a windowed aggregation's state for one time tile of `hop` ms
 *   (count, sum, min, max, last as `<t>|<value>`, last_seen, decayed_count's Σ 2^((t - tileStart)/H));
 *   avg keeps `…|s` (sum) and `…|n` (count);
 * - `<i>|L`                   a lifetime aggregation's state (same encodings);
 * - `t|<hop>|<tileStart>`     the latest event time in that tile, over the whole group: a read at a
 *   query time inside the tile is exact only when this is before it;
 * - `_t`                      the entity's latest applied event time.
 * last_k lives in its own sorted set; approx_distinct in one HyperLogLog per tile.
 */

/** Decayed counts are kept in hourly tiles (each tile's sum is relative to its start, so nothing overflows). */
export const DECAY_TILE_MS = 3_600_000;
/** Decayed-count tiles older than this many half-lives weigh < 2^-64 and are pruned. */
export const DECAY_HORIZON_HALF_LIVES = 64;

/** The tilings (hop sizes, or 'L' for lifetime) an aggregation is stored under. */
export function tilingsOf(agg: AggregationDef): (number | 'L')[] {
  if (agg.op === 'decayed_count') return [DECAY_TILE_MS];
  const windows = agg.windowsMs ?? [];
  if (windows.length === 0) return ['L'];
  return [...new Set(windows.map(hopFor))];
}

/** The entity key of an event for a group: its key fields joined with ':'; null when one is missing. */
export function entityKeyOf(group: FeatureGroupDef, event: AnyEvent): string | null {
  const parts: string[] = [];
  for (const f of group.entity.keyFields) {
    const v = (event as unknown as Record<string, unknown>)[f];
    if (v === null || v === undefined || v === '') return null;
    parts.push(String(v));
  }
  return parts.join(':');
}

function fieldValue(event: AnyEvent, field: string | undefined): unknown {
  return field === undefined ? undefined : (event as unknown as Record<string, unknown>)[field];
}

/** What a batch touched, for pruning and expiry once the batch's events are planned. */
export interface Touched {
  /** entity hash key -> its group */
  entities: Map<string, FeatureGroupDef>;
  /** sorted-set and HyperLogLog keys written */
  others: Set<string>;
}

/**
 * Appends the operations that apply `event` to every group that reads its kind.
 * Returns how many (group, entity) pairs it updated.
 */
export function planEvent(groups: readonly FeatureGroupDef[], keys: StreamKeys, event: AnyEvent, ops: StoreOp[], touched: Touched): number {
  let updated = 0;
  const t = event.eventTime;
  for (const group of groups) {
    const aggs = group.aggregations;
    if (!aggs.some((a) => a.source === event.type)) continue;
    const entity = entityKeyOf(group, event);
    if (entity === null) continue;
    const key = keys.entity(group.name, entity);
    const hops = new Set<number>();
    aggs.forEach((agg, i) => {
      if (agg.source !== event.type) return;
      const value = fieldValue(event, agg.field);
      if (agg.op !== 'count' && agg.op !== 'last_seen' && agg.op !== 'decayed_count' && (value === null || value === undefined)) return;
      if (agg.op === 'last_k') {
        const z = keys.lastK(group.name, i, entity);
        ops.push({ op: 'zadd', key: z, member: String(value), score: t, keepTop: agg.k ?? 1 });
        touched.others.add(z);
        return;
      }
      for (const tiling of tilingsOf(agg)) {
        const ts = tiling === 'L' ? 0 : tileStart(t, tiling);
        if (tiling !== 'L') hops.add(tiling);
        const base = tiling === 'L' ? `${i}|L` : `${i}|${tiling}|${ts}`;
        if (agg.op === 'approx_distinct') {
          const h = keys.hll(group.name, i, tiling === 'L' ? 'L' : `${tiling}|${ts}`, entity);
          ops.push({ op: 'pfadd', key: h, members: [String(value)] });
          touched.others.add(h);
          continue;
        }
        switch (agg.op) {
          case 'count':
            ops.push({ op: 'hincr', key, field: base, by: 1 });
            break;
          case 'sum':
            ops.push({ op: 'hincr', key, field: base, by: Number(value) });
            break;
          case 'avg':
            ops.push({ op: 'hincr', key, field: `${base}|s`, by: Number(value) }, { op: 'hincr', key, field: `${base}|n`, by: 1 });
            break;
          case 'min':
            ops.push({ op: 'hmin', key, field: base, value: Number(value) });
            break;
          case 'max':
            ops.push({ op: 'hmax', key, field: base, value: Number(value) });
            break;
          case 'last':
            ops.push({ op: 'hlatest', key, field: base, value: String(value), at: t });
            break;
          case 'last_seen':
            ops.push({ op: 'hmax', key, field: base, value: t });
            break;
          case 'decayed_count':
            ops.push({ op: 'hincr', key, field: base, by: Math.pow(2, (t - ts) / (agg.halfLifeMs as number)) });
            break;
        }
      }
    });
    for (const hop of hops) ops.push({ op: 'hmax', key, field: `t|${hop}|${tileStart(t, hop)}`, value: t });
    ops.push({ op: 'hmax', key, field: '_t', value: t });
    touched.entities.set(key, group);
    updated++;
  }
  return updated;
}

/**
 * How long tiles of each (aggregation, hop) are kept behind the stream's watermark, in event
 * time: the longest window using that hop plus the allowed lateness plus one hop, so that any read
 * at a query time >= watermark - lateness still finds every tile it needs.
 */
export function retentionRules(group: FeatureGroupDef, latenessMs: number): { prefix: string; keepMs: number }[] {
  const rules: { prefix: string; keepMs: number }[] = [];
  group.aggregations.forEach((agg, i) => {
    if (agg.op === 'last_k' || agg.op === 'approx_distinct') return;
    if (agg.op === 'decayed_count') {
      rules.push({ prefix: `${i}|${DECAY_TILE_MS}|`, keepMs: DECAY_HORIZON_HALF_LIVES * (agg.halfLifeMs as number) + DECAY_TILE_MS });
      return;
    }
    const byHop = new Map<number, number>();
    for (const w of agg.windowsMs ?? []) byHop.set(hopFor(w), Math.max(byHop.get(hopFor(w)) ?? 0, w));
    for (const [hop, w] of byHop) rules.push({ prefix: `${i}|${hop}|`, keepMs: w + latenessMs + hop });
  });
  const hops = new Map<number, number>();
  for (const r of rules) {
    const hop = Number(r.prefix.split('|')[1]);
    hops.set(hop, Math.max(hops.get(hop) ?? 0, r.keepMs));
  }
  for (const [hop, keepMs] of hops) rules.push({ prefix: `t|${hop}|`, keepMs });
  return rules;
}

/** The longest event-time span any state of the group must be kept for (sets the wall-clock TTL too). */
export function longestRetentionMs(group: FeatureGroupDef, latenessMs: number): number {
  return Math.max(0, ...retentionRules(group, latenessMs).map((r) => r.keepMs));
}
