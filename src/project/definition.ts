import type { AggregationOp } from '../features/definitions.js';

/**
 * The feature project format: what a team writes in its own folder (`tessera.project.ts` or
 * `tessera.project.json` beside its `.avsc` files) to declare its events, entities, feature
 * groups, label roles and model inputs. Plain data, so the same object can be written in
 * TypeScript with the typed helpers below (an editor checks every field) or generated as JSON.
 * `docs/project-reference.md` describes every field; `compile-project.ts` checks them and turns
 * them into the compiled form the commands run.
 *
 * Durations are written as text (`"90s"`, `"10m"`, `"1h"`, `"7d"`, `"2w"`) or as a whole number
 * of ms.
 *
 * @example
 * import { defineProject, count } from 'tessera/project';
 * export default defineProject({
 *   name: 'shop',
 *   events: { view: { schema: 'events/View.avsc', key: 'userId' }, ... },
 *   entities: { user: ['userId'] },
 *   groups: [{ name: 'user', entity: 'user', aggregations: [count('view', ['1h', '1d'])] }],
 *   labels: { exposure: 'view', click: { source: 'click', window: '30m' }, conversion: { source: 'order', window: '1d' } },
 * });
 */

/** A duration: `<n><unit>` with unit ms, s, m, h, d or w (days are 24 h), or whole ms. */
export type Duration = `${number}${'ms' | 's' | 'm' | 'h' | 'd' | 'w'}` | number;

/** One event type: its Avro schema file (relative to the project folder) and its partition key. */
export interface EventDefinition {
  /** Path of the `.avsc` file, relative to the project folder, e.g. `events/Click.avsc`. */
  readonly schema: string;
  /** The field the topic is partitioned by (a string id, usually `userId`: a user's events stay in order). */
  readonly key: string;
}

/** An entity: the event fields whose values identify it (joined with `:`). */
export type EntityDefinition = readonly string[];

/** One aggregation of a group over one event type (see docs/project-reference.md for each op). */
export interface AggregationDefinition {
  /** The event type aggregated. */
  readonly source: string;
  readonly op: AggregationOp;
  /** The event field aggregated; every op but count, decayed_count and last_seen needs one. */
  readonly field?: string;
  /** Window widths; absent or empty means the entity's lifetime. */
  readonly windows?: readonly Duration[];
  /** last_k only: how many distinct values to keep (1 to 1000). */
  readonly k?: number;
  /** decayed_count and decayed_sum only: the half-life. */
  readonly halfLife?: Duration;
}

/** A windowed count or sum of the same group, named by what it computes. */
export interface FeatureRefDefinition {
  readonly source: string;
  readonly op: 'count' | 'sum';
  readonly field?: string;
}

/** A derived feature: `(numerator + alpha) / (denominator + beta)` at each window. */
export interface DerivedDefinition {
  readonly op: 'smoothed_ratio';
  readonly label: string;
  readonly numerator: FeatureRefDefinition;
  readonly denominator: FeatureRefDefinition;
  readonly alpha: number;
  readonly beta: number;
  /** Windows of both inputs; absent means every window of the numerator. */
  readonly windows?: readonly Duration[];
}

/** A feature group: one entity and the aggregations (and derived features) kept for it. */
export interface GroupDefinition {
  /** snake_case; identifies the group in storage, on the command line and in the registry. */
  readonly name: string;
  /** The name of one of the project's entities. */
  readonly entity: string;
  readonly aggregations: readonly AggregationDefinition[];
  readonly derived?: readonly DerivedDefinition[];
}

/**
 * Which event types play the roles of the label rule (docs/architecture.md, "Labels"): the
 * exposure (what a model scores: one sample each), the click (same requestId and itemId within
 * its window) and the conversion (same userId and itemId within its window).
 */
export interface LabelsDefinition {
  /** Must carry requestId, userId, itemId (ids), categoryId (string, may be null), position (int) and context. */
  readonly exposure: string;
  /** Must carry requestId and itemId. */
  readonly click: { readonly source: string; readonly window: Duration };
  /** Must carry userId and itemId. */
  readonly conversion: { readonly source: string; readonly window: Duration };
}

/** A model's inputs: its kind, which label it learns, its crossed fields and its options. */
export interface ModelDefinition {
  readonly kind: 'lr' | 'fm' | 'wide-deep';
  /** Default click. */
  readonly label?: 'click' | 'conversion';
  /** Pairs of user, item, category crossed into one more field each. */
  readonly crosses?: readonly (readonly ['user' | 'item' | 'category', 'user' | 'item' | 'category'])[];
  /** Model options as `tessera train --config` takes them (README, "Model options"). */
  readonly config?: Readonly<Record<string, unknown>>;
}

