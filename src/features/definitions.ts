import { Duration, type DurationLikeObject } from 'luxon';
import type { EventKinds } from '../events/event-catalog.js';
import type { FieldKind } from '../events/event-fields.js';
import type { EventType } from '../events/event-types.js';
import { FeatureDefinitionError } from './feature-errors.js';
import { AGGREGATION_OPS, opModule, type AggregationOp } from './ops/index.js';
import { formatWindow, hopFor, tileRetentionMs } from './windows.js';

export { fieldNoun, pastTense } from './ops/naming.js';

/**
 * Feature definitions as data: plain, JSON-serialisable objects without functions, so the
 * streaming layer can apply them, the batch layer can turn them into SQL and the CLI can print
 * them. This module also owns the naming rules (names are computed, never typed by hand), the
 * validation run when a definition is loaded, and the compiled form the other layers iterate.
 */

// ---------------------------------------------------------------------------------------------
// Types

/**
 * Every aggregation operator, and its union type: the registry of op modules
 * (src/features/ops/index.ts) is the list, each module declaring everything about its op.
 */
export { AGGREGATION_OPS, type AggregationOp };

/**
 * Operators kept over the entity's whole life only (no `windowsMs`): their state is one value per
 * entity rather than tiles, and their names carry no window suffix (each op module's `lifetimeOnly`).
 */
export const LIFETIME_ONLY_OPS: readonly AggregationOp[] = AGGREGATION_OPS.filter((op) => opModule(op).lifetimeOnly);

/**
 * Who a feature describes. The entity key of an event is the values of `keyFields` joined with
 * `:` (e.g. `u-1:c-7` for `['userId', 'categoryId']`); an event where any key field is null,
 * missing or empty does not contribute to the group at all (a click without a category says
 * nothing about any user x category pair).
 *
 * @example { name: 'user_category', keyFields: ['userId', 'categoryId'] }
 */
export interface EntityDef {
  /** snake_case; the first word of every feature name of the group. */
  readonly name: string;
  /** Event fields whose values identify the entity; every source of the group must carry them. */
  readonly keyFields: readonly string[];
}

/**
 * One aggregation over one event type, evaluated at one or more window widths (or over the
 * lifetime when `windowsMs` is absent or empty).
 *
 * - `count`: number of events; no field.
 * - `sum`, `avg`, `min`, `max`: over a numeric `field`; events whose value is null or not finite
 *   are skipped.
 * - `last`: the value of `field` of the latest event (lifetime only).
 * - `last_k`: the `k` most recent distinct values of `field`, newest first (lifetime only).
 * - `approx_distinct`: HyperLogLog estimate of the number of distinct values of `field`.
 * - `decayed_count`: each event weighs `2^(-(q - t) / halfLifeMs)` (lifetime only).
 * - `last_seen`: the latest event time (lifetime only).
 * - `decayed_sum`: the sum of a numeric `field`, each value weighing `2^(-(q - t) / halfLifeMs)`
 *   (lifetime only).
 *
 * @example { source: 'click', op: 'count', windowsMs: [hours(1), hours(24), days(7)] }
 */
export interface AggregationDef {
  readonly source: EventType;
  readonly op: AggregationOp;
  /** The event field aggregated; required by every op except count, decayed_count and last_seen. */
  readonly field?: string;
  /** Window widths in ms (see {@link durationMs}); absent or empty means lifetime. */
  readonly windowsMs?: readonly number[];
  /** last_k only: how many distinct values to keep, 1 to 1000. */
  readonly k?: number;
  /** decayed_count and decayed_sum only: the half-life in ms. */
  readonly halfLifeMs?: number;
}

/**
 * A reference from a derived feature to a windowed count or sum aggregation of the same group,
 * by what it computes (not by name, so that renaming rules cannot break it).
 */
export interface FeatureRef {
  readonly source: EventType;
  readonly op: 'count' | 'sum';
  /** The summed field; required for sum, absent for count. */
  readonly field?: string;
}

/**
 * A feature computed from two windowed aggregations of the group at the same window:
 * `(numerator + alpha) / (denominator + beta)`, e.g. a CTR smoothed towards alpha / beta.
 * One feature per window in `windowsMs`, each of which must be a window of both inputs; absent
 * means every window of the numerator.
 *
 * @example { op: 'smoothed_ratio', label: 'ctr', numerator: { source: 'click', op: 'count' },
 *   denominator: { source: 'impression', op: 'count' }, alpha: 1, beta: 20, windowsMs: [days(7)] }
 */
