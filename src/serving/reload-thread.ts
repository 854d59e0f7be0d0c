import type { CompiledGroup } from '../features/definitions.js';
import type { QuantizeMode } from '../models/quantized-model.js';
import { servingModelOf } from '../models/serving-snapshot.js';
import type { ModelManifest } from '../ports/model-store.js';
import type { FeatureTransform } from '../training/feature-transform.js';
import { modelScorer, servingTransform } from './model-scorer.js';
import type { PreparedSnapshot, PrepareTask } from './reload-worker.js';
import { TaskWorker } from '../util/task-worker.js';
import type { Scorer } from './scorer.js';

/** Where and how versions are prepared off the event loop. */
export interface ReloadThreadOptions {
  /** The model store's directory (the worker opens its own store on it). */
  readonly modelDir: string;
  readonly quantize?: QuantizeMode | 'auto';
  /**
   * The worker thread's nice value on Linux (0..19, default 19): at 19 a reload runs on the CPU
   * that requests leave idle, and takes longer on a saturated machine rather than slowing them.
   */
  readonly nice?: number;
  /** A version taking longer than this is refused and the worker restarted (default 10 minutes). */
  readonly timeoutMs?: number;
}

/** What the served features are when a version arrives (the registry can flip them while serving). */
export interface ServedFeatures {
  readonly groups: readonly CompiledGroup[];
  /** The service's transform for `groups` (its id cache is warm; a model trained through it scores through it). */
  readonly transform: FeatureTransform;
}

/** A version ready to swap in, with where its time went. */
export interface PreparedVersion {
  readonly manifest: ModelManifest;
  readonly scorer: Scorer;
  /** Time in the worker per step, and on this thread (wrapping the handed-over arrays). */
  readonly ms: Readonly<Record<'read' | 'decode' | 'serving' | 'smoke' | 'eventLoop', number>>;
}

/**
 * Hot reload off the event loop (docs/architecture.md, "Hot reload off the event loop"): a worker
 * thread reads a version, verifies its checksums and feature spec, decodes it with its deltas,
 * builds its serving form (the INT8 copy included) and smoke-tests it, then transfers the arrays;
 * this thread only wraps them (no copy, no index rebuilt) into a scorer, which the watcher swaps
 * in with one assignment. A version the worker refuses, a worker that dies and a version that
 * takes too long reject {@link prepare} with the reason; the worker is restarted for the next one.
 */
export class ReloadThread {
  private readonly worker: TaskWorker;

  constructor(private readonly options: ReloadThreadOptions) {
    this.worker = new TaskWorker({
      module: { js: new URL('./reload-worker.js', import.meta.url), ts: new URL('./reload-worker.ts', import.meta.url) },
      nice: options.nice ?? 19,
      label: 'the reload worker',
    });
  }

  /** Prepares `version` of `model` for the features served now; rejects with the reason it cannot serve. */
  async prepare(model: string, version: string, files: readonly string[] | undefined, served: ServedFeatures): Promise<PreparedVersion> {
    const task: PrepareTask = { modelDir: this.options.modelDir, model, version, files, groups: served.groups, quantize: this.options.quantize ?? 'auto' };
    const prepared = await this.worker.run<PreparedSnapshot>(task, { timeoutMs: this.options.timeoutMs ?? 600_000, describe: `preparing ${model} ${version}` });
    const t = performance.now();
    const servingModel = servingModelOf(prepared.snapshot);
    const scorer = modelScorer(servingModel, prepared.manifest.version, servingTransform(servingModel.schema, served.transform, served.groups, prepared.manifest), served.groups);
    return { manifest: prepared.manifest, scorer, ms: { ...prepared.ms, eventLoop: performance.now() - t } };
  }

  /** Stops the worker; pending versions are refused. */
  close(): Promise<void> {
    return this.worker.close();
  }
}
