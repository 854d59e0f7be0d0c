import { UsageError } from '../errors.js';
import { recomputeStates } from '../batch/recompute.js';
import { T_MS } from '../batch/sql.js';
import type { OfflineStore } from '../ports/offline-store.js';
import type { Subscription } from '../ports/event-log.js';
import { rawTable } from '../sink/raw-tables.js';
import { batchAlignmentMs, writeBatchView } from '../streaming/batch-view.js';
import { aliasEdit, batchViewEdit, readCatalog, servingNamespace, updateCatalog, type CatalogEdit } from '../streaming/online-catalog.js';
import { rebuildGroup } from '../streaming/rebuild.js';
import type { StreamDeps } from '../streaming/stream-processor.js';
import { RegistryError } from './plan.js';
import { pendingVersion, versionEdit, type RegisteredProjects } from './registry.js';

/**
 * Brings an applied version of a group into service without stopping the one serving
 * (docs/architecture.md, The registry):
 *
 * 1. backfill: every state as of a watermark U recomputed from the raw tables with the new
 *    definition (the lambda batch job), written as a batch view that nothing reads yet;
 * 2. catch-up: the stream code replays the log from U into the version's own namespace (a stream
 *    deployment of its own, exactly once in effect) until it is caught up;
 * 3. flip: one compare-and-set on the catalog points the group's alias at the namespace and its
 *    batch view at the backfill. Readers fetch the catalog with the features, so each read sees
 *    the old version whole or the new one whole; the old one stays for rollback for the grace
 *    period, and its deployment keeps writing it.
 *
 * U defaults to the latest instant aligned to the group's largest tile at or before the newest
 * event the raw tables hold for the group's sources, so the batch part covers what the sink has
 * written and the stream the rest.
 */
export interface BackfillOptions {
  /** The watermark between the batch part and the stream part. */
  until?: number;
  graceMs: number;
  latenessMs: number;
  maxFutureMs: number;
  maxBatchRecords?: number;
  idleMs?: number;
  /** Keep streaming into the new version after the flip. Default true. */
  continueLive?: boolean;
  /** Called between the steps (for progress lines and tests). */
  onStep?: (step: 'backfilled' | 'caught-up' | 'flipped', detail: Record<string, number | string>) => void | Promise<void>;
}

export interface BackfillResult {
  group: string;
  version: number;
  namespace: string;
  until: number;
  batchNamespace: string;
  entities: number;
  applied: number;
  /** The namespace that served before. */
  previous: string;
  consumerGroup: string;
  seconds: { backfill: number; catchUp: number; flip: number };
  live: Subscription | null;
}

/** The newest eventTime the raw tables hold for these event types, epoch ms; null when they are empty. */
export async function newestRawEvent(offline: OfflineStore, types: readonly string[]): Promise<number | null> {
  let newest: number | null = null;
  for (const type of types) {
    const [row] = await offline.query<{ t: number | string | null; n: number | string }>(`SELECT max(${T_MS}) AS t, count() AS n FROM ${rawTable(type)}`);
    if (row && Number(row.n) > 0 && row.t !== null) newest = Math.max(newest ?? -Infinity, Number(row.t));
  }
  return newest;
}

