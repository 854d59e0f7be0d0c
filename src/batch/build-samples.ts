import { randomBytes } from 'node:crypto';
import type { EventCatalog } from '../events/event-catalog.js';
import { coldStartFeatures } from '../features/window-assembly.js';
import type { CompiledGroup } from '../features/definitions.js';
import type { Logger } from '../ports/logger.js';
import type { OfflineStore } from '../ports/offline-store.js';
import { labelRule, type LabelRule } from '../samples/labels.js';
import { prepareRawStore } from '../sink/raw-sink.js';
import { rawTable } from '../sink/raw-tables.js';
import { BatchError } from './batch-errors.js';
import { contextCategorySql, contextTimeSql } from './context-sql.js';
import { generalColumns, generalTableDdl, runGeneralPath } from './general-path.js';
import {
  decimalRangeSql,
  fastCandidate,
  fastPassSql,
  fitsDecimal,
  exactFlag,
  groupLo,
  IMPRESSION_ROW_ID,
  isRecent,
  recentAggregations,
  impressionKeyHash,
  impressionKeyText,
  planGroup,
  sumsFractions,
  type GroupPlan,
  type PassMode,
  type PassRange,
  type RunTables,
} from './sample-passes.js';
import { SAMPLE_BASE_COLUMNS, ensureSamplesTable, samplesLayout, type FeatureColumn, type SamplesLayout } from './samples-table.js';
import { T_MS, keyHashSql, sqlInstant, sqlInt, sqlString, sourceTable } from './sql.js';

/**
 * `buildSamples`: point-in-time training samples for a range of impression times, computed inside
 * ClickHouse and written to the samples table.
 *
 * A sample is an impression at t with from <= t < to that is mature (its label windows have closed:
 * `labelsCloseAt(t) <= completeThrough`), its labels by the shared rule (`samples/labels.ts`), every
 * feature of the spec as of q = t (strictly before t, so an event at exactly t, the impression's
 * own click included, is never a feature of it), and its context features. Events are the
 * deduplicated raw tables (`FINAL`): each eventId counts once and late events count like any other.
 *
 * How. The range's mature impressions go to a temporary table (deduplicated once, with each
 * group's entity key hash); each feature group's fast aggregations are computed by one window pass
 * (`sample-passes.ts`), the rest by the general path (`general-path.ts`, the aggregation core in
 * JS); labels come from the clicks and orders of the range grouped per (request, item) and
 * (user, item); the passes and the label tables run concurrently. One INSERT ... SELECT then joins
 * it all per impression into the samples table. A range of more than `maxImpressionsPerChunk`
 * mature impressions is built chunk after chunk (whole hours), so memory stays bounded.
 *
 * Idempotent per range: the range's rows are deleted before the first insert, so rerunning the
 * same [from, to) (a crashed partition, late events arriving since) replaces its output and never
 * duplicates it. The output is deterministic for the same input (integer and decimal arithmetic
 * on the fast path, a fold in a fixed order on the general path). Between the delete and the end
 * of the last insert a reader may see the range incomplete; the jobs framework marks a partition
 * done only after this returns.
 */

/** What {@link buildSamples} needs. */
export interface BuildSamplesDeps {
  readonly offline: OfflineStore;
  readonly logger?: Logger;
  /** Wall clock, epoch ms: only to date temporary tables (see {@link dropStaleTempTables}). Default Date.now. */
  readonly clock?: () => number;
}

/** Options of {@link buildSamples}. */
export interface BuildSamplesOptions {
  /** First impression time included, epoch ms. */
  readonly from: number;
  /** First impression time excluded, epoch ms. */
  readonly to: number;
  /** The project's event types (the raw tables). */
  readonly catalog: EventCatalog;
  /** Label roles and windows (the project's `labels`); default 30 min clicks, 24 h orders. */
  readonly rule?: Partial<LabelRule>;
  /**
   * The raw tables are known complete for every eventTime <= this, epoch ms: impressions whose
   * label windows close after it are not mature yet and are left out. Default: the latest eventTime
   * in the raw tables.
   */
  readonly completeThrough?: number;
  /** The feature groups of the spec (the project's). */
  readonly groups: readonly CompiledGroup[];
  /** The samples table; default `samples`. */
  readonly table?: string;
  /**
   * Mature impressions one chunk holds at most: a larger range is built chunk after chunk (whole
   * hours each), so memory does not grow with the range. Default 5,000,000.
   */
  readonly maxImpressionsPerChunk?: number;
  /**
   * Tuning: how the fast passes form their query rows (see `PassMode` in sample-passes.ts).
   * Default `auto`: per group, whichever the range's impressions make cheaper. The output is the
   * same either way.
   */
  readonly passMode?: 'auto' | PassMode;
}