export interface DerivedDef {
  readonly op: 'smoothed_ratio';
  /** snake_case; the name is `{entity}_{label}_{window}`. */
  readonly label: string;
  readonly numerator: FeatureRef;
  readonly denominator: FeatureRef;
  /** Prior successes, >= 0. */
  readonly alpha: number;
  /** Prior trials, > 0 (so the ratio is defined for an entity without events: alpha / beta). */
  readonly beta: number;
  readonly windowsMs?: readonly number[];
}

/** A feature group: one entity and the aggregations (and derived features) kept for it. */
export interface FeatureGroupDef {
  /** snake_case; identifies the group in storage and on the command line. */
  readonly name: string;
  readonly entity: EntityDef;
  readonly aggregations: readonly AggregationDef[];
  readonly derived?: readonly DerivedDef[];
}

// ---------------------------------------------------------------------------------------------
// Durations

/**
 * Milliseconds of a luxon Duration (or a `Duration.fromObject` argument). Days are 24 h and
 * weeks 7 days; months, quarters and years are refused because their length varies, and a
 * window must mean the same span at every query time.
 *
 * @throws FeatureDefinitionError for an invalid duration or one with calendar units.
 * @example durationMs({ hours: 1 }) === 3_600_000; durationMs(Duration.fromISO('P7D'))
 */
export function durationMs(duration: Duration | DurationLikeObject): number {
  const d = Duration.isDuration(duration) ? duration : Duration.fromObject(duration);
  if (!d.isValid) throw new FeatureDefinitionError(null, [`invalid duration: ${d.invalidExplanation ?? d.invalidReason ?? 'unknown reason'}`]);
  if (d.years !== 0 || d.quarters !== 0 || d.months !== 0) {
    throw new FeatureDefinitionError(null, [`duration ${d.toISO() ?? ''} uses months, quarters or years, whose length varies; write it in days, e.g. days(30)`]);
  }
  return d.toMillis();
}

/** `n` seconds in ms. */
export function seconds(n: number): number {
  return durationMs({ seconds: n });
}
/** `n` minutes in ms. */
export function minutes(n: number): number {
  return durationMs({ minutes: n });
}
/** `n` hours in ms. */
export function hours(n: number): number {
  return durationMs({ hours: n });
}
/** `n` days (of 24 h) in ms. */
export function days(n: number): number {
  return durationMs({ days: n });
}

// ---------------------------------------------------------------------------------------------
// Naming

/**
 * The name of one feature of an aggregation; `windowMs` null is the lifetime value, whose name has
 * no window suffix. Rules (`{w}` is {@link formatWindow} of the window):
 * - count: `{entity}_{source}_count_{w}`
 * - sum, avg, min, max: `{entity}_{source}_{field}_{op}_{w}`
 * - last: `{entity}_last_{source}_{field}`
 * - last_k: `{entity}_last_{participle}_{noun}` (participle: {@link pastTense}, e.g. clicked;
 *   noun: {@link fieldNoun})
 * - approx_distinct: `{entity}_{source}_{noun}_distinct_{w}`
 * - decayed_count: `{entity}_{source}_decayed_count_{halfLife}`
 * - last_seen: `{entity}_last_{source}_time`
 * - decayed_sum: `{entity}_{source}_{field}_decayed_sum_{halfLife}`
 *
 * Each op module declares its rule (`featureName`).
 *
 * @example aggregationFeatureName('user', { source: 'click', op: 'count' }, hours(1)) === 'user_click_count_1h'
 */
export function aggregationFeatureName(entity: string, agg: AggregationDef, windowMs: number | null): string {
  const w = windowMs === null ? '' : `_${formatWindow(windowMs)}`;
  return opModule(agg.op).featureName({ entity, source: agg.source, field: agg.field ?? '', w }, agg);
}

/** The name of a derived feature at one window: `{entity}_{label}_{w}`, e.g. `user_ctr_7d`. */
export function derivedFeatureName(entity: string, derived: DerivedDef, windowMs: number): string {
  return `${entity}_${derived.label}_${formatWindow(windowMs)}`;
}

/**
 * A stable identifier of what an aggregation computes, for storage keys and batch tables:
 * `{source}.{op}[.{field}][.k{k}][.hl{halfLife}]`, plus `.lifetime` for a lifetime count, sum,
 * avg, min, max or approx_distinct (so it does not share state with the windowed one).
 * Window widths are not part of it: tiles are per hop, and adding a window reuses them.
 *
 * @example aggregationId({ source: 'order', op: 'sum', field: 'amount', windowsMs: [days(30)] }) === 'order.sum.amount'
 */
