import type { AggregationDef, CompiledGroup } from '../features/definitions.js';
import { EVENT_FIELDS, type FieldKind } from '../events/event-fields.js';
import { aggregatorFor, type AggState, type DecayState, type TimedValue } from '../features/aggregators.js';
import type { GroupStates } from '../features/window-assembly.js';
import { hllFromBase64 } from '../features/hll.js';
import { DECAY_TILE_MS } from './tile-layout.js';

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

const NO_HLLS: ReadonlyMap<number, ReadonlyMap<string, Uint8Array>> = new Map();
const KEEP_ALL = (): boolean => true;

/** One entity's stored fields decoded for the aggregation core, plus what the exactness check needs. */
export interface EntityStates extends GroupStates {
  /** Latest applied event time of the entity, null when nothing was applied. */
  readonly latest: number | null;
  /** Latest event time applied to a tile, null when none. */
  tileMax(hopMs: number, start: number): number | null;
}

/** `Number(s.slice(from, to))`, without the slice for plain digit runs (exact below 2^53: at most 15 digits). */
function num(s: string, from: number, to: number): number {
  const n = to - from;
  if (n > 0 && n <= 15) {
    let v = 0;
    for (let i = from; i < to; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return Number(s.slice(from, to));
      v = v * 10 + d;
    }
    return v;
  }
  return Number(s.slice(from, to));
}

/** The text between `from` and the next `|` (or the end) of a field name, as `split('|')` would give it. */
function partEnd(s: string, from: number): number {
  const bar = s.indexOf('|', from);
  return bar < 0 ? s.length : bar;
}

/**
 * Decodes an entity hash, its last_k sorted sets and its approx_distinct HyperLogLog tiles
 * (aggregation -> tile label -> registers; only the tiles the caller read) into the aggregation
 * core's states, keeping only the tiles `keepTile` accepts (the lambda merge splits tiles at the
 * batch watermark; the latest event time then comes from the kept tiles only), per the
 * layout above. The hash is either an `HGETALL` object or the flat `[field, value, ...]` array of
 * the store's `hgetallFlat` read (the reader's fast path; same result).
 */
