import type { Command, CommandContext } from '../command.js';
import { offlineFeatures } from '../../batch/offline-features.js';
import { stringOption } from '../command.js';
import { UsageError } from '../../errors.js';
import { parseInstant, formatInstant } from '../../events/time.js';
import { FeatureReader, type EntityFeatures, type QueryTime } from '../../serving/feature-reader.js';
import { createStreamKeys, DEFAULT_NAMESPACE } from '../../streaming/stream-keys.js';
import { projectDir, withRuntime } from '../with-runtime.js';
import { loadProject } from '../../project/load-project.js';
import type { Project } from '../../project/compile-project.js';
import type { CompiledFeature, CompiledGroup } from '../../features/definitions.js';
import { formatWindow } from '../../features/windows.js';
import { pendingVersion, servingVersion } from '../../registry/registry.js';
import { readCatalog, servingNamespace } from '../../streaming/online-catalog.js';
import type { Runtime } from '../runtime.js';
import { publishedModelReads } from './registry.js';

/** `user:u1` -> { group: 'user', key: 'u1' }; `user_category:u1:c3` -> key `u1:c3`. */
export function parseEntityRef(text: string): { group: string; key: string } {
  const i = text.indexOf(':');
  if (i <= 0 || i === text.length - 1) throw new UsageError(`"${text}" is not <group>:<key> (e.g. user:u42, item:i7, user_category:u42:c3)`);
  return { group: text.slice(0, i), key: text.slice(i + 1) };
}

/** `--at`: ISO-8601 with zone, epoch ms, `now` or `watermark`. */
export function parseQueryTime(text: string | undefined): QueryTime {
  if (text === undefined || text === 'now') return 'now';
  if (text === 'watermark') return 'watermark';
  try {
    return parseInstant(/^-?\d+$/.test(text) ? Number(text) : text);
  } catch (err) {
    throw new UsageError(`--at "${text}": ${(err as Error).message}; use ISO-8601 with a zone, epoch ms, now or watermark`);
  }
}

export const featuresCommand: Command = {
  name: 'features',
  summary: "List the project's features, describe one, or print an entity's feature values at a query time (the serving read path).",
  usage: 'tessera features list [--json] | describe <feature> [--json] | get <group>:<key> [--at <ISO time>|<epoch ms>|now|watermark] [--offline] [--json]',
  details: `list: every group of the project (its entity and key fields) and its features; describe: one
feature's group, entity, source event type, op, field, window and hop (or, for a derived feature,
its inputs and prior). With TESSERA_REDIS_URL both show the registered definitions with each
group's serving version (and one waiting for its backfill), the namespace serving it and its
freshness (the latest event time its stream deployment applied), and per feature the published
models that read it; without it they read the project folder.
get: a group's entity is named <group>:<key>, the key being its key fields' values joined with ':'
(the reference project: user:<userId>, item:<itemId>, user_category:<userId>:<categoryId>). --at watermark reads just after the latest event time the
stream has applied, which is "now" for a replay of history. For a time before the entity's latest
applied event the online state answers only where its tiles allow an exact answer, and otherwise
refuses with the reason. Unknown entities get the cold-start defaults. Each group is read from the
version the catalog names (after a rebuild) merged with its batch view (after \`tessera batch
features\`). Needs TESSERA_REDIS_URL. --offline answers from the batch layer instead (the raw tables in
chDB or TESSERA_CLICKHOUSE_URL), exactly for any past --at, late events included.`,
  options: {
    at: { type: 'string', description: 'Query time', defaultText: 'now' },
    json: { type: 'boolean', description: 'Print JSON' },
    namespace: { type: 'string', description: "Read exactly this namespace (version), ignoring the catalog's aliases and batch views", defaultText: 'the catalog' },
    'lateness-ms': { type: 'string', description: "The stream's allowed lateness, ms", defaultText: "the project's stream.lateness" },
    offline: { type: 'boolean', description: 'Answer from the batch layer (ClickHouse raw tables): exact for any past --at' },
  },
  allowPositionals: true,
  async run(ctx) {
    const [action, target] = ctx.positionals;
    if (action === 'list' || action === 'describe') {
      const show = (project: Project, status: RegistryStatus | null) => (action === 'list' ? listFeatures(ctx, project, status) : describeFeature(ctx, project, target, status));
      if (!ctx.config().redisUrl) return show(await loadProject(projectDir(ctx.config())), null);
      return withRuntime(ctx, {}, async (rt) => show(rt.project, await registryStatus(rt)));
    }
    if (action !== 'get' || !target) throw new UsageError('usage: tessera features list | describe <feature> | get <group>:<key> (see tessera features --help)');
    const ref = parseEntityRef(target);
    const at = parseQueryTime(stringOption(ctx, 'at'));
    return withRuntime(ctx, {}, async (rt) => {
      if (ctx.values.offline === true) {
        if (typeof at !== 'number') throw new UsageError('--offline needs an explicit --at <ISO time> (the batch layer has no "now" of its own)');
        const serving = await rt.servingGroups();
        const group = serving.find((g) => g.name === ref.group);
        if (!group) throw new UsageError(`unknown (or not yet served) feature group "${ref.group}" (served: ${serving.map((g) => g.name).join(', ')})`);
        const answer = await offlineFeatures(await rt.offline(), group, ref.key, at);
        const e = { group: group.name, key: ref.key, values: answer.values, known: answer.latestEventTime !== null, latestEventTime: answer.latestEventTime, ageMs: answer.latestEventTime === null ? null : at - answer.latestEventTime };
        return print(ctx, at, e, 'batch layer');
      }
      if (!rt.config.redisUrl) throw new UsageError('features get reads the online store: set TESSERA_REDIS_URL (the in-process store lives only inside `tessera demo`)');
      const lateness = Number(stringOption(ctx, 'lateness-ms') ?? rt.project.latenessMs);
      const pinned = stringOption(ctx, 'namespace');
      const reader = new FeatureReader({
        store: rt.online(),
        keys: createStreamKeys(rt.config.topicPrefix, pinned ?? DEFAULT_NAMESPACE),
        pinNamespace: pinned !== undefined,
        // a pinned namespace is read with the definitions of the versions it holds
        groups: pinned !== undefined ? await rt.groupsInNamespace(pinned) : rt.project.groups,
        ...(rt.definitions && pinned === undefined ? { definitions: rt.definitions } : {}),
        clock: rt.clock,
        latenessMs: lateness,
      });
      const { q, entities } = await reader.read([ref], at);
      return print(ctx, q, entities[0]!, 'online');
    });
  },
};