export function aggregationId(agg: AggregationDef): string {
  let id = `${agg.source}.${agg.op}`;
  if (agg.field !== undefined) id += `.${agg.field}`;
  id += opModule(agg.op).idSuffix(agg);
  if (!opModule(agg.op).lifetimeOnly && (agg.windowsMs ?? []).length === 0) id += '.lifetime';
  return id;
}

// ---------------------------------------------------------------------------------------------
// Compiled form

/** What the streaming layer keeps for one hop of one windowed aggregation. */
export interface TileSpec {
  /** Tile size (the hop of every window below). */
  readonly hopMs: number;
  /** The windows served by these tiles, ascending. */
  readonly windowsMs: readonly number[];
  /** A tile starting at s is read only by queries before `s + retentionMs` (longest window + hop). */
  readonly retentionMs: number;
}

/**
 * One aggregation of a compiled group with its storage needs.
 *
 * Windowed aggregations keep one state per tile for each distinct hop of their windows (windows
 * sharing a hop share tiles). Lifetime aggregations, including every last, last_k, last_seen,
 * decayed_count and decayed_sum, keep a single state per entity updated in place, holding every applied event;
 * it is exact for a query time after the entity's latest applied event, the same condition as a
 * window's head tile (see `headIsExact` in `window-assembly.ts`).
 */
export interface CompiledAggregation {
  /** Index into the definition's `aggregations`. */
  readonly index: number;
  /** {@link aggregationId}. */
  readonly id: string;
  readonly def: AggregationDef;
  /** Windows in declaration order; empty for a lifetime aggregation. */
  readonly windowsMs: readonly number[];
  /** True when the aggregation keeps a lifetime state instead of tiles. */
  readonly lifetime: boolean;
  /** One entry per distinct hop, ascending; empty for a lifetime aggregation. */
  readonly tiles: readonly TileSpec[];
  /** The kind of the aggregated event field (undefined for the fieldless ops). */
  readonly fieldKind: FieldKind | undefined;
}

/** Fields common to every compiled feature. */
interface CompiledFeatureBase {
  /** The computed feature name. */
  readonly name: string;
}

/** A feature read from the tiles of one windowed aggregation. */
export interface WindowedFeature extends CompiledFeatureBase {
  readonly kind: 'windowed';
  readonly op: AggregationOp;
  readonly aggregation: number;
  readonly windowMs: number;
  readonly hopMs: number;
}

/** A feature read from the lifetime state of one aggregation. */
export interface LifetimeFeature extends CompiledFeatureBase {
  readonly kind: 'lifetime';
  readonly op: AggregationOp;
  readonly aggregation: number;
  readonly windowMs: null;
  readonly hopMs: null;
}

/** A smoothed ratio of two windowed features of the same group at the same window. */
export interface DerivedFeature extends CompiledFeatureBase {
  readonly kind: 'derived';
  readonly op: 'smoothed_ratio';
  /** Always null: derived features have no state of their own. */
  readonly aggregation: null;
  /** Index into the definition's `derived`. */
  readonly derived: number;
  readonly windowMs: number;
  readonly hopMs: number;
  /** Name of the numerator feature (listed earlier in `features`). */
  readonly numerator: string;
  /** Name of the denominator feature (listed earlier in `features`). */
  readonly denominator: string;
  readonly alpha: number;
  readonly beta: number;
}

/** One feature of a compiled group. */
export type CompiledFeature = WindowedFeature | LifetimeFeature | DerivedFeature;

/**
 * A validated group ready to run: every feature with where its value comes from, and the storage
 * each aggregation needs. Plain data (no functions), like the definition it was compiled from.
 */
export interface CompiledGroup {
  readonly name: string;
  /** The field kinds of the project's event types the group was checked against. */
  readonly events: EventKinds;
  readonly entity: EntityDef;
  readonly def: FeatureGroupDef;
  /** The event types the group reads, in first-use order. */
  readonly sources: readonly EventType[];
  readonly aggregations: readonly CompiledAggregation[];
  /**
   * Every feature: per aggregation in declaration order its windows in declaration order (or its
   * lifetime value), then the derived features. Derived features come after their inputs.
   */
  readonly features: readonly CompiledFeature[];
  /** The distinct tile sizes (hops) the group's windows need, ascending. */
  readonly tileSizesMs: readonly number[];
}

