import { aggregatorFor, type AggState, type AggValue, type FeatureValue } from '../features/aggregators.js';
import type { AggregationDef, CompiledAggregation, CompiledGroup } from '../features/definitions.js';
import { assembleWindow } from '../features/window-assembly.js';
import { tileStart } from '../features/windows.js';
import type { OfflineStore } from '../ports/offline-store.js';
import { lifetimeStatesBefore } from './recompute.js';
import type { GroupPlan, PassRange, RunTables } from './sample-passes.js';
import { impressionKeyHash, impressionKeyText } from './sample-passes.js';
import type { FeatureColumn } from './samples-table.js';
import { T_MS, aggregationInputSql, entityKeySql, keyHashSql, sqlInstant, sqlInt, sourceTable } from './sql.js';

/**
 * The general path of the sample job: every aggregation the SQL fast path does not cover
 * (approx_distinct, decayed_count, windowed min and max, last and last_k of numeric fields,
 * fractional sums whose values a decimal cannot hold), and the last / last_k rows the fast path
 * flagged as not provably exact, are computed by the aggregation core itself, exactly as the
 * oracle defines them. ClickHouse supplies, per page of entities, the lifetime states as of the group's
 * first needed event time (recompute), then the entities' events from there and the query points
 * (distinct entity x impression time), in one stream ordered by (entity, time, query before event,
 * eventId): a query at q sees exactly the events before q, and the fold is deterministic. The
 * core's `update` builds tiles and lifetime states, `assembleWindow` and `finish` give the values
 * at each query point, and the rows go back into a temporary ClickHouse table that the final
 * statement joins. Work is proportional to events plus query points, per entity in order; a
 * window read merges at most its W / h + 1 tiles.
 */

/** Query points per statement page: keys are split into pages of about this many entities. */
const ENTITIES_PER_PAGE = 50_000;
/** Feature rows per insert into the temporary table. */
const ROWS_PER_INSERT = 20_000;

/** The DDL of a general-path table: key, t, its hash `k` for the join, and the features. */
export function generalTableDdl(table: string, columns: readonly FeatureColumn[]): string {
  const cols = columns.map((c) => `${c.name} ${c.type}`);
  return `CREATE TABLE ${table} (key String, t Int64, k UInt128 MATERIALIZED ${keyHashSql('key')}${cols.length > 0 ? `, ${cols.join(', ')}` : ''}) ENGINE = Memory`;
}

/** The feature columns of the given aggregations of a plan (windowed or lifetime features). */
export function generalColumns(plan: GroupPlan, aggregations: readonly CompiledAggregation[], features: readonly FeatureColumn[]): FeatureColumn[] {
  const wanted = new Set(aggregations.map((a) => a.index));
  return features.filter((f) => f.group === plan.index && f.feature !== null && f.feature.kind !== 'derived' && wanted.has(f.feature.aggregation));
}

/** Which aggregations a general run folds, where its rows go and which impressions are its query points. */
export interface GeneralRun {
  readonly aggregations: readonly CompiledAggregation[];
  /** The temporary table to fill (see {@link generalTableDdl}). */
  readonly table: string;
  readonly columns: readonly FeatureColumn[];
  /** A condition on the impressions table choosing the query points; default every impression with an entity. */
  readonly points?: string;
}

/**
 * A row of the general stream, positional (JSONCompactEachRow): key, t, kind (0 query, 1 event),
 * eventId, then per aggregation of the run its value and whether the event feeds it.
 */
type StreamRow = unknown[];
const KEY = 0;
const T = 1;
const KIND = 2;
const FIRST_AGG = 4;

/**
 * Runs the general path of one group over the range and fills its temporary table.
 *
 * @returns the number of query points computed.
 */
