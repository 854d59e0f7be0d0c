import type { Model } from '../models/model.js';
import type { ModelManifest, ModelStore } from '../ports/model-store.js';
import { TaskWorker } from '../util/task-worker.js';
import { publishModel, versionContent, type PublishInput } from './publication.js';
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
 * the trainer takes the version's content (the rows to export, and the encoded model of a full
 * version: arrays copied, no text), and a worker thread at a lower priority writes the key-value
 * export and the files and moves the pointer. What it publishes is byte for byte what the
 * trainer's thread would have (tested).
 */
export class BackgroundPublisher implements VersionPublisher {
  private readonly worker: TaskWorker;

  constructor(private readonly options: { readonly modelDir: string; readonly nice?: number }) {
    this.worker = new TaskWorker({
      module: { js: new URL('./publication-worker.js', import.meta.url), ts: new URL('./publication-worker.ts', import.meta.url) },
      nice: options.nice ?? 19,
      label: 'the publication worker',
    });
  }

  publish(model: Model, input: Omit<PublishInput, 'model'>, keepVersions: number): Promise<ModelManifest> {
    const content = versionContent({ model, parent: input.parent, delta: input.delta });
    const task: PublishTask = { modelDir: this.options.modelDir, content, input, keepVersions };
    // the rows and model.bin are fresh arrays the model does not use: moved, not copied
    const transfer = new Set<ArrayBuffer>();
    for (const a of [content.modelBin, ...content.rows.flatMap((t) => [t.keys, t.values, t.removed])]) if (a !== null && a.buffer instanceof ArrayBuffer) transfer.add(a.buffer);
    return this.worker.run<ModelManifest>(task, { transfer: [...transfer], describe: `publishing ${input.name}` });
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
