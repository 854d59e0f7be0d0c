import { createFsModelStore } from '../adapters/fs/fs-model-store.js';
import type { CompiledGroup } from '../features/definitions.js';
import { servingModelOf, servingSnapshot, snapshotTransfer, type ServingSnapshot } from '../models/serving-snapshot.js';
import type { QuantizeMode } from '../models/quantized-model.js';
import type { ModelManifest } from '../ports/model-store.js';
import { createFeatureTransform } from '../training/feature-transform.js';
import { serveTasks } from '../util/task-worker.js';
import { loadForServing, modelScorer } from './model-scorer.js';
import { checkServedSpec } from './model-watcher.js';
import { smokeTestScorer } from './smoke-test.js';

/**
 * The reload worker's side (see `reload-thread.ts`): reads a version (checksums verified by the
 * store), checks its feature spec, decodes it with its deltas, builds its serving form (INT8 copy
 * included), scores the smoke test through the very arrays it then hands over, and transfers them.
 * Everything that costs time in a reload happens here, on a thread no request waits for.
 */
export interface PrepareTask {
  readonly modelDir: string;
  readonly model: string;
  readonly version: string;
  readonly files: readonly string[] | undefined;
  /** The groups the service computes now (the transform is rebuilt from them: same code, same hash). */
  readonly groups: readonly CompiledGroup[];
  readonly quantize: QuantizeMode | 'auto';
}

/** A version ready to wrap, with the time each step took in the worker. */
export interface PreparedSnapshot {
  readonly manifest: ModelManifest;
  readonly snapshot: ServingSnapshot;
  readonly ms: Readonly<Record<'read' | 'decode' | 'serving' | 'smoke', number>>;
}

serveTasks<PrepareTask>(async (task) => {
  const t0 = performance.now();
  const store = createFsModelStore(task.modelDir);
  const { manifest, files } = await store.read(task.model, task.version, task.files);
  const transform = createFeatureTransform(task.groups);
  checkServedSpec(manifest, { hash: transform.spec.hash, names: transform.spec.entries.map((e) => e.name) });
  const t1 = performance.now();
  const loaded = await loadForServing(manifest, files, store, transform, task.groups, { quantize: task.quantize });
  const t2 = performance.now();
  const snapshot = servingSnapshot(loaded.model, loaded.mode);
  const t3 = performance.now();
  // the smoke test scores the arrays that are handed over, through the same wrapping the service does
  smokeTestScorer(modelScorer(servingModelOf(snapshot), manifest.version, loaded.transform, task.groups), task.groups);
  const t4 = performance.now();
  const value: PreparedSnapshot = { manifest, snapshot, ms: { read: t1 - t0, decode: t2 - t1, serving: t3 - t2, smoke: t4 - t3 } };
  return { value, transfer: snapshotTransfer(snapshot) };
});
