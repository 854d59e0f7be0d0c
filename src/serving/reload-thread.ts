import { Worker } from 'node:worker_threads';
import type { CompiledGroup } from '../features/definitions.js';
import type { QuantizeMode } from '../models/quantized-model.js';
import { servingModelOf } from '../models/serving-snapshot.js';
import type { ModelManifest } from '../ports/model-store.js';
import type { FeatureTransform } from '../training/feature-transform.js';
import { modelScorer, servingTransform } from './model-scorer.js';
import type { PrepareReply, PrepareRequest } from './reload-worker.js';
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

interface Pending {
  resolve(reply: PrepareReply): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
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
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly options: ReloadThreadOptions) {}

  /** Prepares `version` of `model` for the features served now; rejects with the reason it cannot serve. */
  async prepare(model: string, version: string, files: readonly string[] | undefined, served: ServedFeatures): Promise<PreparedVersion> {
    const id = this.nextId++;
    const request: PrepareRequest = { id, modelDir: this.options.modelDir, model, version, files, groups: served.groups, quantize: this.options.quantize ?? 'auto' };
    const worker = this.started();
    const reply = await new Promise<PrepareReply>((resolve, reject) => {
      const timeoutMs = this.options.timeoutMs ?? 600_000;
      const timer = setTimeout(() => {
        this.fail(new Error(`preparing ${model} ${version} took longer than ${timeoutMs} ms; the reload worker was restarted`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      worker.postMessage(request);
    });
    if (!reply.ok) throw new Error(reply.error);
    const t = performance.now();
    const servingModel = servingModelOf(reply.snapshot);
    const scorer = modelScorer(servingModel, reply.manifest.version, servingTransform(servingModel.schema, served.transform, served.groups, reply.manifest), served.groups);
    return { manifest: reply.manifest, scorer, ms: { ...reply.ms, eventLoop: performance.now() - t } };
  }

  /** Stops the worker; pending versions are refused. */
  async close(): Promise<void> {
    const w = this.worker;
    this.fail(new Error('the reload worker was stopped'));
    await w?.terminate();
  }

  private started(): Worker {
    if (this.worker !== null) return this.worker;
    const w = spawnReloadWorker(this.options.nice ?? 19);
    w.unref(); // an idle worker never keeps the process alive
    w.on('message', (reply: PrepareReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      p.resolve(reply);
    });
    w.on('error', (err) => this.fail(new Error(`the reload worker failed: ${err.message}`), w));
    w.on('exit', (code) => this.fail(new Error(`the reload worker exited (code ${code})`), w));
    this.worker = w;
    return w;
  }

  /** Refuses every pending version and drops the worker (the next version starts a new one). */
  private fail(err: Error, which: Worker | null = this.worker): void {
    if (which !== this.worker) return; // an old worker's late exit
    const w = this.worker;
    this.worker = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    if (w !== null) void w.terminate();
  }
}

/**
 * The worker, from the compiled `reload-worker.js` beside this module, or from the TypeScript
 * source through tsx when Tessera runs from its sources (tests, `tsx` in development).
 */
function spawnReloadWorker(nice: number): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./reload-worker.js', import.meta.url), { workerData: { nice } });
  return new Worker(new URL('./reload-worker-source.mjs', import.meta.url), { workerData: { nice, source: new URL('./reload-worker.ts', import.meta.url).href } });
}
