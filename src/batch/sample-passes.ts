import type { EventType } from '../events/event-types.js';
import type { CompiledAggregation, CompiledGroup } from '../features/definitions.js';
import { opModule, type PassColumn, type SamplePass } from '../features/ops/index.js';
import { tileStart } from '../features/windows.js';
import { T_MS, aggregationInputSql, entityKeySql, floorDivSql, keyHashSql, sqlInstant, sqlInt, sourceTable } from './sql.js';

/**
 * The SQL fast path of the sample job: every count, sum and avg (windowed or lifetime), and every
 * lifetime min, max and last_seen, for all the impressions of a range at once, in one window pass
 * per feature group, with no join and no per-impression state.
 *
 * The pass. The group's rows are its events in `[lo, to)` plus its query rows: one per
 * impression, or one per distinct (entity, impression time) when grouping saves rows (see
 * {@link PassMode}). Windows over them, per entity:
 * - `C(< q)`: running totals ordered by time, frame `RANGE UNBOUNDED PRECEDING AND 1 PRECEDING`,
 *   so an event at exactly q (the impression itself, a click in the same ms) is left out;
 * - `C(< tileStart(q, h) - W)` for each window W of hop h: running totals ordered by the tile
 *   index `floor(t / h)`, frame ending `W / h + 1` tiles before the query row's tile, which is
 *   every event before the sawtooth window's first tile;
 * - the window value is their difference, `C(< q) - C(< from)`: exactly the events with
 *   `from <= t < q`. Both frames start at the partition's start, so ClickHouse adds each row
 *   once (no recomputation of moving frames), and windows sharing a hop share one sort.
 * Integer counts and sums subtract exactly. Sums of fractional fields are accumulated as
 * Decimal256 with 30 fractional digits (exact addition and subtraction, independent of the
 * engine's summation order, so reruns give identical bits), and converted to Float64 once; values
 * outside what that represents to 1e-10 take the general path instead (see {@link fitsDecimal}).
 * Lifetime aggregations start from one prefix row per entity holding the partial of every event
 * before `lo`, so a run reads only the events its windows need.
 *
 * last and last_k of a text field ride the same pass: each event time of the entity carries its
 * distinct values sorted descending (the core's tie order: at equal times the greater value
 * first), and the running frame keeps the value lists of the last L event times before q
 * (`groupArrayLast`, L = k + max(4, k / 2)). Read newest first and de-duplicated, they give the
 * newest k distinct values exactly whenever those L times hold at least k distinct values or are
 * all the entity's times: a value outside them is older than every value inside. Bytewise order
 * equals the core's UTF-16 order for ASCII; a row with a non-ASCII value, or whose lookback is too
 * short (a user who clicks the same few items over and over), is flagged, and the general path
 * recomputes exactly those rows with the core.
 */

/** Scale of the decimal accumulators of fractional sums. */
export const SUM_DECIMAL = 'Decimal256(30)';
/** Fractional values a decimal accumulator represents to a relative 1e-10: nonzero |x| at least this. */
export const DECIMAL_MIN_ABS = 1e-20;
/** ... and totals (|x| times the number of values) at most this. */
export const DECIMAL_MAX_TOTAL = 1e44;

/** How the sample job computes one group. */
export interface GroupPlan {
  /** Position of the group in the layout (and in temporary table names). */
  readonly index: number;
  readonly group: CompiledGroup;
  /** The exposure event type (the label rule's `exposure` role: the samples' impressions). */
  readonly exposure: string;
  /** The group's entity key over impression columns; null when impressions lack a key field (every sample cold-starts). */
  readonly impressionKey: { key: string; valid: string } | null;
  /** Aggregations of the SQL fast path. */
  readonly fast: readonly CompiledAggregation[];
  /** Aggregations of the general path (the core folds them in JS). */
  readonly general: readonly CompiledAggregation[];
  /** First event time any window of a query in [from, to) reads; `from` when the group has no windows. */
  readonly lo: number;
}