/**
 * Validates a definition against the project's event types and compiles it.
 *
 * @param events the field kinds of the project's event types (`catalog.kinds`).
 * @throws FeatureDefinitionError listing every problem (see {@link validateGroup}).
 */
export function compileGroup(def: FeatureGroupDef, events: EventKinds): CompiledGroup {
  validateGroup(def, events);
  return compileValid(def, events);
}

/**
 * The feature names of a group, in the order of {@link CompiledGroup.features}.
 *
 * @throws FeatureDefinitionError when given an invalid definition.
 */
export function featureNames(group: CompiledGroup): readonly string[] {
  return group.features.map((f) => f.name);
}

function compileValid(def: FeatureGroupDef, events: EventKinds): CompiledGroup {
  const entity = def.entity.name;
  const sources: EventType[] = [];
  const features: CompiledFeature[] = [];
  const hops = new Set<number>();
  const aggregations = def.aggregations.map((agg, index): CompiledAggregation => {
    if (!sources.includes(agg.source)) sources.push(agg.source);
    const windowsMs = [...(agg.windowsMs ?? [])];
    const byHop = new Map<number, number[]>();
    for (const w of windowsMs) {
      const h = hopFor(w);
      hops.add(h);
      byHop.set(h, [...(byHop.get(h) ?? []), w]);
      features.push({ kind: 'windowed', name: aggregationFeatureName(entity, agg, w), op: agg.op, aggregation: index, windowMs: w, hopMs: h });
    }
    if (windowsMs.length === 0) {
      features.push({ kind: 'lifetime', name: aggregationFeatureName(entity, agg, null), op: agg.op, aggregation: index, windowMs: null, hopMs: null });
    }
    const tiles = [...byHop.entries()]
      .sort(([a], [b]) => a - b)
      .map(([hopMs, ws]): TileSpec => {
        const sorted = [...ws].sort((a, b) => a - b);
        return { hopMs, windowsMs: sorted, retentionMs: tileRetentionMs(hopMs, sorted[sorted.length - 1] ?? 0) };
      });
    const fieldKind = agg.field === undefined ? undefined : events[agg.source]?.[agg.field];
    return { index, id: aggregationId(agg), def: agg, windowsMs, lifetime: windowsMs.length === 0, tiles, fieldKind };
  });
  (def.derived ?? []).forEach((d, index) => {
    const num = resolveRef(def, d.numerator);
    const den = resolveRef(def, d.denominator);
    if (num === undefined || den === undefined) throw new Error('unreachable: validateGroup resolves derived inputs');
    for (const w of derivedWindows(d, num)) {
      features.push({
        kind: 'derived',
        name: derivedFeatureName(entity, d, w),
        op: 'smoothed_ratio',
        aggregation: null,
        derived: index,
        windowMs: w,
        hopMs: hopFor(w),
        numerator: aggregationFeatureName(entity, num, w),
        denominator: aggregationFeatureName(entity, den, w),
        alpha: d.alpha,
        beta: d.beta,
      });
    }
  });
  return {
    name: def.name,
    events,
    entity: def.entity,
    def,
    sources,
    aggregations,
    features,
    tileSizesMs: [...hops].sort((a, b) => a - b),
  };
}

/** The windowed aggregation a reference names, if the group has one. */
function resolveRef(def: FeatureGroupDef, ref: FeatureRef): AggregationDef | undefined {
  return def.aggregations.find(
    (a) => a.source === ref.source && a.op === ref.op && a.field === ref.field && (a.windowsMs ?? []).length > 0,
  );
}

function derivedWindows(d: DerivedDef, numerator: AggregationDef): readonly number[] {
  return d.windowsMs ?? numerator.windowsMs ?? [];
}

// ---------------------------------------------------------------------------------------------
// Validation

const NAME_RE = /^[a-z][a-z0-9_]*$/;
const KEY_KINDS: readonly FieldKind[] = ['id', 'nullableId', 'string', 'nullableString'];
const NUMERIC_KINDS: readonly FieldKind[] = ['int', 'nullableInt', 'double', 'nullableDouble'];
/** The ops taking a parameter, for messages. */
const K_OPS = AGGREGATION_OPS.filter((op) => opModule(op).param === 'k');
const HALF_LIFE_OPS = AGGREGATION_OPS.filter((op) => opModule(op).param === 'halfLife');
const MAX_K = 1000;

