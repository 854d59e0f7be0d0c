import { UsageError } from '../errors.js';
import type { OnlineStore, ReadQuery, ReadValue, StoreOp } from '../ports/online-store.js';
import type { RegistryHead } from '../registry/registry-head.js';
import { DEFAULT_NAMESPACE } from './stream-keys.js';

/**
 * The catalog of online versions: which namespace serves each feature group (the kappa alias) and
 * which batch view the reader merges for it (the lambda view). One Redis hash, `<prefix>:catalog`,
 * read by the feature reader in the same round trip as the features, so a read never mixes two
 * versions:
 *
 * - `alias:<group>`: `{ namespace, since, previous }`: the namespace whose streaming state serves
 *   the group; absent means {@link DEFAULT_NAMESPACE}. `previous` is the version it replaced, kept
 *   for rollback until `graceEndsAt`, then dropped by {@link collectGarbage}.
 * - `batch:<group>`: `{ namespace, until, writtenAt, previous }`: the batch view, i.e. every state
 *   as of watermark `until` recomputed from the raw tables (late events included); the reader takes
 *   tiles before `until` from it and the streaming tiles from `until` on.
 * - `registry`: the registered head of the feature project (src/registry/registry.ts): its version
 *   and every group's versions with the namespaces that hold them; the snapshots themselves live in
 *   `<prefix>:registry`, outside the hash every read fetches.
 * - `rev`: a counter; every change is a compare-and-set on it (the store's fence), so two writers
 *   can never lose each other's update.
 */
export interface VersionRef {
  readonly namespace: string;
  /** When this version stops being kept (wall clock, epoch ms). */
  readonly graceEndsAt: number;
}

export interface GroupAlias {
  readonly namespace: string;
  /** When the alias was set (wall clock, epoch ms). */
  readonly since: number;
  readonly previous: VersionRef | null;
}

export interface BatchViewRef {
  readonly namespace: string;
  /** The batch watermark: the view holds every event with eventTime < until. */
  readonly until: number;
  readonly writtenAt: number;
  /** The registered group version the view was computed with (absent before the registry). */
  readonly version?: number;
  readonly previous: (VersionRef & { until: number; version?: number }) | null;
}

export interface Catalog {
  readonly rev: number;
  readonly aliases: ReadonlyMap<string, GroupAlias>;
  readonly batchViews: ReadonlyMap<string, BatchViewRef>;
  /** The registered project's head; null while nothing is registered. */
  readonly registry: RegistryHead | null;
}

export const EMPTY_CATALOG: Catalog = { rev: 0, aliases: new Map(), batchViews: new Map(), registry: null };

/** The catalog's key. Namespaces are `<prefix>:<namespace>`, and `catalog` is not a valid namespace. */
export function catalogKey(prefix: string): string {
  return `${prefix}:catalog`;
}

/** The read query that fetches the catalog (for callers batching it with other reads). */
export function catalogQuery(prefix: string): ReadQuery {
  return { kind: 'hgetall', key: catalogKey(prefix) };
}

/**
 * The catalog from the answer to {@link catalogQuery}. Entries that do not parse are ignored
 * (and so fall back to the defaults) rather than failing every read.
 */
export function parseCatalog(value: ReadValue | undefined): Catalog {
  if (value?.kind !== 'hgetall') return EMPTY_CATALOG;
  const aliases = new Map<string, GroupAlias>();
  const batchViews = new Map<string, BatchViewRef>();
  let registry: RegistryHead | null = null;
  for (const [field, text] of Object.entries(value.value)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      continue;
    }
    if (field === 'registry') {
      if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { version?: unknown }).version === 'number' && typeof (parsed as { groups?: unknown }).groups === 'object') registry = parsed as RegistryHead;
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { namespace?: unknown }).namespace !== 'string') continue;
    if (field.startsWith('alias:')) aliases.set(field.slice(6), parsed as GroupAlias);
    else if (field.startsWith('batch:')) batchViews.set(field.slice(6), parsed as BatchViewRef);
  }
  return { rev: Number(value.value['rev'] ?? 0) || 0, aliases, batchViews, registry };
}

