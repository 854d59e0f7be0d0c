import type { AnyEvent } from '../events/event-types.js';
import { aggregatorFor, type AggState, type FeatureValue } from '../features/aggregators.js';
import type { AggregationDef, CompiledGroup } from '../features/definitions.js';
import { eventUpdates } from '../features/event-input.js';
import { assembleGroup, coldStartFeatures, type GroupStates } from '../features/window-assembly.js';

/** One entity's states: tiles per `<aggregation>|<hop>` keyed by tile start, lifetime states per aggregation. */
interface EntityState {
  readonly tiles: Map<string, Map<number, AggState>>;
  readonly life: Map<number, AggState>;
  /** The prune period (hour of event time) of the last prune; not persisted (pruning never changes a value). */
  prunedPeriod: number;
}

/** How often, in the entity's own event time, its tiles are pruned when it is touched. */
const PRUNE_PERIOD_MS = 3_600_000;

/** A state field changed since the last checkpoint: its encoded JSON, or null once deleted. */
export interface FieldChange {
  readonly field: string;
  readonly value: string | null;
}

/**
 * The joiner's own feature state of one group: per entity, tile states and lifetime states built
 * with the one aggregation core (`update` to fold an event in, `assembleGroup` to read), exactly
 * as the streaming layer and the batch layer build theirs.
 *
 * Why not read the online store: the joiner needs values as of an impression time in the past of
 * the stream (its input is only complete a lateness later), and online head tiles may already
 * hold later events. Here every event is applied in event-time order and a value at q is read
 * before any event at or after q is applied, so every head tile is exact (`headIsExact`).
 *
 * Bounded by event time: a tile starting at s is dropped once the applied frontier reaches
 * `s + retentionMs` (longest window of its hop + one hop), when the entity is touched (once per
 * hour of its event time) and in the hourly sweep; an entity with no tile and no lifetime state
 * left is forgotten. Lifetime states (last_k, last_seen, lifetime counts) are kept for as long
 * as the entity exists, as the batch layer's lifetime values cover every event before q.
 *
 * Persisted field by field (see {@link drainChanges}): `<agg>|<hop>|<tileStart>|<entity>` for a
 * tile, `<agg>|L|<entity>` for a lifetime state, the value the core's `encode` as JSON.
 */
export class GroupFeatureState {
  private readonly entities = new Map<string, EntityState>();
  private readonly dirty = new Set<string>();
  private readonly retention = new Map<string, number>();
  private readonly cold: Record<string, FeatureValue>;

  constructor(readonly group: CompiledGroup) {
    for (const agg of group.aggregations) for (const tile of agg.tiles) this.retention.set(`${agg.index}|${tile.hopMs}`, tile.retentionMs);
    this.cold = coldStartFeatures(group);
  }

  /** Entities held. */
  get size(): number {
    return this.entities.size;
  }

  /** Folds one event in (the caller applies events in event-time order, each once). */
  apply(event: AnyEvent): void {
    const planned = eventUpdates(this.group, event);
    if (planned === null) return;
    const { entityKey, updates } = planned;
    let entity = this.entities.get(entityKey);
    if (entity === undefined) {
      entity = { tiles: new Map(), life: new Map(), prunedPeriod: -Infinity };
      this.entities.set(entityKey, entity);
    }
    for (const u of updates) {
      const agg = aggregatorFor(this.group.def.aggregations[u.aggregation] as AggregationDef);
      if (u.hopMs === null || u.tileStart === null) {
        entity.life.set(u.aggregation, agg.update(entity.life.get(u.aggregation) ?? agg.init(), u.value, u.t));
        this.dirty.add(`${u.aggregation}|L|${entityKey}`);
        continue;
      }
      const tileKey = `${u.aggregation}|${u.hopMs}`;
      let tiles = entity.tiles.get(tileKey);
      if (tiles === undefined) {
        tiles = new Map();
        entity.tiles.set(tileKey, tiles);
      }
      tiles.set(u.tileStart, agg.update(tiles.get(u.tileStart) ?? agg.init(), u.value, u.t));
      this.dirty.add(`${tileKey}|${u.tileStart}|${entityKey}`);
    }
    const period = Math.floor(event.eventTime / PRUNE_PERIOD_MS);
    if (period > entity.prunedPeriod) {
      entity.prunedPeriod = period;
      this.pruneEntity(entityKey, entity, event.eventTime);
    }
  }