/** Whether an op can take the fast path at all (fractional sums also need their values in decimal range), as its module's `samplePass` says. */
export function fastCandidate(agg: CompiledAggregation): boolean {
  const pass = opModule(agg.def.op).samplePass;
  if (pass === null) return false;
  return pass.kind === 'recent' ? isRecent(agg) : pass.windowed || agg.lifetime;
}

/** last and last_k of a text field: the fast path's bounded-lookback values, flagged when not provably exact. */
export function isRecent(agg: CompiledAggregation): boolean {
  const kind = aggregationInputSql(agg).kind;
  return opModule(agg.def.op).samplePass?.kind === 'recent' && (kind === 'id' || kind === 'nullableId' || kind === 'string' || kind === 'nullableString');
}

/** The recent pass of an op (last, last_k), null for the others. */
function recentPass(agg: CompiledAggregation): Extract<SamplePass, { kind: 'recent' }> | null {
  const pass = opModule(agg.def.op).samplePass;
  return pass?.kind === 'recent' ? pass : null;
}

/** How many distinct values a recent aggregation keeps (1 for last). */
function recentK(agg: CompiledAggregation): number {
  return recentPass(agg)?.k(agg.def) ?? 1;
}

/** The cumulative pass of an op (count, sum, avg, min, max, last_seen), null for the others. */
function cumulativeOf(agg: CompiledAggregation): Extract<SamplePass, { kind: 'cumulative' }> | null {
  const pass = opModule(agg.def.op).samplePass;
  return pass?.kind === 'cumulative' ? pass : null;
}

/** How many event times the bounded lookback of a recent aggregation keeps. */
export function recentLookback(agg: CompiledAggregation): number {
  const k = recentK(agg);
  return k + Math.max(4, Math.ceil(k / 2));
}

/** The column of a fast table saying whether a recent aggregation's value is exact (1) or must be recomputed (0). */
export function exactFlag(aggregation: number): string {
  return `x${aggregation}`;
}

/** Whether an aggregation sums a fractional field (decimal accumulators, range-checked). */
export function sumsFractions(agg: CompiledAggregation): boolean {
  const input = aggregationInputSql(agg);
  return (cumulativeOf(agg)?.sums ?? false) && (input.kind === 'double' || input.kind === 'nullableDouble');
}

/** The first event time a query at or after `from` reads through the group's windows. */
export function groupLo(group: CompiledGroup, from: number): number {
  let lo = from;
  for (const agg of group.aggregations) for (const tile of agg.tiles) lo = Math.min(lo, tileStart(from, tile.hopMs) - Math.max(...tile.windowsMs));
  return lo;
}

/** Splits a group's aggregations between the fast and the general path. */
export function planGroup(group: CompiledGroup, index: number, from: number, decimalOk: (agg: CompiledAggregation) => boolean, exposure: string): GroupPlan {
  const fast: CompiledAggregation[] = [];
  const general: CompiledAggregation[] = [];
  for (const agg of group.aggregations) {
    if (fastCandidate(agg) && (!sumsFractions(agg) || decimalOk(agg))) fast.push(agg);
    else general.push(agg);
  }
  return { index, group, exposure, impressionKey: entityKeySql(group.events, group.entity, exposure), fast, general, lo: groupLo(group, from) };
}

/**
 * SQL that checks the fractional sums of a plan's candidates against the decimal range: one row
 * with, per aggregation, the largest |value|, the smallest nonzero |value| and the number of
 * values among the events a run reads.
 */
