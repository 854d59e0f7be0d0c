import type { EventType } from '../events/event-types.js';
import { aggregatorFor, type AggState } from '../features/aggregators.js';
import { type AggregationDef, type CompiledAggregation, type CompiledGroup } from '../features/definitions.js';
import { opModule, type RecomputeSql } from '../features/ops/index.js';
import type { GroupStates } from '../features/window-assembly.js';
import { tileStart } from '../features/windows.js';
import type { OfflineStore } from '../ports/offline-store.js';
import { BatchError } from './batch-errors.js';
import { T_MS, aggregationInputSql, entityKeySql, sqlInstant, sqlInt, sqlString, sourceTable, tileStartSql } from './sql.js';

/**
 * Full recompute: every feature group's aggregation states per entity, computed inside
 * ClickHouse from the deduplicated raw tables (`FINAL`, so each eventId counts once, late events
 * included) and finished with the shared aggregation core.
 *
 * What runs where. ClickHouse groups events into tile partials per (entity, hop, tile start) and
 * lifetime partials per entity with plain aggregates: counts, sums, avg's sum and count, min,
 * max, latest times; for last and last_k the newest distinct values with their latest time (every
 * value tied with the k-th newest included, so the core's total order decides ties); for
 * approx_distinct the distinct values of the tile (the core hashes them into its sketch, so the
 * registers are the streaming layer's, hash for hash); for decayed_count the core's own
 * `{ ref: latest time, s: Σ 2^((t - ref) / H) }`. The core turns each partial into its state
 * (`update` / `decode`), so a batch state is a state of the same aggregator the stream and the
 * reader use.
 *
 * Retention. For a watermark `until` (events with eventTime < until), a tile of hop h is kept
 * when a read at some q >= until can still use it: start >= tileStart(until, h) - W, W the
 * aggregation's longest window with that hop (a window at q starts at tileStart(q, h) - W). That is
 * at most longest window + hop behind the watermark, as the issue asks, and exactly what
 * `assembleGroup` reads for q >= until. Lifetime states cover every event before `until`.
 */

/** Options of {@link recomputeStates}. */
export interface RecomputeOptions {
  /** The batch watermark, epoch ms: the states hold the events with eventTime < until. */
  readonly until: number;
  /** Only these entity keys (an offline read of one entity); default every entity. */
  readonly keys?: readonly string[];
  /**
   * Entities per page: each page is one set of statements whose rows are held in memory at once,
   * so memory stays bounded however many entities a group has. Default 50,000.
   */
  readonly entitiesPerPage?: number;
}

/** One tile state of an entity, as the batch view stores it. */
export interface TileStateEntry {
  /** Index of the aggregation in the group definition. */
  readonly aggregation: number;
  readonly hopMs: number;
  readonly tileStart: number;
  readonly state: AggState;
}

/** One lifetime state of an entity. */
export interface LifetimeStateEntry {
  readonly aggregation: number;
  readonly state: AggState;
}

/**
 * One entity's states as of the watermark: readable by `assembleGroup` (it is a GroupStates) and
 * enumerable for writing a batch view (tiles keyed by aggregation, hop and tile start, plus
 * lifetime states). States are decoded core states, never JSON; `aggregatorFor(def).encode`
 * gives their stored form.
 */
export interface EntityBatchStates extends GroupStates {
  readonly group: string;
  readonly entityKey: string;
  /** The watermark the states are as of. */
  readonly until: number;
  /** Latest eventTime among the events behind these states, null when only empty partials were read. */
  readonly latestEventTime: number | null;
  /** Every kept tile state. */
  tileEntries(): Iterable<TileStateEntry>;
  /** Every lifetime state. */
  lifetimeEntries(): Iterable<LifetimeStateEntry>;
  /** Latest eventTime applied to the tile of size `hopMs` starting at `start`, over the group; null when none. */
  tileMax(hopMs: number, start: number): number | null;
}

const DEFAULT_ENTITIES_PER_PAGE = 50_000;

