import type { AnyEvent } from '../events/event-types.js';
import type { AggregationDef, CompiledGroup } from '../features/definitions.js';
import { eventUpdates, type StateUpdate } from '../features/event-input.js';
import { opModule } from '../features/ops/index.js';
import { tileStart } from '../features/windows.js';
import type { StoreOp } from '../ports/online-store.js';
import type { StreamKeys } from './stream-keys.js';

/**
 * How a feature group's aggregation states are laid out in the online store, both ways: events
 * become store operations (write path), stored fields become the aggregation core's states (read
 * path). Every operation is a commutative merge the store applies atomically (add, max, min,
 * latest-wins, sorted-set add), so consumers owning different partitions can update the same item
 * without reading it first; the aggregation core's `merge` does the same on the read side.
 *
 * Each op module declares its layout kind (`hash`, `decay`, `zset`, `hll`; src/features/ops/types.ts,
 * `OpLayout`) and, for `hash`, its writes and fields; this module and tile-decode.ts switch on the
 * kind only, never on an op's name.
 *
 * Entity hash fields (`<i>` is the aggregation's index in the group definition):
 * - `<i>|<hop>|<tileStart>`: a windowed aggregation's state in one tile of `hop` ms: count and sum
 *   a number; min and max a number; avg as `…|s` (sum) and `…|n` (count);
 * - `<i>|L`: a lifetime aggregation's state (count, sum, min, max, avg like tiles; last as
 *   `<t>|<value>`, latest wins; last_seen the max time);
 * - `<i>|3600000|<tileStart>`: the decayed ops (layout `decay`: decayed_count, decayed_sum), kept in
 *   hourly tiles as Σ w · 2^((t - tileStart)/H) (w = 1 for a count, the value for a sum) so no
 *   sum overflows however long an entity lives; tiles 64 half-lives old weigh < 2^-64 and are pruned;
 * - `t|<hop>|<tileStart>`: the latest event time applied to that tile, over the whole group (a
 *   read at a query time inside the tile is exact only when this is before it);
 * - `_t`: the entity's latest applied event time, kept only for groups without tiles (otherwise it
 *   is the greatest `t|…` value, read from the same hash);
 * - `_p`: the prune period (hour of event time) in which the entity's tiles were last pruned.
 * last_k lives in a sorted set per entity (member value, score its latest time, trimmed to k).
 * approx_distinct lives in one Redis HyperLogLog per tile (`StreamKeys.hll`, tile label
 * `<hop>|<tileStart>`, or `L` for a lifetime one), written with PFADD: the aggregation core's sketch
 * is Redis's own (features/hll.ts), so the reader merges these tiles with the core exactly.
 * Tiles that fall out of retention are deleted when the entity's hash is pruned
 * ({@link hllTilesToDrop}).
 */

export const DECAY_TILE_MS = 3_600_000;
export const DECAY_HORIZON_HALF_LIVES = 64;

/** What a batch touched, for pruning and expiry once its events are planned. */
export interface Touched {
  /** entity hash key -> its group, entity key and the latest event time this batch applied to it */
  entities: Map<string, { group: CompiledGroup; entityKey: string; latest: number }>;
  /** sorted-set and HyperLogLog keys written */
  others: Set<string>;
}

/**
 * What planning needs to leave out tiles that are already out of retention when written. An
 * entity's events arrive from several topics (a user's impressions, clicks and orders), each with
 * its own partition watermark, so during a catch-up one topic can run days behind another; its
 * events are not late for their own partition, but their tiles are older than anything a read of
 * the entity can still need (`pruneReference - keep`), and pruning, which runs when the entity's
 * latest event enters a new period, would not see them again soon. Lifetime states still take them.
 */
export interface PlanRetention {
  latenessMs: number;
  /** The entity hash key's last prune reference time (its `_p` period start), undefined when never pruned. */
  pruneReference(entityHashKey: string): number | undefined;
}

