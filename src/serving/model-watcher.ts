import type { Logger } from '../ports/logger.js';
import type { ModelManifest, ModelStore } from '../ports/model-store.js';
import type { Metrics } from '../observability/metrics.js';
import type { Scorer, ScorerSource } from './scorer.js';

/**
 * Lets the requests that arrived meanwhile run before the next step of a reload: a reload's
 * steps (checksums, decoding, quantising, the smoke test) each hold the event loop for tens of
 * milliseconds, and requests should wait for one of them at most, not for all in a row.
 */
export function yieldToRequests(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Builds a scorer from a version's files (model parameters behind the shared feature transform).
 * It throws when the files do not make a valid model of this kind.
 */
export type ScorerLoader = (manifest: ModelManifest, files: ReadonlyMap<string, Uint8Array>, store: ModelStore) => Promise<Scorer>;

export interface ModelWatcherOptions {
  store: ModelStore;
  /** The model to serve, e.g. `fm`. */
  model: string;
  load: ScorerLoader;
  /** The feature spec the service computes; a version trained for another is refused. */
  featureSpecHash: string;
  /** The feature names the service serves, to say which a refused version reads but cannot get. */
  servedFeatures?: readonly string[];
  /** The spec served when a version arrives, when it can change while the service runs (a registry flip); replaces the two above. */
  servedSpec?: () => Promise<{ hash: string; names: readonly string[] }>;
  /** The version files the loader needs (only these are read and checksummed); default all. */
  files?: readonly string[];
  /**
   * Checks a freshly loaded scorer off the request path before it serves: e.g. scores a few
   * synthetic requests and demands finite numbers (throws to refuse), which also warms it up.
   */
  smokeTest: (scorer: Scorer) => void | Promise<void>;
  /**
   * Prepares a version somewhere else (a worker thread: `reload-thread.ts`) and returns its
   * checked, smoke-tested scorer; when given, it replaces reading, checking, `load` and
   * `smokeTest` here, and the event loop only swaps.
   */
  prepare?: (version: string) => Promise<{ scorer: Scorer; ms?: Readonly<Record<string, number>> }>;
  metrics: Metrics;
  logger: Logger;
  /** Pointer poll interval, ms. Default 1000. */
  pollMs?: number;
}

/**
 * Hot reload. Polls the model's pointer; when it names another version, reads the version
 * (checksums verified by the store), checks its feature-spec hash, builds the scorer, smoke-tests
 * and warms it, and only then swaps it in with one reference assignment: requests in flight keep
 * the scorer they started with, and a broken, half-written or foreign version is refused while the
 * current one keeps serving (it is retried only when the pointer moves again). Rollback is a
 * pointer move like any other.
 */
export class ModelWatcher implements ScorerSource {
  private scorer: Scorer | null = null;
  private servingVersion: string | null = null;
  private refused: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | null = null;
  private polledOnce = false;

  constructor(private readonly options: ModelWatcherOptions) {}

  current(): Scorer | null {
    return this.scorer;
  }

  /** Whether the store was read at least once (readiness). */
  get ready(): boolean {
    return this.polledOnce;
  }

  get version(): string | null {
    return this.servingVersion;
  }

  /** Checks once now, then every `pollMs`. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.options.pollMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One poll: loads and swaps in the pointed version when it changed. Never throws. */
  check(): Promise<void> {
    this.checking ??= this.poll().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private async poll(): Promise<void> {
    const { store, model, metrics, logger } = this.options;
    let pointed: string | null;
    try {
      pointed = await store.pointer(model);
    } catch (err) {
      metrics.inc('tessera_serve_model_store_errors_total', {}, 1, 'Failed reads of the model store');
      logger.warn('serve.model_store_unreadable', { model, error: (err as Error).message });
      return;
    } finally {
      this.polledOnce = true;
    }
    if (pointed === null || pointed === this.servingVersion || pointed === this.refused) return;
    const started = Date.now();
    try {
      const { scorer, ms } = this.options.prepare ? await this.options.prepare(pointed) : { scorer: await this.loadHere(pointed), ms: undefined };
      this.scorer = scorer; // the swap
      this.servingVersion = pointed;
      this.refused = null;
      metrics.inc('tessera_serve_model_reloads_total', { outcome: 'loaded' }, 1, 'Model versions loaded (or refused)');
      metrics.set('tessera_serve_model_load_ms', Date.now() - started, {}, 'Time to load, check and warm the latest version');
      if (ms?.eventLoop !== undefined) metrics.set('tessera_serve_model_load_event_loop_ms', ms.eventLoop, {}, "The latest version's load time on the serving thread (the rest ran in the reload worker)");
      logger.info('serve.model_loaded', { model, version: pointed, ms: Date.now() - started, ...(ms ? { steps: ms } : {}) });
    } catch (err) {
      this.refused = pointed;
      metrics.inc('tessera_serve_model_reloads_total', { outcome: 'refused' }, 1, 'Model versions loaded (or refused)');
      logger.error('serve.model_refused', { model, version: pointed, serving: this.servingVersion, error: (err as Error).message });
    }
  }

  /** Reads, checks, loads and smoke-tests a version on this thread, yielding to requests between the steps. */
  private async loadHere(version: string): Promise<Scorer> {
    const { store, model } = this.options;
    const { manifest, files } = await store.read(model, version, this.options.files);
    const served = this.options.servedSpec ? await this.options.servedSpec() : { hash: this.options.featureSpecHash, names: this.options.servedFeatures ?? [] };
    checkServedSpec(manifest, served);
    await yieldToRequests();
    const scorer = await this.options.load(manifest, files, store);
    await yieldToRequests();
    await this.options.smokeTest(scorer);
    return scorer;
  }
}

/** @throws Error saying why (see {@link specMismatch}) when the version was trained for other features than those served. */
export function checkServedSpec(manifest: ModelManifest, served: { hash: string; names: readonly string[] }): void {
  if (manifest.featureSpecHash !== served.hash) throw new Error(specMismatch(manifest, { featureSpecHash: served.hash, servedFeatures: served.names }));
}

/** Why a version trained on other features cannot be served: the features it reads that are not served, by name, when its manifest lists them. */
export function specMismatch(manifest: ModelManifest, options: { featureSpecHash: string; servedFeatures?: readonly string[] }): string {
  const served = new Set(options.servedFeatures ?? []);
  const missing = manifest.features && served.size > 0 ? manifest.features.names.filter((n) => !served.has(n)) : [];
  const trainedOn = manifest.features?.registry != null ? ` (registry version ${manifest.features.registry}, groups ${Object.entries(manifest.features.groups).map(([g, v]) => `${g} v${v}`).join(', ')})` : '';
  if (missing.length > 0) return `reads features the service does not serve: ${missing.join(', ')}${trainedOn}; serve the versions it was trained on, or retrain it on the ones serving`;
  return `trained for feature spec ${manifest.featureSpecHash}${trainedOn}, the service computes ${options.featureSpecHash} (the same names computed otherwise, or in another order): retrain it on the versions serving`;
}