/**
 * Recomputes the states of every entity of each group as of `until`, streamed one entity at a
 * time (pages of `entitiesPerPage` entities, ordered by key within a page). An entity appears
 * once per group when any of its events is needed by a read at a q >= until; entities whose every
 * state would be empty are left out (a reader gives them the cold-start values anyway).
 *
 * @example
 * for await (const entity of recomputeStates(offline, REFERENCE_GROUPS, { until })) {
 *   assembleGroup(USER_GROUP, entity, until); // == oracleFeatures(USER_GROUP, events, entity.entityKey, until)
 * }
 * @throws BatchError for an `until` that is not an integer epoch-ms instant.
 */
export async function* recomputeStates(
  offline: OfflineStore,
  groups: readonly CompiledGroup[],
  options: RecomputeOptions,
): AsyncGenerator<EntityBatchStates, void, undefined> {
  const { until } = options;
  if (!Number.isSafeInteger(until)) throw new BatchError('BATCH_INVALID_ARGUMENT', `until must be integer epoch ms, got ${String(until)}`);
  const perPage = options.entitiesPerPage ?? DEFAULT_ENTITIES_PER_PAGE;
  if (!Number.isSafeInteger(perPage) || perPage < 1) throw new BatchError('BATCH_INVALID_ARGUMENT', `entitiesPerPage must be a whole number >= 1, got ${String(perPage)}`);
  for (const g of groups) {
    const group = g;
    if (options.keys !== undefined) {
      if (options.keys.length === 0) continue;
      const filter = (key: string) => `${key} IN (${options.keys!.map(sqlString).join(', ')})`;
      yield* sortedEntities(group, until, await loadPage(offline, group, until, filter));
      continue;
    }
    const pages = Math.max(1, Math.ceil((await estimateEntities(offline, group, until)) / perPage));
    for (let p = 0; p < pages; p++) {
      const filter = pages === 1 ? null : (key: string) => `cityHash64(${key}) % ${sqlInt(pages)} = ${sqlInt(p)}`;
      yield* sortedEntities(group, until, await loadPage(offline, group, until, filter));
    }
  }
}

/**
 * The lifetime states (only) of the given aggregations of a group as of `until`, for the given
 * entity keys or (keys undefined) every entity passing `filter`. The sample builder's general path
 * starts its per-entity fold from these.
 */
export async function lifetimeStatesBefore(
  offline: OfflineStore,
  group: CompiledGroup,
  aggregations: readonly number[],
  until: number,
  filter: ((key: string) => string) | null,
): Promise<Map<string, Map<number, AggState>>> {
  const wanted = new Set(aggregations);
  const page = await loadPage(offline, group, until, filter, (a) => a.lifetime && wanted.has(a.index));
  const out = new Map<string, Map<number, AggState>>();
  for (const [key, acc] of page) out.set(key, acc.lifetime);
  return out;
}

// ---------------------------------------------------------------------------------------------

/** One entity's partials while a page is read. */
class Accumulator {
  readonly tiles = new Map<number, Map<number, Map<number, AggState>>>();
  readonly lifetime = new Map<number, AggState>();
  readonly maxima = new Map<number, Map<number, number>>();
  latest: number | null = null;

  seen(t: number | null): void {
    if (t !== null && (this.latest === null || t > this.latest)) this.latest = t;
  }

  putTile(aggregation: number, hopMs: number, start: number, state: AggState, tmax: number): void {
    let byHop = this.tiles.get(aggregation);
    if (byHop === undefined) this.tiles.set(aggregation, (byHop = new Map()));
    let starts = byHop.get(hopMs);
    if (starts === undefined) byHop.set(hopMs, (starts = new Map()));
    starts.set(start, state);
    let m = this.maxima.get(hopMs);
    if (m === undefined) this.maxima.set(hopMs, (m = new Map()));
    m.set(start, Math.max(m.get(start) ?? -Infinity, tmax));
    this.seen(tmax);
  }
}

function* sortedEntities(group: CompiledGroup, until: number, page: Map<string, Accumulator>): Generator<EntityBatchStates> {
  const keys = [...page.keys()].sort();
  for (const key of keys) yield toEntity(group, until, key, page.get(key) as Accumulator);
}

