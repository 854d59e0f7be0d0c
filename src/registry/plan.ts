import { createHash } from 'node:crypto';
import { ConfigError, TesseraError } from '../errors.js';
import { createSchemaRegistry } from '../events/schema-registry.js';
import type { CompiledGroup } from '../features/definitions.js';
import { canonicalJson, type Project } from '../project/compile-project.js';

/**
 * What `tessera plan` shows and `tessera apply` registers: the difference between the project
 * folder and the registered version (docs/architecture.md, The registry). Pure: the caller reads
 * the registered project and the published models.
 */

/** The registry refused a change, or lost a race to another apply; the message says what to do. */
export class RegistryError extends TesseraError {
  constructor(code: 'REGISTRY_REFUSED' | 'REGISTRY_CONFLICT' | 'REGISTRY_UNKNOWN', message: string) {
    super(code, message);
  }
}

/** A group's identity for versioning: its definition as compiled (entity, aggregations, windows, derived). */
export function groupSpecHash(group: CompiledGroup): string {
  return createHash('sha256').update(canonicalJson(group.def)).digest('hex').slice(0, 16);
}

/** What a published model reads: its latest version's features (names), for the removal check. */
export interface ModelReads {
  readonly model: string;
  readonly version: string;
  /** Feature names the version reads; null when it cannot be told (trained before the registry on another spec). */
  readonly features: readonly string[] | null;
}

export interface FeatureChanges {
  readonly added: readonly string[];
  /** Same name, different computation (window, op, source, smoothing...): models reading it should be retrained. */
  readonly changed: readonly string[];
  readonly removed: readonly string[];
}

export interface GroupPlan {
  readonly group: string;
  readonly change: 'added' | 'changed' | 'removed' | 'unchanged';
  readonly features: FeatureChanges;
}

export interface SchemaPlan {
  readonly type: string;
  readonly change: 'added' | 'changed' | 'removed' | 'unchanged';
  /** Avro resolution failures, e.g. `old writer, new reader: ...`. */
  readonly problems: readonly string[];
}

export interface Plan {
  /** The registered version planned against (0: nothing registered). */
  readonly from: number;
  readonly groups: readonly GroupPlan[];
  readonly schemas: readonly SchemaPlan[];
  /** Labels, models or stream settings differ (registered with the next version, no backfill). */
  readonly otherChanges: readonly string[];
  /** Reasons the apply is refused (each with its fix). */
  readonly problems: readonly string[];
  /** Reasons that refuse unless forced (a published model reads a removed feature). */
  readonly forcible: readonly string[];
  /** Things to know that do not refuse (a model reads a changed feature). */
  readonly warnings: readonly string[];
  /** Whether anything differs from the registered version. */
  readonly changed: boolean;
}

/**
 * What a feature computes, independent of where it sits: its own window and hop, and its
 * aggregation's definition without the list of windows (adding a window to an aggregation adds
 * a feature, it does not change its siblings) and without positions (reordering changes nothing).
 */
function featureDescriptors(group: CompiledGroup | undefined): Map<string, string> {
  return new Map(
    (group?.features ?? []).map((f) => {
      if (f.kind === 'derived') {
        const { derived: _position, ...own } = f;
        return [f.name, canonicalJson(own)];
      }
      const { aggregation, ...own } = f;
      const { windowsMs: _windows, ...def } = (group as CompiledGroup).def.aggregations[aggregation] as unknown as Record<string, unknown>;
      return [f.name, canonicalJson({ ...own, def })];
    }),
  );
}

function diffFeatures(before: CompiledGroup | undefined, after: CompiledGroup | undefined): FeatureChanges {
  const a = featureDescriptors(before);
  const b = featureDescriptors(after);
  return {
    added: [...b.keys()].filter((n) => !a.has(n)),
    changed: [...b.keys()].filter((n) => a.has(n) && a.get(n) !== b.get(n)),
    removed: [...a.keys()].filter((n) => !b.has(n)),
  };
}

/**
 * Checks an event type's schema change with Avro's resolution rules in both directions: records
 * written with the old schema must be readable with the new one (the log keeps them forever and
 * replays read them), and records of the new schema by the old one (deployments that have not
 * been restarted yet still read with it).
 */
function schemaProblems(before: Project, after: Project, type: string): string[] {
  const problems: string[] = [];
  const attempt = (direction: string, reader: Project, writer: Project) => {
    try {
      createSchemaRegistry(reader.catalog).registerWriter(writer.catalog.spec(type).schema);
    } catch (err) {
      const message = err instanceof ConfigError ? err.message.replace(/^registered writer schema \S+ /, '') : (err as Error).message;
      problems.push(`${direction}: ${message}`);
    }
  };
  attempt('old writer, new reader', after, before);
  attempt('new writer, old reader', before, after);
  return problems;
}

/**
 * The plan of registering `next` over `registered` (null: nothing registered yet).
 *
 * Refused: an event type whose schema change fails Avro resolution either way; a group whose
 * entity changed (its keys would mean something else: declare a new group); an event type removed
 * while a group reads it. Refused unless forced: removing a feature (or group) that a published
 * model reads.
 */
