import { createFsModelStore } from '../adapters/fs/fs-model-store.js';
import { decodeModel } from '../models/serialization.js';
import type { ModelManifest } from '../ports/model-store.js';
import { serveTasks } from '../util/task-worker.js';
import { publishModel, type PublishInput } from './publication.js';

/**
 * The publication worker's side (see `background-publisher.ts`): the model as the trainer encoded
 * it when the version was due, decoded here (bit for bit the same state), then published exactly
 * as on the trainer's thread (model.bin or delta.bin, the key-value export, checksums, manifest,
 * pointer) and the store pruned.
 */
export interface PublishTask {
  readonly modelDir: string;
  readonly model: Uint8Array;
  readonly input: Omit<PublishInput, 'model'>;
  readonly keepVersions: number;
}

serveTasks<PublishTask>(async (task) => {
  const store = createFsModelStore(task.modelDir);
  const manifest: ModelManifest = await publishModel(store, { ...task.input, model: decodeModel(task.model) });
  await store.prune(task.input.name, task.keepVersions);
  return { value: manifest };
});