function toEntity(group: CompiledGroup, until: number, entityKey: string, acc: Accumulator): EntityBatchStates {
  return {
    group: group.name,
    entityKey,
    until,
    latestEventTime: acc.latest,
    tiles: (aggregation, hopMs) => acc.tiles.get(aggregation)?.get(hopMs),
    lifetime: (aggregation) => acc.lifetime.get(aggregation),
    *tileEntries() {
      for (const [aggregation, byHop] of acc.tiles) {
        for (const [hopMs, starts] of byHop) for (const [start, state] of starts) yield { aggregation, hopMs, tileStart: start, state };
      }
    },
    *lifetimeEntries() {
      for (const [aggregation, state] of acc.lifetime) yield { aggregation, state };
    },
    tileMax: (hopMs, start) => acc.maxima.get(hopMs)?.get(start) ?? null,
  };
}

async function estimateEntities(offline: OfflineStore, group: CompiledGroup, until: number): Promise<number> {
  const parts = group.sources.map((s) => {
    const k = entityKeySql(group.events, group.entity, s) as { key: string; valid: string };
    return `SELECT ${k.key} AS key FROM ${sourceTable(s)} WHERE eventTime < ${sqlInstant(until)} AND ${k.valid}`;
  });
  const [row] = await offline.query<{ n: number }>(`SELECT uniq(key) AS n FROM (${parts.join(' UNION ALL ')})`);
  return Number(row?.n ?? 0);
}

/** The first tile start a read at some q >= until needs for windows up to `longestMs` with hop `hopMs`. */
export function retentionStart(until: number, hopMs: number, longestMs: number): number {
  return tileStart(until, hopMs) - longestMs;
}

/** Rows of one source for one entity filter: `key`, `t` and the given extra columns. */
function scan(group: CompiledGroup, source: EventType, until: number, from: number | null, filter: ((key: string) => string) | null, columns: string[], valid = '1'): string {
  const k = entityKeySql(group.events, group.entity, source) as { key: string; valid: string };
  const where = [`eventTime < ${sqlInstant(until)}`, k.valid, valid];
  if (from !== null) where.push(`eventTime >= ${sqlInstant(from)}`);
  if (filter !== null) where.push(filter(k.key));
  return `SELECT ${[`${k.key} AS key`, `${T_MS} AS t`, ...columns].join(', ')} FROM ${sourceTable(source)} WHERE ${where.join(' AND ')}`;
}

interface Spec {
  sql: string;
  apply(row: Record<string, unknown>, acc: Accumulator): void;
}

/** Reads every partial of one page of entities and folds it into per-entity accumulators. */
async function loadPage(
  offline: OfflineStore,
  group: CompiledGroup,
  until: number,
  filter: ((key: string) => string) | null,
  include: (a: CompiledAggregation) => boolean = () => true,
): Promise<Map<string, Accumulator>> {
  const specs = stateSpecs(group, until, filter, include);
  const page = new Map<string, Accumulator>();
  for (const spec of specs) {
    const rows = await offline.query(spec.sql);
    for (const row of rows) {
      const key = String(row.key);
      let acc = page.get(key);
      if (acc === undefined) page.set(key, (acc = new Accumulator()));
      spec.apply(row, acc);
    }
  }
  return page;
}

/** The statements that read a group's partials, one per (source, hop or lifetime) for the plain ops and one per other aggregation. */
function stateSpecs(group: CompiledGroup, until: number, filter: ((key: string) => string) | null, include: (a: CompiledAggregation) => boolean): Spec[] {
  const specs: Spec[] = [];
  // plain aggregates, grouped by (source, hop | lifetime) so one scan serves several aggregations
  const plain = new Map<string, { source: EventType; hopMs: number | null; aggs: { agg: CompiledAggregation; longestMs: number }[] }>();
  for (const agg of group.aggregations) {
    if (!include(agg)) continue;
    if (opModule(agg.def.op).recompute.kind !== 'plain') {
      specs.push(...ownSpecs(group, agg, until, filter));
      continue;
    }
    const slots = agg.lifetime ? [{ hopMs: null, longestMs: 0 }] : agg.tiles.map((t) => ({ hopMs: t.hopMs, longestMs: Math.max(...t.windowsMs) }));
    for (const slot of slots) {
      const id = `${agg.def.source}|${slot.hopMs ?? 'L'}`;
      let entry = plain.get(id);
      if (entry === undefined) plain.set(id, (entry = { source: agg.def.source, hopMs: slot.hopMs, aggs: [] }));
      entry.aggs.push({ agg, longestMs: slot.longestMs });
    }
  }
  for (const { source, hopMs, aggs } of plain.values()) specs.push(plainSpec(group, source, hopMs, aggs, until, filter));
  return specs;
}

