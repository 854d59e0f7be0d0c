import type { FeatureValue } from '../features/aggregators.js';
import type { CompiledGroup } from '../features/definitions.js';
import { requestPlan, type RequestFeatures } from './request-plan.js';

/**
 * What ranks a request's candidates: a published model behind the shared feature transform, or
 * the popularity fallback when no model is loaded yet.
 */
export interface Scorer {
  /** The model version serving (`popularity` for the fallback). */
  readonly version: string;
  /** One score per candidate of `features.items`, in the same order; higher ranks first. */
  score(features: RequestFeatures): Float64Array;
}

/**
 * Where the service gets the scorer for each request. Hot reload swaps what `current` returns
 * (one reference assignment, so a request sees one model from start to end).
 */
export interface ScorerSource {
  current(): Scorer | null;
}

/**
 * The cold-start ranking of a project: candidates by the first smoothed ratio (a CTR, shrunk to
 * its prior while an item has few events) of the group keyed by `itemId` alone, ties by that
 * ratio's numerator count at the same window, then by request order (the reference project:
 * `item_ctr_24h`, ties by `item_click_count_24h`). Unknown items have the prior. A project
 * without such a ratio ranks by the item group's first windowed count, and without an item group
 * keeps the request's order.
 */
export function popularityScorer(groups: readonly CompiledGroup[]): Scorer {
  const plan = requestPlan(groups);
  const j = plan.candidateGroups.findIndex((g) => g.def.entity.keyFields.length === 1 && g.def.entity.keyFields[0] === 'itemId');
  const group = plan.candidateGroups[j];
  let primary: string | null = null;
  let tie: string | null = null;
  if (group !== undefined) {
    const ratio = group.features.find((f) => f.kind === 'derived');
    if (ratio !== undefined && ratio.kind === 'derived') {
      primary = ratio.name;
      tie = ratio.numerator;
    } else {
      primary = group.features.find((f) => f.kind === 'windowed' && group.def.aggregations[f.aggregation]?.op === 'count')?.name ?? null;
    }
  }
  const cold = j < 0 ? {} : (plan.candidateColdStart[j] as Readonly<Record<string, FeatureValue>>);
  const num = (v: FeatureValue | undefined): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    version: POPULARITY_VERSION,
    score(features) {
      const out = new Float64Array(features.items.length);
      if (primary === null) return out;
      features.items.forEach((c, i) => {
        const values = c.entities[j]?.values ?? cold;
        // the ratio dominates; the count breaks ties without ever outweighing a difference of 1e-6
        out[i] = num(values[primary]) + (tie === null ? 0 : Math.min(num(values[tie]), 1e6) * 1e-13);
      });
      return out;
    },
  };
}

/** The version name of the popularity fallback. */
export const POPULARITY_VERSION = 'popularity';

/** A source that always serves one scorer (tests, the fallback-only service). */
export function fixedScorer(scorer: Scorer | null): ScorerSource {
  return { current: () => scorer };
}