function print(ctx: CommandContext, q: number, e: EntityFeatures, source: 'online' | 'batch layer'): number {
  if (ctx.values.json) {
    ctx.stdout.write(JSON.stringify({ q: formatInstant(q), source, ...e, latestEventTime: e.latestEventTime === null ? null : formatInstant(e.latestEventTime) }, null, 2) + '\n');
    return 0;
  }
  ctx.stdout.write(`${e.group}:${e.key} at ${formatInstant(q)} (${source})${e.known ? `, latest event ${formatInstant(e.latestEventTime as number)}` : ' (unknown: cold-start defaults)'}\n`);
  for (const [name, value] of Object.entries(e.values)) ctx.stdout.write(`  ${name.padEnd(34)} ${JSON.stringify(value)}\n`);
  return 0;
}

/** What one feature computes, as plain data (`features describe --json`, one row of `features list --json`). */
function featureInfo(group: CompiledGroup, f: CompiledFeature): Record<string, unknown> {
  const base = { name: f.name, group: group.name, entity: group.def.entity.name, keyFields: group.def.entity.keyFields };
  if (f.kind === 'derived') {
    return { ...base, op: f.op, window: formatWindow(f.windowMs), hop: formatWindow(f.hopMs), numerator: f.numerator, denominator: f.denominator, alpha: f.alpha, beta: f.beta };
  }
  const agg = group.def.aggregations[f.aggregation];
  return {
    ...base,
    op: f.op,
    source: agg?.source,
    ...(agg?.field === undefined ? {} : { field: agg.field }),
    ...(agg?.k === undefined ? {} : { k: agg.k }),
    ...(agg?.halfLifeMs === undefined ? {} : { halfLife: formatWindow(agg.halfLifeMs) }),
    window: f.windowMs === null ? 'lifetime' : formatWindow(f.windowMs),
    ...(f.hopMs === null ? {} : { hop: formatWindow(f.hopMs) }),
  };
}

/** Per group: its registered versions and freshness; per feature: the published models reading it. */
export interface RegistryStatus {
  readonly registry: number | null;
  readonly groups: ReadonlyMap<string, { serving: number | null; pending: number | null; namespace: string; latestEventTime: number | null; ageMs: number | null }>;
  readonly readers: ReadonlyMap<string, readonly string[]>;
}

