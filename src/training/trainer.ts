import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../ports/logger.js';
import type { ModelStore } from '../ports/model-store.js';
import type { Metrics } from '../observability/metrics.js';
import type { Model, ModelKind } from '../models/model.js';
import { createModel, decodeModel, encodeModel } from '../models/serialization.js';
import type { Sample } from '../samples/sample.js';
import { ProgressiveValidator } from './evaluation.js';
import type { FeatureTransform } from './feature-transform.js';
import { inThreadPublisher, type VersionPublisher } from './background-publisher.js';
import { loadPublished, publishModel } from './publication.js';
import type { SampleSource, SourceCursor } from './sample-sources.js';

/**
 * The incremental trainer: reads samples from a source in its deterministic order, scores each
 * mini-batch before learning it (progressive validation: rolling AUC, logloss, calibration,
 * exported as metrics), learns it, and every so often checkpoints and publishes.
 *
 * Exactly once in effect. A checkpoint is the model's complete state (optimiser included) and
 * the source cursor after the last learned sample, written together in one atomic file replace.
 * A restart resumes from it, so samples after it are learned once and samples before it never
 * again; since learning is sequential and deterministic and mini-batches are cut at fixed sample
 * counts from the start of the source, a run killed at any point and restarted ends with the same
 * parameters as an uninterrupted one. Without a checkpoint the trainer warm-starts from the
 * latest published version and the cursor recorded in its manifest, or starts fresh.
 *
 * Publication: every `publishEverySamples` samples or `publishEveryMs` ms (whichever first) a
 * version goes to the model store: a delta of the rows changed since the previous version, and a
 * full snapshot every `fullEvery` publications; the store keeps the newest `keepVersions` (and
 * whatever they need).
 */
export interface TrainerOptions {
  /** Model store name (default: the kind). */
  name?: string;
  kind: ModelKind;
  /** Model hyper-parameters (see src/models). */
  modelConfig?: Record<string, unknown>;
  /** Samples per update (Wide&Deep: one gradient step; LR and FM learn per sample anyway). Default 256. */
  miniBatch?: number;
  /** Samples asked from the source per read. Default 4096. */
  readChunk?: number;
  /** Default 100,000; 0 turns sample-count publication off. */
  publishEverySamples?: number;
  /** Default 60,000 ms; 0 turns time-based publication off. */
  publishEveryMs?: number;
  /** Every n-th publication is a full snapshot. Default 10. */
  fullEvery?: number;
  /** Versions the store keeps. Default 20. */
  keepVersions?: number;
  /** Checkpoint after this many samples. Default 50,000. */
  checkpointEverySamples?: number;
  /** Passes over a finite source (full retrain). Default 1. */
  epochs?: number;
  /** Stop when the source has nothing more (after the last epoch) instead of polling. */
  untilIdle?: boolean;
  /** Poll interval when the source is caught up, ms. Default 1000. */
  pollMs?: number;
  /** Rolling window of progressive validation. Default 100,000. */
  validationWindow?: number;
  /** Publish when stopping (untilIdle or stop()). Default true. */
  publishOnExit?: boolean;
  /** The registry version and serving group versions of the definitions, recorded in each manifest. */
  registry?: { version: number | null; groups: Record<string, number> };
}

export interface TrainerDeps {
  source: SampleSource;
  store: ModelStore;
  transform: FeatureTransform;
  /** Directory of the trainer's checkpoints (local to the trainer). */
  checkpointDir: string;
  metrics: Metrics;
  logger: Logger;
  clock: () => number;
  /** Where versions are published; default on this thread into `store` (`BackgroundPublisher`: a worker thread). */
  publisher?: VersionPublisher;
}

/** What a checkpoint holds besides the model. */
interface CheckpointMeta {
  cursor: SourceCursor | null;
  epoch: number;
  learned: number;
  from: number | null;
  to: number | null;
  /** The last published version, the model mark it was published at, and deltas since the last full one. */
  published: { version: string; mark: number; deltasSinceFull: number } | null;
  publishedAtLearned: number;
}

