import type { CompiledGroup } from '../features/definitions.js';
import type { OnlineStore } from '../ports/online-store.js';
import { canonicalJson, compileProject, type Project, type ProjectSource } from '../project/compile-project.js';
import { readCatalog, servingNamespace, updateCatalog, versionHolding, type Catalog, type CatalogEdit } from '../streaming/online-catalog.js';
import { groupSpecHash, planChanges, RegistryError, type ModelReads, type Plan } from './plan.js';
import type { GroupVersion, RegisteredGroup, RegistryHead } from './registry-head.js';

/**
 * The registry of applied feature projects (docs/architecture.md, The registry). It lives in the
 * online catalog: the head (`registry` field of `<prefix>:catalog`) names every group's versions
 * and the namespaces holding them, beside the aliases that say which namespace serves; the
 * applied sources are kept whole in `<prefix>:registry` (`v<N>`, canonical JSON), outside the
 * hash every read fetches. So an apply, a flip and a rollback are each one compare-and-set on the
 * catalog's revision, and a reader, which fetches the catalog in the same round trip as the
 * features, always decodes a group with the definition of the version it read.
 */

export type { GroupVersion, RegisteredGroup, RegistryHead } from './registry-head.js';

/** The hash holding each applied source (`v<N>`). */
export function registryKey(prefix: string): string {
  return `${prefix}:registry`;
}

/** The version of `group` that serves: the one holding the namespace its alias names. Null when none does yet. */
export function servingVersion(c: Catalog, group: string): GroupVersion | null {
  const v = versionHolding(c, group, servingNamespace(c, group));
  return v === null ? null : (c.registry?.groups[group]?.versions.find((x) => x.version === v) ?? null);
}

/** The newest version of `group` when it is newer than the serving one: applied, waiting for its backfill and flip. */
export function pendingVersion(c: Catalog, group: string): GroupVersion | null {
  const versions = c.registry?.groups[group]?.versions ?? [];
  const newest = versions[versions.length - 1];
  if (newest === undefined) return null;
  const serving = servingVersion(c, group);
  return serving === null || newest.version > serving.version ? newest : null;
}

/** The namespace a new version of a group is backfilled into. */
export function versionNamespace(group: string, version: number): string {
  return `${group}-v${version}`;
}

/**
 * Compiled projects of the registry's versions, read once each (a version never changes).
 */
export class RegisteredProjects {
  private readonly compiled = new Map<number, Project>();
  private readonly loading = new Map<number, Promise<Project>>();

  constructor(
    private readonly store: OnlineStore,
    private readonly prefix: string,
  ) {}

  /** The project applied as registry version `version`. @throws RegistryError when it is not stored. */
  async project(version: number): Promise<Project> {
    const done = this.compiled.get(version);
    if (done !== undefined) return done;
    let p = this.loading.get(version);
    if (p === undefined) {
      p = (async () => {
        const [v] = await this.store.read([{ kind: 'hmget', key: registryKey(this.prefix), fields: [`v${version}`] }]);
        const text = v?.kind === 'hmget' ? v.value[0] : null;
        if (text == null) throw new RegistryError('REGISTRY_UNKNOWN', `registry version ${version} is not stored under ${registryKey(this.prefix)}`);
        const project = compileProject(JSON.parse(text) as ProjectSource);
        this.compiled.set(version, project);
        return project;
      })();
      this.loading.set(version, p);
      p.catch(() => this.loading.delete(version));
    }
    return p;
  }

  /** The compiled project of a version already read, else undefined. */
  cached(version: number): Project | undefined {
    return this.compiled.get(version);
  }

  /** Reads every version `c` needs to resolve its groups (serving and pending). */
  async prepare(c: Catalog): Promise<void> {
    if (c.registry === null) return;
    const needed = new Set<number>([c.registry.version]);
    for (const name of Object.keys(c.registry.groups)) {
      for (const v of [servingVersion(c, name), pendingVersion(c, name)]) if (v !== null) needed.add(v.registry);
    }
    await Promise.all([...needed].map((n) => this.project(n)));
  }

  /** The compiled definition of one group version. @throws RegistryError when its source is not stored. */
  async group(name: string, v: GroupVersion): Promise<CompiledGroup> {
    const group = (await this.project(v.registry)).groups.find((g) => g.name === name);
    if (group === undefined) throw new RegistryError('REGISTRY_UNKNOWN', `registry version ${v.registry} has no group ${name}`);
    return group;
  }
}

/**
 * What the definitions of a catalog resolve to, per group: the compiled definition of the version
 * that serves (null: registered, not served yet), or, with nothing registered, the project's own.
 * Synchronous once {@link RegisteredProjects.prepare} has read the catalog's versions.
 */
export function servingGroup(c: Catalog, projects: RegisteredProjects, fallback: readonly CompiledGroup[], name: string): CompiledGroup | null | undefined {
  if (c.registry === null) return fallback.find((g) => g.name === name);
  const v = servingVersion(c, name);
  if (v === null) return c.registry.groups[name] === undefined ? undefined : null;
  const project = projects.cached(v.registry);
  if (project === undefined) throw new Error(`registry version ${v.registry} was not prepared before resolving group ${name}`);
  return project.groups.find((g) => g.name === name) ?? null;
}

/** Every group's serving definition under `c` (groups not served yet left out), in the head's order. */
export async function servingGroups(c: Catalog, projects: RegisteredProjects, fallback: readonly CompiledGroup[]): Promise<CompiledGroup[]> {
  await projects.prepare(c);
  const names = c.registry === null ? fallback.map((g) => g.name) : (await projects.project(c.registry.version)).groups.map((g) => g.name);
  return names.map((n) => servingGroup(c, projects, fallback, n)).filter((g): g is CompiledGroup => g != null);
}