export function planChanges(registered: { version: number; project: Project } | null, next: Project, models: readonly ModelReads[]): Plan {
  const before = registered?.project ?? null;
  const groups: GroupPlan[] = [];
  const problems: string[] = [];
  const forcible: string[] = [];
  const warnings: string[] = [];
  const oldGroups = new Map((before?.groups ?? []).map((g) => [g.name, g]));
  const newGroups = new Map(next.groups.map((g) => [g.name, g]));
  for (const g of next.groups) {
    const old = oldGroups.get(g.name);
    const features = diffFeatures(old, g);
    if (old === undefined) groups.push({ group: g.name, change: 'added', features });
    else if (groupSpecHash(old) === groupSpecHash(g)) groups.push({ group: g.name, change: 'unchanged', features });
    else {
      groups.push({ group: g.name, change: 'changed', features });
      if (canonicalJson(old.entity) !== canonicalJson(g.entity)) {
        problems.push(`group ${g.name}: its entity changed from ${canonicalJson(old.entity)} to ${canonicalJson(g.entity)}; stored keys would mean something else: declare a new group instead (and remove this one when nothing reads it)`);
      }
    }
  }
  for (const g of before?.groups ?? []) if (!newGroups.has(g.name)) groups.push({ group: g.name, change: 'removed', features: diffFeatures(g, undefined) });

  const removed = new Set(groups.flatMap((p) => p.features.removed));
  const changedFeatures = new Set(groups.flatMap((p) => p.features.changed));
  for (const m of models) {
    if (m.features === null) {
      if (removed.size > 0) warnings.push(`model ${m.model} ${m.version} was trained before the registry on other definitions: cannot tell whether it reads a removed feature`);
      continue;
    }
    const gone = m.features.filter((f) => removed.has(f));
    if (gone.length > 0) forcible.push(`model ${m.model} ${m.version} reads ${gone.join(', ')}, which this change removes: retrain it without them first, or pass --force`);
    const moved = m.features.filter((f) => changedFeatures.has(f));
    if (moved.length > 0) warnings.push(`model ${m.model} ${m.version} reads ${moved.join(', ')}, whose computation changes: retrain it on the new version once it serves`);
  }

  const schemas: SchemaPlan[] = [];
  for (const type of next.catalog.types) {
    if (before === null || !before.catalog.has(type)) {
      schemas.push({ type, change: 'added', problems: [] });
      continue;
    }
    const same = canonicalJson(before.catalog.spec(type).schema) === canonicalJson(next.catalog.spec(type).schema) && before.catalog.spec(type).partitionKey === next.catalog.spec(type).partitionKey;
    if (same) {
      schemas.push({ type, change: 'unchanged', problems: [] });
      continue;
    }
    const found = schemaProblems(before, next, type);
    if (before.catalog.spec(type).partitionKey !== next.catalog.spec(type).partitionKey) {
      found.push(`its key changed from ${before.catalog.spec(type).partitionKey} to ${next.catalog.spec(type).partitionKey}: the topic's partitions would no longer hold each entity's events in order; declare a new event type instead`);
    }
    schemas.push({ type, change: 'changed', problems: found });
    for (const p of found) problems.push(`event type ${type} (${next.catalog.spec(type).file}): ${p}`);
  }
  for (const type of before?.catalog.types ?? []) {
    if (next.catalog.has(type)) continue;
    schemas.push({ type, change: 'removed', problems: [] });
  }

  const otherChanges: string[] = [];
  if (before !== null) {
    if (canonicalJson(before.labels) !== canonicalJson(next.labels)) otherChanges.push('labels');
    if (canonicalJson(before.models) !== canonicalJson(next.models)) otherChanges.push('models');
    if (before.latenessMs !== next.latenessMs || before.dedupeHorizonMs !== next.dedupeHorizonMs) otherChanges.push('stream');
    if (before.name !== next.name) otherChanges.push('name');
  }
  const changed = before === null || before.hash !== next.hash;
  return { from: registered?.version ?? 0, groups, schemas, otherChanges, problems, forcible, warnings, changed };
}

/** The plan as text, one line per change, the way `tessera plan` prints it. */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [];
  lines.push(plan.from === 0 ? 'nothing registered yet: applying registers every group as version 1' : `against registered version ${plan.from}:`);
  for (const g of plan.groups) {
    if (g.change === 'unchanged' && plan.from !== 0) continue;
    const f = g.features;
    const parts = [f.added.length > 0 ? `+ ${f.added.join(', ')}` : '', f.changed.length > 0 ? `~ ${f.changed.join(', ')}` : '', f.removed.length > 0 ? `- ${f.removed.join(', ')}` : ''].filter((p) => p !== '');
    const what = plan.from === 0 ? 'registered' : g.change === 'changed' ? 'changed: a new version, backfilled before it serves' : g.change === 'added' ? 'added: backfilled before it serves' : 'removed';
    lines.push(`  group ${g.group}: ${what}${parts.length > 0 && plan.from !== 0 ? ` (${parts.join('; ')})` : ''}`);
  }
  for (const s of plan.schemas) {
    if (s.change === 'unchanged' || plan.from === 0) continue;
    lines.push(`  event type ${s.type}: ${s.change}${s.change === 'changed' ? (s.problems.length === 0 ? ' (compatible both ways)' : ' (INCOMPATIBLE)') : ''}`);
  }
  for (const o of plan.otherChanges) lines.push(`  ${o}: changed`);
  if (!plan.changed) lines.push('  no changes');
  for (const p of plan.problems) lines.push(`refused: ${p}`);
  for (const p of plan.forcible) lines.push(`refused unless --force: ${p}`);
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n') + '\n';
}
