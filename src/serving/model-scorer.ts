import type { FeatureValue } from '../features/aggregators.js';
import type { CompiledGroup } from '../features/definitions.js';
import { coldStartFeatures } from '../features/window-assembly.js';
import type { Model } from '../models/model.js';
import { inputSchemaHash } from '../models/model-batch.js';
import type { ModelStore } from '../ports/model-store.js';
import type { FeatureTransform, ServingRequest } from '../training/feature-transform.js';
import { loadPublished } from '../training/publication.js';
import type { RequestFeatures } from './feature-reader.js';
import type { ScorerLoader } from './model-watcher.js';
import type { Scorer } from './scorer.js';

/**
 * A published model as a {@link Scorer}: each candidate's features (user, item, user x category,
 * request context) go through the shared feature transform, the same code the trainer used, and
 * the whole candidate list is scored as one batch.
 */
export function modelScorer(model: Model, version: string, transform: FeatureTransform, groups: readonly CompiledGroup[]): Scorer {
  const noCategory = Object.fromEntries(groups.filter((g) => g.name === 'user_category').flatMap((g) => Object.entries(coldStartFeatures(g))));
  return {
    version,
    score(f: RequestFeatures): Float64Array {
      const requests: ServingRequest[] = f.items.map(({ item, userCategory }) => {
        const features: Record<string, FeatureValue> = { ...f.user.values, ...item.values, ...(userCategory?.values ?? noCategory), ...f.context };
        return { userId: f.user.key, itemId: item.key, categoryId: userCategory ? (userCategory.key.split(':').at(-1) ?? null) : null, context: f.rawContext, time: f.q, features };
      });
      const batch = transform.requestsBatch(requests);
      if (batch.size !== requests.length) throw new Error(`the feature transform refused ${requests.length - batch.size} of ${requests.length} candidates`);
      return model.predict(batch);
    },
  };
}

/** The {@link ScorerLoader} of Tessera's own models (LR, FM, Wide&Deep), deltas applied. */
export function tesseraScorerLoader(transform: FeatureTransform, groups: readonly CompiledGroup[]): ScorerLoader {
  return async (manifest, _files, store: ModelStore) => {
    const { model } = await loadPublished(store, manifest.model, manifest.version);
    if (model.schemaHash !== inputSchemaHash(transform.schema)) {
      throw new Error(`model ${manifest.model} ${manifest.version} was built for feature spec ${String(model.schema.specHash)}, the service's transform is ${transform.spec.hash}`);
    }
    return modelScorer(model, manifest.version, transform, groups);
  };
}
