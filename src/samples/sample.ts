import { createHash } from 'node:crypto';
import type { Context, Impression } from '../events/event-types.js';
import type { FeatureValue } from '../features/aggregators.js';
import { CONTEXT_FEATURE_NAMES, contextFeatures } from '../features/context.js';
import { ENTITY_KEY_SEPARATOR } from '../features/event-input.js';
import { type AggregationDef, type CompiledGroup } from '../features/definitions.js';
import { opModule, type FeatureValueKind } from '../features/ops/index.js';

/**
 * A training sample: one mature impression, its labels (see labels.ts) and every feature of the
 * feature spec as of the impression time (strictly before it: an event at exactly t is not a
 * feature of t). The batch sample job, the streaming joiner and the trainer all use this shape.
 */
export interface Sample {
  /** The impression's eventId. */
  impressionId: string;
  requestId: string;
  userId: string;
  itemId: string;
  categoryId: string | null;
  position: number;
  /** The impression time t, epoch ms UTC: the query time of every feature. */
  eventTime: number;
  context: Context;
  clickLabel: 0 | 1;
  orderLabel: 0 | 1;
  /** Feature name -> value, every name of the spec (cold-start values for unknown entities). */
  features: Record<string, FeatureValue>;
}

/** How a feature's values look, for storage columns and for the model's feature transform (each op module's `valueKind`). */
export type { FeatureValueKind };

/** One feature of the spec: its name, the group it comes from ('context' for request time) and its kind. */
export interface FeatureSpecEntry {
  readonly name: string;
  readonly group: string;
  readonly kind: FeatureValueKind;
}

/**
 * The features a sample carries, in a fixed order: every feature of every group in the given
 * order, then the context features. `hash` identifies the spec (names, kinds and the definitions
 * behind them); a model records it and refuses samples or requests of another spec.
 */
export interface FeatureSpec {
  readonly entries: readonly FeatureSpecEntry[];
  readonly hash: string;
}

function kindOf(def: AggregationDef | null): FeatureValueKind {
  return def === null ? 'number' /* derived (smoothed ratio) */ : opModule(def.op).valueKind;
}

/** The feature spec of a list of groups (a project's): its features in group order, then the context features, and their hash. */
export function featureSpec(groups: readonly CompiledGroup[]): FeatureSpec {
  const entries: FeatureSpecEntry[] = [];
  const defs: unknown[] = [];
  for (const g of groups) {
    const compiled = g;
    defs.push(compiled.def);
    for (const f of compiled.features) {
      const def = f.kind === 'derived' ? null : (compiled.def.aggregations[f.aggregation] as AggregationDef);
      entries.push({ name: f.name, group: compiled.name, kind: kindOf(def) });
    }
  }
  for (const name of CONTEXT_FEATURE_NAMES) {
    entries.push({ name, group: 'context', kind: name === 'context_hour_of_day' || name === 'context_day_of_week' ? 'number' : 'category' });
  }
  const hash = createHash('sha256').update(JSON.stringify({ entries, defs })).digest('hex').slice(0, 16);
  return { entries, hash };
}

/** The request-time context features of an impression, as a sample carries them. */
export function impressionContextFeatures(impression: Pick<Impression, 'context' | 'eventTime'>): Record<string, FeatureValue> {
  return { ...contextFeatures(impression.context, impression.eventTime) };
}

/** The entity key of the user x category group for an impression, null when it has no category. */
export function userCategoryKey(impression: Pick<Impression, 'userId' | 'categoryId'>): string | null {
  return impression.categoryId === null || impression.categoryId === '' ? null : `${impression.userId}${ENTITY_KEY_SEPARATOR}${impression.categoryId}`;
}