/** What a run did. */
export interface BuildSamplesResult {
  readonly from: number;
  readonly to: number;
  /** The completeness bound used (null: the raw tables are empty). */
  readonly completeThrough: number | null;
  /** Impressions with from <= t < to in the raw tables (deduplicated). */
  readonly impressions: number;
  /** Samples written (the mature impressions of the range). */
  readonly samples: number;
  /** Impressions of the range left out because their label windows have not closed. */
  readonly immature: number;
  readonly clickPositives: number;
  readonly orderPositives: number;
  /** Query points (distinct entity x time) the general path computed with the core, per group. */
  readonly generalPoints: Readonly<Record<string, number>>;
  /** last / last_k values the fast path could not prove exact and the core recomputed, per group. */
  readonly recheckedPoints: Readonly<Record<string, number>>;
  /** How many chunks the range was built in (see `maxImpressionsPerChunk`). */
  readonly chunks: number;
  /** Wall-clock seconds of the whole run. */
  readonly seconds: number;
  /**
   * Seconds per stage (impressions, per group fast and general passes, labels, write, count). The
   * fast passes and the label tables run concurrently, so their stages overlap.
   */
  readonly stages: Readonly<Record<string, number>>;
  /**
   * Wall-clock seconds per phase, which do not overlap: `prepare` (checks, the completeness bound,
   * clearing the range), `features` (the chunks' impressions, passes, labels and general path),
   * `write` (the chunks' INSERT ... SELECT into the samples table, and the counts).
   */
  readonly phases: Readonly<{ prepare: number; features: number; write: number }>;
}

/**
 * Builds the samples of [from, to) and writes them to the samples table (created if missing).
 *
 * @example
 * const r = await buildSamples({ offline }, { from: Date.parse('2026-01-05T00:00:00Z'), to: Date.parse('2026-01-06T00:00:00Z') });
 * // r.samples, r.clickPositives, r.orderPositives
 * @throws BatchError for a bad range or rule, a samples table of another spec, or an impression
 *   timezone the engine does not know; ServiceError from the store.
 */
