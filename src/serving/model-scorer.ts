import type { FeatureValue } from '../features/aggregators.js';
import type { CompiledGroup } from '../features/definitions.js';
import { inputSchemaHash, type InputSchema } from '../models/model-batch.js';
import type { Model } from '../models/model.js';
import { ModelConfigError } from '../models/model-errors.js';
import { isQuantizeMode, quantizeModel, type QuantizeMode, type ServingModel } from '../models/quantized-model.js';
import type { ModelManifest, ModelStore } from '../ports/model-store.js';
import { transformForSchema, type FeatureTransform, type ServingRequest } from '../training/feature-transform.js';
import { loadPublished } from '../training/publication.js';
import { requestPlan, type RequestFeatures } from './request-plan.js';
import { yieldToRequests, type ScorerLoader } from './model-watcher.js';
import type { Scorer } from './scorer.js';

/**
 * A published model as a {@link Scorer}: each candidate's features (its request groups', its
 * candidate groups', the request context) go through the shared feature transform, the same code
 * the trainer used, and the whole candidate list is scored as one batch.
 */
export function modelScorer(model: ServingModel, version: string, transform: FeatureTransform, groups: readonly CompiledGroup[]): Scorer {
  const plan = requestPlan(groups);
  return {
    version,
    score(f: RequestFeatures): Float64Array {
      // The request groups' and the context's features are the same for every candidate: merged
      // once, and each candidate's record inherits them (the transform reads names with for..in
      // and plain property reads, which see inherited ones). Spreading ~40 names into 200 fresh
      // records per request was most of the scorer's time, in allocation and GC. Feature names
      // are unique across a project.
      const shared: Record<string, FeatureValue> = Object.assign({}, ...f.shared.map((e) => e.values), f.context);
      const requests: ServingRequest[] = f.items.map((c) => {
        const features = Object.create(shared) as Record<string, FeatureValue>;
        c.entities.forEach((e, j) => Object.assign(features, e === null ? plan.candidateColdStart[j] : e.values));
        return { userId: f.userId, itemId: c.itemId, categoryId: c.categoryId, context: f.rawContext, time: f.q, features };
      });
      const batch = transform.requestsBatch(requests);
      if (batch.size !== requests.length) throw new Error(`the feature transform refused ${requests.length - batch.size} of ${requests.length} candidates`);
      return model.predict(batch);
    },
  };
}

/** How the loader holds the models it loads. */
export interface ScorerLoaderOptions {
  /**
   * `auto` (default): as the version's manifest says (`config.quantize`, absent = `none`), so
   * quantisation is a per-model choice made at publication; `int8` / `none` override it for this
   * service.
   */
  readonly quantize?: QuantizeMode | 'auto';
}

/**
 * The quantisation a version is served with: the override, else its manifest's `config.quantize`.
 *
 * @throws ModelConfigError when the manifest names an unknown mode (the watcher then refuses the version).
 */
export function servingQuantization(manifest: ModelManifest, override: QuantizeMode | 'auto' = 'auto'): QuantizeMode {
  if (override !== 'auto') return override;
  const q = manifest.config.quantize ?? 'none';
  if (!isQuantizeMode(q)) throw new ModelConfigError(`model ${manifest.model} ${manifest.version}: config.quantize ${JSON.stringify(q)} is not one of none, int8 (republish it with one of them)`);
  return q;
}

/**
 * A version's model as serving takes it: loaded from the files the watcher read (and checked), a
 * delta's parents from the store, with the quantisation it is served with and the transform it was
 * trained through (the service's own, or the same definitions with the crosses, or without the
 * position, that its input schema names).
 *
 * @throws Error when the files do not make a model the service's features can feed.
 */
export async function loadForServing(
  manifest: ModelManifest,
  files: ReadonlyMap<string, Uint8Array>,
  store: ModelStore,
  transform: FeatureTransform,
  groups: readonly CompiledGroup[],
  options: ScorerLoaderOptions = {},
): Promise<{ model: Model; mode: QuantizeMode; transform: FeatureTransform }> {
  const mode = servingQuantization(manifest, options.quantize);
  const { model } = await loadPublished(store, manifest.model, manifest.version, undefined, { manifest, files });
  return { model, mode, transform: servingTransform(model.schema, transform, groups, manifest) };
}

/** The transform a model of this input schema was trained through (see {@link loadForServing}). */
export function servingTransform(schema: InputSchema, transform: FeatureTransform, groups: readonly CompiledGroup[], manifest: ModelManifest): FeatureTransform {
  const own = inputSchemaHash(schema) === inputSchemaHash(transform.schema) ? transform : transformForSchema(groups, schema);
  if (own === null) {
    throw new Error(`model ${manifest.model} ${manifest.version} was built for feature spec ${String(schema.specHash)} with fields ${schema.fields.join(', ')}; the service's transform (spec ${transform.spec.hash}) cannot produce that input`);
  }
  return own;
}

/**
 * The {@link ScorerLoader} of Tessera's own models (LR, FM, Wide&Deep), deltas applied, then held
 * in float or INT8 form (see {@link ScorerLoaderOptions}); the quantised copy is built here, off
 * the request path, before the smoke test. On this thread: `reload-thread.ts` does the same in a
 * worker.
 */
export function tesseraScorerLoader(transform: FeatureTransform, groups: readonly CompiledGroup[], options: ScorerLoaderOptions = {}): ScorerLoader {
  return async (manifest, files, store: ModelStore) => {
    const loaded = await loadForServing(manifest, files, store, transform, groups, options);
    await yieldToRequests();
    return modelScorer(quantizeModel(loaded.model, loaded.mode), manifest.version, loaded.transform, groups);
  };
}