export async function readCatalog(store: OnlineStore, prefix: string): Promise<Catalog> {
  const [v] = await store.read([catalogQuery(prefix)]);
  return parseCatalog(v);
}

/** The namespace serving a group's streaming state. */
export function servingNamespace(catalog: Catalog, group: string): string {
  return catalog.aliases.get(group)?.namespace ?? DEFAULT_NAMESPACE;
}

/**
 * Validates a namespace name: letters, digits, `_`, `-`, `.`, at most 64, and not `catalog`.
 *
 * @throws UsageError saying what is allowed.
 */
export function checkNamespace(namespace: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(namespace) || namespace === 'catalog') {
    throw new UsageError(`namespace "${namespace}": use 1-64 letters, digits, '_', '-' or '.' (and not "catalog")`);
  }
  return namespace;
}

/** An edit of one catalog field (null deletes it), and store operations on other keys applied in the same atomic step. */
export type CatalogEdit = { field: string; value: string | null } | { op: StoreOp };

/**
 * Applies `change` to the catalog as one compare-and-set on its revision, retrying when another
 * writer got there first (`change` sees the newer catalog and may throw to give up); returns the
 * catalog as written.
 */
export async function updateCatalog(store: OnlineStore, prefix: string, change: (current: Catalog) => CatalogEdit[]): Promise<Catalog> {
  const key = catalogKey(prefix);
  for (let attempt = 0; attempt < 20; attempt++) {
    const current = await readCatalog(store, prefix);
    const edits = change(current);
    const ops = edits.map((e): StoreOp => ('op' in e ? e.op : e.value === null ? { op: 'hdel', key, fields: [e.field] } : { op: 'hset', key, field: e.field, value: e.value }));
    const result = await store.apply(ops, { key, field: 'rev', offset: current.rev + 1, expected: current.rev === 0 ? null : current.rev });
    if (result.applied) return readCatalog(store, prefix);
  }
  throw new Error(`catalog ${key}: kept losing the compare-and-set to other writers`);
}

/**
 * Points `group` at `namespace` (the kappa flip). The version it replaces stays for rollback for
 * `graceMs`; a version already kept as previous is released at once (one rollback step).
 */
export async function flipAlias(store: OnlineStore, prefix: string, group: string, namespace: string, graceMs: number, now: number): Promise<Catalog> {
  checkNamespace(namespace);
  return updateCatalog(store, prefix, (c) => [aliasEdit(c, group, namespace, graceMs, now)]);
}

/**
 * Points `group` back at its previous version while the grace period lasts.
 *
 * @throws UsageError when there is no previous version or its grace period is over.
 */
export async function rollbackAlias(store: OnlineStore, prefix: string, group: string, graceMs: number, now: number): Promise<Catalog> {
  return updateCatalog(store, prefix, (c) => {
    const alias = c.aliases.get(group);
    if (!alias?.previous) throw new UsageError(`feature group "${group}" has no previous version to roll back to`);
    if (alias.previous.graceEndsAt <= now) throw new UsageError(`feature group "${group}": the previous version ${alias.previous.namespace} left its grace period at ${new Date(alias.previous.graceEndsAt).toISOString()}`);
    const back: GroupAlias = { namespace: alias.previous.namespace, since: now, previous: { namespace: alias.namespace, graceEndsAt: now + graceMs } };
    const edits: CatalogEdit[] = [{ field: `alias:${group}`, value: JSON.stringify(back) }];
    // a registered group's batch view belongs to one version: it goes back with the alias
    const to = versionHolding(c, group, back.namespace);
    const view = c.batchViews.get(group);
    if (to !== null && view && view.version !== to && view.previous?.version === to && view.previous.graceEndsAt > now) {
      edits.push(batchViewEdit(c, group, { namespace: view.previous.namespace, until: view.previous.until, writtenAt: now, version: to }, graceMs, now));
    }
    return edits;
  });
}

/** The registered version of `group` whose streaming state `namespace` holds; null when none (or nothing registered). */
export function versionHolding(c: Catalog, group: string, namespace: string): number | null {
  const versions = c.registry?.groups[group]?.versions ?? [];
  return versions.find((v) => v.namespaces.includes(namespace))?.version ?? null;
}

