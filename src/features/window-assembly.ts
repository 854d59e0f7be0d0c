import { aggregatorFor, smoothedRatio, type Aggregator, type AggState, type FeatureValue } from './aggregators.js';
import { type AggregationDef, type CompiledGroup } from './definitions.js';
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
export function assembleGroup(group: CompiledGroup, states: GroupStates, q: number): Record<string, FeatureValue> {
  const compiled = group;
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
export function coldStartFeatures(group: CompiledGroup): Record<string, FeatureValue> {
  return assembleGroup(group, NO_STATES, 0);
}

/**
 * One entity's states as flat lists instead of a Map per tile size: tile i is aggregation
 * `agg[i]`'s state `state[i]` in the tile of `hop[i]` ms starting at `start[i]`, at most one tile
 * per (aggregation, hop, start); `lifetime[a]` is aggregation a's lifetime state. A reader that
 * decodes many entities fills one list after the other ({@link clear}), allocating nothing per
 * entity but the states.
 */
export class TileList {
  size = 0;
  readonly agg: number[] = [];
  readonly hop: number[] = [];
  readonly start: number[] = [];
  readonly state: AggState[] = [];
  readonly lifetime: (AggState | undefined)[] = [];
  /** The entity's latest applied event time, null when none (set by the decoder). */
  latest: number | null = null;

  /** Empties the list for an entity of a group with `aggregations` aggregations (keeping the lists' storage). */
  clear(aggregations: number): void {
    for (let i = 0; i < this.size; i++) this.state[i] = 0;
    this.size = 0;
    this.latest = null;
    const lifetime = this.lifetime;
    for (let a = 0; a < aggregations; a++) lifetime[a] = undefined;
    if (lifetime.length > aggregations) lifetime.length = aggregations;
  }

  push(agg: number, hop: number, start: number, state: AggState): void {
    const i = this.size++;
    this.agg[i] = agg;
    this.hop[i] = hop;
    this.start[i] = start;
    this.state[i] = state;
  }
}

type AssemblyStep =
  | { kind: 'windowed'; name: string; agg: number; hopMs: number; windowMs: number; core: Aggregator }
  | { kind: 'lifetime'; name: string; agg: number; core: Aggregator }
  | { kind: 'derived'; name: string; numerator: string; denominator: string; alpha: number; beta: number };

/** A group's features as steps, plus a record with its feature names in order to copy the output's shape from. */
interface AssemblyPlan {
  readonly steps: readonly AssemblyStep[];
  readonly shape: Readonly<Record<string, FeatureValue>>;
}

const plans = new WeakMap<CompiledGroup, AssemblyPlan>();
/** Tile indexes of one window, reused across calls (assembly is synchronous). */
let picked = new Int32Array(64);

function planOf(group: CompiledGroup): AssemblyPlan {
  let plan = plans.get(group);
  if (plan !== undefined) return plan;
  const defs = group.def.aggregations;
  const steps = group.features.map((f): AssemblyStep => {
    if (f.kind === 'derived') return { kind: 'derived', name: f.name, numerator: f.numerator, denominator: f.denominator, alpha: f.alpha, beta: f.beta };
    const core = aggregatorFor(defs[f.aggregation] as AggregationDef);
    return f.kind === 'windowed' ? { kind: 'windowed', name: f.name, agg: f.aggregation, hopMs: f.hopMs, windowMs: f.windowMs, core } : { kind: 'lifetime', name: f.name, agg: f.aggregation, core };
  });
  const shape: Record<string, FeatureValue> = {};
  for (const f of group.features) shape[f.name] = null;
  plans.set(group, (plan = { steps, shape }));
  return plan;
}

/**
 * {@link assembleGroup} over a {@link TileList}: the same values, computed the same way (a window
 * merges its tiles with `windowRange(q, windowMs).from <= start < q` in ascending start order from
 * `init()`, then finishes; lifetime values finish their state or `init()`; derived features
 * combine their inputs), without a Map per aggregation and tile size. The serving reader's path.
 */
export function assembleTiles(group: CompiledGroup, tiles: TileList, q: number): Record<string, FeatureValue> {
  const plan = planOf(group);
  // every name at once (the copy has the record's final shape), each value set below
  const out: Record<string, FeatureValue> = { ...plan.shape };
  const { agg, hop, start, state, size } = tiles;
  if (picked.length < size) picked = new Int32Array(size * 2);
  for (const s of plan.steps) {
    if (s.kind === 'windowed') {
      const from = windowRange(q, s.windowMs).from;
      let n = 0;
      for (let i = 0; i < size; i++) {
        const st = start[i] as number;
        if (agg[i] === s.agg && hop[i] === s.hopMs && st >= from && st < q) {
          // insertion sort by start: a window holds few tiles
          let j = n++;
          while (j > 0 && (start[picked[j - 1] as number] as number) > st) {
            picked[j] = picked[j - 1] as number;
            j--;
          }
          picked[j] = i;
        }
      }
      let acc = s.core.init();
      for (let j = 0; j < n; j++) acc = s.core.merge(acc, state[picked[j] as number] as AggState);
      out[s.name] = s.core.finish(acc, q);
    } else if (s.kind === 'lifetime') {
      out[s.name] = s.core.finish(tiles.lifetime[s.agg] ?? s.core.init(), q);
    } else {
      out[s.name] = smoothedRatio(out[s.numerator] as number, out[s.denominator] as number, s.alpha, s.beta);
    }
  }
  return out;
}
