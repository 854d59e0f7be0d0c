import type { AnyEvent } from '../events/event-types.js';
import { isNumericInput, isValueInput, type AggValue } from './aggregators.js';
import type { AggregationDef, CompiledGroup, EntityDef } from './definitions.js';
import { opModule } from './ops/index.js';
import { tileStart } from './windows.js';

/**
 * From an event to the state updates it causes: which entity, which aggregations, which tiles.
 * The streaming consumer and the batch layer both route events through here, so they agree on
 * which events count for what.
 */

/** Separator of the key field values in an entity key. */
export const ENTITY_KEY_SEPARATOR = ':';

/**
 * The entity key of an event: the values of the entity's key fields joined with `:`
 * (`u-1` for user, `u-1:c-7` for user_category), or null when the event lacks one of them (a key
 * field that is missing, null or the empty string), in which case it contributes nothing to the
 * group. Values are not escaped: ids containing `:` could make two multi-field keys collide, and
 * the producers' ids do not contain it.
 *
 * @example entityKeyOf({ name: 'user_category', keyFields: ['userId', 'categoryId'] }, click) // 'u-1:c-7'
 */
export function entityKeyOf(entity: EntityDef, event: AnyEvent): string | null {
  const record = event as unknown as Readonly<Record<string, unknown>>;
  const parts: string[] = [];
  for (const field of entity.keyFields) {
    const value = record[field];
    if (typeof value === 'string' ? value.length === 0 : !isNumericInput(value)) return null;
    parts.push(String(value));
  }
  return parts.join(ENTITY_KEY_SEPARATOR);
}

/**
 * What an event feeds into one aggregation: `{ value }` (null for count, last_seen and
 * decayed_count, which need only the time), or null when it does not contribute: another event
 * type, or a field value the op cannot use (null, NaN or infinite, or not a number for an op on a
 * numeric field: sum, avg, min, max, decayed_sum). An event that does not contribute still counts for the group's count features.
 */
export function aggregationInput(def: AggregationDef, event: AnyEvent): { value: AggValue } | null {
  if (event.type !== def.source) return null;
  if (def.field === undefined) return { value: null };
  const value = (event as unknown as Readonly<Record<string, unknown>>)[def.field];
  // the op's module says which values it takes (src/features/ops)
  if (opModule(def.op).field === 'numeric') return isNumericInput(value) ? { value } : null;
  return isValueInput(value) ? { value } : null;
}

/** One state an event updates. */
export interface StateUpdate {
  /** Index of the aggregation in the group definition. */
  readonly aggregation: number;
  /** The tile size for a windowed aggregation, null for its lifetime state. */
  readonly hopMs: number | null;
  /** The start of the tile holding the event, null for the lifetime state. */
  readonly tileStart: number | null;
  /** The value to pass to `update`. */
  readonly value: AggValue;
  /** The event time to pass to `update`. */
  readonly t: number;
}

/**
 * Every state update one event causes in one group: for each aggregation it feeds, one update per
 * tile size of its windows (a 1 h and a 24 h window update a 1 min and a 5 min tile), or one
 * update of its lifetime state. Null when the event has no entity key for this group.
 * Deduplication and lateness are the caller's business; this only says where the event goes.
 */
export function eventUpdates(group: CompiledGroup, event: AnyEvent): { entityKey: string; updates: StateUpdate[] } | null {
  if (!group.sources.includes(event.type)) return null;
  const entityKey = entityKeyOf(group.entity, event);
  if (entityKey === null) return null;
  const updates: StateUpdate[] = [];
  const t = event.eventTime;
  for (const agg of group.aggregations) {
    const input = aggregationInput(agg.def, event);
    if (input === null) continue;
    if (agg.lifetime) {
      updates.push({ aggregation: agg.index, hopMs: null, tileStart: null, value: input.value, t });
      continue;
    }
    for (const tile of agg.tiles) {
      updates.push({ aggregation: agg.index, hopMs: tile.hopMs, tileStart: tileStart(t, tile.hopMs), value: input.value, t });
    }
  }
  return { entityKey, updates };
}