export async function buildSamples(deps: BuildSamplesDeps, options: BuildSamplesOptions): Promise<BuildSamplesResult> {
  const started = performance.now();
  const { offline } = deps;
  const { from, to } = options;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from > to) {
    throw new BatchError('BATCH_INVALID_ARGUMENT', `the range must be integer epoch ms with from <= to, got [${String(from)}, ${String(to)})`);
  }
  if (options.completeThrough !== undefined && !Number.isSafeInteger(options.completeThrough)) {
    throw new BatchError('BATCH_INVALID_ARGUMENT', `completeThrough must be integer epoch ms, got ${String(options.completeThrough)}`);
  }
  let rule: LabelRule;
  try {
    rule = labelRule(options.rule);
  } catch (err) {
    throw new BatchError('BATCH_INVALID_ARGUMENT', (err as Error).message);
  }
  const maxChunk = options.maxImpressionsPerChunk ?? DEFAULT_CHUNK_IMPRESSIONS;
  if (!Number.isSafeInteger(maxChunk) || maxChunk < 1) throw new BatchError('BATCH_INVALID_ARGUMENT', `maxImpressionsPerChunk must be a whole number >= 1, got ${String(maxChunk)}`);
  const layout = samplesLayout(options.groups, options.table);
  const stages: Record<string, number> = {};
  const stage = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      stages[name] = (stages[name] ?? 0) + (performance.now() - t0) / 1000;
    }
  };

  await prepareRawStore(offline, options.catalog);
  await ensureSamplesTable(offline, layout);
  const clock = deps.clock ?? Date.now;
  await dropStaleTempTables(offline, clock());
  const completeThrough = options.completeThrough ?? (await latestEventTime(offline, options.catalog.types));
  const rangeWhere = `eventTime >= ${sqlInstant(from)} AND eventTime < ${sqlInstant(to)}`;
  // mature: t + max(windows) <= completeThrough
  const matureTo = completeThrough === null ? from : Math.max(from, Math.min(to, completeThrough - Math.max(rule.clickWindowMs, rule.orderWindowMs) + 1));
  const range: PassRange = { from, to: matureTo };
  // impressions of the range whose label windows are still open (only the tail of the range is read)
  const [open] =
    matureTo < to
      ? await offline.query<{ n: number }>(`SELECT count() AS n FROM ${sourceTable(rule.exposure)} WHERE eventTime >= ${sqlInstant(matureTo)} AND eventTime < ${sqlInstant(to)}`)
      : [{ n: 0 }];
  const immature = Number(open?.n ?? 0);

  const chunks = await stage('plan', () => chunkRange(offline, range, maxChunk, rule.exposure));
  const generalPoints: Record<string, number> = {};
  const recheckedPoints: Record<string, number> = {};
  // the range is cleared once, then every chunk adds its samples
  await stage('delete', () => deleteRange(offline, layout, rangeWhere));
  const phases = { prepare: (performance.now() - started) / 1000, features: 0, write: 0 };
  for (const chunk of chunks) {
    const run: ChunkRun = { offline, layout, rule, range: chunk, stage, clock, passMode: options.passMode ?? 'auto', generalPoints, recheckedPoints, phases };
    await buildChunk(run);
  }
  const phase3 = performance.now();
  const [counts] = await stage('count', () =>
    offline.query<{ n: number; c: number; o: number }>(`SELECT count() AS n, sum(clickLabel) AS c, sum(orderLabel) AS o FROM ${layout.table} WHERE ${rangeWhere}`),
  );
  phases.write += (performance.now() - phase3) / 1000;
  const samples = Number(counts?.n ?? 0);
  const result: BuildSamplesResult = {
    from,
    to,
    completeThrough,
    impressions: samples + immature,
    samples,
    immature,
    clickPositives: Number(counts?.c ?? 0),
    orderPositives: Number(counts?.o ?? 0),
    generalPoints,
    recheckedPoints,
    chunks: chunks.length,
    seconds: (performance.now() - started) / 1000,
    stages,
    phases,
  };
  deps.logger?.info('batch.samples_built', { from, to, samples, immature, chunks: chunks.length, seconds: result.seconds, phases, stages, generalPoints, recheckedPoints });
  return result;
}

/** Mature impressions one chunk of a run holds at most, by default (about 200 bytes each in memory). */
export const DEFAULT_CHUNK_IMPRESSIONS = 5_000_000;

/**
 * Splits the mature part of a range into consecutive chunks of at most `max` impressions (by
 * whole hours; an hour holding more stays one chunk), from an hourly count of the raw rows
 * (without FINAL: a cheap upper bound). Memory of a run is then bounded by the chunk, whatever the
 * range.
 */
async function chunkRange(offline: OfflineStore, range: PassRange, max: number, exposure: string): Promise<PassRange[]> {
  if (range.to <= range.from) return [range];
  const where = `eventTime >= ${sqlInstant(range.from)} AND eventTime < ${sqlInstant(range.to)}`;
  const [total] = await offline.query<{ n: number }>(`SELECT count() AS n FROM ${rawTable(exposure)} WHERE ${where}`);
  if (Number(total?.n ?? 0) <= max) return [range];
  const hours = await offline.query<{ h: number; n: number }>(
    `SELECT intDiv(toUnixTimestamp64Milli(eventTime), 3600000) AS h, count() AS n FROM ${rawTable(exposure)} WHERE ${where} GROUP BY h ORDER BY h`,
  );
  const chunks: PassRange[] = [];
  let from = range.from;
  let rows = 0;
  for (const { h, n } of hours) {
    const hourStart = Math.max(range.from, Number(h) * 3_600_000);
    if (rows > 0 && rows + Number(n) > max) {
      chunks.push({ from, to: hourStart });
      from = hourStart;
      rows = 0;
    }
    rows += Number(n);
  }
  chunks.push({ from, to: range.to });
  return chunks;
}

/** What one chunk of a sample run needs and where it reports. */
interface ChunkRun {
  readonly offline: OfflineStore;
  readonly layout: SamplesLayout;
  readonly rule: LabelRule;
  readonly range: PassRange;
  readonly stage: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  readonly clock: () => number;
  readonly passMode: 'auto' | PassMode;
  readonly generalPoints: Record<string, number>;
  readonly recheckedPoints: Record<string, number>;
  readonly phases: { prepare: number; features: number; write: number };
}