  /**
   * Every feature of the group for `entityKey` at q, or the cold-start values when the key is null
   * (the impression lacks a key field) or unknown. Exact when every applied event is before q.
   */
  featuresAt(entityKey: string | null, q: number): Record<string, FeatureValue> {
    const entity = entityKey === null ? undefined : this.entities.get(entityKey);
    if (entity === undefined) return this.cold;
    const states: GroupStates = {
      tiles: (aggregation, hopMs) => entity.tiles.get(`${aggregation}|${hopMs}`),
      lifetime: (aggregation) => entity.life.get(aggregation),
    };
    return assembleGroup(this.group, states, q);
  }

  /** Drops every tile no query at or after `frontier` reads, and entities left empty. */
  sweep(frontier: number): void {
    for (const [key, entity] of this.entities) this.pruneEntity(key, entity, frontier);
  }

  /** The fields changed since the last call, with their new encoded values (null: deleted). */
  drainChanges(): FieldChange[] {
    const out: FieldChange[] = [];
    for (const field of this.dirty) out.push({ field, value: this.encodeField(field) });
    this.dirty.clear();
    return out;
  }

  /**
   * Loads the fields of a checkpoint (flat `[field, value, ...]`), replacing the current state.
   *
   * @throws FeatureStateError when a stored state is not a state of its aggregation.
   */
  restore(flat: readonly string[]): void {
    this.entities.clear();
    this.dirty.clear();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i] as string;
      const parsed = parseField(field);
      if (parsed === null) continue;
      const def = this.group.def.aggregations[parsed.aggregation];
      if (def === undefined) continue;
      const state = aggregatorFor(def).decode(JSON.parse(flat[i + 1] as string));
      let entity = this.entities.get(parsed.entityKey);
      if (entity === undefined) {
        entity = { tiles: new Map(), life: new Map(), prunedPeriod: -Infinity };
        this.entities.set(parsed.entityKey, entity);
      }
      if (parsed.hopMs === null || parsed.tileStart === null) entity.life.set(parsed.aggregation, state);
      else {
        const tileKey = `${parsed.aggregation}|${parsed.hopMs}`;
        let tiles = entity.tiles.get(tileKey);
        if (tiles === undefined) {
          tiles = new Map();
          entity.tiles.set(tileKey, tiles);
        }
        tiles.set(parsed.tileStart, state);
      }
    }
  }

  private pruneEntity(entityKey: string, entity: EntityState, frontier: number): void {
    for (const [tileKey, tiles] of entity.tiles) {
      const keep = this.retention.get(tileKey) ?? Infinity;
      for (const start of tiles.keys()) {
        if (start + keep <= frontier) {
          tiles.delete(start);
          this.dirty.add(`${tileKey}|${start}|${entityKey}`);
        }
      }
      if (tiles.size === 0) entity.tiles.delete(tileKey);
    }
    if (entity.tiles.size === 0 && entity.life.size === 0) this.entities.delete(entityKey);
  }

  private encodeField(field: string): string | null {
    const parsed = parseField(field);
    if (parsed === null) return null;
    const entity = this.entities.get(parsed.entityKey);
    const state =
      parsed.hopMs === null || parsed.tileStart === null
        ? entity?.life.get(parsed.aggregation)
        : entity?.tiles.get(`${parsed.aggregation}|${parsed.hopMs}`)?.get(parsed.tileStart);
    if (state === undefined) return null;
    const def = this.group.def.aggregations[parsed.aggregation] as AggregationDef;
    return JSON.stringify(aggregatorFor(def).encode(state));
  }
}

/** `<agg>|<hop>|<start>|<entity>` or `<agg>|L|<entity>`; the entity key comes last, so it may hold `|`. */
function parseField(field: string): { aggregation: number; hopMs: number | null; tileStart: number | null; entityKey: string } | null {
  const a = field.indexOf('|');
  const b = field.indexOf('|', a + 1);
  if (a < 0 || b < 0) return null;
  const aggregation = Number(field.slice(0, a));
  const second = field.slice(a + 1, b);
  if (second === 'L') return { aggregation, hopMs: null, tileStart: null, entityKey: field.slice(b + 1) };
  const c = field.indexOf('|', b + 1);
  if (c < 0) return null;
  return { aggregation, hopMs: Number(second), tileStart: Number(field.slice(b + 1, c)), entityKey: field.slice(c + 1) };
}
