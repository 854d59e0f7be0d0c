import type { RequestFeatures } from './feature-reader.js';

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
 * The cold-start ranking: candidates by their smoothed click-through rate over 24 h
 * (`item_ctr_24h`, which the reference definitions shrink to the 5 % prior while an item has
 * few impressions), ties by 24 h clicks, then by request order. Unknown items have the prior.
 */
export const POPULARITY_SCORER: Scorer = {
  version: 'popularity',
  score(features) {
    const out = new Float64Array(features.items.length);
    features.items.forEach(({ item }, i) => {
      const ctr = Number(item.values['item_ctr_24h'] ?? 0);
      const clicks = Number(item.values['item_click_count_24h'] ?? 0);
      // ctr dominates; clicks break ties without ever outweighing a CTR difference of 1e-6
      out[i] = (Number.isFinite(ctr) ? ctr : 0) + Math.min(Number.isFinite(clicks) ? clicks : 0, 1e6) * 1e-13;
    });
    return out;
  },
};

/** A source that always serves one scorer (tests, the fallback-only service). */
export function fixedScorer(scorer: Scorer | null): ScorerSource {
  return { current: () => scorer };
}
