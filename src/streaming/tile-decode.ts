import type { EventKinds } from '../events/event-catalog.js';
import type { AggregationDef, CompiledGroup } from '../features/definitions.js';
import { aggregatorFor, type AggState, type DecayState, type TimedValue } from '../features/aggregators.js';
import type { GroupStates, TileList } from '../features/window-assembly.js';
import { hllFromBase64 } from '../features/hll.js';
import { opModule } from '../features/ops/index.js';
import { DECAY_TILE_MS } from './tile-layout.js';

/**
 * The read side of the layout described in tile-layout.ts (DECAY_TILE_MS tiles, `<t>|<value>` latest values): an entity's stored fields back into the
 * aggregation core's states, by the layout kind each op module declares (a `hash` op reads its
 * own fields with its layout's `read`).
 */

/** A stored `last` / last_k value back in the type the event field had (numbers stay numbers). */
function typedValue(events: EventKinds, def: AggregationDef, text: string): string | number {
  const kind = def.field === undefined ? undefined : events[def.source]?.[def.field];
  return kind === 'int' || kind === 'nullableInt' || kind === 'double' || kind === 'nullableDouble' || kind === 'instant' || kind === 'nullableInstant'
    ? Number(text)
    : text;
}

const typedReaders = new WeakMap<CompiledGroup, ((text: string) => string | number)[]>();

/** A stored value's reader for one aggregation of a group (cached: decoding allocates none per field). */
function typedReader(group: CompiledGroup, agg: number): (text: string) => string | number {
  let readers = typedReaders.get(group);
  if (readers === undefined) {
    readers = group.def.aggregations.map((def) => (text: string) => typedValue(group.events, def, text));
    typedReaders.set(group, readers);
  }
  return readers[agg] as (text: string) => string | number;
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
  let parts: Map<string, AggState> | undefined;
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
    const layout = opModule(def.op).layout;
    if (layout.kind === 'decay') {
      if (!keepTile(DECAY_TILE_MS, start)) continue;
      decayParts ??= new Map();
      const list = decayParts.get(agg) ?? [];
      list.push({ ref: start, s: Number(value) });
      decayParts.set(agg, list);
      continue;
    }
    if (layout.kind === 'hll') {
      // only a batch view stores sketches in the hash (as the core's text); the stream uses PFADD keys
      const registers = hllFromBase64(value);
      if (registers !== null) put(agg, hop, start, registers);
      continue;
    }
    if (layout.kind !== 'hash') continue; // a zset op stores nothing in the hash
    if (!layout.multiField) {
      put(agg, hop, start, layout.read(undefined, value, undefined, typedReader(group, agg)));
      continue;
    }
    // the text after the state's base `<i>|L` or `<i>|<hop>|<start>`, up to the next `|`
    const partFrom = hop === null ? e1 + 1 : e2 + 1;
    const partTo = hop === null ? e2 : has2 && e2 < field.length ? partEnd(field, e2 + 1) : -1;
    const part = (hop === null ? has2 : has2 && e2 < field.length) ? field.slice(partFrom, partTo) : undefined;
    // states of several fields (avg's `|s` and `|n`) build on what the base's other fields gave
    const baseKey = `${agg}|${has1 ? field.slice(e0 + 1, e1) : 'undefined'}|${start}`;
    parts ??= new Map();
    const state = layout.read(part, value, parts.get(baseKey), typedReader(group, agg));
    parts.set(baseKey, state);
    put(agg, hop, start, state);
  }
  // decayed ops: one DecayState per hourly tile (ref = tile start), combined by the core's merge
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
      if (def !== undefined && opModule(def.op).layout.kind === 'zset') {
        const z = lastK.get(agg);
        return z ? lastKState(group.events, def, z) : undefined;
      }
      return lifetime.get(agg);
    },
  };
}

/**
 * Whether {@link decodeEntityTiles} can decode the group's entities: every op keeps one number or
 * `<t>|<value>` per hash field (its `hash` layout's `tileList`), or lives in a sorted set.
 */
export function tileListDecodable(group: CompiledGroup): boolean {
  return group.def.aggregations.every((a) => tileListOp(a));
}

function tileListOp(def: AggregationDef): boolean {
  const layout = opModule(def.op).layout;
  return layout.kind === 'zset' || (layout.kind === 'hash' && layout.tileList);
}

/**
 * The end of the canonical non-negative integer text (what `String(n)` writes: digits, no leading
 * zero, at most 15 of them, so exact) starting at `from`, or -1 when there is none; it ends at the
 * first non-digit.
 */
