import type { FeatureValue } from '../features/aggregators.js';
import { type CompiledGroup } from '../features/definitions.js';
import { assembleGroup } from '../features/window-assembly.js';
import type { OfflineStore } from '../ports/offline-store.js';
import { BatchError } from './batch-errors.js';
import { recomputeStates } from './recompute.js';
import { entityKeySql, sourceTable, sqlInstant, sqlString } from './sql.js';

/** Every feature of one entity at one query time, answered by the batch layer. */
export interface OfflineFeatures {
  readonly group: string;
  readonly entityKey: string;
  /** The query time, epoch ms. */
  readonly q: number;
  /** Feature name -> value, in the group's feature order; cold-start values when nothing is known. */
  readonly values: Record<string, FeatureValue>;
  /** The entity's latest eventTime before q, in any source of the group; null when it has no event before q. */
  readonly latestEventTime: number | null;
}

/**
 * The features of one entity at any query time q, exactly: the states of the entity recomputed in
 * ClickHouse from the deduplicated raw tables with watermark q (so only events with eventTime < q
 * count, late arrivals included) and assembled at q by the same window assembly the reader uses.
 * Equal to `oracleFeatures` over the same events. This is where questions about the past go
 * (`tessera features get ... --at <ISO> --offline`): the online state only answers exactly after
 * an entity's latest event.
 *
 * @example await offlineFeatures(offline, USER_GROUP, 'u42', Date.parse('2026-01-06T12:00:00Z'))
 * @throws BatchError for a q that is not an integer epoch-ms instant.
 */
export async function offlineFeatures(offline: OfflineStore, group: CompiledGroup, entityKey: string, q: number): Promise<OfflineFeatures> {
  if (!Number.isSafeInteger(q)) throw new BatchError('BATCH_INVALID_ARGUMENT', `the query time must be integer epoch ms, got ${String(q)}`);
  const compiled = group;
  const found = await firstEntity(recomputeStates(offline, [compiled], { until: q, keys: [entityKey] }));
  const values = assembleGroup(compiled, found ?? { tiles: () => undefined, lifetime: () => undefined }, q);
  return { group: compiled.name, entityKey, q, values, latestEventTime: await latestBefore(offline, compiled, entityKey, q) };
}

/** The entity's latest event before q over the group's sources (the states keep only what reads at q need). */
async function latestBefore(offline: OfflineStore, group: CompiledGroup, entityKey: string, q: number): Promise<number | null> {
  const parts = group.sources.map((source) => {
    const k = entityKeySql(group.events, group.entity, source) as { key: string; valid: string };
    return `SELECT max(eventTime) AS latest, count() AS rows FROM ${sourceTable(source)} WHERE eventTime < ${sqlInstant(q)} AND ${k.valid} AND ${k.key} = ${sqlString(entityKey)}`;
  });
  const [row] = await offline.query<{ m: number; n: number }>(`SELECT toUnixTimestamp64Milli(max(latest)) AS m, sum(rows) AS n FROM (${parts.join(' UNION ALL ')}) WHERE rows > 0`);
  return row === undefined || Number(row.n) === 0 ? null : Number(row.m);
}

async function firstEntity<T>(it: AsyncIterable<T>): Promise<T | null> {
  for await (const x of it) return x;
  return null;
}
