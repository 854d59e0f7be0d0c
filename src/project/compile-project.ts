import { createHash } from 'node:crypto';
import { TesseraError } from '../errors.js';
import { createEventCatalog, type EventCatalog, type EventTypeInput, type SharedSchemaInput } from '../events/event-catalog.js';
import type { FieldKind } from '../events/event-fields.js';
import { compileGroup, type AggregationDef, type CompiledGroup, type DerivedDef, type FeatureGroupDef } from '../features/definitions.js';
import { FeatureDefinitionError } from '../features/feature-errors.js';
import { labelRule, type LabelRule } from '../samples/labels.js';
import type { ModelDefinition } from './definition.js';

/**
 * From a project as written (a {@link ProjectSource}: the definition object and the text of the
 * schema files it names) to the compiled {@link Project} every command runs on. Pure: no file
 * access, so the registry can recompile a stored version exactly as it was applied.
 *
 * Every problem is collected and reported at once by {@link ProjectError}, each with the file,
 * the path of the offending field and the fix; nothing is compiled from a project with a problem.
 */

/** A project as written: its definition (parsed JSON or the TS module's default export) and its schema files' text. */
export interface ProjectSource {
  /** The definition file's name relative to the project folder (`tessera.project.ts` or `.json`), for messages. */
  readonly file: string;
  /** The definition as written: untrusted until compiled. */
  readonly definition: unknown;
  /** Schema files by their path relative to the project folder: parsed JSON or text. */
  readonly schemas: Readonly<Record<string, unknown>>;
  /** Tessera's shared records (the `Context` record) the schemas may reference. */
  readonly shared: readonly SharedSchemaInput[];
}

/** A model's inputs, checked. */
export interface CompiledModel {
  readonly name: string;
  readonly kind: ModelDefinition['kind'];
  readonly label: 'click' | 'conversion';
  readonly crosses: readonly (readonly ['user' | 'item' | 'category', 'user' | 'item' | 'category'])[];
  readonly config: Readonly<Record<string, unknown>>;
}

/** A compiled project: what every command takes its definitions from. */
export interface Project {
  readonly name: string;
  /** The source it was compiled from (stored as is by the registry). */
  readonly source: ProjectSource;
  readonly catalog: EventCatalog;
  /** Every feature group, compiled against the catalog, in declaration order. */
  readonly groups: readonly CompiledGroup[];
  /** The label roles and windows. */
  readonly labels: LabelRule;
  readonly models: Readonly<Record<string, CompiledModel>>;
  readonly latenessMs: number;
  readonly dedupeHorizonMs: number;
  /** SHA-256 of the canonical source (definition and schemas): equal hashes, equal projects. */
  readonly hash: string;
}

/** One problem of a project. */
export interface ProjectProblem {
  readonly file: string;
  /** The path of the offending part, e.g. `groups[1].aggregations[0].field`; empty for the whole file. */
  readonly path: string;
  /** What is wrong and how to fix it. */
  readonly message: string;
}

/** A project cannot be loaded; `problems` lists each problem with its file, path and fix. Never retriable. */
export class ProjectError extends TesseraError {
  readonly problems: readonly ProjectProblem[];

  constructor(problems: readonly ProjectProblem[]) {
    const lines = problems.map((p) => `${p.file}${p.path === '' ? '' : `: ${p.path}`}: ${p.message}`);
    super('PROJECT_INVALID', lines.length === 1 ? `feature project: ${lines[0] ?? ''}` : `feature project has ${lines.length} problems:\n${lines.map((l) => `  - ${l}`).join('\n')}`);
    this.problems = problems;
  }
}

const NAME_RE = /^[a-z][a-z0-9_]*$/;
const DURATION_RE = /^(\d+)(ms|s|m|h|d|w)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PROJECT_KEYS = ['name', 'events', 'entities', 'groups', 'labels', 'models', 'stream'];
const GROUP_KEYS = ['name', 'entity', 'aggregations', 'derived'];
const AGG_KEYS = ['source', 'op', 'field', 'windows', 'k', 'halfLife'];
const DERIVED_KEYS = ['op', 'label', 'numerator', 'denominator', 'alpha', 'beta', 'windows'];
const MODEL_KEYS = ['kind', 'label', 'crosses', 'config'];
const MODEL_KINDS = ['lr', 'fm', 'wide-deep'];
const CROSS_BASES = ['user', 'item', 'category'];
/** Fields each label role's event type must carry, with the kinds accepted. */
const ROLE_FIELDS: Readonly<Record<'exposure' | 'click' | 'conversion', Readonly<Record<string, readonly FieldKind[]>>>> = {
  exposure: {
    requestId: ['id'],
    userId: ['id'],
    itemId: ['id'],
    categoryId: ['nullableString', 'string', 'nullableId', 'id'],
    position: ['int'],
    context: ['context'],
  },
  click: { requestId: ['id'], itemId: ['id'] },
  conversion: { userId: ['id'], itemId: ['id'] },
};

