import type { AggregationDef, CompiledGroup } from '../features/definitions.js';
import { EVENT_FIELDS, type FieldKind } from '../events/event-fields.js';
import { aggregatorFor, type AggState, type DecayState, type TimedValue } from '../features/aggregators.js';
import type { GroupStates } from '../features/window-assembly.js';

/**
 * The read side of the layout described in tile-layout.ts (DECAY_TILE_MS tiles, `<t>|<value>` latest values): an entity's stored fields back into the
 * aggregation core's states.
 */

function fieldKind(def: AggregationDef): FieldKind | undefined {
  if (def.field === undefined) return undefined;
  return (EVENT_FIELDS[def.source] as Record<string, FieldKind>)[def.field];
}

/** A stored `last` / last_k value back in the type the event field had (numbers stay numbers). */
function typedValue(def: AggregationDef, text: string): string | number {
  const kind = fieldKind(def);
  return kind === 'int' || kind === 'nullableInt' || kind === 'double' || kind === 'nullableDouble' || kind === 'instant' || kind === 'nullableInstant'
    ? Number(text)
    : text;
}

function parseLatest(def: AggregationDef, text: string): TimedValue {
  const bar = text.indexOf('|');
  return { t: Number(text.slice(0, bar)), v: typedValue(def, text.slice(bar + 1)) };
}

/** One entity's stored fields decoded for the aggregation core, plus what the exactness check needs. */
export interface EntityStates extends GroupStates {
  /** Latest applied event time of the entity, null when nothing was applied. */
  readonly latest: number | null;
  /** Latest event time applied to a tile, null when none. */
  tileMax(hopMs: number, start: number): number | null;
}

/**
 * Decodes an entity hash (`HGETALL`) and its last_k sorted sets into the aggregation core's
 * states, per the layout above.
 */
export function decodeEntity(group: CompiledGroup, hash: Readonly<Record<string, string>>, lastK: ReadonlyMap<number, { member: string; score: number }[]>): EntityStates {
  const tiles = new Map<string, Map<number, AggState>>(); // `${agg}|${hop}` -> start -> state
  const lifetime = new Map<number, AggState>();
  const tileMax = new Map<string, number>();
  const avgParts = new Map<string, { sum: number; count: number }>();
  const decayParts = new Map<number, DecayState[]>();
  let latest: number | null = null;
  const defs = group.def.aggregations;
  const put = (agg: number, hop: number | null, start: number, state: AggState) => {
    if (hop === null) {
      lifetime.set(agg, state);
      return;
    }
    const k = `${agg}|${hop}`;
    let m = tiles.get(k);
    if (!m) tiles.set(k, (m = new Map()));
    m.set(start, state);
  };
  for (const [field, value] of Object.entries(hash)) {
    const parts = field.split('|');
    if (parts[0] === '_p') continue;
    if (parts[0] === '_t') {
      latest = Math.max(latest ?? -Infinity, Number(value));
      continue;
    }
    if (parts[0] === 't') {
      tileMax.set(`${parts[1]}|${parts[2]}`, Number(value));
      latest = Math.max(latest ?? -Infinity, Number(value));
      continue;
    }
    const agg = Number(parts[0]);
    const def = defs[agg];
    if (def === undefined) continue; // a field of a newer definition: ignore
    const hop = parts[1] === 'L' ? null : Number(parts[1]);
    const start = hop === null ? 0 : Number(parts[2]);
    const part = hop === null ? parts[2] : parts[3];
    if (def.op === 'decayed_count') {
      const list = decayParts.get(agg) ?? [];
      list.push({ ref: start, s: Number(value) });
      decayParts.set(agg, list);
      continue;
    }
    if (def.op === 'avg') {
      const k = `${agg}|${parts[1]}|${start}`;
      const p = avgParts.get(k) ?? { sum: 0, count: 0 };
      if (part === 's') p.sum = Number(value);
      else p.count = Number(value);
      avgParts.set(k, p);
      put(agg, hop, start, p);
      continue;
    }
    if (def.op === 'last') put(agg, hop, start, parseLatest(def, value));
    else put(agg, hop, start, Number(value));
  }
  // decayed_count: one DecayState per hourly tile (ref = tile start), combined by the core's merge
  for (const [agg, parts] of decayParts) {
    const core = aggregatorFor(defs[agg] as AggregationDef);
    lifetime.set(agg, parts.sort((a, b) => a.ref - b.ref).reduce((acc, d) => core.merge(acc, d), core.init()));
  }
  return {
    latest,
    tileMax: (hopMs, start) => tileMax.get(`${hopMs}|${start}`) ?? null,
    tiles: (agg, hopMs) => tiles.get(`${agg}|${hopMs}`),
    lifetime: (agg) => {
      const def = defs[agg];
      if (def?.op === 'last_k') {
        const z = lastK.get(agg);
        return z ? z.map((e) => ({ t: e.score, v: typedValue(def, e.member) })) : undefined;
      }
      return lifetime.get(agg);
    },
  };
}