export function decimalRangeSql(group: CompiledGroup, aggs: readonly CompiledAggregation[], lo: number, to: number): string | null {
  const parts: string[] = [];
  for (const agg of aggs) {
    const input = aggregationInputSql(agg);
    const k = entityKeySql(group.events, group.entity, agg.def.source) as { key: string; valid: string };
    const since = agg.lifetime ? '' : ` AND eventTime >= ${sqlInstant(lo)}`;
    parts.push(
      `(SELECT max(abs(toFloat64(${input.value}))) AS hi, minIf(abs(toFloat64(${input.value})), ${input.value} != 0) AS lo, count() AS n ` +
        `FROM ${sourceTable(agg.def.source)} WHERE eventTime < ${sqlInstant(to)}${since} AND ${k.valid} AND ${input.valid}) AS a${agg.index}`,
    );
  }
  if (parts.length === 0) return null;
  const cols = aggs.map((a) => `a${a.index}.hi AS hi${a.index}, a${a.index}.lo AS lo${a.index}, a${a.index}.n AS n${a.index}`);
  return `SELECT ${cols.join(', ')} FROM ${parts.join(' CROSS JOIN ')}`;
}

/** Whether the values of a fractional sum fit the decimal accumulator (see {@link decimalRangeSql}). */
export function fitsDecimal(hi: number, lo: number, n: number): boolean {
  if (n === 0) return true;
  return Number.isFinite(hi) && hi * n <= DECIMAL_MAX_TOTAL && (hi === 0 || !(lo > 0) || lo >= DECIMAL_MIN_ABS);
}

/** Names of the temporary tables of one sample run. */
export interface RunTables {
  /** The impressions of the range (mature, deduplicated), with their join keys. */
  readonly impressions: string;
  /** Fast-path features of group i: (rid, features...) or (k, t, features...), by the pass's mode. */
  fast(i: number): string;
  /** General-path features of group i: (key, t, features...). */
  general(i: number): string;
  /** Group i's last / last_k rows the fast path flagged, recomputed: (key, t, features...). */
  recent(i: number): string;
  /** Click times per (requestId, itemId). */
  readonly clicks: string;
  /** Order times per (userId, itemId). */
  readonly orders: string;
}

/** The column of the impressions table holding group i's entity key hash (0 when the impression has none). */
export function impressionKeyHash(i: number): string {
  return `k${i}`;
}

/** The column of the impressions table holding group i's entity key text ('' when none). */
export function impressionKeyText(i: number): string {
  return `key${i}`;
}

type ColumnSet = Map<string, { type: string; zero: string; merge: PassColumn['merge']; contribution: PassColumn['contribution'] }>;

/** The column of a recent aggregation: the distinct values of an event time, greatest first. */
function recentColumn(i: number): PassColumn {
  return { name: `r${i}`, type: 'Array(String)', zero: '[]', merge: 'values', contribution: (input) => `if(${input.valid}, [${input.notNull as string}], [])` };
}

/** The per-aggregation columns a pass row carries, with their type and neutral value, as each op's module declares them. */
function passColumns(plan: GroupPlan): ColumnSet {
  const cols: ColumnSet = new Map();
  for (const agg of plan.fast) {
    const i = agg.index;
    const input = aggregationInputSql(agg);
    const sumType = input.kind === 'int' || input.kind === 'nullableInt' ? 'Int64' : SUM_DECIMAL;
    const declared = isRecent(agg) ? [recentColumn(i)] : (cumulativeOf(agg)?.columns(i, sumType) ?? []);
    for (const c of declared) cols.set(c.name, { type: c.type, zero: c.zero, merge: c.merge, contribution: c.contribution });
  }
  return cols;
}

/** How per-time partials of a pass column merge: min or max, the sorted distinct union of value lists, or a sum. */
function mergeOf(plan: GroupPlan, column: string): (x: string) => string {
  const merge = passColumns(plan).get(column)?.merge ?? 'sum';
  if (merge === 'values') return (x) => `arrayReverseSort(arrayDistinct(groupArrayArray(${x})))`;
  if (merge === 'min' || merge === 'max') return (x) => `${merge}(${x})`;
  return (x) => `sum(${x})`;
}

/** An event's contribution to one column, as SQL over a raw row (t is its time in ms). */
function contribution(agg: CompiledAggregation, column: string, cols: ColumnSet, time = 't'): string {
  return (cols.get(column) as { contribution: PassColumn['contribution'] }).contribution(aggregationInputSql(agg), time);
}