export interface TrainerResult {
  learned: number;
  epochs: number;
  published: string[];
  auc: number;
  logloss: number;
  resumedFrom: 'checkpoint' | 'published' | 'fresh';
}

const MAGIC = Buffer.from('TCKP');

async function saveCheckpoint(dir: string, name: string, model: Model, meta: CheckpointMeta): Promise<void> {
  await mkdir(dir, { recursive: true });
  const metaBytes = Buffer.from(JSON.stringify(meta), 'utf8');
  const head = Buffer.alloc(8);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(metaBytes.length, 4);
  const tmp = join(dir, `.${name}.${randomUUID()}.tmp`);
  await writeFile(tmp, Buffer.concat([head, metaBytes, encodeModel(model)]), { flush: true });
  await rename(tmp, join(dir, `${name}.ckpt`)); // atomic: the old checkpoint or the new one, never half
}

async function loadCheckpoint(dir: string, name: string): Promise<{ model: Model; meta: CheckpointMeta } | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, `${name}.ckpt`));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (!bytes.subarray(0, 4).equals(MAGIC)) throw new Error(`checkpoint ${join(dir, `${name}.ckpt`)} is not a Tessera trainer checkpoint`);
  const len = bytes.readUInt32LE(4);
  const meta = JSON.parse(bytes.subarray(8, 8 + len).toString('utf8')) as CheckpointMeta;
  const model = decodeModel(new Uint8Array(bytes.subarray(8 + len)));
  return { model, meta };
}