function isStaleTile(group: CompiledGroup, u: StateUpdate, reference: number, retention: PlanRetention): boolean {
  const agg = group.aggregations[u.aggregation];
  if (agg === undefined) return false;
  if (opModule(agg.def.op).layout.kind === 'decay') return tileStart(u.t, DECAY_TILE_MS) < reference - (DECAY_HORIZON_HALF_LIVES * (agg.def.halfLifeMs as number) + DECAY_TILE_MS);
  if (u.hopMs === null) return false;
  const hop = u.hopMs;
  const tile = agg.tiles.find((t) => t.hopMs === hop);
  return tile !== undefined && (u.tileStart ?? 0) < reference - (Math.max(...tile.windowsMs) + retention.latenessMs + hop);
}

/** Text values (last, last_k) longer than this many UTF-16 units are not stored: they would bloat every read. */
export const MAX_VALUE_LENGTH = 1024;

/**
 * Appends the store operations that apply `event` to every group reading its kind.
 * Returns how many (group, entity) pairs it updated and how many values it left out as oversized.
 */
export function planEvent(
  groups: readonly CompiledGroup[],
  keys: StreamKeys,
  event: AnyEvent,
  ops: StoreOp[],
  touched: Touched,
  retention?: PlanRetention,
): { updated: number; oversized: number } {
  let updated = 0;
  let oversized = 0;
  const t = event.eventTime;
  for (const group of groups) {
    const planned = eventUpdates(group, event);
    if (planned === null) continue;
    const key = keys.entity(group.name, planned.entityKey);
    const hops = new Set<number>();
    const reference = retention?.pruneReference(key);
    for (const u of planned.updates) {
      const def = group.def.aggregations[u.aggregation] as AggregationDef;
      const i = u.aggregation;
      if (reference !== undefined && isStaleTile(group, u, reference, retention as PlanRetention)) continue;
      const module = opModule(def.op);
      if (module.capsText && String(u.value).length > MAX_VALUE_LENGTH) {
        oversized++;
        continue;
      }
      const layout = module.layout;
      if (layout.kind === 'zset') {
        const z = keys.lastK(group.name, i, planned.entityKey);
        ops.push({ op: 'zadd', key: z, member: String(u.value), score: t, keepTop: def.k ?? 1 });
        touched.others.add(z);
        continue;
      }
      if (layout.kind === 'hll') {
        // one Redis HyperLogLog per tile (PFADD is native and idempotent); the tile's latest-event
        // field below serves the exactness check like any other tile
        const h = keys.hll(group.name, i, hllTileLabel(u.hopMs, u.tileStart ?? 0), planned.entityKey);
        ops.push({ op: 'pfadd', key: h, members: [String(u.value)] });
        touched.others.add(h);
        if (u.hopMs !== null) hops.add(u.hopMs);
        continue;
      }
      if (layout.kind === 'decay') {
        const ts = tileStart(t, DECAY_TILE_MS);
        const by = layout.weight(u.value, t, ts, def.halfLifeMs as number);
        if (by !== null) ops.push({ op: 'hincr', key, field: `${i}|${DECAY_TILE_MS}|${ts}`, by });
        continue;
      }
      if (u.hopMs !== null) hops.add(u.hopMs);
      const base = u.hopMs === null ? `${i}|L` : `${i}|${u.hopMs}|${u.tileStart}`;
      for (const w of layout.write(u.value, t)) {
        const field = w.part === undefined ? base : `${base}|${w.part}`;
        if (w.op === 'hincr') ops.push({ op: 'hincr', key, field, by: w.by });
        else if (w.op === 'hlatest') ops.push({ op: 'hlatest', key, field, value: w.value, at: w.at });
        else ops.push({ op: w.op, key, field, value: w.value });
      }
    }
    for (const hop of hops) ops.push({ op: 'hmax', key, field: `t|${hop}|${tileStart(t, hop)}`, value: t });
    // with tiles, the latest event time is the greatest tile maximum; only tile-less groups need `_t`
    if (group.tileSizesMs.length === 0) ops.push({ op: 'hmax', key, field: '_t', value: t });
    const seen = touched.entities.get(key);
    touched.entities.set(key, { group, entityKey: planned.entityKey, latest: Math.max(seen?.latest ?? -Infinity, t) });
    updated++;
  }
  return { updated, oversized };
}