/**
 * Parses a duration: `"<n><unit>"` (ms, s, m, h, d = 24 h, w = 7 d) or a whole number of ms.
 *
 * @returns the ms, or a message saying what to write.
 */
export function parseDuration(value: unknown): number | { problem: string } {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value > 0 ? value : { problem: `${String(value)} is not a positive whole number of ms` };
  }
  if (typeof value === 'string') {
    const m = DURATION_RE.exec(value.trim());
    if (m !== null) {
      const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
      if (ms > 0 && Number.isSafeInteger(ms)) return ms;
    }
  }
  return { problem: `${JSON.stringify(value) ?? String(value)} is not a duration; write e.g. "30s", "10m", "1h", "7d", "2w" or a whole number of ms` };
}

/**
 * Compiles a project source.
 *
 * @throws ProjectError listing every problem.
 */
export function compileProject(source: ProjectSource): Project {
  const problems: ProjectProblem[] = [];
  const file = source.file;
  const add = (path: string, message: string, at: string = file): void => {
    problems.push({ file: at, path, message });
  };
  const def = source.definition;
  if (!isObject(def)) {
    add('', `the project must be an object { name, events, entities, groups, labels, models?, stream? }${def === undefined ? ' (a TypeScript project exports it as its default export)' : ''}`);
    throw new ProjectError(problems);
  }
  unknownKeys(def, PROJECT_KEYS, '', add);
  if (typeof def.name !== 'string' || !NAME_RE.test(def.name)) add('name', `${show(def.name)} must be snake_case (lower-case letters, digits and _, starting with a letter), e.g. "shop"`);

  // --- events
  const catalog = compileEvents(def.events, source, add);

  // --- entities
  const entities = new Map<string, readonly string[]>();
  if (!isObject(def.entities) || Object.keys(def.entities).length === 0) {
    add('entities', 'must name at least one entity by its key fields, e.g. { user: ["userId"], item: ["itemId"] }');
  } else {
    for (const [name, keys] of Object.entries(def.entities)) {
      const where = `entities.${name}`;
      if (!NAME_RE.test(name)) add(where, 'entity names are snake_case, e.g. user_category');
      else if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && k !== '')) add(where, `must be a non-empty list of event field names, e.g. ["userId", "categoryId"]; got ${show(keys)}`);
      else if (new Set(keys).size !== keys.length) add(where, `${show(keys)} repeats a field; list each once`);
      else entities.set(name, keys as string[]);
    }
  }

  // --- groups
  const groups: CompiledGroup[] = [];
  const featureOwner = new Map<string, string>();
  if (!Array.isArray(def.groups) || def.groups.length === 0) {
    add('groups', 'must list at least one feature group { name, entity, aggregations }');
  } else {
    const names = new Map<string, number>();
    def.groups.forEach((g: unknown, i: number) => {
      const where = `groups[${i}]`;
      if (!isObject(g)) {
        add(where, 'must be an object { name, entity, aggregations, derived? }');
        return;
      }
      const label = typeof g.name === 'string' ? `${where} (${g.name})` : where;
      unknownKeys(g, GROUP_KEYS, label, add);
      if (typeof g.name === 'string') {
        const first = names.get(g.name);
        if (first !== undefined) add(`${label}.name`, `groups[${first}] is already named ${g.name}; give each group its own name`);
        names.set(g.name, i);
      }
      const keys = typeof g.entity === 'string' ? entities.get(g.entity) : undefined;
      if (keys === undefined) {
        add(`${label}.entity`, `${show(g.entity)} is not an entity of the project; declare it under entities or use one of ${[...entities.keys()].join(', ') || '(none)'}`);
        return;
      }
      const converted = toGroupDef(g, { name: g.entity as string, keyFields: keys }, label, add);
      if (converted === null || catalog === null) return;
      try {
        const compiled = compileGroup(converted, catalog.kinds);
        for (const f of compiled.features) {
          const owner = featureOwner.get(f.name);
          if (owner !== undefined) add(`${label}`, `feature ${f.name} is also produced by ${owner}; feature names must be unique across the project (rename a group or its entity)`);
          else featureOwner.set(f.name, label);
        }
        groups.push(compiled);
      } catch (err) {
        if (!(err instanceof FeatureDefinitionError)) throw err;
        for (const p of err.problems) add(label, inProjectTerms(p));
      }
    });
  }

  // --- labels
  const labels = compileLabels(def.labels, catalog, add);

  // every group's key must be readable from an exposure: its samples' features and a ranking
  // request's entities are keyed by the exposure's fields (docs/architecture.md, "Labels")
  if (labels !== null && catalog !== null) {
    for (const g of groups) {
      const missing = g.def.entity.keyFields.filter((k) => catalog.fieldKind(labels.exposure, k) === undefined);
      if (missing.length > 0) {
        add(
          `groups (${g.name})`,
          `its entity ${g.def.entity.name} is keyed by ${missing.join(', ')}, which ${labels.exposure} events (the exposure) do not carry, so no sample and no ranking request could have its features; add ${missing.length === 1 ? 'the field' : 'the fields'} to ${catalog.spec(labels.exposure).file} or key the entity by fields the exposure has`,
        );
      }
    }
  }

  // --- models
  const models: Record<string, CompiledModel> = {};
  if (def.models !== undefined) {
    if (!isObject(def.models)) add('models', 'must be an object of named model inputs, e.g. { ranker: { kind: "fm" } }');
    else {
      for (const [name, m] of Object.entries(def.models)) {
        const compiled = compileModel(name, m, add);
        if (compiled !== null) models[name] = compiled;
      }
    }
  }

  // --- stream
  let latenessMs = 10 * 60_000;
  let dedupeHorizonMs = 24 * 3_600_000;
  if (def.stream !== undefined) {
    if (!isObject(def.stream)) add('stream', 'must be an object { lateness?, dedupeHorizon? }');
    else {
      unknownKeys(def.stream, ['lateness', 'dedupeHorizon'], 'stream', add);
      if (def.stream.lateness !== undefined) {
        const ms = parseDuration(def.stream.lateness);
        if (typeof ms === 'number') latenessMs = ms;
        else add('stream.lateness', ms.problem);
      }
      if (def.stream.dedupeHorizon !== undefined) {
        const ms = parseDuration(def.stream.dedupeHorizon);
        if (typeof ms === 'number') dedupeHorizonMs = ms;
        else add('stream.dedupeHorizon', ms.problem);
      }
      if (dedupeHorizonMs < latenessMs) add('stream.dedupeHorizon', `must be at least the lateness (${latenessMs} ms): a late event's duplicate must still be recognised`);
    }
  }

  if (problems.length > 0 || catalog === null || labels === null) {
    if (problems.length === 0) add('', 'the project could not be compiled');
    throw new ProjectError(problems);
  }
  return {
    name: def.name as string,
    source,
    catalog,
    groups,
    labels,
    models,
    latenessMs,
    dedupeHorizonMs,
    hash: projectHash(source),
  };
}

