import type { AggState, DecayState, TimedValue } from '../features/aggregators.js';
import type { AggregationDef, CompiledGroup } from '../features/definitions.js';
import { hllToBase64 } from '../features/hll.js';
import { opModule } from '../features/ops/index.js';
import type { OnlineStore, StoreOp } from '../ports/online-store.js';
import { formatDouble } from '../util/format-double.js';
import { setBatchView } from './online-catalog.js';
import { createStreamKeys, type StreamKeys } from './stream-keys.js';
import { DECAY_TILE_MS, longestRetentionMs } from './tile-layout.js';

/**
 * The lambda batch view: states recomputed by the batch layer as of a watermark, written into the
 * online store in the streaming layout (tile-layout.ts) under a namespace of their own, then made
 * the group's view in the catalog in one step. The reader takes a group's tiles before the
 * watermark from here and the rest from the stream (lambda-merge.ts).
 *
 * Layout differences from the stream's, all understood by tile-decode.ts: approx_distinct sketches
 * are hash fields holding the core's text (`hllToBase64`), not PFADD keys; a decayed op's state
 * (decayed_count, decayed_sum) is one field `<i>|3600000|<ref>` holding its sum relative to its
 * reference time. A `hash` op's fields are what its module's layout `store`s.
 */

/**
 * One entity's states as of the watermark, the shape the batch layer's recompute yields
 * (`EntityBatchStates` of src/batch/recompute.ts satisfies it).
 */
export interface EntityDump {
  readonly entityKey: string;
  /** The entity's latest event time before the watermark; null when no event is behind the states. */
  readonly latestEventTime: number | null;
  /** Every tile state of the windowed aggregations. */
  tileEntries(): Iterable<{ readonly aggregation: number; readonly hopMs: number; readonly tileStart: number; readonly state: AggState }>;
  /** Every lifetime state. */
  lifetimeEntries(): Iterable<{ readonly aggregation: number; readonly state: AggState }>;
  /** The latest event time in the tile of size `hopMs` at `start`, over the whole group; null when none. */
  tileMax(hopMs: number, start: number): number | null;
}

/**
 * The store operations that write one entity's states (everything but expiry), per the layout.
 */
export function batchViewOps(group: CompiledGroup, keys: StreamKeys, dump: EntityDump): StoreOp[] {
  const key = keys.entity(group.name, dump.entityKey);
  const ops: StoreOp[] = [];
  const hset = (field: string, value: string) => ops.push({ op: 'hset', key, field, value });
  const put = (def: AggregationDef, index: number, base: string, state: AggState) => {
    // by the layout kind the op's module declares (src/features/ops/types.ts, OpLayout)
    const layout = opModule(def.op).layout;
    switch (layout.kind) {
      case 'hash':
        for (const f of layout.store(state)) hset(f.part === undefined ? base : `${base}|${f.part}`, f.text);
        return;
      case 'zset': {
        const z = keys.lastK(group.name, index, dump.entityKey);
        for (const e of state as readonly TimedValue[]) ops.push({ op: 'zadd', key: z, member: String(e.v), score: e.t, keepTop: def.k ?? 1 });
        return;
      }
      case 'hll':
        hset(base, hllToBase64(state as Uint8Array));
        return;
      case 'decay': {
        const d = state as DecayState | null;
        if (d !== null) hset(`${index}|${DECAY_TILE_MS}|${formatDouble(d.ref)}`, formatDouble(d.s));
        return;
      }
    }
  };
  const maxima = new Map<string, { hop: number; start: number }>();
  for (const { aggregation, hopMs, tileStart, state } of dump.tileEntries()) {
    const def = group.def.aggregations[aggregation];
    if (def === undefined) continue;
    put(def, aggregation, `${aggregation}|${hopMs}|${tileStart}`, state);
    maxima.set(`${hopMs}|${tileStart}`, { hop: hopMs, start: tileStart });
  }
  for (const { aggregation, state } of dump.lifetimeEntries()) {
    const def = group.def.aggregations[aggregation];
    if (def !== undefined) put(def, aggregation, `${aggregation}|L`, state);
  }
  for (const [field, { hop, start }] of maxima) {
    const t = dump.tileMax(hop, start);
    if (t !== null) hset(`t|${field}`, formatDouble(t));
  }
  if (group.tileSizesMs.length === 0 && dump.latestEventTime !== null) hset('_t', formatDouble(dump.latestEventTime));
  return ops;
}

/** The largest tile size a group's states use: a batch watermark must be a multiple of it. */
export function batchAlignmentMs(group: CompiledGroup): number {
  const sizes = [...group.tileSizesMs];
  if (group.aggregations.some((a) => opModule(a.def.op).layout.kind === 'decay')) sizes.push(DECAY_TILE_MS);
  return Math.max(1, ...sizes);
}

export interface WriteBatchViewOptions {
  prefix: string;
  /** The batch watermark; must be a multiple of {@link batchAlignmentMs}. */
  until: number;
  /** Wall clock, epoch ms (names the namespace, dates the catalog entry). */
  now: number;
  /** How long the replaced view is kept for rollback. */
  graceMs: number;
  /** The registered version of the group the view was computed with (docs/architecture.md, The registry). */
  version?: number;
  /**
   * Point the catalog at the view once written (default true). A backfill of a version that does
   * not serve yet writes its view first and points at it in the same step as its flip.
   */
  activate?: boolean;
  /** Stream lateness, for the keys' TTL (the longest retention). */
  latenessMs: number;
  /** Entities written per store call. Default 500. */
  chunk?: number;
  onProgress?: (entities: number) => void;
}

/**
 * Writes a group's batch view into a fresh namespace and then points the catalog at it (so a
 * reader sees the old view or the complete new one, never half of it). Every key expires after
 * the group's longest retention plus a day (wall clock), so a view nobody refreshes goes away.
 *
 * @throws RangeError when `until` is not aligned to every tile size of the group.
 * @returns the namespace and how many entities were written.
 */
export async function writeBatchView(store: OnlineStore, group: CompiledGroup, dumps: AsyncIterable<EntityDump> | Iterable<EntityDump>, options: WriteBatchViewOptions): Promise<{ namespace: string; entities: number }> {
  const align = batchAlignmentMs(group);
  if (options.until % align !== 0) {
    throw new RangeError(`batch view of "${group.name}": the watermark ${new Date(options.until).toISOString()} must be a multiple of ${align} ms (its largest tile), e.g. ${new Date(options.until - (options.until % align)).toISOString()}`);
  }
  const namespace = `bv-${group.name}-${options.until}-${options.now}`;
  const keys = createStreamKeys(options.prefix, namespace);
  const ttlMs = longestRetentionMs(group, options.latenessMs) + 86_400_000;
  const chunk = options.chunk ?? 500;
  let pending: StoreOp[] = [];
  let inChunk = 0;
  let entities = 0;
  const flush = async () => {
    if (pending.length > 0) await store.apply(pending);
    pending = [];
    inChunk = 0;
  };
  for await (const dump of dumps) {
    if (dump.latestEventTime === null) continue;
    const ops = batchViewOps(group, keys, dump);
    if (ops.length === 0) continue;
    const touched = new Set(ops.map((o) => o.key));
    pending.push(...ops);
    for (const k of touched) pending.push({ op: 'expire', key: k, ttlMs });
    entities++;
    if (++inChunk >= chunk) {
      await flush();
      options.onProgress?.(entities);
    }
  }
  await flush();
  if (options.activate !== false) await setBatchView(store, options.prefix, group.name, namespace, options.until, options.graceMs, options.now, options.version);
  return { namespace, entities };
}