/** The registry's view of the project's groups (versions, freshness of the namespace serving each) and which published models read each feature. */
export async function registryStatus(rt: Runtime): Promise<RegistryStatus> {
  const store = rt.online();
  const catalog = await readCatalog(store, rt.config.topicPrefix);
  const now = rt.clock();
  const groups = new Map<string, { serving: number | null; pending: number | null; namespace: string; latestEventTime: number | null; ageMs: number | null }>();
  for (const g of rt.project.groups) {
    const namespace = servingNamespace(catalog, g.name);
    const [wm] = await store.read([{ kind: 'hgetall', key: createStreamKeys(rt.config.topicPrefix, namespace).watermarks() }]);
    const marks = wm?.kind === 'hgetall' ? Object.values(wm.value).map(Number).filter(Number.isFinite) : [];
    const latest = marks.length > 0 ? Math.max(...marks) : null;
    groups.set(g.name, { serving: servingVersion(catalog, g.name)?.version ?? null, pending: pendingVersion(catalog, g.name)?.version ?? null, namespace, latestEventTime: latest, ageMs: latest === null ? null : now - latest });
  }
  const readers = new Map<string, string[]>();
  for (const m of await publishedModelReads(rt)) for (const f of m.features ?? []) readers.set(f, [...(readers.get(f) ?? []), `${m.model}@${m.version}`]);
  return { registry: catalog.registry?.version ?? null, groups, readers };
}

function statusInfo(status: RegistryStatus | null, group: string, feature?: string): Record<string, unknown> {
  if (status === null) return {};
  const s = status.groups.get(group);
  return {
    version: s?.serving ?? null,
    ...(s?.pending != null ? { pendingVersion: s.pending } : {}),
    namespace: s?.namespace ?? null,
    latestEventTime: s?.latestEventTime == null ? null : formatInstant(s.latestEventTime),
    ageMs: s?.ageMs ?? null,
    ...(feature !== undefined ? { readBy: status.readers.get(feature) ?? [] } : {}),
  };
}

function listFeatures(ctx: CommandContext, project: Project, status: RegistryStatus | null): number {
  if (ctx.values.json) {
    ctx.stdout.write(
      JSON.stringify(
        {
          project: project.name,
          hash: project.hash,
          registry: status?.registry ?? null,
          groups: project.groups.map((g) => ({ group: g.name, ...statusInfo(status, g.name) })),
          features: project.groups.flatMap((g) => g.features.map((f) => ({ ...featureInfo(g, f), ...(status ? { readBy: status.readers.get(f.name) ?? [] } : {}) }))),
        },
        null,
        2,
      ) + '\n',
    );
    return 0;
  }
  const where = status === null ? 'the project folder (not registered: no TESSERA_REDIS_URL)' : status.registry === null ? 'the project folder (nothing registered yet: tessera apply)' : `registry version ${status.registry}`;
  ctx.stdout.write(`project ${project.name} (${project.groups.reduce((n, g) => n + g.features.length, 0)} features in ${project.groups.length} groups), from ${where}\n`);
  for (const g of project.groups) {
    const s = status?.groups.get(g.name);
    const version = s === undefined ? '' : `, ${s.serving === null ? (status?.registry === null ? 'unregistered' : 'not served yet') : `v${s.serving}`}${s.pending === null ? '' : ` (v${s.pending} waiting for its backfill)`} in ${s.namespace}, ${s.latestEventTime === null ? 'no event applied' : `latest event ${formatInstant(s.latestEventTime)} (${Math.round((s.ageMs ?? 0) / 1000)} s ago)`}`;
    ctx.stdout.write(`\n${g.name}: entity ${g.def.entity.name} (${g.def.entity.keyFields.join(', ')})${version}\n`);
    for (const f of g.features) {
      const i = featureInfo(g, f);
      const what = f.kind === 'derived' ? `(${String(i.numerator)} + ${String(i.alpha)}) / (${String(i.denominator)} + ${String(i.beta)})` : `${String(i.op)} of ${String(i.source)}${i.field === undefined ? '' : `.${String(i.field)}`}, ${String(i.window)}`;
      const readBy = status?.readers.get(f.name);
      ctx.stdout.write(`  ${f.name.padEnd(40)} ${what}${readBy ? `; read by ${readBy.join(', ')}` : ''}\n`);
    }
  }
  return 0;
}

function describeFeature(ctx: CommandContext, project: Project, name: string | undefined, status: RegistryStatus | null): number {
  if (name === undefined) throw new UsageError('usage: tessera features describe <feature name> (tessera features list shows them)');
  for (const g of project.groups) {
    const f = g.features.find((x) => x.name === name);
    if (f === undefined) continue;
    const info = { ...featureInfo(g, f), ...statusInfo(status, g.name, f.name) };
    if (ctx.values.json) ctx.stdout.write(JSON.stringify(info, null, 2) + '\n');
    else for (const [k, v] of Object.entries(info)) ctx.stdout.write(`${k.padEnd(12)} ${Array.isArray(v) ? v.join(', ') : String(v)}\n`);
    return 0;
  }
  const all = project.groups.flatMap((g) => g.features.map((f) => f.name));
  const near = all.filter((n) => n.includes(name) || name.includes(n)).slice(0, 5);
  throw new UsageError(`the project has no feature ${name}${near.length > 0 ? `; did you mean ${near.join(', ')}?` : ''} (tessera features list shows them)`);
}