/** SHA-256 of a source's canonical JSON (keys sorted; the file name excluded, so renaming .ts to .json keeps the hash). */
export function projectHash(source: ProjectSource): string {
  return createHash('sha256')
    .update(canonicalJson({ definition: source.definition, schemas: source.schemas }))
    .digest('hex');
}

/** JSON with object keys sorted at every level: one text per value. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

type Add = (path: string, message: string, file?: string) => void;

function compileEvents(raw: unknown, source: ProjectSource, add: Add): EventCatalog | null {
  if (!isObject(raw) || Object.keys(raw).length === 0) {
    add('events', 'must declare at least one event type, e.g. { click: { schema: "events/Click.avsc", key: "userId" } }');
    return null;
  }
  const inputs: EventTypeInput[] = [];
  let ok = true;
  for (const [name, e] of Object.entries(raw)) {
    const where = `events.${name}`;
    if (!isObject(e)) {
      add(where, 'must be { schema: "<path of the .avsc file>", key: "<partition key field>" }');
      ok = false;
      continue;
    }
    unknownKeys(e, ['schema', 'key'], where, add);
    if (typeof e.schema !== 'string') {
      add(`${where}.schema`, 'must be the path of the event\'s .avsc file relative to the project folder, e.g. "events/Click.avsc"');
      ok = false;
      continue;
    }
    if (typeof e.key !== 'string') {
      add(`${where}.key`, 'must name the field the topic is partitioned by, e.g. "userId"');
      ok = false;
      continue;
    }
    const text = source.schemas[e.schema];
    if (text === undefined) {
      add(`${where}.schema`, `${e.schema} does not exist in the project folder; create it or fix the path`);
      ok = false;
      continue;
    }
    let schema: unknown = text;
    if (typeof text === 'string') {
      try {
        schema = JSON.parse(text);
      } catch (err) {
        add('', `not valid JSON: ${err instanceof Error ? err.message : String(err)}`, e.schema);
        ok = false;
        continue;
      }
    }
    if (!isObject(schema)) {
      add('', 'an event schema is a JSON object {"type": "record", ...}', e.schema);
      ok = false;
      continue;
    }
    inputs.push({ name, schema, partitionKey: e.key, file: e.schema });
  }
  if (!ok) return null;
  try {
    return createEventCatalog(inputs, source.shared);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // The catalog reports `file: problem` lines; keep them as problems of those files.
    const lines = message.includes('\n') ? message.split('\n').slice(1).map((l) => l.replace(/^\s+- /, '')) : [message];
    for (const line of lines) {
      const at = inputs.find((i) => line.startsWith(`${i.file}: `));
      if (at === undefined) add('events', line);
      else add('', line.slice(at.file.length + 2), at.file);
    }
    return null;
  }
}

function toGroupDef(g: Record<string, unknown>, entity: { name: string; keyFields: readonly string[] }, label: string, add: Add): FeatureGroupDef | null {
  let ok = true;
  const windows = (raw: unknown, where: string): number[] | undefined => {
    if (raw === undefined) return undefined;
    if (!Array.isArray(raw)) {
      add(where, `must be a list of durations, e.g. ["1h", "7d"]; got ${show(raw)}`);
      ok = false;
      return undefined;
    }
    return raw.map((w: unknown, j: number) => {
      const ms = parseDuration(w);
      if (typeof ms === 'number') return ms;
      add(`${where}[${j}]`, ms.problem);
      ok = false;
      return 0;
    });
  };
  if (!Array.isArray(g.aggregations)) {
    add(`${label}.aggregations`, 'must be a non-empty list, e.g. [count("click", ["1h", "1d"])]');
    return null;
  }
  const aggregations = g.aggregations.map((a: unknown, i: number): AggregationDef => {
    const where = `${label}.aggregations[${i}]`;
    if (!isObject(a)) {
      add(where, 'must be an object { source, op, field?, windows?, k?, halfLife? }');
      ok = false;
      return a as AggregationDef;
    }
    unknownKeys(a, AGG_KEYS, where, add, { windowsMs: 'windows', halfLifeMs: 'halfLife', window: 'windows' });
    const { windows: w, halfLife, ...rest } = a;
    const out: Record<string, unknown> = { ...rest };
    const ws = windows(w, `${where}.windows`);
    if (ws !== undefined) out.windowsMs = ws;
    if (halfLife !== undefined) {
      const ms = parseDuration(halfLife);
      if (typeof ms === 'number') out.halfLifeMs = ms;
      else {
        add(`${where}.halfLife`, ms.problem);
        ok = false;
      }
    }
    return out as unknown as AggregationDef;
  });
  let derived: DerivedDef[] | undefined;
  if (g.derived !== undefined) {
    if (!Array.isArray(g.derived)) {
      add(`${label}.derived`, 'must be a list of smoothed_ratio features or left out');
      return null;
    }
    derived = g.derived.map((d: unknown, j: number): DerivedDef => {
      const where = `${label}.derived[${j}]`;
      if (!isObject(d)) return d as DerivedDef;
      unknownKeys(d, DERIVED_KEYS, where, add, { windowsMs: 'windows' });
      const { windows: w, ...rest } = d;
      const ws = windows(w, `${where}.windows`);
      return (ws === undefined ? rest : { ...rest, windowsMs: ws }) as unknown as DerivedDef;
    });
  }
  if (!ok) return null;
  const def: FeatureGroupDef = { name: g.name as string, entity, aggregations, ...(derived === undefined ? {} : { derived }) };
  return def;
}

function compileLabels(raw: unknown, catalog: EventCatalog | null, add: Add): LabelRule | null {
  const example = '{ exposure: "impression", click: { source: "click", window: "30m" }, conversion: { source: "order", window: "24h" } }';
  if (!isObject(raw)) {
    add('labels', `must name the label roles, e.g. ${example}`);
    return null;
  }
  unknownKeys(raw, ['exposure', 'click', 'conversion'], 'labels', add);
  let ok = true;
  const role = (name: 'exposure' | 'click' | 'conversion', type: unknown, where: string): string | null => {
    if (typeof type !== 'string' || (catalog !== null && !catalog.has(type))) {
      add(where, `${show(type)} is not an event type of the project${catalog === null ? '' : `; use one of ${catalog.types.join(', ')}`}`);
      ok = false;
      return null;
    }
    if (catalog === null) return type;
    for (const [field, kinds] of Object.entries(ROLE_FIELDS[name])) {
      const kind = catalog.fieldKind(type, field);
      if (kind === undefined || !kinds.includes(kind)) {
        add(where, `the ${name} role reads ${field} (${kinds.join(' or ')}), which ${type} events ${kind === undefined ? 'do not have' : `have as ${kind}`}; add it to ${catalog.spec(type).file} or pick another event type`);
        ok = false;
      }
    }
    return type;
  };
  const exposure = role('exposure', raw.exposure, 'labels.exposure');
  const windowed = (name: 'click' | 'conversion'): { source: string | null; ms: number } => {
    const r = raw[name];
    const where = `labels.${name}`;
    if (!isObject(r)) {
      add(where, `must be { source: "<event type>", window: "<duration>" }, e.g. ${name === 'click' ? '{ source: "click", window: "30m" }' : '{ source: "order", window: "24h" }'}`);
      ok = false;
      return { source: null, ms: 0 };
    }
    unknownKeys(r, ['source', 'window'], where, add);
    const source = role(name, r.source, `${where}.source`);
    const ms = parseDuration(r.window);
    if (typeof ms !== 'number') {
      add(`${where}.window`, ms.problem);
      ok = false;
      return { source, ms: 0 };
    }
    return { source, ms };
  };
  const click = windowed('click');
  const conversion = windowed('conversion');
  if (!ok || exposure === null || click.source === null || conversion.source === null) return null;
  return labelRule({ exposure, click: click.source, conversion: conversion.source, clickWindowMs: click.ms, orderWindowMs: conversion.ms });
}

function compileModel(name: string, raw: unknown, add: Add): CompiledModel | null {
  const where = `models.${name}`;
  if (!NAME_RE.test(name)) {
    add(where, 'model input names are snake_case, e.g. ranker');
    return null;
  }
  if (!isObject(raw)) {
    add(where, 'must be { kind: "lr" | "fm" | "wide-deep", label?, crosses?, config? }');
    return null;
  }
  unknownKeys(raw, MODEL_KEYS, where, add);
  let ok = true;
  if (typeof raw.kind !== 'string' || !MODEL_KINDS.includes(raw.kind)) {
    add(`${where}.kind`, `${show(raw.kind)} is not a model kind; use one of ${MODEL_KINDS.join(', ')}`);
    ok = false;
  }
  const label = raw.label ?? 'click';
  if (label !== 'click' && label !== 'conversion') {
    add(`${where}.label`, `${show(label)} is not a label; use "click" or "conversion"`);
    ok = false;
  }
  const crosses = raw.crosses ?? [];
  if (!Array.isArray(crosses) || !crosses.every((c: unknown) => Array.isArray(c) && c.length === 2 && c.every((x) => CROSS_BASES.includes(x as string)) && c[0] !== c[1])) {
    add(`${where}.crosses`, `must be a list of pairs of two different fields of user, item, category, e.g. [["user", "item"]]; got ${show(crosses)}`);
    ok = false;
  }
  const config = raw.config ?? {};
  if (!isObject(config)) {
    add(`${where}.config`, 'must be an object of model options (README, "Model options")');
    ok = false;
  }
  if (!ok) return null;
  return {
    name,
    kind: raw.kind as CompiledModel['kind'],
    label: label as 'click' | 'conversion',
    crosses: crosses as CompiledModel['crosses'],
    config: config as Record<string, unknown>,
  };
}

/**
 * A group definition's problem in the words of the project format: `windows` and `halfLife`
 * written as durations rather than the compiled form's `windowsMs` / `halfLifeMs` in ms.
 */
function inProjectTerms(problem: string): string {
  return problem
    .replace(/halfLifeMs: days\(1\)/g, 'halfLife: "1d"')
    .replace(/windowsMs: \[hours\(1\)\]/g, 'windows: ["1h"]')
    .replace(/\[hours\(1\), days\(7\)\]/g, '["1h", "7d"]')
    .replace(/; write it with hours\(6\), days\(1\), \.\.\./g, '; write it as "6h", "1d", ...')
    .replace(/; write windows with minutes\(10\), hours\(1\), days\(7\), \.\.\./g, '; write windows as "10m", "1h", "7d", ...')
    .replace(/\bhalfLifeMs\b/g, 'halfLife')
    .replace(/\bwindowsMs\b/g, 'windows');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value));
}

function unknownKeys(obj: Record<string, unknown>, known: readonly string[], where: string, add: Add, hints: Readonly<Record<string, string>> = {}): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const hint = hints[key];
    add(where === '' ? key : `${where}.${key}`, `unknown property${hint === undefined ? '' : `; did you mean ${hint}?`} (known: ${known.join(', ')})`);
  }
}