const GROUP_KEYS = ['name', 'entity', 'aggregations', 'derived'];
const ENTITY_KEYS = ['name', 'keyFields'];
const AGGREGATION_KEYS = ['source', 'op', 'field', 'windowsMs', 'k', 'halfLifeMs'];
const DERIVED_KEYS = ['op', 'label', 'numerator', 'denominator', 'alpha', 'beta', 'windowsMs'];
const REF_KEYS = ['source', 'op', 'field'];
/** Likely slips, so the message can say what was meant. */
const KEY_HINTS: Readonly<Record<string, string>> = {
  window: 'windowsMs',
  windows: 'windowsMs',
  windowMs: 'windowsMs',
  windowsms: 'windowsMs',
  halfLife: 'halfLifeMs',
  halflife: 'halfLifeMs',
  halfLifeMS: 'halfLifeMs',
  type: 'op',
  kind: 'op',
  event: 'source',
  eventType: 'source',
  keys: 'keyFields',
  key: 'keyFields',
  keyField: 'keyFields',
  name: 'label',
};

type Loose = Record<string, unknown>;

function isObject(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value) ?? String(value);
}

/** A window or half-life for a message: its name form when it has one, the raw value otherwise. */
function showMs(ms: unknown): string {
  return typeof ms === 'number' && Number.isSafeInteger(ms) && ms > 0 ? formatWindow(ms) : show(ms);
}

function unknownKeys(obj: Loose, known: readonly string[], where: string, problems: string[]): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const hint = KEY_HINTS[key];
    const suggestion = hint !== undefined && known.includes(hint) ? `; did you mean ${hint}?` : '';
    problems.push(`${where}: unknown property ${show(key)}${suggestion} (known: ${known.join(', ')})`);
  }
}

function fieldsOf(events: EventKinds, source: EventType, kinds: readonly FieldKind[] | null): string[] {
  return Object.entries(events[source] ?? {})
    .filter(([, kind]) => (kinds === null ? kind !== 'context' : kinds.includes(kind)))
    .map(([name]) => name);
}

function fieldKind(events: EventKinds, source: EventType, field: string): FieldKind | undefined {
  const fields = events[source];
  return fields !== undefined && Object.prototype.hasOwnProperty.call(fields, field) ? fields[field] : undefined;
}

function isSource(events: EventKinds, value: unknown): value is EventType {
  return typeof value === 'string' && Object.hasOwn(events, value);
}

/**
 * Checks a feature group definition, which may come from untrusted JSON, and throws one
 * `FeatureDefinitionError` listing every problem with the fix for each:
 * - group and entity names snake_case; entity key fields a non-empty list of distinct names;
 * - at least one aggregation; each with a known `source` and `op`, no unknown properties;
 * - every entity key field present on each source as an id or string field;
 * - `field` absent for count, decayed_count and last_seen; present and on the source otherwise;
 *   numeric (int or double) for sum, avg, min, max and decayed_sum; a scalar (not `context`) for
 *   the others (each op module's `field`);
 * - windows positive whole ms, each a whole multiple of its hop, no repeats; none for the
 *   lifetime-only ops (last, last_k, decayed_count, last_seen, decayed_sum);
 * - `k` (last_k only) a whole number from 1 to 1000; `halfLifeMs` (decayed_count, decayed_sum) required
 *   and a positive whole number of ms;
 * - no two aggregations computing the same thing (merge their windows instead);
 * - derived features: op smoothed_ratio, snake_case label, inputs naming a windowed count or sum
 *   of the group, windows shared by both inputs, `alpha >= 0`, `beta > 0`;
 * - feature names unique within the group.
 *
 * @throws FeatureDefinitionError
 */
export function validateGroup(def: FeatureGroupDef, events: EventKinds): void {
  const raw: unknown = def;
  const name = isObject(raw) && typeof raw.name === 'string' ? raw.name : null;
  const problems = findProblems(raw, events);
  if (problems.length > 0) throw new FeatureDefinitionError(name, problems);
}

