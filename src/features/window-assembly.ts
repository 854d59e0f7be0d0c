import { aggregatorFor, smoothedRatio, type AggState, type FeatureValue } from './aggregators.js';
import { toCompiled, type AggregationDef, type CompiledGroup, type FeatureGroupDef } from './definitions.js';
import { windowRange } from './windows.js';

/**
 * From stored states to feature values at a query time q: the read half of the tile design,
 * shared by the serving reader and the batch layer.
 *
 * Exactness. A tile of size h holds every applied event of its span [s, s + h). Every tile a window
 * reads lies entirely inside `[from, q)` except the head tile, the one containing q (when q is
 * not tile-aligned): it may also hold events at or after q, which would leak into the value. So
 * a window read at q is exact when the head tile has no event at or after q, which is always true
 * for q after the entity's latest applied event (the serving case) and for tile-aligned q (the
 * head tile then starts at q and is not read). A lifetime state is one tile spanning all time:
 * exact when its latest event is before q. Callers that keep each state's latest event time check
 * {@link headIsExact} and send anything else to the batch layer rather than answer wrongly.
 */

/**
 * Whether the tile (or lifetime state) containing q can be read for q: true when its latest
 * applied event time is before q, or when it is empty (null).
 *
 * @param tileMaxEventTime the largest eventTime applied to the tile `[tileStart(q, h), ...)`, or
 *   to the lifetime state; null when nothing was applied.
 * @example headIsExact(q - 1, q) === true; headIsExact(q, q) === false
 */
export function headIsExact(tileMaxEventTime: number | null, q: number): boolean {
  return tileMaxEventTime === null || tileMaxEventTime < q;
}

/**
 * The value of one window of one aggregation at q from its tiles (keyed by tile start, tiles of
 * the window's hop): merges the tiles with `windowRange(q, windowMs).from <= start < q`, in
 * ascending start order (so float sums add up in the same order on every path), then finishes.
 * Tiles outside the range are ignored, so callers may pass every tile they have.
 *
 * @example assembleWindow(def, tiles, q, hours(1)) // e.g. 17 for a count
 */
export function assembleWindow(def: AggregationDef, tiles: ReadonlyMap<number, AggState>, q: number, windowMs: number): FeatureValue {
  const agg = aggregatorFor(def);
  const { from } = windowRange(q, windowMs);
  const starts: number[] = [];
  for (const start of tiles.keys()) if (start >= from && start < q) starts.push(start);
  starts.sort((a, b) => a - b);
  let state = agg.init();
  for (const start of starts) state = agg.merge(state, tiles.get(start) as AggState);
  return agg.finish(state, q);
}

/** Where {@link assembleGroup} reads one entity's states (decoded, not JSON). */
export interface GroupStates {
  /** The tiles of a windowed aggregation at one tile size, keyed by tile start; undefined when none. */
  tiles(aggregation: number, hopMs: number): ReadonlyMap<number, AggState> | undefined;
  /** The lifetime state of an aggregation; undefined when none. */
  lifetime(aggregation: number): AggState | undefined;
}

const NO_STATES: GroupStates = { tiles: () => undefined, lifetime: () => undefined };
const NO_TILES: ReadonlyMap<number, AggState> = new Map();

/**
 * Every feature of a group for one entity at q, in `features` order: windows from tiles
 * ({@link assembleWindow}), lifetime values finished from their single state, derived features
 * from the values of their inputs. Exactness is the caller's check (see the module comment).
 */
export function assembleGroup(group: CompiledGroup | FeatureGroupDef, states: GroupStates, q: number): Record<string, FeatureValue> {
  const compiled = toCompiled(group);
  const out: Record<string, FeatureValue> = {};
  for (const f of compiled.features) {
    if (f.kind === 'windowed') {
      const def = compiled.def.aggregations[f.aggregation] as AggregationDef;
      out[f.name] = assembleWindow(def, states.tiles(f.aggregation, f.hopMs) ?? NO_TILES, q, f.windowMs);
    } else if (f.kind === 'lifetime') {
      const agg = aggregatorFor(compiled.def.aggregations[f.aggregation] as AggregationDef);
      out[f.name] = agg.finish(states.lifetime(f.aggregation) ?? agg.init(), q);
    } else {
      out[f.name] = smoothedRatio(out[f.numerator] as number, out[f.denominator] as number, f.alpha, f.beta);
    }
  }
  return out;
}

/**
 * The values of an entity with no events (cold start): counts, sums and approx_distinct 0,
 * decayed_count 0, avg, min, max, last and last_seen null, last_k [], smoothed ratios
 * alpha / beta. The same values any path computes from empty states.
 */
export function coldStartFeatures(group: CompiledGroup | FeatureGroupDef): Record<string, FeatureValue> {
  return assembleGroup(group, NO_STATES, 0);
}