export async function runGeneralPath(offline: OfflineStore, plan: GroupPlan, range: PassRange, tables: RunTables, run: GeneralRun): Promise<number> {
  const { group } = plan;
  const keyCol = impressionKeyText(plan.index);
  const hashCol = impressionKeyHash(plan.index);
  const points = `${hashCol} != 0${run.points === undefined ? '' : ` AND (${run.points})`}`;
  const [count] = await offline.query<{ n: number }>(`SELECT uniqExact(${keyCol}) AS n FROM ${tables.impressions} WHERE ${points}`);
  const entities = Number(count?.n ?? 0);
  if (entities === 0) return 0;
  const pages = Math.max(1, Math.ceil(entities / ENTITIES_PER_PAGE));
  let computed = 0;
  for (let p = 0; p < pages; p++) {
    const pageOf = (expr: string) => (pages === 1 ? '1' : `cityHash64(${expr}) % ${sqlInt(pages)} = ${sqlInt(p)}`);
    const keysOfPage = `SELECT ${keyCol} FROM ${tables.impressions} WHERE ${points} AND ${pageOf(keyCol)}`;
    const lifetime = run.aggregations.filter((a) => a.lifetime).map((a) => a.index);
    const prefix = lifetime.length === 0 ? new Map<string, Map<number, AggState>>() : await lifetimeStatesBefore(offline, group, lifetime, plan.lo, (key) => `${key} IN (${keysOfPage})`);
    const text = await offline.queryText(streamSql(plan, run.aggregations, range, tables, points, pageOf, keysOfPage), 'JSONCompactEachRow');
    const out: Record<string, unknown>[] = [];
    const flush = async (force: boolean) => {
      if (out.length >= ROWS_PER_INSERT || (force && out.length > 0)) {
        await offline.insert(run.table, out.splice(0));
      }
    };
    const folder = new EntityFolder(plan.group, run.aggregations, run.columns);
    let current: string | null = null;
    for (let start = 0; start < text.length; ) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      if (line.length === 0) continue;
      const row = JSON.parse(line) as StreamRow;
      if (row[KEY] !== current) {
        current = row[KEY] as string;
        folder.reset(prefix.get(current));
      }
      const t = Number(row[T]);
      if (row[KIND] === 0) {
        out.push({ key: current, t, ...folder.read(t) });
        computed++;
        if (out.length >= ROWS_PER_INSERT) await flush(false);
      } else folder.apply(row, t);
    }
    await flush(true);
  }
  return computed;
}

/** The events (of the general aggregations' sources) and query points of one page, in fold order. */
function streamSql(
  plan: GroupPlan,
  aggregations: readonly CompiledAggregation[],
  range: PassRange,
  tables: RunTables,
  points: string,
  pageOf: (expr: string) => string,
  keysOfPage: string,
): string {
  const { group } = plan;
  const valueCols = aggregations.map((agg) => {
    const input = aggregationInputSql(agg);
    const numeric = input.kind !== undefined && input.kind !== 'id' && input.kind !== 'nullableId' && input.kind !== 'string' && input.kind !== 'nullableString';
    return { agg, input, type: input.value === null ? 'Nullable(UInt8)' : numeric ? 'Nullable(Float64)' : 'Nullable(String)' };
  });
  const nulls = valueCols.map(({ agg, type }) => `CAST(NULL, '${type}') AS v${agg.index}, toUInt8(0) AS a${agg.index}`);
  const queries =
    `SELECT DISTINCT ${impressionKeyText(plan.index)} AS key, t, toUInt8(0) AS kind, '' AS eventId${nulls.length > 0 ? `, ${nulls.join(', ')}` : ''} ` +
    `FROM ${tables.impressions} WHERE ${points} AND ${pageOf(impressionKeyText(plan.index))}`;
  const sources = [...new Set(aggregations.map((a) => a.def.source))];
  const events = sources.map((source) => {
    const k = entityKeySql(group.events, group.entity, source) as { key: string; valid: string };
    const cols = valueCols.map(({ agg, input, type }) => {
      if (agg.def.source !== source) return `CAST(NULL, '${type}') AS v${agg.index}, toUInt8(0) AS a${agg.index}`;
      const value = input.value === null ? 'NULL' : `if(${input.valid}, ${input.value}, NULL)`;
      return `CAST(${value}, '${type}') AS v${agg.index}, toUInt8(${input.valid}) AS a${agg.index}`;
    });
    return (
      `SELECT ${k.key} AS key, ${T_MS} AS t, toUInt8(1) AS kind, eventId, ${cols.join(', ')} FROM ${sourceTable(source)} ` +
      `WHERE eventTime >= ${sqlInstant(plan.lo)} AND eventTime < ${sqlInstant(Math.max(range.to, plan.lo))} AND ${k.valid} AND key IN (${keysOfPage})`
    );
  });
  return `SELECT * FROM (${[queries, ...events].join('\nUNION ALL\n')}) ORDER BY key, t, kind, eventId`;
}