function findProblems(raw: unknown, events: EventKinds): string[] {
  const problems: string[] = [];
  if (!isObject(raw)) return ['a feature group must be an object { name, entity, aggregations, derived? }'];
  unknownKeys(raw, GROUP_KEYS, 'group', problems);
  if (typeof raw.name !== 'string' || !NAME_RE.test(raw.name)) {
    problems.push(`name ${show(raw.name)} must be snake_case: lower-case letters, digits and _, starting with a letter (e.g. "user")`);
  }
  const entity = checkEntity(raw.entity, problems);
  if (!Array.isArray(raw.aggregations) || raw.aggregations.length === 0) {
    problems.push('aggregations must be a non-empty array, e.g. [{ source: "click", op: "count", windowsMs: [hours(1)] }]');
    return problems;
  }
  const aggs = raw.aggregations as unknown[];
  const aggOk = aggs.map((agg, i) => checkAggregation(agg, i, entity, events, problems));
  // Same-meaning duplicates would be stored twice and named twice.
  const seen = new Map<string, number>();
  aggs.forEach((agg, i) => {
    if (!aggOk[i]) return;
    const id = aggregationId(agg as AggregationDef);
    const first = seen.get(id);
    if (first === undefined) seen.set(id, i);
    else problems.push(`aggregations[${i}] computes the same thing as aggregations[${first}] (${id}); merge their windowsMs into one aggregation`);
  });
  const valid = aggs.filter((_, i) => aggOk[i]) as AggregationDef[];
  let derivedOk = true;
  if (raw.derived !== undefined) {
    if (!Array.isArray(raw.derived)) {
      problems.push('derived must be an array of { op: "smoothed_ratio", ... } or left out');
      derivedOk = false;
    } else {
      (raw.derived as unknown[]).forEach((d, j) => {
        if (!checkDerived(d, j, aggs, aggOk, events, problems)) derivedOk = false;
      });
    }
  }
  // Names depend on every part being well formed; report them only for a group that compiles.
  if (problems.length === 0 && entity !== null && derivedOk && valid.length === aggs.length) {
    const owners = new Map<string, string>();
    const group = compileValid(raw as unknown as FeatureGroupDef, events);
    for (const f of group.features) {
      const owner = f.kind === 'derived' ? `derived[${f.derived}]` : `aggregations[${f.aggregation}]`;
      const previous = owners.get(f.name);
      if (previous === undefined) owners.set(f.name, owner);
      else {
        problems.push(`feature name ${f.name} is produced by both ${previous} and ${owner}; change the derived label or remove one of them`);
      }
    }
  }
  return problems;
}

function checkEntity(raw: unknown, problems: string[]): EntityDef | null {
  if (!isObject(raw)) {
    problems.push('entity must be an object { name, keyFields }, e.g. { name: "user", keyFields: ["userId"] }');
    return null;
  }
  unknownKeys(raw, ENTITY_KEYS, 'entity', problems);
  const before = problems.length;
  if (typeof raw.name !== 'string' || !NAME_RE.test(raw.name)) {
    problems.push(`entity name ${show(raw.name)} must be snake_case: lower-case letters, digits and _, starting with a letter (e.g. "user_category")`);
  }
  const keys = raw.keyFields;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && k.length > 0)) {
    problems.push(`entity keyFields must be a non-empty array of event field names, e.g. ["userId"] or ["userId", "categoryId"]; got ${show(keys)}`);
  } else if (new Set(keys).size !== keys.length) {
    problems.push(`entity keyFields ${show(keys)} repeat a field; list each once`);
  }
  return problems.length === before ? (raw as unknown as EntityDef) : null;
}