/** Context of one run that every pass reads. */
export interface PassRange {
  readonly from: number;
  /** First excluded impression time (the range end, capped at the last mature time + 1). */
  readonly to: number;
}

/**
 * How a pass's query rows are formed: `perImpression` keeps one query row per impression (keyed
 * by the impression's row id `rid`, no grouping, for entities with about one impression per
 * time, like items), `perPoint` groups impressions into one query row per distinct (entity,
 * time) first (keyed by `k`, `t`, for entities with many impressions at one time, like a user's
 * slate).
 */
export type PassMode = 'perImpression' | 'perPoint';

/** The column of the impressions table holding the row id of an impression within the run. */
export const IMPRESSION_ROW_ID = 'rid';

/**
 * The statement that fills `tables.fast(plan.index)` with the group's fast features for the
 * range's impressions: per impression (`rid`, features) or per distinct point (`k`, `t`,
 * features), see {@link PassMode}; every fast feature is named as the feature.
 *
 * Impressions of the range come from the run's impressions table (deduplicated once, key hashes
 * computed once); they are query rows and, when the group counts impressions, events too (the
 * frames end before the row's own time, so an impression never counts for itself or its peers in
 * the same ms). Older impressions (from `lo` to the range start) and the other sources come from
 * the raw tables.
 */