/** One entity's general states while its rows stream by. */
class EntityFolder {
  readonly #group: CompiledGroup;
  readonly #aggregations: readonly CompiledAggregation[];
  readonly #columns: readonly FeatureColumn[];
  /** aggregation -> hop -> tile start -> state */
  #tiles = new Map<number, Map<number, Map<number, AggState>>>();
  #lifetime = new Map<number, AggState>();

  constructor(group: CompiledGroup, aggregations: readonly CompiledAggregation[], columns: readonly FeatureColumn[]) {
    this.#group = group;
    this.#aggregations = aggregations;
    this.#columns = columns;
  }

  reset(prefix: Map<number, AggState> | undefined): void {
    this.#tiles = new Map();
    this.#lifetime = new Map(prefix ?? []);
  }

  apply(row: StreamRow, t: number): void {
    for (let j = 0; j < this.#aggregations.length; j++) {
      const agg = this.#aggregations[j] as CompiledAggregation;
      if (row[FIRST_AGG + 2 * j + 1] !== 1) continue;
      const core = aggregatorFor(agg.def);
      const value = (row[FIRST_AGG + 2 * j] ?? null) as AggValue;
      if (agg.lifetime) {
        this.#lifetime.set(agg.index, core.update(this.#lifetime.get(agg.index) ?? core.init(), value, t));
        continue;
      }
      let byHop = this.#tiles.get(agg.index);
      if (byHop === undefined) this.#tiles.set(agg.index, (byHop = new Map()));
      for (const tile of agg.tiles) {
        let starts = byHop.get(tile.hopMs);
        if (starts === undefined) byHop.set(tile.hopMs, (starts = new Map()));
        const s = tileStart(t, tile.hopMs);
        starts.set(s, core.update(starts.get(s) ?? core.init(), value, t));
      }
    }
  }

  /** The general features at q, then drops tiles no later query (q' >= q) can read. */
  read(q: number): Record<string, FeatureValue> {
    const out: Record<string, FeatureValue> = {};
    const group = this.#group;
    for (const c of this.#columns) {
      const f = c.feature;
      if (f === null || f.kind === 'derived') continue;
      const def = group.def.aggregations[f.aggregation] as AggregationDef;
      if (f.kind === 'lifetime') {
        const core = aggregatorFor(def);
        out[c.name] = core.finish(this.#lifetime.get(f.aggregation) ?? core.init(), q);
      } else {
        out[c.name] = assembleWindow(def, this.#tiles.get(f.aggregation)?.get(f.hopMs) ?? new Map(), q, f.windowMs);
      }
    }
    for (const agg of this.#aggregations) this.#prune(agg, q);
    return out;
  }

  #prune(agg: CompiledAggregation, q: number): void {
    const byHop = this.#tiles.get(agg.index);
    if (byHop === undefined) return;
    for (const tile of agg.tiles) {
      const starts = byHop.get(tile.hopMs);
      if (starts === undefined) continue;
      const first = tileStart(q, tile.hopMs) - Math.max(...tile.windowsMs);
      for (const s of starts.keys()) if (s < first) starts.delete(s);
    }
  }
}
