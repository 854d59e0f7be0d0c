import { UsageError } from '../errors.js';
import type { OnlineStore, ReadQuery, ReadValue } from '../ports/online-store.js';
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
  readonly previous: (VersionRef & { until: number }) | null;
}

export interface Catalog {
  readonly rev: number;
  readonly aliases: ReadonlyMap<string, GroupAlias>;
  readonly batchViews: ReadonlyMap<string, BatchViewRef>;
}

export const EMPTY_CATALOG: Catalog = { rev: 0, aliases: new Map(), batchViews: new Map() };

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
  for (const [field, text] of Object.entries(value.value)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { namespace?: unknown }).namespace !== 'string') continue;
    if (field.startsWith('alias:')) aliases.set(field.slice(6), parsed as GroupAlias);
    else if (field.startsWith('batch:')) batchViews.set(field.slice(6), parsed as BatchViewRef);
  }
  return { rev: Number(value.value['rev'] ?? 0) || 0, aliases, batchViews };
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

/**
 * Applies `change` to the catalog as one compare-and-set on its revision, retrying when another
 * writer got there first; returns the catalog as written.
 */
export async function updateCatalog(store: OnlineStore, prefix: string, change: (current: Catalog) => { field: string; value: string | null }[]): Promise<Catalog> {
  const key = catalogKey(prefix);
  for (let attempt = 0; attempt < 20; attempt++) {
    const current = await readCatalog(store, prefix);
    const edits = change(current);
    const ops = edits.map((e) => (e.value === null ? { op: 'hdel' as const, key, fields: [e.field] } : { op: 'hset' as const, key, field: e.field, value: e.value }));
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
  return updateCatalog(store, prefix, (c) => {
    const current = servingNamespace(c, group);
    const alias: GroupAlias = {
      namespace,
      since: now,
      previous: current === namespace ? (c.aliases.get(group)?.previous ?? null) : { namespace: current, graceEndsAt: now + graceMs },
    };
    return [{ field: `alias:${group}`, value: JSON.stringify(alias) }];
  });
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
    return [{ field: `alias:${group}`, value: JSON.stringify(back) }];
  });
}

/** Points `group`'s batch view at a freshly written namespace; the view it replaces stays for `graceMs`. */
export async function setBatchView(store: OnlineStore, prefix: string, group: string, namespace: string, until: number, graceMs: number, now: number): Promise<Catalog> {
  checkNamespace(namespace);
  return updateCatalog(store, prefix, (c) => {
    const old = c.batchViews.get(group);
    const view: BatchViewRef = {
      namespace,
      until,
      writtenAt: now,
      previous: old && old.namespace !== namespace ? { namespace: old.namespace, until: old.until, graceEndsAt: now + graceMs } : (old?.previous ?? null),
    };
    return [{ field: `batch:${group}`, value: JSON.stringify(view) }];
  });
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
    return edits;
  });
  // a namespace holds every group its stream deployment writes: only this group's keys go, and
  // only when the group does not use that namespace again (e.g. after a flip and a flip back)
  const after = await readCatalog(store, prefix);
  return expired.filter((e) => servingNamespace(after, e.group) !== e.namespace && after.batchViews.get(e.group)?.namespace !== e.namespace);
}