/**
 * The groups whose registered versions a stream deployment of `namespace` writes: per group, the
 * version held there. With nothing registered, every group of the project.
 */
export async function groupsInNamespace(c: Catalog, projects: RegisteredProjects, fallback: readonly CompiledGroup[], namespace: string): Promise<CompiledGroup[]> {
  if (c.registry === null) return [...fallback];
  const out: CompiledGroup[] = [];
  for (const [name, reg] of Object.entries(c.registry.groups)) {
    const v = reg.versions.find((x) => x.namespaces.includes(namespace));
    if (v !== undefined) out.push(await projects.group(name, v));
  }
  return out;
}

/** The result of {@link applyProject}. */
export interface ApplyResult {
  readonly plan: Plan;
  /** The registry version now registered (the old one when nothing changed). */
  readonly version: number;
  /** Groups with a new version to backfill before it serves. */
  readonly pending: readonly { group: string; version: number; namespace: string }[];
}

/**
 * Registers `project` as the next registry version, in one compare-and-set on the catalog
 * together with its source, against the version planned. A changed group gets a new version in a
 * namespace of its own, which serves only after its backfill and flip; an unchanged group keeps
 * its version. The first apply registers every group as version 1 in the namespace serving it now
 * (the state the running deployments built from these definitions).
 *
 * @throws RegistryError REGISTRY_REFUSED with the plan's problems (and, unless `force`, its
 *   forcible ones); REGISTRY_CONFLICT when another apply registered a version since `expected`.
 */
export async function applyProject(
  store: OnlineStore,
  prefix: string,
  project: Project,
  options: { models: readonly ModelReads[]; force?: boolean; now: number; projects: RegisteredProjects; expected?: number },
): Promise<ApplyResult> {
  const before = await readCatalog(store, prefix);
  const expected = options.expected ?? before.registry?.version ?? 0;
  const registered = before.registry === null ? null : { version: before.registry.version, project: await options.projects.project(before.registry.version) };
  if ((registered?.version ?? 0) !== expected) throw conflict(expected, before);
  const plan = planChanges(registered, project, options.models);
  const refusals = [...plan.problems, ...(options.force ? [] : plan.forcible)];
  if (refusals.length > 0) throw new RegistryError('REGISTRY_REFUSED', `nothing applied:\n${refusals.map((r) => `  - ${r}`).join('\n')}`);
  if (!plan.changed) return { plan, version: expected, pending: [] };
  const version = expected + 1;
  const pending: { group: string; version: number; namespace: string }[] = [];
  await updateCatalog(store, prefix, (c): CatalogEdit[] => {
    if ((c.registry?.version ?? 0) !== expected) throw conflict(expected, c);
    pending.length = 0;
    const groups: Record<string, RegisteredGroup> = {};
    for (const g of project.groups) {
      const reg = c.registry?.groups[g.name];
      const spec = groupSpecHash(g);
      const newest = reg?.versions[reg.versions.length - 1];
      if (newest !== undefined && newest.specHash === spec) {
        groups[g.name] = reg as RegisteredGroup;
        continue;
      }
      const v = (newest?.version ?? 0) + 1;
      const namespace = c.registry === null ? servingNamespace(c, g.name) : versionNamespace(g.name, v);
      const entry: GroupVersion = { version: v, registry: version, specHash: spec, namespaces: [namespace], appliedAt: options.now, backfill: null };
      groups[g.name] = { versions: [...(reg?.versions ?? []), entry] };
      if (c.registry !== null) pending.push({ group: g.name, version: v, namespace });
    }
    const head: RegistryHead = { version, appliedAt: options.now, project: project.name, hash: project.hash, groups };
    return [
      { field: 'registry', value: JSON.stringify(head) },
      { op: { op: 'hset', key: registryKey(prefix), field: `v${version}`, value: canonicalJson(project.source) } },
    ];
  });
  return { plan, version, pending };
}

function conflict(expected: number, c: Catalog): RegistryError {
  const head = c.registry;
  return new RegistryError(
    'REGISTRY_CONFLICT',
    head === null
      ? `the registry was expected at version ${expected} but holds nothing: run tessera plan again`
      : `another apply registered version ${head.version} (project ${head.project}, hash ${head.hash.slice(0, 12)}, at ${new Date(head.appliedAt).toISOString()}) after this one planned against version ${expected}: nothing applied; run tessera plan again to see the change against it`,
  );
}

/** The catalog's registered project, compiled; null while nothing is registered. */
export async function registeredProject(store: OnlineStore, prefix: string, projects: RegisteredProjects): Promise<{ catalog: Catalog; project: Project | null }> {
  const catalog = await readCatalog(store, prefix);
  return { catalog, project: catalog.registry === null ? null : await projects.project(catalog.registry.version) };
}


/** The catalog edit that rewrites one version of a registered group in the head. */
export function versionEdit(c: Catalog, name: string, version: number, change: (v: GroupVersion) => GroupVersion): CatalogEdit {
  const head = c.registry;
  const reg = head?.groups[name];
  if (head === null || reg === undefined) throw new RegistryError('REGISTRY_UNKNOWN', `group ${name} is not registered`);
  const next: RegistryHead = { ...head, groups: { ...head.groups, [name]: { versions: reg.versions.map((v) => (v.version === version ? change(v) : v)) } } };
  return { field: 'registry', value: JSON.stringify(next) };
}
