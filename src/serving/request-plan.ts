import type { FeatureValue } from '../features/aggregators.js';
import type { ContextFeatures } from '../features/context.js';
import type { CompiledGroup } from '../features/definitions.js';
import { coldStartFeatures } from '../features/window-assembly.js';
import type { Context } from '../events/event-types.js';
import { ENTITY_KEY_SEPARATOR } from '../features/event-input.js';

/**
 * Which entities a ranking request reads, for any project's groups. A request names its user
 * (`userId`) and its candidates (`itemId` and any other field the groups are keyed by, e.g.
 * `categoryId`), as an exposure event would carry them; the sample a model learned from had its
 * features keyed by the exposure's fields in the same way, so serving reads the same entities.
 *
 * - A group keyed by `userId` alone is read once per request (a *request group*).
 * - Every other group is read per candidate (a *candidate group*): its key fields are taken from
 *   the candidate, `userId` from the request. A candidate without a value for one of them (no
 *   category given) has no entity in that group and gets the group's cold-start values, as an
 *   exposure without that field did in training.
 */
export interface RequestPlan {
  readonly requestGroups: readonly CompiledGroup[];
  readonly candidateGroups: readonly CompiledGroup[];
  /** Fields a candidate may carry besides `itemId` (the candidate groups' other key fields). */
  readonly candidateFields: readonly string[];
  /** Their names. */
  readonly candidateGroupNames: readonly string[];
  /** Cold-start values of each candidate group, in `candidateGroups` order. */
  readonly candidateColdStart: readonly Readonly<Record<string, FeatureValue>>[];
}

/** The features of one entity at the query time, with their freshness. */
export interface EntityFeatures {
  group: string;
  key: string;
  /** Feature name -> value; cold-start defaults when the entity has no state. */
  values: Record<string, FeatureValue>;
  /** False when nothing was ever applied for this entity (cold start). */
  known: boolean;
  /** The latest event time applied to this entity; null for cold start. */
  latestEventTime: number | null;
  /** q - latestEventTime: how old the newest information behind these values is. */
  ageMs: number | null;
}

/** The request-level field every ranking request carries. */
export const REQUEST_KEY_FIELD = 'userId';

/** A candidate of a ranking request: its item and the other key fields it has values for. */
export interface Candidate {
  readonly itemId: string;
  /** The item's category, when known; the transform's category field and any group keyed by it read it. */
  readonly categoryId?: string | null;
  /** Other key fields of candidate groups (e.g. `brand`). */
  readonly fields?: Readonly<Record<string, string | null>>;
}

/** A candidate's features: one entry per candidate group, null where the candidate has no entity in it. */
export interface CandidateFeatures {
  readonly itemId: string;
  readonly categoryId: string | null;
  readonly entities: readonly (EntityFeatures | null)[];
}

/** A ranking request's features: its request groups' entities, each candidate's, and the context. */
export interface RequestFeatures {
  q: number;
  userId: string;
  /** One entry per request group, in plan order. */
  shared: EntityFeatures[];
  /** The candidate groups' names, in plan order (what each candidate's `entities` hold). */
  candidateGroups: readonly string[];
  items: CandidateFeatures[];
  context: ContextFeatures;
  /** The request's context as given (the feature transform computes from it what models need). */
  rawContext: Context;
}

/** The plan of a project's groups. */
export function requestPlan(groups: readonly CompiledGroup[]): RequestPlan {
  const requestGroups: CompiledGroup[] = [];
  const candidateGroups: CompiledGroup[] = [];
  const fields = new Set<string>();
  for (const g of groups) {
    const keys = g.def.entity.keyFields;
    if (keys.every((k) => k === REQUEST_KEY_FIELD)) requestGroups.push(g);
    else {
      candidateGroups.push(g);
      for (const k of keys) if (k !== REQUEST_KEY_FIELD && k !== 'itemId') fields.add(k);
    }
  }
  return {
    requestGroups,
    candidateGroups,
    candidateFields: [...fields],
    candidateGroupNames: candidateGroups.map((g) => g.name),
    candidateColdStart: candidateGroups.map((g) => coldStartFeatures(g)),
  };
}

/** The value of a key field for a candidate of a request: userId from the request, the rest from the candidate. */
export function candidateKeyField(userId: string, candidate: Candidate, field: string): string | null {
  if (field === REQUEST_KEY_FIELD) return userId;
  if (field === 'itemId') return candidate.itemId;
  if (field === 'categoryId') return candidate.categoryId ?? null;
  return candidate.fields?.[field] ?? null;
}

/**
 * A candidate's entity key in a group (key fields joined with `:`, as the stream writes them),
 * null when one of its fields has no value or an empty one (no entity, as for an event).
 */
export function candidateEntityKey(group: CompiledGroup, userId: string, candidate: Candidate): string | null {
  const keys = group.def.entity.keyFields;
  if (keys.length === 1) {
    const v = candidateKeyField(userId, candidate, keys[0] as string);
    return v === null || v === '' ? null : v;
  }
  let key = '';
  for (let i = 0; i < keys.length; i++) {
    const v = candidateKeyField(userId, candidate, keys[i] as string);
    if (v === null || v === '') return null;
    key = i === 0 ? v : `${key}${ENTITY_KEY_SEPARATOR}${v}`;
  }
  return key;
}