/** Checks one aggregation; true when it is fully valid. */
function checkAggregation(raw: unknown, i: number, entity: EntityDef | null, events: EventKinds, problems: string[]): boolean {
  if (!isObject(raw)) {
    problems.push(`aggregations[${i}] must be an object { source, op, field?, windowsMs?, k?, halfLifeMs? }`);
    return false;
  }
  const before = problems.length;
  const { source, op, field } = raw;
  const where = `aggregations[${i}] (${[source, op, field].filter((x) => typeof x === 'string').join(' ')})`;
  const fail = (message: string): void => {
    problems.push(`${where}: ${message}`);
  };
  unknownKeys(raw, AGGREGATION_KEYS, where, problems);
  if (!isSource(events, source)) {
    fail(`unknown source ${show(source)}; use one of the project's event types: ${Object.keys(events).join(', ')}`);
    return false;
  }
  if (typeof op !== 'string' || !(AGGREGATION_OPS as readonly string[]).includes(op)) {
    fail(`unknown op ${show(op)}; use one of ${AGGREGATION_OPS.join(', ')}`);
    return false;
  }
  const aggOp = op as AggregationOp;

  if (entity !== null) {
    for (const key of entity.keyFields) {
      const kind = fieldKind(events, source, key);
      if (kind === undefined) {
        fail(
          `${source} events have no field ${key}, which entity ${entity.name} is keyed by; ` +
            `move this aggregation to a group whose entity key ${source} events carry (they have ${fieldsOf(events, source, KEY_KINDS).join(', ')})`,
        );
      } else if (!KEY_KINDS.includes(kind)) {
        fail(`${source}.${key} is a ${kind} field and cannot be part of an entity key; key entities by id or string fields`);
      }
    }
  }

  const module = opModule(aggOp);
  if (module.field === 'none') {
    if (field !== undefined) fail(`${aggOp} takes no field; remove field ${show(field)}`);
  } else {
    const wanted = module.field === 'numeric' ? NUMERIC_KINDS : null;
    const candidates = fieldsOf(events, source, wanted);
    const what = wanted === null ? 'a field' : 'a numeric field';
    const options = candidates.length > 0 ? `${source} has ${candidates.join(', ')}` : `${source} events have none, so use another source`;
    if (field === undefined) {
      fail(`${aggOp} needs ${what}; ${options}`);
    } else if (typeof field !== 'string') {
      fail(`field must be a string naming a ${source} field; ${options}`);
    } else {
      const kind = fieldKind(events, source, field);
      if (kind === undefined) fail(`${source} events have no field ${show(field)}; ${options}`);
      else if (wanted !== null && !wanted.includes(kind)) fail(`${aggOp} needs a numeric field but ${source}.${field} is ${kind}; ${options}`);
      else if (kind === 'context') fail(`${source}.${field} is a record, not a value; ${options}`);
    }
  }

  checkWindows(raw.windowsMs, module.lifetimeOnly ? aggOp : null, fail);

  if (module.param === 'k') {
    const k = raw.k;
    if (k === undefined) fail(`${aggOp} needs k, the number of distinct values to keep (1 to ${MAX_K}), e.g. k: 20`);
    else if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_K) fail(`k must be a whole number from 1 to ${MAX_K}, got ${show(k)}`);
  } else if (raw.k !== undefined) {
    fail(`k applies only to ${K_OPS.join(', ')}; remove it`);
  }

  if (module.param === 'halfLife') {
    const h = raw.halfLifeMs;
    if (h === undefined) fail(`${aggOp} needs halfLifeMs, e.g. halfLifeMs: days(1)`);
    else if (typeof h !== 'number' || !Number.isSafeInteger(h) || h <= 0) {
      fail(`halfLifeMs must be a positive whole number of ms, got ${show(h)}; write it with hours(6), days(1), ...`);
    }
  } else if (raw.halfLifeMs !== undefined) {
    fail(`halfLifeMs applies only to ${HALF_LIFE_OPS.join(', ')}; remove it`);
  }
  return problems.length === before;
}

/** Checks a `windowsMs` list; `lifetimeOp` names the op when windows are not allowed at all. */
function checkWindows(raw: unknown, lifetimeOp: AggregationOp | null, fail: (m: string) => void): void {
  if (raw === undefined) return;
  if (!Array.isArray(raw)) {
    fail(`windowsMs must be an array of window widths in ms, e.g. [hours(1), days(7)]; got ${show(raw)}`);
    return;
  }
  if (lifetimeOp !== null && raw.length > 0) {
    fail(`${lifetimeOp} is kept over the entity's whole life and takes no windows; remove windowsMs`);
    return;
  }
  const seen = new Set<number>();
  for (const w of raw as unknown[]) {
    if (typeof w !== 'number' || !Number.isSafeInteger(w) || w <= 0) {
      fail(`window ${show(w)} is not a positive whole number of ms; write windows with minutes(10), hours(1), days(7), ...`);
      continue;
    }
    const hop = hopFor(w);
    if (w % hop !== 0) {
      const down = Math.floor(w / hop) * hop;
      const up = down + hop;
      const choices = down > 0 ? `${formatWindow(down)} or ${formatWindow(up)}` : formatWindow(up);
      fail(
        `window ${showMs(w)} is not a whole number of its hop ${formatWindow(hop)} ` +
          `(windows up to 1h step by 1m, up to 12h by 5m, up to 12d by 1h, longer by 1d); use ${choices}`,
      );
    }
    if (seen.has(w)) fail(`window ${showMs(w)} is listed twice; list each window once`);
    seen.add(w);
  }
}

