import type { Context } from '../../../src/events/event-types.js';
import { contextFeatures } from '../../../src/features/context.js';
import { coldStartFeatures } from '../../../src/features/window-assembly.js';
import { Rng } from '../../../src/ingest/rng.js';
import type { Sample } from '../../../src/samples/sample.js';
import type { EntityFeatures } from '../../../src/serving/feature-reader.js';
import type { RequestFeatures } from '../../../src/serving/request-plan.js';
import { REFERENCE_GROUPS } from '../../helpers/reference.js';

/**
 * Samples and ranking requests of the reference groups for the serving tests that score models
 * (the INT8 option, the reload worker): cold-start features unless asked for random ones.
 */
export const CTX: Context = { device: 'ios', os: 'ios', country: null, city: null, page: 'home', timezone: 'UTC' };
export const T0 = Date.UTC(2026, 0, 5, 12);
export const cold = (name: string) => coldStartFeatures(REFERENCE_GROUPS.find((g) => g.name === name)!);

/** Samples whose labels depend on the user x item pair, so the factors learn something. */
export function samples(seed: number, n: number, randomFeatures = false): Sample[] {
  const rng = new Rng(seed, 'serve-quant');
  const affinity = (u: number, i: number) => ((u * 7 + i * 13) % 5) - 2;
  return Array.from({ length: n }, (_, k) => {
    const u = rng.int(0, 40);
    const i = rng.int(0, 80);
    const t = T0 + k * 1000;
    const p = 1 / (1 + Math.exp(-affinity(u, i)));
    return {
      impressionId: `imp${k}`, requestId: `r${k}`, userId: `u${u}`, itemId: `i${i}`, categoryId: `c${i % 7}`, position: 0, eventTime: t, context: CTX,
      clickLabel: rng.uniform() < p ? 1 : 0, orderLabel: 0,
      features: randomFeatures
        ? { ...randomValues(rng, cold('user')), ...randomValues(rng, cold('item')), ...randomValues(rng, cold('user_category')), ...contextFeatures(CTX, t) }
        : { ...cold('user'), ...cold('item'), ...cold('user_category'), ...contextFeatures(CTX, t) },
    };
  });
}

/** A request as the reader returns it for the reference groups: the user, then each candidate's item and user x category. */
export function request(user: number, items: number): RequestFeatures {
  const entity = (group: string, key: string): EntityFeatures => ({ group, key, values: cold(group), known: false, latestEventTime: null, ageMs: null });
  return {
    q: T0,
    userId: `u${user}`,
    shared: [entity('user', `u${user}`)],
    candidateGroups: ['item', 'user_category'],
    items: Array.from({ length: items }, (_, i) => ({ itemId: `i${i}`, categoryId: `c${i % 7}`, entities: [entity('item', `i${i}`), entity('user_category', `u${user}:c${i % 7}`)] })),
    context: contextFeatures(CTX, T0),
    rawContext: CTX,
  };
}

/** Cold-start records with every number and list replaced by a random one. */
export function randomValues(rng: Rng, values: Record<string, unknown>): Record<string, never> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) {
    out[k] = typeof v === 'number' || v === null ? (rng.uniform() < 0.2 ? null : rng.int(0, 50) + rng.uniform()) : Array.isArray(v) ? Array.from({ length: rng.int(0, 6) }, () => `i${rng.int(0, 80)}`) : v;
  }
  return out as Record<string, never>;
}