/**
 * How long each kind of tile is kept behind the entity's latest event: the longest window using
 * that hop plus the allowed lateness plus one hop. A read after the entity's latest event needs
 * tiles back to (latest - window - hop); a read at an earlier q is served only when q >= stream
 * watermark - lateness (see FeatureReader), which needs tiles back to (watermark - lateness -
 * window - hop), and the entity's latest event is never after the watermark. Pruning relative to
 * the entity's own latest event, not the batch's watermark, matters: an item is updated from every
 * partition, and a batch can span hours.
 */
export function retentionRules(group: CompiledGroup, latenessMs: number): { prefix: string; keepMs: number }[] {
  const rules: { prefix: string; keepMs: number }[] = [];
  const byHop = new Map<number, number>();
  for (const agg of group.aggregations) {
    if (opModule(agg.def.op).layout.kind === 'decay') {
      rules.push({ prefix: `${agg.index}|${DECAY_TILE_MS}|`, keepMs: DECAY_HORIZON_HALF_LIVES * (agg.def.halfLifeMs as number) + DECAY_TILE_MS });
      continue;
    }
    for (const tile of agg.tiles) {
      const keepMs = Math.max(...tile.windowsMs) + latenessMs + tile.hopMs;
      rules.push({ prefix: `${agg.index}|${tile.hopMs}|`, keepMs });
      byHop.set(tile.hopMs, Math.max(byHop.get(tile.hopMs) ?? 0, keepMs));
    }
  }
  for (const [hop, keepMs] of byHop) rules.push({ prefix: `t|${hop}|`, keepMs });
  return rules;
}

/** The tile label of an approx_distinct HyperLogLog key: `<hop>|<tileStart>`, or `L` for lifetime. */
export function hllTileLabel(hopMs: number | null, start: number): string {
  return hopMs === null ? 'L' : `${hopMs}|${start}`;
}

/**
 * The HyperLogLog tile labels of one entity to delete when its tiles are pruned at `latest`, the
 * previous prune having run in prune period `previousPeriod` (of `periodMs`). A HyperLogLog is a
 * key of its own, so there is no field scan: the tiles that can exist and be due are enumerated.
 * Every tile older than `previousPeriod * periodMs - keepMs` went at the previous prune (or never
 * existed: the stream applies no event further than the lateness behind the entity's latest), and
 * none starts after the previous latest event, i.e. at or after `(previousPeriod + 1) * periodMs`,
 * except the ones this batch wrote, which are recent. So about (periodMs + keepMs) / hop labels per
 * tile size at most.
 */
export function hllTilesToDrop(group: CompiledGroup, latenessMs: number, latest: number, previousPeriod: number, periodMs: number): { aggregation: number; label: string }[] {
  const out: { aggregation: number; label: string }[] = [];
  for (const agg of group.aggregations) {
    if (opModule(agg.def.op).layout.kind !== 'hll') continue;
    for (const tile of agg.tiles) {
      const keepMs = Math.max(...tile.windowsMs) + latenessMs + tile.hopMs;
      const below = Math.min(latest - keepMs, (previousPeriod + 1) * periodMs);
      for (let s = tileStart(previousPeriod * periodMs - keepMs, tile.hopMs) - tile.hopMs; s < below; s += tile.hopMs) {
        out.push({ aggregation: agg.index, label: hllTileLabel(tile.hopMs, s) });
      }
    }
  }
  return out;
}

/** The longest event-time span any state of the group is kept for. */
export function longestRetentionMs(group: CompiledGroup, latenessMs: number): number {
  return Math.max(0, ...retentionRules(group, latenessMs).map((r) => r.keepMs));
}