/** Checks one derived feature against the group's aggregations; true when it is fully valid. */
function checkDerived(raw: unknown, j: number, aggs: readonly unknown[], aggOk: readonly boolean[], events: EventKinds, problems: string[]): boolean {
  const where = `derived[${j}]${isObject(raw) && typeof raw.label === 'string' ? ` (${raw.label})` : ''}`;
  const before = problems.length;
  const fail = (message: string): void => {
    problems.push(`${where}: ${message}`);
  };
  if (!isObject(raw)) {
    fail('must be an object { op: "smoothed_ratio", label, numerator, denominator, alpha, beta, windowsMs? }');
    return false;
  }
  unknownKeys(raw, DERIVED_KEYS, where, problems);
  if (raw.op !== 'smoothed_ratio') fail(`unknown op ${show(raw.op)}; the only derived op is "smoothed_ratio"`);
  if (typeof raw.label !== 'string' || !NAME_RE.test(raw.label)) {
    fail(`label ${show(raw.label)} must be snake_case: lower-case letters, digits and _, starting with a letter (e.g. "ctr")`);
  }
  const { alpha, beta } = raw;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) fail(`alpha must be a finite number >= 0 (prior successes), got ${show(alpha)}`);
  if (typeof beta !== 'number' || !Number.isFinite(beta) || beta <= 0) {
    fail(`beta must be a finite number > 0 (prior trials), got ${show(beta)}; with beta 0 the ratio is undefined for an entity without events (e.g. use alpha: 1, beta: 20)`);
  }
  const validAggs = aggs.filter((_, i) => aggOk[i]) as AggregationDef[];
  const resolve = (side: 'numerator' | 'denominator'): AggregationDef | null => {
    const ref = raw[side];
    if (!isObject(ref)) {
      fail(`${side} must be { source, op: "count" | "sum", field? }, e.g. { source: "click", op: "count" }`);
      return null;
    }
    unknownKeys(ref, REF_KEYS, `${where} ${side}`, problems);
    if (!isSource(events, ref.source)) {
      fail(`${side} has unknown source ${show(ref.source)}; use one of the project's event types: ${Object.keys(events).join(', ')}`);
      return null;
    }
    if (ref.op !== 'count' && ref.op !== 'sum') {
      fail(`${side} op must be "count" or "sum", got ${show(ref.op)}`);
      return null;
    }
    if (ref.op === 'sum' && typeof ref.field !== 'string') {
      fail(`${side} is a sum and needs the summed field, e.g. { source: "order", op: "sum", field: "amount" }`);
      return null;
    }
    if (ref.op === 'count' && ref.field !== undefined) {
      fail(`${side} is a count and takes no field; remove field ${show(ref.field)}`);
      return null;
    }
    const found = resolveRef({ aggregations: validAggs } as unknown as FeatureGroupDef, ref as unknown as FeatureRef);
    if (found === undefined) {
      const matches = (a: unknown): boolean => isObject(a) && a.source === ref.source && a.op === ref.op && a.field === ref.field;
      // An input that exists but is itself invalid has its own message; repeating it here misleads.
      if (aggs.some((a, i) => !aggOk[i] && matches(a))) return null;
      const desc = `${ref.source} ${ref.op}${ref.field === undefined ? '' : ` of ${String(ref.field)}`}`;
      const lifetimeOnly = validAggs.some(matches);
      fail(
        lifetimeOnly
          ? `${side} (${desc}) is a lifetime aggregation; ratios need windowed inputs, so give it windowsMs`
          : `${side} (${desc}) matches no windowed aggregation of this group; add { source: ${show(ref.source)}, op: ${show(ref.op)}${
              ref.field === undefined ? '' : `, field: ${show(ref.field)}`
            }, windowsMs: [...] } to aggregations`,
      );
      return null;
    }
    return found;
  };
  const num = resolve('numerator');
  const den = resolve('denominator');
  if (raw.windowsMs !== undefined && (!Array.isArray(raw.windowsMs) || raw.windowsMs.length === 0)) {
    fail('windowsMs must be a non-empty array of windows of both inputs, or left out to use every window of the numerator');
  } else if (num !== null && den !== null) {
    const explicit = raw.windowsMs as unknown[] | undefined;
    const wanted = explicit ?? num.windowsMs ?? [];
    const seen = new Set<unknown>();
    for (const w of wanted) {
      if (seen.has(w)) fail(`window ${showMs(w)} is listed twice; list each window once`);
      seen.add(w);
      const inNum = (num.windowsMs ?? []).includes(w as number);
      const inDen = (den.windowsMs ?? []).includes(w as number);
      if (inNum && inDen) continue;
      const missing = [inNum ? null : 'numerator', inDen ? null : 'denominator'].filter((x) => x !== null).join(' and ');
      fail(
        explicit === undefined
          ? `the numerator's window ${showMs(w)} is not a window of the denominator; add it to the denominator, or choose shared windows with windowsMs`
          : `window ${showMs(w)} is not a window of the ${missing}; add it there or remove it here`,
      );
    }
  }
  return problems.length === before;
}
