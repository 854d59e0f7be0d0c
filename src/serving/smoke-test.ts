import type { CompiledGroup } from '../features/definitions.js';
import { contextFeatures } from '../features/context.js';
import { coldStartFeatures } from '../features/window-assembly.js';
import type { Context } from '../events/event-types.js';
import type { RequestFeatures } from './feature-reader.js';
import type { Scorer } from './scorer.js';

/**
 * The check a new model must pass before it serves, which also warms it up: it scores a request
 * of cold-start candidates (and one of many candidates) and demands one finite probability per
 * candidate.
 *
 * @throws Error saying what was wrong.
 */
export function smokeTestScorer(scorer: Scorer, groups: readonly CompiledGroup[]): void {
  const cold = (name: string) => {
    const g = groups.find((x) => x.name === name);
    return g ? coldStartFeatures(g) : {};
  };
  const ctx: Context = { device: 'ios', os: 'ios', country: null, city: null, page: 'home', timezone: 'UTC' };
  const q = Date.UTC(2026, 0, 1, 12);
  const entity = (group: string, key: string) => ({ group, key, values: cold(group), known: false, latestEventTime: null, ageMs: null });
  for (const n of [3, 200]) {
    const features: RequestFeatures = {
      q,
      user: entity('user', 'smoke-user'),
      items: Array.from({ length: n }, (_, i) => ({ item: entity('item', `smoke-item-${i}`), userCategory: i % 2 === 0 ? entity('user_category', `smoke-user:c${i}`) : null })),
      context: contextFeatures(ctx, q),
      rawContext: ctx,
    };
    const scores = scorer.score(features);
    if (scores.length !== n) throw new Error(`smoke test: ${scores.length} scores for ${n} candidates`);
    for (const s of scores) if (!(Number.isFinite(s) && s >= 0 && s <= 1)) throw new Error(`smoke test: score ${s} is not a probability`);
  }
}