/** Streaming settings the project's definitions depend on. */
export interface StreamDefinition {
  /** How far behind its partition's watermark an event may arrive and still be applied. Default 10m. */
  readonly lateness?: Duration;
  /** Event-time horizon of the eventId dedupe. Default 24h. */
  readonly dedupeHorizon?: Duration;
}

/** A whole feature project. */
export interface ProjectDefinition {
  /** snake_case name of the project. */
  readonly name: string;
  readonly events: Readonly<Record<string, EventDefinition>>;
  readonly entities: Readonly<Record<string, EntityDefinition>>;
  readonly groups: readonly GroupDefinition[];
  readonly labels: LabelsDefinition;
  /** Named model inputs; `tessera train --inputs <name>` picks one. */
  readonly models?: Readonly<Record<string, ModelDefinition>>;
  readonly stream?: StreamDefinition;
}

// ---------------------------------------------------------------------------------------------
// Typed helpers: identity functions whose types let an editor check a project as it is written.

/** Declares a project; returns it unchanged (the type does the checking). */
export function defineProject<const P extends ProjectDefinition>(project: P): P {
  return project;
}

/** Declares a feature group; returns it unchanged. */
export function defineGroup<const G extends GroupDefinition>(group: G): G {
  return group;
}

/** `count` of `source` events over each window (lifetime when none). */
export function count(source: string, windows?: readonly Duration[]): AggregationDefinition {
  return windows === undefined ? { source, op: 'count' } : { source, op: 'count', windows };
}

/** `sum` of a numeric field over each window. */
export function sum(source: string, field: string, windows?: readonly Duration[]): AggregationDefinition {
  return windows === undefined ? { source, op: 'sum', field } : { source, op: 'sum', field, windows };
}

/** `avg` of a numeric field over each window. */
export function avg(source: string, field: string, windows?: readonly Duration[]): AggregationDefinition {
  return windows === undefined ? { source, op: 'avg', field } : { source, op: 'avg', field, windows };
}

/** `min` of a numeric field over each window. */
export function min(source: string, field: string, windows?: readonly Duration[]): AggregationDefinition {
  return windows === undefined ? { source, op: 'min', field } : { source, op: 'min', field, windows };
}

/** `max` of a numeric field over each window. */
export function max(source: string, field: string, windows?: readonly Duration[]): AggregationDefinition {
  return windows === undefined ? { source, op: 'max', field } : { source, op: 'max', field, windows };
}

/** The value of `field` in the latest event (lifetime). */
export function last(source: string, field: string): AggregationDefinition {
  return { source, op: 'last', field };
}

/** The `k` most recent distinct values of `field`, newest first (lifetime). */
export function lastK(source: string, field: string, k: number): AggregationDefinition {
  return { source, op: 'last_k', field, k };
}

/** The time of the latest event (lifetime). */
export function lastSeen(source: string): AggregationDefinition {
  return { source, op: 'last_seen' };
}

/** HyperLogLog estimate of the distinct values of `field` over each window. */
export function approxDistinct(source: string, field: string, windows?: readonly Duration[]): AggregationDefinition {
  return windows === undefined ? { source, op: 'approx_distinct', field } : { source, op: 'approx_distinct', field, windows };
}

/** A count where each event weighs 2^-(age / halfLife) (lifetime). */
export function decayedCount(source: string, halfLife: Duration): AggregationDefinition {
  return { source, op: 'decayed_count', halfLife };
}

/** A sum of the numeric `field` where each value weighs 2^-(age / halfLife) (lifetime). */
export function decayedSum(source: string, field: string, halfLife: Duration): AggregationDefinition {
  return { source, op: 'decayed_sum', field, halfLife };
}

/** `(numerator + alpha) / (denominator + beta)`, e.g. a CTR smoothed towards alpha / beta. */
export function smoothedRatio(
  label: string,
  numerator: FeatureRefDefinition,
  denominator: FeatureRefDefinition,
  prior: { readonly alpha: number; readonly beta: number },
  windows?: readonly Duration[],
): DerivedDefinition {
  const base = { op: 'smoothed_ratio' as const, label, numerator, denominator, alpha: prior.alpha, beta: prior.beta };
  return windows === undefined ? base : { ...base, windows };
}
