import type { Model } from '../models/model.js';
import { encodeModel } from '../models/serialization.js';
import type { ModelManifest, ModelStore } from '../ports/model-store.js';
import { TaskWorker } from '../util/task-worker.js';
import { publishModel, type PublishInput } from './publication.js';
import type { PublishTask } from './publication-worker.js';

/**
 * How the trainer publishes a version: `publish` takes the model's state at the call (the trainer
 * goes on learning as soon as it returns its promise) and resolves when the version is in the
 * store; versions are published in the order asked.
 */
export interface VersionPublisher {
  publish(model: Model, input: Omit<PublishInput, 'model'>, keepVersions: number): Promise<ModelManifest>;
  close(): Promise<void>;
}

/** Publication on the trainer's own thread (the model store of a test, or any store a worker cannot open). */
export function inThreadPublisher(store: ModelStore): VersionPublisher {
  return {
    async publish(model, input, keepVersions) {
      const manifest = await publishModel(store, { ...input, model });
      await store.prune(input.name, keepVersions);
      return manifest;
    },
    close: async () => undefined,
  };
}

/**
 * Publication off the trainer's path (docs/architecture.md, "Publication off the trainer's path"):
 * the trainer encodes the model (its arrays copied once, the cheap part) and a worker thread at a
 * lower priority decodes it, writes the key-value export and the files, and moves the pointer.
 * What it publishes is byte for byte what the trainer's thread would have (tested).
 */
export class BackgroundPublisher implements VersionPublisher {
  private readonly worker: TaskWorker;

  constructor(private readonly options: { readonly modelDir: string; readonly nice?: number }) {
    this.worker = new TaskWorker({
      module: { js: new URL('./publication-worker.js', import.meta.url), ts: new URL('./publication-worker.ts', import.meta.url) },
      fromSources: import.meta.url.endsWith('.ts'),
      nice: options.nice ?? 10,
      label: 'the publication worker',
    });
  }

  publish(model: Model, input: Omit<PublishInput, 'model'>, keepVersions: number): Promise<ModelManifest> {
    const bytes = encodeModel(model);
    const task: PublishTask = { modelDir: this.options.modelDir, model: bytes, input, keepVersions };
    return this.worker.run<ModelManifest>(task, { transfer: [bytes.buffer as ArrayBuffer], describe: `publishing ${input.name}` });
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
