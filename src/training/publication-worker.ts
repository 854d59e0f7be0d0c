import { createFsModelStore } from '../adapters/fs/fs-model-store.js';
import type { ModelManifest } from '../ports/model-store.js';
import { serveTasks } from '../util/task-worker.js';
import { writeVersion, type PublishInput, type VersionContent } from './publication.js';

/**
 * The publication worker's side (see `background-publisher.ts`): a version's content as the
 * trainer took it when the version was due, written exactly as on the trainer's thread (model.bin
 * or delta.bin, the key-value export, checksums, manifest, pointer), then the store pruned.
 */
export interface PublishTask {
  readonly modelDir: string;
  readonly content: VersionContent;
  readonly input: Omit<PublishInput, 'model'>;
  readonly keepVersions: number;
}

serveTasks<PublishTask>(async (task) => {
  const store = createFsModelStore(task.modelDir);
  const manifest: ModelManifest = await writeVersion(store, task.content, task.input);
  await store.prune(task.input.name, task.keepVersions);
  return { value: manifest };
});