/** One chunk: its impressions, every group's passes, labels, and the INSERT ... SELECT of its samples. */
async function buildChunk(run: ChunkRun): Promise<void> {
  const { offline, layout, rule, range, stage, generalPoints, recheckedPoints, phases } = run;
  const tmp = `${TEMP_TABLE_PREFIX}${sqlInt(run.clock())}_${randomBytes(4).toString('hex')}`;
  const tables: RunTables = {
    impressions: `${tmp}_imp`,
    fast: (i) => `${tmp}_f${i}`,
    general: (i) => `${tmp}_g${i}`,
    recent: (i) => `${tmp}_r${i}`,
    clicks: `${tmp}_clk`,
    orders: `${tmp}_ord`,
  };
  const created: string[] = [];
  try {
    const phase0 = performance.now();
    const plans = await stage('plan', () => planGroups(offline, layout, range, rule.exposure));
    created.push(tables.impressions);
    await stage('impressions', () => offline.command(impressionsSql(plans, range, tables, rule.exposure)));
    const modes = await stage('impressions', () => passModes(offline, plans, tables, run.passMode));
    const sources: Record<number, Sources> = {};
    // The fast passes and the label tables read only the impressions table and the raw tables, and
    // each runs mostly on one engine thread: run them side by side.
    const active = plans.filter((p) => p.impressionKey !== null && range.to > range.from);
    for (const plan of plans) sources[plan.index] = { fast: null, general: false, recent: false };
    created.push(tables.clicks, tables.orders);
    await allSettled([
      ...active
        .filter((p) => p.fast.length > 0)
        .map(async (plan) => {
          const mode = modes.get(plan.index) ?? 'perImpression';
          created.push(tables.fast(plan.index));
          await stage(`${plan.group.name}.fast`, () => offline.command(fastPassSql(plan, range, tables, mode)));
          (sources[plan.index] as Sources).fast = mode;
        }),
      stage('labels', () => labelTables(offline, range, rule, tables)),
    ]);
    // the general path (the core, in JS) one group at a time
    for (const plan of active) {
      const has = sources[plan.index] as Sources;
      const name = plan.group.name;
      if (plan.general.length > 0) {
        const columns = generalColumns(plan, plan.general, layout.features);
        created.push(tables.general(plan.index));
        await offline.command(generalTableDdl(tables.general(plan.index), columns));
        const n = await stage(`${name}.general`, () => runGeneralPath(offline, plan, range, tables, { aggregations: plan.general, table: tables.general(plan.index), columns }));
        generalPoints[name] = (generalPoints[name] ?? 0) + n;
        has.general = true;
      }
      const recent = recentAggregations(plan);
      if (has.fast !== null && recent.length > 0) {
        // rows whose bounded lookback could not decide last / last_k exactly: recomputed by the core
        const flagged = recent.map((a) => `${exactFlag(a.index)} = 0`).join(' OR ');
        const [count] = await offline.query<{ n: number }>(`SELECT count() AS n FROM ${tables.fast(plan.index)} WHERE ${flagged}`);
        if (Number(count?.n ?? 0) > 0) {
          const columns = generalColumns(plan, recent, layout.features);
          const points =
            has.fast === 'perImpression'
              ? `${IMPRESSION_ROW_ID} IN (SELECT ${IMPRESSION_ROW_ID} FROM ${tables.fast(plan.index)} WHERE ${flagged})`
              : `(${impressionKeyHash(plan.index)}, t) IN (SELECT k, t FROM ${tables.fast(plan.index)} WHERE ${flagged})`;
          created.push(tables.recent(plan.index));
          await offline.command(generalTableDdl(tables.recent(plan.index), columns));
          const n = await stage(`${name}.recheck`, () => runGeneralPath(offline, plan, range, tables, { aggregations: recent, table: tables.recent(plan.index), columns, points }));
          recheckedPoints[name] = (recheckedPoints[name] ?? 0) + n;
          has.recent = true;
        }
      }
    }
    const phase1 = performance.now();
    phases.features += (phase1 - phase0) / 1000;
    const zones = await offline.query<{ z: string | null }>(`SELECT DISTINCT timezone AS z FROM ${tables.impressions}`);
    const context = await contextTimeSql(
      offline,
      zones.map((r) => r.z),
      'i.eventTime',
      'i.timezone',
    );
    await stage('write', () => offline.command(finalInsertSql(layout, plans, sources, rule, tables, context)));
    phases.write += (performance.now() - phase1) / 1000;
  } finally {
    for (const table of created) await offline.command(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  }
}

/** Prefix of every temporary table of a sample run: `<prefix><created, epoch ms>_<random>_<part>`. */
export const TEMP_TABLE_PREFIX = '_tessera_tmp_';
/** A temporary table older than this belongs to a run that died (killed process, lost connection). */
const STALE_TEMP_MS = 6 * 3_600_000;

/**
 * Drops the temporary tables runs that died left behind (a run drops its own in a `finally`, but a
 * SIGKILL or a crash skips that; on a ClickHouse server they would keep their memory until the
 * server restarts). A table's age is read from its name (engines do not all record creation
 * times); only tables created more than `olderThanMs` (six hours) before `now` go, so concurrent
 * runs keep theirs.
 *
 * @returns how many tables were dropped.
 */
export async function dropStaleTempTables(offline: OfflineStore, now: number, olderThanMs: number = STALE_TEMP_MS): Promise<number> {
  const tables = await offline.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, ${sqlString(TEMP_TABLE_PREFIX)})`);
  let dropped = 0;
  for (const { name } of tables) {
    const created = /^_tessera_tmp_(\d+)_[0-9a-f]+_[a-z0-9]+$/.exec(name)?.[1];
    if (created === undefined || Number(created) > now - olderThanMs) continue;
    await offline.command(`DROP TABLE IF EXISTS ${name}`);
    dropped++;
  }
  return dropped;
}

/** Like Promise.all, but waits for every promise before rejecting (so cleanup never races a running statement). */
async function allSettled(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/** The latest eventTime in the raw tables of the given event types, null when they are empty. */
export async function latestEventTime(offline: OfflineStore, types: readonly string[]): Promise<number | null> {
  const parts = types.map((t) => `SELECT max(eventTime) AS latest, count() AS rows FROM ${rawTable(t)}`);
  const [row] = await offline.query<{ m: number; n: number }>(`SELECT toUnixTimestamp64Milli(max(latest)) AS m, sum(rows) AS n FROM (${parts.join(' UNION ALL ')}) WHERE rows > 0`);
  return row === undefined || Number(row.n) === 0 ? null : Number(row.m);
}

async function planGroups(offline: OfflineStore, layout: SamplesLayout, range: PassRange, exposure: string): Promise<GroupPlan[]> {
  const plans: GroupPlan[] = [];
  for (const [index, group] of layout.groups.entries()) {
    const lo = groupLo(group, range.from);
    const candidates = group.aggregations.filter((a) => fastCandidate(a) && sumsFractions(a));
    const ok = new Set<number>();
    const sql = decimalRangeSql(group, candidates, lo, Math.max(range.to, lo));
    if (sql !== null) {
      const [row] = await offline.query(sql);
      for (const a of candidates) {
        const hi = Number(row?.[`hi${a.index}`] ?? 0);
        const small = Number(row?.[`lo${a.index}`] ?? 0);
        const n = Number(row?.[`n${a.index}`] ?? 0);
        if (fitsDecimal(hi, small, n)) ok.add(a.index);
      }
    }
    plans.push(planGroup(group, index, range.from, (a) => ok.has(a.index), exposure));
  }
  return plans;
}

/** Which temporary tables hold a group's features. */
interface Sources {
  /** The fast pass's table, by its mode; null when none. */
  fast: PassMode | null;
  /** The general path's table. */
  general: boolean;
  /** The recheck of flagged last / last_k rows. */
  recent: boolean;
}

/**
 * Per group, whether its fast pass should group impressions into distinct (entity, time) points
 * first: when that at least halves the query rows (a user's slate shares one time), grouping
 * saves more sorting than it costs; otherwise (items) each impression stays its own query row.
 */
async function passModes(offline: OfflineStore, plans: readonly GroupPlan[], tables: RunTables, wanted: 'auto' | PassMode): Promise<Map<number, PassMode>> {
  const keyed = plans.filter((p) => p.impressionKey !== null && p.fast.length > 0);
  const modes = new Map<number, PassMode>();
  if (wanted !== 'auto') {
    for (const p of keyed) modes.set(p.index, wanted);
    return modes;
  }
  if (keyed.length === 0) return modes;
  const cols = keyed.map((p) => `uniqIf((${impressionKeyHash(p.index)}, t), ${impressionKeyHash(p.index)} != 0) AS u${p.index}, countIf(${impressionKeyHash(p.index)} != 0) AS n${p.index}`);
  const [row] = await offline.query(`SELECT ${cols.join(', ')} FROM ${tables.impressions}`);
  for (const p of keyed) {
    const points = Number(row?.[`u${p.index}`] ?? 0);
    const rows = Number(row?.[`n${p.index}`] ?? 0);
    modes.set(p.index, points * 2 <= rows ? 'perPoint' : 'perImpression');
  }
  return modes;
}

function impressionsSql(plans: readonly GroupPlan[], range: PassRange, tables: RunTables, exposure: string): string {
  const keys: string[] = [];
  for (const plan of plans) {
    if (plan.impressionKey === null) continue;
    const { key, valid } = plan.impressionKey;
    keys.push(`if(${valid}, ${keyHashSql(key)}, toUInt128(0)) AS ${impressionKeyHash(plan.index)}`);
    if (plan.general.length > 0 || recentAggregations(plan).length > 0) keys.push(`if(${valid}, ${key}, '') AS ${impressionKeyText(plan.index)}`);
  }
  return (
    `CREATE TABLE ${tables.impressions} ENGINE = Memory AS SELECT rowNumberInAllBlocks() AS ${IMPRESSION_ROW_ID}, eventId AS impressionId, requestId, userId, itemId, categoryId, position, eventTime, ${T_MS} AS t, ` +
    `device, os, country, city, page, timezone, ${keys.length > 0 ? `${keys.join(', ')}, ` : ''}` +
    `${keyHashSql('requestId, itemId')} AS kc, ${keyHashSql('userId, itemId')} AS ko ` +
    `FROM ${sourceTable(exposure)} WHERE eventTime >= ${sqlInstant(range.from)} AND eventTime < ${sqlInstant(Math.max(range.from, range.to))}`
  );
}

async function labelTables(offline: OfflineStore, range: PassRange, rule: LabelRule, tables: RunTables): Promise<void> {
  const last = range.to - 1;
  await offline.command(
    `CREATE TABLE ${tables.clicks} ENGINE = Memory AS SELECT ${keyHashSql('requestId, itemId')} AS k, groupArray(${T_MS}) AS ts FROM ${sourceTable(rule.click)} ` +
      `WHERE eventTime >= ${sqlInstant(range.from)} AND eventTime <= ${sqlInstant(Math.max(range.from, last + rule.clickWindowMs))} ` +
      `AND k IN (SELECT kc FROM ${tables.impressions}) GROUP BY k`,
  );
  await offline.command(
    `CREATE TABLE ${tables.orders} ENGINE = Memory AS SELECT ${keyHashSql('userId, itemId')} AS k, groupArray(${T_MS}) AS ts FROM ${sourceTable(rule.conversion)} ` +
      `WHERE eventTime >= ${sqlInstant(range.from)} AND eventTime <= ${sqlInstant(Math.max(range.from, last + rule.orderWindowMs))} ` +
      `AND k IN (SELECT ko FROM ${tables.impressions}) GROUP BY k`,
  );
}

async function deleteRange(offline: OfflineStore, layout: SamplesLayout, where: string): Promise<void> {
  const [before] = await offline.query<{ n: number }>(`SELECT count() AS n FROM ${layout.table} WHERE ${where}`);
  if (Number(before?.n ?? 0) === 0) return;
  await offline.command(`DELETE FROM ${layout.table} WHERE ${where}`);
  const [after] = await offline.query<{ n: number }>(`SELECT count() AS n FROM ${layout.table} WHERE ${where}`);
  if (Number(after?.n ?? 0) !== 0) throw new BatchError('BATCH_INVALID_ARGUMENT', `could not clear the range of ${layout.table} before rewriting it (${String(after?.n)} rows left)`);
}

/** A SQL literal of a cold-start value of a column type. */
function literal(value: unknown, type: string): string {
  if (value === null) return `CAST(NULL, ${sqlString(type)})`;
  if (Array.isArray(value)) return `CAST([], ${sqlString(type)})`;
  if (typeof value === 'number') return `CAST(${sqlString(String(value))}, ${sqlString(type)})`;
  return `CAST(${sqlString(String(value))}, ${sqlString(type)})`;
}

function finalInsertSql(
  layout: SamplesLayout,
  plans: readonly GroupPlan[],
  sources: Record<number, Sources>,
  rule: LabelRule,
  tables: RunTables,
  context: { hour: string; day: string },
): string {
  const joins: string[] = [];
  for (const plan of plans) {
    const has = sources[plan.index] as Sources;
    const k = impressionKeyHash(plan.index);
    const f = `f${plan.index}`;
    if (has.fast === 'perPoint') joins.push(`LEFT JOIN ${tables.fast(plan.index)} AS ${f} ON ${f}.k = i.${k} AND ${f}.t = i.t`);
    if (has.fast === 'perImpression') joins.push(`LEFT JOIN ${tables.fast(plan.index)} AS ${f} ON ${f}.${IMPRESSION_ROW_ID} = i.${IMPRESSION_ROW_ID}`);
    if (has.general) joins.push(`LEFT JOIN ${tables.general(plan.index)} AS g${plan.index} ON g${plan.index}.k = i.${k} AND g${plan.index}.t = i.t`);
    if (has.recent) joins.push(`LEFT JOIN ${tables.recent(plan.index)} AS r${plan.index} ON r${plan.index}.k = i.${k} AND r${plan.index}.t = i.t`);
  }
  const exprOf = new Map<string, string>();
  const cold = layout.groups.map((g) => coldStartFeatures(g));
  const columnOf = (c: FeatureColumn): string => {
    if (c.group === -1) {
      switch (c.name) {
        case 'context_hour_of_day':
          return context.hour;
        case 'context_day_of_week':
          return context.day;
        case 'context_device':
          return contextCategorySql('i.device');
        default:
          return contextCategorySql('i.page');
      }
    }
    const plan = plans[c.group] as GroupPlan;
    const has = sources[plan.index] as Sources;
    const f = c.feature;
    if (f === null) throw new Error('unreachable: group features are compiled');
    if (f.kind === 'derived') {
      const num = exprOf.get(f.numerator) as string;
      const den = exprOf.get(f.denominator) as string;
      return `(toFloat64(${num}) + ${literal(f.alpha, 'Float64')}) / (toFloat64(${den}) + ${literal(f.beta, 'Float64')})`;
    }
    const fast = plan.fast.some((a) => a.index === f.aggregation);
    if (fast && has.fast !== null) {
      const value = `f${plan.index}.${c.name}`;
      return has.recent && plan.fast.some((a) => a.index === f.aggregation && isRecent(a)) ? `if(f${plan.index}.${exactFlag(f.aggregation)} = 1, ${value}, r${plan.index}.${c.name})` : value;
    }
    if (!fast && has.general) return `g${plan.index}.${c.name}`;
    return literal((cold[c.group] as Record<string, unknown>)[c.name], c.type);
  };
  const features = layout.features.map((c) => {
    const e = columnOf(c);
    exprOf.set(c.name, e);
    return `${e} AS ${c.name}`;
  });
  const columns = [...SAMPLE_BASE_COLUMNS.map((c) => c.name), ...layout.features.map((f) => f.name)];
  const base = [
    'i.impressionId',
    'i.requestId',
    'i.userId',
    'i.itemId',
    'i.categoryId',
    'i.position',
    'i.eventTime',
    'i.device',
    'i.os',
    'i.country',
    'i.city',
    'i.page',
    'i.timezone',
    `toUInt8(arrayExists(x -> x >= i.t AND x <= i.t + ${sqlInt(rule.clickWindowMs)}, c.ts))`,
    `toUInt8(arrayExists(x -> x >= i.t AND x <= i.t + ${sqlInt(rule.orderWindowMs)}, o.ts))`,
  ];
  return (
    `INSERT INTO ${layout.table} (${columns.join(', ')}) SELECT ${[...base, ...features].join(', ')} FROM ${tables.impressions} AS i ` +
    `${joins.join(' ')} LEFT JOIN ${tables.clicks} AS c ON c.k = i.kc LEFT JOIN ${tables.orders} AS o ON o.k = i.ko ` +
    // the SELECT runs on as many threads as the insert does
    `SETTINGS join_use_nulls = 0, max_insert_threads = 2`
  );
}