function plainSpec(
  group: CompiledGroup,
  source: EventType,
  hopMs: number | null,
  aggs: { agg: CompiledAggregation; longestMs: number }[],
  until: number,
  filter: ((key: string) => string) | null,
): Spec {
  const cols: string[] = [];
  const inner: string[] = [];
  for (const { agg } of aggs) {
    const i = agg.index;
    const input = aggregationInputSql(agg);
    const numeric = input.kind === 'int' || input.kind === 'nullableInt' ? `toInt64(${input.value})` : `toFloat64(${input.value})`;
    if (input.value !== null) inner.push(`${numeric} AS v${i}`, `${input.valid} AS ok${i}`);
    cols.push(...plainOf(agg).columns(i));
  }
  const from = hopMs === null ? null : Math.min(...aggs.map((a) => retentionStart(until, hopMs, a.longestMs)));
  const ts = hopMs === null ? '0' : tileStartSql('t', hopMs);
  const sql = `SELECT key, ${ts} AS ts, max(t) AS tmax, ${cols.join(', ')} FROM (${scan(group, source, until, from, filter, inner)}) GROUP BY key, ts`;
  return {
    sql,
    apply(row, acc) {
      const start = Number(row.ts);
      const tmax = Number(row.tmax);
      for (const { agg, longestMs } of aggs) {
        const i = agg.index;
        const state = plainOf(agg).state(row, i);
        if (state === undefined) continue;
        if (hopMs === null) {
          acc.lifetime.set(i, state);
          acc.seen(tmax);
        } else if (start >= retentionStart(until, hopMs, longestMs)) {
          acc.putTile(i, hopMs, start, state, tmax);
        }
      }
    },
  };
}

/** The plain aggregates of an op its module declares as such. */
function plainOf(agg: CompiledAggregation): Extract<RecomputeSql, { kind: 'plain' }> {
  const sql = opModule(agg.def.op).recompute;
  if (sql.kind !== 'plain') throw new Error(`unreachable: ${agg.def.op} has statements of its own`);
  return sql;
}

/** The statements of an op that reads its own partials (last, last_k, approx_distinct, the decayed ops), as its module declares them. */
function ownSpecs(group: CompiledGroup, agg: CompiledAggregation, until: number, filter: ((key: string) => string) | null): Spec[] {
  const def = agg.def;
  const sql = opModule(def.op).recompute;
  if (sql.kind !== 'own') throw new Error(`unreachable: ${def.op} has a plain statement`);
  const i = agg.index;
  const statements = sql.statements({
    agg,
    input: aggregationInputSql(agg),
    core: aggregatorFor(def),
    until,
    scan: (columns, valid = '1', from = null) => scan(group, def.source, until, from, filter, [...columns], valid),
    tileStartSql,
    retentionStart: (hopMs, longestMs) => retentionStart(until, hopMs, longestMs),
    sqlInt,
  });
  return statements.map((statement) => ({
    sql: statement.sql,
    apply(row, acc) {
      const got = statement.apply(row);
      if (got === null) return;
      if (got.hopMs === null) {
        acc.lifetime.set(i, got.state);
        acc.seen(got.latest);
      } else acc.putTile(i, got.hopMs, got.tileStart, got.state, got.latest);
    },
  }));
}

/** The aggregation definition of a compiled group by index (for callers holding only an index). */
export function aggregationDef(group: CompiledGroup, index: number): AggregationDef {
  return group.def.aggregations[index] as AggregationDef;
}