export function decodeEntity(
  group: CompiledGroup,
  hash: Readonly<Record<string, string>> | readonly string[],
  lastK: ReadonlyMap<number, { member: string; score: number }[]>,
  hlls: ReadonlyMap<number, ReadonlyMap<string, Uint8Array>> = NO_HLLS,
  keepTile: (hopMs: number, start: number) => boolean = KEEP_ALL,
): EntityStates {
  const flat: readonly string[] = Array.isArray(hash) ? (hash as readonly string[]) : Object.entries(hash as Record<string, string>).flat();
  const defs = group.def.aggregations;
  // per aggregation: hop -> start -> state; per hop: start -> latest event time of the tile
  const tiles: (Map<number, Map<number, AggState>> | undefined)[] = [];
  const lifetime = new Map<number, AggState>();
  const tileMax = new Map<number, Map<number, number>>();
  let avgParts: Map<string, { sum: number; count: number }> | undefined;
  let decayParts: Map<number, DecayState[]> | undefined;
  let latest: number | null = null;
  const put = (agg: number, hop: number | null, start: number, state: AggState) => {
    if (hop === null) {
      lifetime.set(agg, state);
      return;
    }
    if (!keepTile(hop, start)) return;
    let byHop = tiles[agg];
    if (byHop === undefined) tiles[agg] = byHop = new Map();
    let m = byHop.get(hop);
    if (m === undefined) byHop.set(hop, (m = new Map()));
    m.set(start, state);
  };
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i] as string;
    const value = flat[i + 1] as string;
    // field = p0|p1|p2|p3 (split('|') semantics: missing parts are undefined)
    const e0 = partEnd(field, 0);
    const c0 = field.charCodeAt(0);
    if (e0 === 2 && c0 === 95 /* _ */) {
      const c1 = field.charCodeAt(1);
      if (c1 === 112 /* p */) continue; // `_p`
      if (c1 === 116 /* t */) {
        // `_t`
        const v = Number(value);
        latest = Math.max(latest ?? -Infinity, v);
        continue;
      }
    }
    const has1 = e0 < field.length;
    const e1 = has1 ? partEnd(field, e0 + 1) : -1;
    const has2 = has1 && e1 < field.length;
    const e2 = has2 ? partEnd(field, e1 + 1) : -1;
    if (e0 === 1 && c0 === 116 /* t */) {
      // `t|<hop>|<start>`: the key was `${parts[1]}|${parts[2]}`, read back by numbers; only a
      // canonical number text can be asked for, so others are never read
      const v = Number(value);
      const hopText = has1 ? field.slice(e0 + 1, e1) : 'undefined';
      const startText = has2 ? field.slice(e1 + 1, e2) : 'undefined';
      const hop = num(field, e0 + 1, e1);
      const start = has2 ? num(field, e1 + 1, e2) : NaN;
      if (String(hop) === hopText && String(start) === startText && keepTile(hop, start)) {
        let m = tileMax.get(hop);
        if (m === undefined) tileMax.set(hop, (m = new Map()));
        m.set(start, v);
      }
      if (keepTile(hop, start)) latest = Math.max(latest ?? -Infinity, v);
      continue;
    }
    const agg = Number(field.slice(0, e0));
    const def = defs[agg];
    if (def === undefined) continue; // a field of a newer definition: ignore
    const lifetimeField = has1 && e1 - e0 === 2 && field.charCodeAt(e0 + 1) === 76; /* L */
    const hop = lifetimeField ? null : has1 ? num(field, e0 + 1, e1) : NaN;
    const start = hop === null ? 0 : has2 ? num(field, e1 + 1, e2) : NaN;
    if (def.op === 'decayed_count') {
      if (!keepTile(DECAY_TILE_MS, start)) continue;
      decayParts ??= new Map();
      const list = decayParts.get(agg) ?? [];
      list.push({ ref: start, s: Number(value) });
      decayParts.set(agg, list);
      continue;
    }
    if (def.op === 'avg') {
      const partFrom = hop === null ? e1 + 1 : e2 + 1;
      const partTo = hop === null ? e2 : has2 && e2 < field.length ? partEnd(field, e2 + 1) : -1;
      const part = (hop === null ? has2 : has2 && e2 < field.length) ? field.slice(partFrom, partTo) : undefined;
      avgParts ??= new Map();
      const k = `${agg}|${has1 ? field.slice(e0 + 1, e1) : 'undefined'}|${start}`;
      const p = avgParts.get(k) ?? { sum: 0, count: 0 };
      if (part === 's') p.sum = Number(value);
      else p.count = Number(value);
      avgParts.set(k, p);
      put(agg, hop, start, p);
      continue;
    }
    if (def.op === 'approx_distinct') {
      // only a batch view stores sketches in the hash (as the core's text); the stream uses PFADD keys
      const registers = hllFromBase64(value);
      if (registers !== null) put(agg, hop, start, registers);
      continue;
    }
    if (def.op === 'last') put(agg, hop, start, parseLatest(def, value));
    else put(agg, hop, start, Number(value));
  }
  // decayed_count: one DecayState per hourly tile (ref = tile start), combined by the core's merge
  if (decayParts !== undefined) {
    for (const [agg, parts] of decayParts) {
      const core = aggregatorFor(defs[agg] as AggregationDef);
      lifetime.set(agg, parts.sort((a, b) => a.ref - b.ref).reduce((acc, d) => core.merge(acc, d), core.init()));
    }
  }
  // approx_distinct: the HyperLogLog tiles the caller read, by tile label (see tile-layout.ts)
  for (const [agg, byLabel] of hlls) {
    for (const [label, registers] of byLabel) {
      if (label === 'L') {
        put(agg, null, 0, registers);
        continue;
      }
      const bar = label.indexOf('|');
      put(agg, Number(label.slice(0, bar)), Number(label.slice(bar + 1)), registers);
    }
  }
  return {
    latest,
    tileMax: (hopMs, start) => tileMax.get(hopMs)?.get(start) ?? null,
    tiles: (agg, hopMs) => tiles[agg]?.get(hopMs),
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