export async function backfillGroup(
  deps: StreamDeps & { prefix: string; offline: OfflineStore; projects: RegisteredProjects },
  name: string,
  options: BackfillOptions,
): Promise<BackfillResult> {
  const catalog = await readCatalog(deps.store, deps.prefix);
  if (catalog.registry === null) throw new UsageError('nothing is registered: run tessera apply first');
  if (catalog.registry.groups[name] === undefined) throw new UsageError(`group "${name}" is not registered (registered: ${Object.keys(catalog.registry.groups).join(', ')})`);
  const pending = pendingVersion(catalog, name);
  if (pending === null) throw new UsageError(`group "${name}" has no applied version waiting to serve: it serves version ${catalog.registry.groups[name]?.versions.at(-1)?.version ?? '?'} already`);
  const group = await deps.projects.group(name, pending);
  const namespace = pending.namespaces[0] as string;
  const align = batchAlignmentMs(group);
  let until = options.until;
  if (until === undefined) {
    const newest = await newestRawEvent(deps.offline, group.sources);
    until = newest === null ? 0 : Math.floor((newest + 1) / align) * align;
  } else if (until % align !== 0) {
    throw new UsageError(`--until ${new Date(until).toISOString()} must be a multiple of group ${name}'s largest tile (${align} ms)`);
  }

  const t0 = performance.now();
  const now = deps.clock();
  const view = until > 0
    ? await writeBatchView(deps.store, group, recomputeStates(deps.offline, [group], { until }), { prefix: deps.prefix, until, now, graceMs: options.graceMs, latenessMs: options.latenessMs, version: pending.version, activate: false })
    : { namespace: '', entities: 0 };
  await recordBackfill(deps, name, pending.version, view.namespace === '' ? null : { namespace: view.namespace, until, writtenAt: now });
  const t1 = performance.now();
  await options.onStep?.('backfilled', { namespace: view.namespace, entities: view.entities, until });

  // catch up from U into the version's namespace; the flip below, not the rebuild's, makes it serve
  const previous = servingNamespace(await readCatalog(deps.store, deps.prefix), name);
  let flipMs = 0;
  const rebuilt = await rebuildGroup(deps, group, {
    namespace,
    fromTime: until,
    graceMs: options.graceMs,
    latenessMs: options.latenessMs,
    maxFutureMs: options.maxFutureMs,
    ...(options.maxBatchRecords !== undefined ? { maxBatchRecords: options.maxBatchRecords } : {}),
    idleMs: options.idleMs ?? 1000,
    continueLive: options.continueLive !== false,
    flip: async () => {
      await options.onStep?.('caught-up', { namespace });
      const f0 = performance.now();
      await flipVersion(deps, name, pending.version, options.graceMs);
      flipMs = performance.now() - f0;
    },
  });
  const t2 = performance.now();
  await options.onStep?.('flipped', { namespace, previous });
  return {
    group: name,
    version: pending.version,
    namespace,
    until,
    batchNamespace: view.namespace,
    entities: view.entities,
    applied: rebuilt.applied,
    previous,
    consumerGroup: rebuilt.consumerGroup,
    seconds: { backfill: (t1 - t0) / 1000, catchUp: (t2 - t1 - flipMs) / 1000, flip: flipMs / 1000 },
    live: rebuilt.live,
  };
}

/** Records the backfilled batch view on the version (so the flip, or a later one, knows it). */
async function recordBackfill(deps: { store: StreamDeps['store']; prefix: string }, name: string, version: number, backfill: { namespace: string; until: number; writtenAt: number } | null): Promise<void> {
  await updateCatalog(deps.store, deps.prefix, (c) => [versionEdit(c, name, version, (v) => ({ ...v, backfill }))]);
}

/**
 * The flip of a backfilled version: its namespace serves the group and its backfill becomes the
 * group's batch view, in one compare-and-set. A version without a backfill (an empty raw table)
 * serves from its stream state alone.
 */
export async function flipVersion(deps: { store: StreamDeps['store']; prefix: string; clock: () => number }, name: string, version: number, graceMs: number): Promise<void> {
  const now = deps.clock();
  await updateCatalog(deps.store, deps.prefix, (c): CatalogEdit[] => {
    const v = c.registry?.groups[name]?.versions.find((x) => x.version === version);
    if (v === undefined) throw new RegistryError('REGISTRY_UNKNOWN', `group ${name} has no version ${version}`);
    const edits: CatalogEdit[] = [aliasEdit(c, name, v.namespaces[0] as string, graceMs, now)];
    // without a backfill the old view stays, unread: the reader merges a view only into its own version
    if (v.backfill) edits.push(batchViewEdit(c, name, { ...v.backfill, version }, graceMs, now));
    return edits;
  });
}