/** Points `group`'s batch view at a freshly written namespace; the view it replaces stays for `graceMs`. */
export async function setBatchView(store: OnlineStore, prefix: string, group: string, namespace: string, until: number, graceMs: number, now: number, version?: number): Promise<Catalog> {
  checkNamespace(namespace);
  return updateCatalog(store, prefix, (c) => [batchViewEdit(c, group, { namespace, until, writtenAt: now, ...(version !== undefined ? { version } : {}) }, graceMs, now)]);
}

/** The edit that makes `view` the group's batch view; the view it replaces stays for `graceMs`. */
export function batchViewEdit(c: Catalog, group: string, view: Omit<BatchViewRef, 'previous'>, graceMs: number, now: number): CatalogEdit {
  const old = c.batchViews.get(group);
  const next: BatchViewRef = {
    ...view,
    previous:
      old && old.namespace !== view.namespace
        ? { namespace: old.namespace, until: old.until, graceEndsAt: now + graceMs, ...(old.version !== undefined ? { version: old.version } : {}) }
        : (old?.previous ?? null),
  };
  return { field: `batch:${group}`, value: JSON.stringify(next) };
}

/** The edit that points `group`'s alias at `namespace`; the version it replaces stays for `graceMs`. */
export function aliasEdit(c: Catalog, group: string, namespace: string, graceMs: number, now: number): CatalogEdit {
  const current = servingNamespace(c, group);
  const alias: GroupAlias = {
    namespace,
    since: now,
    previous: current === namespace ? (c.aliases.get(group)?.previous ?? null) : { namespace: current, graceEndsAt: now + graceMs },
  };
  return { field: `alias:${group}`, value: JSON.stringify(alias) };
}

/** A version whose grace period is over: its keys for `group` can be deleted. */
export interface ExpiredVersion {
  group: string;
  kind: 'stream' | 'batch';
  namespace: string;
}

/**
 * Drops the previous versions whose grace period ended from the catalog and returns them, for the
 * caller to delete the group's keys in them (see `groupKeyPrefixes`).
 */
export async function collectGarbage(store: OnlineStore, prefix: string, now: number): Promise<ExpiredVersion[]> {
  let expired: ExpiredVersion[] = [];
  await updateCatalog(store, prefix, (c) => {
    expired = [];
    const edits: { field: string; value: string }[] = [];
    for (const [group, a] of c.aliases) {
      if (a.previous && a.previous.graceEndsAt <= now) {
        expired.push({ group, kind: 'stream', namespace: a.previous.namespace });
        edits.push({ field: `alias:${group}`, value: JSON.stringify({ ...a, previous: null }) });
      }
    }
    for (const [group, v] of c.batchViews) {
      if (v.previous && v.previous.graceEndsAt <= now) {
        expired.push({ group, kind: 'batch', namespace: v.previous.namespace });
        edits.push({ field: `batch:${group}`, value: JSON.stringify({ ...v, previous: null }) });
      }
    }
    // a registered version no longer lives in a namespace whose keys are dropped, so the deployment
    // of that namespace stops writing it at its next start
    const streamed = expired.filter((e) => e.kind === 'stream' && c.registry?.groups[e.group] !== undefined);
    if (c.registry !== null && streamed.length > 0) {
      const groups = { ...c.registry.groups };
      for (const e of streamed) {
        const reg = groups[e.group] as RegistryHead['groups'][string];
        groups[e.group] = { versions: reg.versions.map((v) => ({ ...v, namespaces: v.namespaces.filter((n) => n !== e.namespace || n === servingNamespace(c, e.group)) })) };
      }
      edits.push({ field: 'registry', value: JSON.stringify({ ...c.registry, groups }) });
    }
    return edits;
  });
  // a namespace holds every group its stream deployment writes: only this group's keys go, and
  // only when the group does not use that namespace again (e.g. after a flip and a flip back)
  const after = await readCatalog(store, prefix);
  return expired.filter((e) => servingNamespace(after, e.group) !== e.namespace && after.batchViews.get(e.group)?.namespace !== e.namespace);
}