function canonicalIntEnd(s: string, from: number): number {
  let i = from;
  while (i < s.length) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    i++;
  }
  const n = i - from;
  return n === 0 || n > 15 || (n > 1 && s.charCodeAt(from) === 48) ? -1 : i;
}

/** The value of digits `s[from, to)` (checked by {@link canonicalIntEnd}). */
function digits(s: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) v = v * 10 + (s.charCodeAt(i) - 48);
  return v;
}

/** `Number(text)`, without the general conversion for the stored numbers' usual form (an optional `-`, then at most 15 digits: exact). */
function numberOf(text: string): number {
  const negative = text.charCodeAt(0) === 45; /* - */
  const from = negative ? 1 : 0;
  const n = text.length - from;
  if (n === 0 || n > 15) return Number(text);
  let v = 0;
  for (let i = from; i < text.length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number(text);
    v = v * 10 + d;
  }
  return negative ? -v : v;
}

/**
 * The serving reader's decoding of an entity hash (the flat `[field, value, ...]` of
 * `hgetallFlat`) into a {@link TileList}, for groups whose ops {@link tileListDecodable} accepts
 * and with every tile kept: the same states {@link decodeEntity} gives (tiles, lifetime states,
 * latest event time; last_k lives in sorted sets, see {@link lastKState}), without a Map per
 * aggregation and tile size. It reads only canonical field texts (`<i>|<hop>|<start>`, `<i>|L`,
 * `t|…`, `_t`, `_p`, numbers as `String(n)` writes them, which is all the stream and the batch
 * layer write) and returns false for anything else, leaving that hash to decodeEntity, whose
 * reading of odd fields it therefore never has to reproduce. The per-tile latest event times are
 * not kept: a read at a q not after the entity's latest event goes through decodeEntity and the
 * exactness check.
 */
export function decodeEntityTiles(group: CompiledGroup, flat: readonly string[], out: TileList): boolean {
  const defs = group.def.aggregations;
  out.clear(defs.length);
  // the latest event time as decodeEntity's Math.max(latest ?? -Infinity, v), kept unboxed
  let latest = -Infinity;
  let applied = false;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i] as string;
    const value = flat[i + 1] as string;
    const c0 = field.charCodeAt(0);
    if (c0 === 95 /* _ */) {
      if (field === '_p') continue;
      if (field !== '_t') return false;
      latest = Math.max(latest, numberOf(value));
      applied = true;
      continue;
    }
    if (c0 === 116 /* t */ && (field.length === 1 || field.charCodeAt(1) === 124)) {
      // `t|<hop>|<start>`: every tile is kept, so only the entity's latest time matters here
      latest = Math.max(latest, numberOf(value));
      applied = true;
      continue;
    }
    const e0 = canonicalIntEnd(field, 0);
    if (e0 < 0 || e0 === field.length || field.charCodeAt(e0) !== 124) return false;
    const agg = digits(field, 0, e0);
    const def = defs[agg];
    if (def === undefined) continue; // a field of a newer definition: ignore
    const layout = opModule(def.op).layout;
    if (layout.kind === 'zset') return false; // a sorted-set op has no hash fields
    if (layout.kind !== 'hash' || !layout.tileList) return false;
    const state = layout.read(undefined, value, undefined, typedReader(group, agg));
    if (field.charCodeAt(e0 + 1) === 76 /* L */ && e0 + 2 === field.length) {
      out.lifetime[agg] = state;
      continue;
    }
    const e1 = canonicalIntEnd(field, e0 + 1);
    if (e1 < 0 || e1 === field.length || field.charCodeAt(e1) !== 124) return false;
    const negative = field.charCodeAt(e1 + 1) === 45; /* - */
    const from = negative ? e1 + 2 : e1 + 1;
    if (canonicalIntEnd(field, from) !== field.length) return false;
    const start = digits(field, from, field.length);
    if (negative && start === 0) return false; // `-0` is not canonical
    out.push(agg, digits(field, e0 + 1, e1), negative ? -start : start, state);
  }
  out.latest = applied ? latest : null;
  return true;
}

/** A last_k aggregation's state from its sorted set's top entries (as {@link decodeEntity} reads it). */
export function lastKState(events: EventKinds, def: AggregationDef, top: readonly { member: string; score: number }[]): TimedValue[] {
  const out: TimedValue[] = new Array(top.length);
  for (let i = 0; i < top.length; i++) {
    const e = top[i] as { member: string; score: number };
    out[i] = { t: e.score, v: typedValue(events, def, e.member) };
  }
  return out;
}
