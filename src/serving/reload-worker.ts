import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { createFsModelStore } from '../adapters/fs/fs-model-store.js';
import type { CompiledGroup } from '../features/definitions.js';
import { servingModelOf, servingSnapshot, snapshotTransfer, type ServingSnapshot } from '../models/serving-snapshot.js';
import type { QuantizeMode } from '../models/quantized-model.js';
import type { ModelManifest } from '../ports/model-store.js';
import { createFeatureTransform } from '../training/feature-transform.js';
import { loadForServing, modelScorer } from './model-scorer.js';
import { specMismatch } from './model-watcher.js';
import { smokeTestScorer } from './smoke-test.js';

/**
 * The reload worker's side (see `reload-thread.ts`): reads a version (checksums verified by the
 * store), checks its feature spec, decodes it with its deltas, builds its serving form (INT8 copy
 * included), scores the smoke test through the very arrays it then hands over, and transfers them.
 * Everything that costs time in a reload happens here, on a thread no request waits for.
 */
export interface PrepareRequest {
  readonly id: number;
  readonly modelDir: string;
  readonly model: string;
  readonly version: string;
  readonly files: readonly string[] | undefined;
  /** The groups the service computes now (the transform is rebuilt from them: same code, same hash). */
  readonly groups: readonly CompiledGroup[];
  readonly quantize: QuantizeMode | 'auto';
}

/** What the worker answers: the version ready to wrap, or why it is refused. */
export type PrepareReply =
  | { readonly id: number; readonly ok: true; readonly manifest: ModelManifest; readonly snapshot: ServingSnapshot; readonly ms: Readonly<Record<'read' | 'decode' | 'serving' | 'smoke', number>> }
  | { readonly id: number; readonly ok: false; readonly error: string };

async function prepare(req: PrepareRequest): Promise<{ reply: PrepareReply; transfer: ArrayBuffer[] }> {
  const t0 = performance.now();
  const store = createFsModelStore(req.modelDir);
  const { manifest, files } = await store.read(req.model, req.version, req.files);
  const transform = createFeatureTransform(req.groups);
  if (manifest.featureSpecHash !== transform.spec.hash) {
    throw new Error(specMismatch(manifest, { featureSpecHash: transform.spec.hash, servedFeatures: transform.spec.entries.map((e) => e.name) }));
  }
  const t1 = performance.now();
  const loaded = await loadForServing(manifest, files, store, transform, req.groups, { quantize: req.quantize });
  const t2 = performance.now();
  const snapshot = servingSnapshot(loaded.model, loaded.mode);
  const t3 = performance.now();
  // the smoke test scores the arrays that are handed over, through the same wrapping the service does
  smokeTestScorer(modelScorer(servingModelOf(snapshot), manifest.version, loaded.transform, req.groups), req.groups);
  const t4 = performance.now();
  return { reply: { id: req.id, ok: true, manifest, snapshot, ms: { read: t1 - t0, decode: t2 - t1, serving: t3 - t2, smoke: t4 - t3 } }, transfer: snapshotTransfer(snapshot) };
}

/**
 * Lowers this thread's scheduling priority (Linux: a thread is a task with its own nice value,
 * which setpriority sets by its id), so that on a busy machine a reload takes the CPU requests
 * leave idle instead of taking it from them. Elsewhere, or when refused, the thread keeps the
 * process's priority.
 */
function lowerPriority(nice: number): void {
  if (process.platform !== 'linux' || nice <= 0) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // not permitted or no /proc: normal priority
  }
}

const port = parentPort;
if (port === null) throw new Error('reload-worker.ts runs as a worker thread (see reload-thread.ts)');
lowerPriority(Number((workerData as { nice?: number } | null)?.nice ?? 0));
// one version at a time, in order: a reload is rare and each holds a whole model in memory
let queue: Promise<void> = Promise.resolve();
port.on('message', (req: PrepareRequest) => {
  queue = queue.then(async () => {
    try {
      const { reply, transfer } = await prepare(req);
      port.postMessage(reply, transfer);
    } catch (err) {
      port.postMessage({ id: req.id, ok: false, error: (err as Error).message } satisfies PrepareReply);
    }
  });
});