export class Trainer {
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly deps: TrainerDeps,
    private readonly options: TrainerOptions,
  ) {}

  /** Asks the loop to stop after the mini-batch in flight (then it checkpoints and publishes). */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  async run(): Promise<TrainerResult> {
    const { source, store, transform, metrics, logger, clock } = this.deps;
    const o = this.options;
    const name = o.name ?? o.kind;
    const miniBatch = o.miniBatch ?? 256;
    const publishEverySamples = o.publishEverySamples ?? 100_000;
    const publishEveryMs = o.publishEveryMs ?? 60_000;
    const fullEvery = Math.max(1, o.fullEvery ?? 10);
    const checkpointEvery = o.checkpointEverySamples ?? 50_000;
    const epochs = o.epochs ?? 1;
    const validator = new ProgressiveValidator(o.validationWindow ?? 100_000);

    // 1. resume
    let model: Model;
    let meta: CheckpointMeta;
    let resumedFrom: TrainerResult['resumedFrom'];
    const ckpt = await loadCheckpoint(this.deps.checkpointDir, name);
    if (ckpt !== null) {
      ({ model, meta } = ckpt);
      resumedFrom = 'checkpoint';
    } else {
      const pointed = await store.pointer(name);
      if (pointed !== null) {
        const loaded = await loadPublished(store, name, pointed, o.kind);
        model = loaded.model;
        const recorded = (loaded.manifest.data.offsets ?? {}) as { cursor?: SourceCursor | null; epoch?: number; source?: string };
        const sameSource = recorded.source === source.name;
        meta = {
          cursor: sameSource ? (recorded.cursor ?? null) : null,
          epoch: sameSource ? (recorded.epoch ?? 0) : 0,
          learned: loaded.manifest.data.samples,
          from: loaded.manifest.data.from,
          to: loaded.manifest.data.to,
          published: { version: pointed, mark: Number(loaded.manifest.config.mark ?? model.mark()), deltasSinceFull: 0 },
          publishedAtLearned: loaded.manifest.data.samples,
        };
        resumedFrom = 'published';
      } else {
        model = createModel(o.kind, transform.schema, o.modelConfig ?? {});
        meta = { cursor: null, epoch: 0, learned: 0, from: null, to: null, published: null, publishedAtLearned: 0 };
        resumedFrom = 'fresh';
      }
    }
    if (model.schemaHash !== createModel(o.kind, transform.schema, {}).schemaHash) {
      throw new Error(`model ${name}: the resumed model was built for another input schema than this trainer's feature transform (spec ${transform.spec.hash}); use another --name or remove its checkpoint`);
    }
    logger.info('trainer.started', { name, kind: o.kind, source: source.name, resumedFrom, learned: meta.learned, epoch: meta.epoch });

    const publishedNow: string[] = [];
    let lastPublishTime = clock();
    let checkpointedAt = meta.learned;
    // Publication runs beside learning (docs/architecture.md, "Publication off the trainer's
    // path"): a version takes the model's state when it is due, the trainer goes on, and the
    // next version waits for it (it is its parent). No checkpoint is written while one is in
    // flight: a checkpoint due meanwhile, and the one that records the version, are written at the
    // first mini-batch after it is in the store.
    const publisher = this.deps.publisher ?? inThreadPublisher(store);
    let inflight: Promise<void> | null = null;
    let publishError: Error | null = null;
    let requestedAt = meta.publishedAtLearned;
    let checkpointDue = false;
    // null once the version asked for last is stored (or failed: publishError)
    const settled = async (): Promise<void> => {
      if (inflight !== null) await inflight;
      if (publishError !== null) throw publishError;
    };
    const publish = async () => {
      await settled();
      if (meta.learned === meta.publishedAtLearned && meta.published !== null) return;
      const delta = meta.published !== null && meta.published.deltasSinceFull + 1 < fullEvery;
      const deltasSinceFull = delta ? (meta.published?.deltasSinceFull ?? 0) + 1 : 0;
      const at = { learned: meta.learned, mark: model.mark() };
      const m = validator.metrics();
      requestedAt = meta.learned;
      lastPublishTime = clock();
      inflight = publisher
        .publish(
          model,
          {
            name,
            featureSpecHash: transform.spec.hash,
            parent: meta.published === null ? null : { version: meta.published.version, mark: meta.published.mark },
            delta,
            data: { samples: at.learned, from: meta.from, to: meta.to, offsets: { source: source.name, cursor: meta.cursor, epoch: meta.epoch } },
            metrics: Object.fromEntries(Object.entries({ auc: m.auc, logloss: m.logloss, calibration: m.calibration, validated: m.count }).filter(([, v]) => Number.isFinite(v))),
            features: { names: transform.spec.entries.map((e) => e.name), registry: o.registry?.version ?? null, groups: o.registry?.groups ?? {} },
          },
          o.keepVersions ?? 20,
        )
        .then(
          (manifest) => {
            inflight = null;
            meta.published = { version: manifest.version, mark: at.mark, deltasSinceFull };
            meta.publishedAtLearned = at.learned;
            publishedNow.push(manifest.version);
            checkpointDue = true;
            metrics.inc('tessera_train_published_total', { model: name, type: manifest.type }, 1, 'Model versions published');
            logger.info('trainer.published', { name, version: manifest.version, type: manifest.type, learned: at.learned, auc: m.auc });
          },
          (err: unknown) => {
            inflight = null;
            publishError = err instanceof Error ? err : new Error(String(err));
          },
        );
    };

    // 2. learn
    let metricsAt = meta.learned;
    const metricsEvery = 20_000;
    let pending: Sample[] = [];
    let pendingCursors: SourceCursor[] = [];
    let readCursor = meta.cursor;
    const learnPending = async (count: number) => {
      const chunk = pending.slice(0, count);
      const batch = transform.samplesBatch(chunk);
      const predictions = new Float64Array(batch.size);
      if (batch.size > 0) model.learn(batch, predictions);
      validator.addAll(predictions, batch.labels);
      for (const s of chunk) {
        meta.from = meta.from === null ? s.eventTime : Math.min(meta.from, s.eventTime);
        meta.to = meta.to === null ? s.eventTime : Math.max(meta.to, s.eventTime);
      }
      meta.cursor = pendingCursors[count - 1] ?? meta.cursor;
      meta.learned += chunk.length;
      pending = pending.slice(count);
      pendingCursors = pendingCursors.slice(count);
      metrics.inc('tessera_train_samples_total', { model: name }, chunk.length, 'Samples learned');
      metrics.inc('tessera_train_skipped_samples_total', { model: name }, chunk.length - batch.size, 'Samples refused by the feature transform (wrong spec, no ids)');
      // the rolling AUC sorts the whole window: refresh the gauges every `metricsEvery` samples, not per mini-batch
      if (meta.learned - metricsAt >= metricsEvery) {
        metricsAt = meta.learned;
        const m = validator.metrics();
        if (Number.isFinite(m.auc)) metrics.set('tessera_train_progressive_auc', m.auc, { model: name }, 'Rolling progressive-validation AUC');
        if (Number.isFinite(m.logloss)) metrics.set('tessera_train_progressive_logloss', m.logloss, { model: name }, 'Rolling progressive-validation logloss');
        if (Number.isFinite(m.calibration)) metrics.set('tessera_train_calibration', m.calibration, { model: name }, 'Mean prediction / observed rate over the rolling window');
      }
      if (publishError !== null) await settled(); // a failed publication stops the trainer
      if (checkpointDue || meta.learned - checkpointedAt >= checkpointEvery) checkpointDue = true;
      // A checkpoint past a version asked for must record that version as published (a restart
      // from it chains its next version to that one, as an uninterrupted run does): while one is
      // in flight, the checkpoint waits for it, without holding learning back.
      if (checkpointDue && inflight === null) {
        checkpointDue = false;
        await saveCheckpoint(this.deps.checkpointDir, name, model, meta);
        checkpointedAt = meta.learned;
      }
      const due = (publishEverySamples > 0 && meta.learned - requestedAt >= publishEverySamples) || (publishEveryMs > 0 && clock() - lastPublishTime >= publishEveryMs);
      if (due) await publish();
    };

    try {
      while (!this.stopped) {
        const { samples, cursors, exhausted } = await source.next(readCursor, o.readChunk ?? 4096);
        if (samples.length > 0) readCursor = cursors[cursors.length - 1] as SourceCursor;
        pending.push(...samples);
        pendingCursors.push(...cursors);
        while (pending.length >= miniBatch && !this.stopped) await learnPending(miniBatch);
        if (samples.length > 0) continue;
        if (!exhausted) continue;
        if (meta.epoch + 1 < epochs) {
          // the next pass of a full retrain: the tail of this pass first, so passes never mix
          if (pending.length > 0) await learnPending(pending.length);
          meta.epoch++;
          meta.cursor = null;
          readCursor = null;
          continue;
        }
        if (o.untilIdle) break;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, o.pollMs ?? 1000);
        });
        this.wake = null;
      }
      // the tail: at the end of the source a partial mini-batch is deterministic too (nothing follows it)
      if (!this.stopped && pending.length > 0) await learnPending(pending.length);
      if (o.publishOnExit !== false) await publish();
      await settled();
      await saveCheckpoint(this.deps.checkpointDir, name, model, meta);
    } catch (err) {
      // a version already on its way is finished before the error goes up (a SIGKILL loses it, which
      // a restart tolerates: it resumes from the checkpoint and its chain)
      if (inflight !== null) await inflight;
      throw err;
    }
    const m = validator.metrics();
    logger.info('trainer.stopped', { name, learned: meta.learned, auc: m.auc });
    return { learned: meta.learned, epochs: meta.epoch + 1, published: publishedNow, auc: m.auc, logloss: m.logloss, resumedFrom };
  }
}

/**
 * `tessera models publish`: publishes the trainer's latest checkpoint as a full version (parent:
 * the version the trainer published last), without waiting for its next automatic publication.
 * A running trainer keeps its own chain: its next delta still names its own last version as parent.
 *
 * @throws Error when there is no checkpoint of that name.
 */
export async function publishCheckpoint(store: ModelStore, checkpointDir: string, name: string, featureSpecHash: string): Promise<string> {
  const ckpt = await loadCheckpoint(checkpointDir, name);
  if (ckpt === null) throw new Error(`no trainer checkpoint named ${name} in ${checkpointDir}: run tessera train first (or pass --checkpoint-dir)`);
  const { model, meta } = ckpt;
  const manifest = await publishModel(store, {
    model,
    name,
    featureSpecHash,
    parent: meta.published === null ? null : { version: meta.published.version, mark: meta.published.mark },
    delta: false,
    data: { samples: meta.learned, from: meta.from, to: meta.to, offsets: { cursor: meta.cursor, epoch: meta.epoch } },
    metrics: {},
  });
  return manifest.version;
}
