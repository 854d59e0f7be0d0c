import type { CompiledGroup } from '../features/definitions.js';
import { contextFeatures } from '../features/context.js';
import { coldStartFeatures } from '../features/window-assembly.js';
import type { Context } from '../events/event-types.js';
import type { EntityFeatures } from './feature-reader.js';
import { candidateEntityKey, requestPlan, type RequestFeatures } from './request-plan.js';
import type { Scorer } from './scorer.js';

/**
 * The check a new model must pass before it serves, which also warms it up: it scores a request
 * of cold-start candidates (and one of many candidates) and demands one finite probability per
 * candidate.
 *
 * @throws Error saying what was wrong.
 */
export function smokeTestScorer(scorer: Scorer, groups: readonly CompiledGroup[]): void {
  const plan = requestPlan(groups);
  const ctx: Context = { device: 'ios', os: 'ios', country: null, city: null, page: 'home', timezone: 'UTC' };
  const q = Date.UTC(2026, 0, 1, 12);
  const entity = (g: CompiledGroup, key: string): EntityFeatures => ({ group: g.name, key, values: coldStartFeatures(g), known: false, latestEventTime: null, ageMs: null });
  for (const n of [3, 200]) {
    const features: RequestFeatures = {
      q,
      userId: 'smoke-user',
      shared: plan.requestGroups.map((g) => entity(g, 'smoke-user')),
      candidateGroups: plan.candidateGroupNames,
      // every other candidate without a category (no entity in groups keyed by it)
      items: Array.from({ length: n }, (_, i) => {
        const c = { itemId: `smoke-item-${i}`, categoryId: i % 2 === 0 ? `c${i}` : null };
        return { ...c, entities: plan.candidateGroups.map((g) => {
          const key = candidateEntityKey(g, 'smoke-user', c);
          return key === null ? null : entity(g, key);
        }) };
      }),
      context: contextFeatures(ctx, q),
      rawContext: ctx,
    };
    const scores = scorer.score(features);
    if (scores.length !== n) throw new Error(`smoke test: ${scores.length} scores for ${n} candidates`);
    for (const s of scores) if (!(Number.isFinite(s) && s >= 0 && s <= 1)) throw new Error(`smoke test: score ${s} is not a probability`);
  }
}