export function fastPassSql(plan: GroupPlan, range: PassRange, tables: RunTables, mode: PassMode): string {
  const { group } = plan;
  const cols = passColumns(plan);
  const names = [...cols.keys()];
  const keyCol = impressionKeyHash(plan.index);
  const typeOf = (n: string) => (cols.get(n) as { type: string }).type;
  const zeroOf = (n: string) => (cols.get(n) as { zero: string }).zero;
  const select = (exprs: Map<string, string>): string => names.map((n) => `CAST(${exprs.get(n) ?? zeroOf(n)}, '${typeOf(n)}') AS ${n}`).join(', ');
  const rid = mode === 'perImpression';
  const branches: string[] = [];
  const bySource = new Map<EventType, CompiledAggregation[]>();
  for (const agg of plan.fast) bySource.set(agg.def.source, [...(bySource.get(agg.def.source) ?? []), agg]);
  const inRange = `k IN (SELECT ${keyCol} FROM ${tables.impressions} WHERE ${keyCol} != 0)`;
  // plain contributions, per event row (recent values come from their own per-time branches)
  const contributions = (aggs: readonly CompiledAggregation[]) => {
    const exprs = new Map<string, string>();
    for (const agg of aggs) if (!isRecent(agg)) for (const n of names) if (n.slice(1) === String(agg.index)) exprs.set(n, contribution(agg, n, cols));
    return exprs;
  };
  const ridZero = rid ? `toUInt64(0) AS ${IMPRESSION_ROW_ID}, ` : '';
  // the range's impressions: query rows, and events when the group counts impressions
  const impressionAggs = bySource.get(plan.exposure) ?? [];
  branches.push(
    `SELECT ${rid ? `${IMPRESSION_ROW_ID}, ` : ''}${keyCol} AS k, t, toUInt8(1) AS q, ${select(contributions(impressionAggs))} FROM ${tables.impressions} WHERE ${keyCol} != 0`,
  );
  for (const [source, aggs] of bySource) {
    const k = entityKeySql(group.events, group.entity, source) as { key: string; valid: string };
    const exprs = contributions(aggs);
    // impressions of the range are already in; older ones (from lo) and other sources come from the raw tables
    const upTo = source === plan.exposure ? range.from : Math.max(range.to, plan.lo);
    if (upTo > plan.lo && aggs.some((a) => !isRecent(a))) {
      branches.push(
        `SELECT ${rid ? `toUInt64(0) AS ${IMPRESSION_ROW_ID}, ` : ''}${keyHashSql(k.key)} AS k, ${T_MS} AS t, toUInt8(0) AS q, ${select(exprs)} FROM ${sourceTable(source)} ` +
          `WHERE eventTime >= ${sqlInstant(plan.lo)} AND eventTime < ${sqlInstant(upTo)} AND ${k.valid} AND ${inRange}`,
      );
    }
    const lifetime = aggs.filter((a) => a.lifetime && !isRecent(a));
    for (const agg of aggs.filter(isRecent)) {
      const input = aggregationInputSql(agg);
      const r = `r${agg.index}`;
      // the values of each event time in [lo, range end), distinct, greatest first (one row per time)
      branches.push(
        `SELECT ${ridZero}k, t, toUInt8(0) AS q, ${select(new Map([[r, 'vs']]))} FROM (SELECT k, t, arrayReverseSort(groupUniqArray(v)) AS vs FROM ` +
          `(SELECT ${keyHashSql(k.key)} AS k, ${T_MS} AS t, ${input.notNull as string} AS v FROM ${sourceTable(source)} ` +
          `WHERE eventTime >= ${sqlInstant(plan.lo)} AND eventTime < ${sqlInstant(Math.max(range.to, plan.lo))} AND ${k.valid} AND ${input.valid} AND ${inRange}) GROUP BY k, t)`,
      );
      // the newest k distinct values before lo, each at its latest time (ties with the k-th kept), newest first
      const perValue =
        `SELECT k, v, max(et) AS mt FROM (SELECT ${keyHashSql(k.key)} AS k, ${T_MS} AS et, ${input.notNull as string} AS v FROM ${sourceTable(source)} ` +
        `WHERE eventTime < ${sqlInstant(plan.lo)} AND ${k.valid} AND ${input.valid} AND ${inRange}) GROUP BY k, v`;
      const kept =
        `SELECT k, arrayMap(x -> x.2, arrayFilter(x -> x.1 >= a[least(${sqlInt(recentK(agg))}, length(a))].1, a)) AS kept ` +
        `FROM (SELECT k, arrayReverseSort(groupArray((mt, v))) AS a FROM (${perValue}) GROUP BY k)`;
      branches.push(`SELECT ${ridZero}k, toInt64(${sqlInt(plan.lo - 1)}) AS t, toUInt8(0) AS q, ${select(new Map([[r, 'kept']]))} FROM (${kept})`);
    }
    if (lifetime.length > 0) {
      // one prefix row per entity: the lifetime partial of every event before lo (`et` is the event's time)
      const pre = new Map<string, string>();
      for (const agg of lifetime) {
        for (const n of names) {
          if (n.slice(1) !== String(agg.index)) continue;
          const merge = (cols.get(n) as { merge: PassColumn['merge'] }).merge;
          const fn = merge === 'min' || merge === 'max' ? merge : 'sum';
          pre.set(n, `${fn}(${contribution(agg, n, cols, 'et')})`);
        }
      }
      const partials =
        `SELECT k, ${names.map((n) => `${pre.get(n) ?? zeroOf(n)} AS ${n}`).join(', ')} FROM (SELECT ${keyHashSql(k.key)} AS k, ${T_MS} AS et, * FROM ${sourceTable(source)} ` +
        `WHERE eventTime < ${sqlInstant(plan.lo)} AND ${k.valid} AND ${inRange}) GROUP BY k`;
      branches.push(
        `SELECT ${rid ? `toUInt64(0) AS ${IMPRESSION_ROW_ID}, ` : ''}k, toInt64(${sqlInt(plan.lo - 1)}) AS t, toUInt8(0) AS q, ${names.map((n) => `CAST(${n}, '${typeOf(n)}') AS ${n}`).join(', ')} FROM (${partials})`,
      );
    }
  }
  const union = branches.join('\nUNION ALL\n');
  const merge = names.map((n) => `${mergeOf(plan, n)(n)} AS ${n}`);
  const rows = rid ? union : `SELECT k, t, max(q) AS q, ${merge.join(', ')} FROM (${union}) GROUP BY k, t`;

  // window columns and the features built from them
  const windows = new Map<string, string>([['wt', 'PARTITION BY k ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING']]);
  const hops = new Set<number>();
  const winCols: string[] = [];
  const features: string[] = [];
  // recent values need one more level: the lookback flattened newest first and deduplicated
  const sorted: string[] = [];
  const recent: string[] = [];
  const cum = (col: string, frame: string) => {
    const alias = `${col}__${frame}`;
    if (!winCols.some((w) => w.endsWith(` AS ${alias}`))) winCols.push(`${mergeOf(plan, col)(col)} OVER ${frame} AS ${alias}`);
    return alias;
  };
  for (const f of group.features) {
    if (f.kind === 'derived') continue;
    const agg = group.aggregations[f.aggregation] as CompiledAggregation;
    if (!plan.fast.includes(agg)) continue;
    const i = agg.index;
    let frame: string | null = null;
    if (f.kind === 'windowed') {
      hops.add(f.hopMs);
      frame = `w_${f.hopMs}_${f.windowMs}`;
      windows.set(frame, `PARTITION BY k ORDER BY i_${f.hopMs} RANGE BETWEEN UNBOUNDED PRECEDING AND ${sqlInt(f.windowMs / f.hopMs + 1)} PRECEDING`);
    }
    const diff = (col: string) => (frame === null ? cum(col, 'wt') : `(${cum(col, 'wt')} - ${cum(col, frame)})`);
    const integral = (cols.get(`s${i}`)?.type ?? 'Int64') === 'Int64';
    if (isRecent(agg)) {
      const lookback = recentLookback(agg);
      // (time, values) of the last L times: groupArrayLast keeps them in a ring, so order them by time here
      winCols.push(`groupArrayLastIf(${sqlInt(lookback)})((t, r${i}), notEmpty(r${i})) OVER wt AS rw${i}`, `countIf(notEmpty(r${i})) OVER wt AS rn${i}`);
      // newest time first, each time's values greatest first; the first occurrence of a value is its latest
      sorted.push(`arrayDistinct(arrayFlatten(arrayMap(x -> x.2, arrayReverseSort(x -> x.1, rw${i})))) AS rd${i}`, `rn${i}`);
      const k = sqlInt(recentK(agg));
      const value = recentPass(agg)?.list === false ? `if(empty(rd${i}), NULL, rd${i}[1])` : `arraySlice(rd${i}, 1, ${k})`;
      const exact = `toUInt8((length(rd${i}) >= ${k} OR rn${i} <= ${sqlInt(lookback)}) AND arrayAll(v -> length(v) = lengthUTF8(v), rd${i}))`;
      recent.push(`${value} AS ${f.name}`, `${exact} AS ${exactFlag(i)}`);
      continue;
    }
    const pass = cumulativeOf(agg);
    if (pass !== null) features.push(`${pass.feature(i, diff, integral)} AS ${f.name}`);
  }
  const tiles = [...hops].map((h) => `${floorDivSql('t', h)} AS i_${h}`);
  const keys = rid ? IMPRESSION_ROW_ID : 'k, t';
  const inner =
    `SELECT ${keys}, q, ${winCols.join(', ')} FROM (SELECT *${tiles.length > 0 ? `, ${tiles.join(', ')}` : ''} FROM (${rows})) ` +
    `WINDOW ${[...windows].map(([n, w]) => `${n} AS (${w})`).join(', ')}`;
  const plain = features.map((f) => f.slice(f.lastIndexOf(' AS ') + 4));
  const level = sorted.length === 0 ? `SELECT ${keys}, ${features.join(', ')} FROM (${inner}) WHERE q = 1` : `SELECT ${keys}, ${[...features, ...sorted].join(', ')} FROM (${inner}) WHERE q = 1`;
  const out = sorted.length === 0 ? level : `SELECT ${[keys, ...plain, ...recent].join(', ')} FROM (${level})`;
  return `CREATE TABLE ${tables.fast(plan.index)} ENGINE = Memory AS ${out}`;
}

/** The recent aggregations of a plan's fast path (their rows may be flagged for the general path). */
export function recentAggregations(plan: GroupPlan): CompiledAggregation[] {
  return plan.fast.filter(isRecent);
}
