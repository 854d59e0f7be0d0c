import type { ModelManifest, ModelStore } from '../ports/model-store.js';
import type { Model, ModelKind } from '../models/model.js';
import type { ParamRows } from '../models/param-table.js';
import { applyParamRows, decodeModel, encodeModel, keyValueLines, modelInfo, type ModelInfo } from '../models/serialization.js';
import { ModelFormatError } from '../models/model-errors.js';

/**
 * How model versions are laid out in the model store, and how they are loaded back.
 *
 * A full version holds `model.bin` (the complete state, optimiser included: `encodeModel`) and
 * `weights.kv` (the key-value export any platform can load without Tessera: feature id ->
 * weights, one JSON line per row after a header that says how to score). A delta version holds
 * `delta.bin` (only the rows changed since its parent, plus the ids removed: {@link encodeRows})
 * and the same rows as `weights.kv`. Loading a version walks its parents back to the nearest full
 * snapshot and applies the deltas in order; deltas carry weights, not optimiser state, so a
 * trainer warm-starting from a delta continues with the snapshot's optimiser statistics for the
 * rows changed since (its own checkpoint is what makes a restart exact).
 */

const MAGIC = 'TSRW';

/** Parameter rows as bytes: magic, u32 header length, JSON header, then the f64 arrays (8-aligned). */
export function encodeRows(rows: readonly ParamRows[], mark: number, parentMark: number): Uint8Array {
  const header = JSON.stringify({ mark, parentMark, tables: rows.map((t) => ({ name: t.name, kind: t.kind, width: t.width, keys: t.keys.length, values: t.values.length, removed: t.removed.length })) });
  const head = Buffer.from(header, 'utf8');
  const start = (8 + head.length + 7) & ~7;
  const total = start + rows.reduce((n, t) => n + 8 * (t.keys.length + t.values.length + t.removed.length), 0);
  const out = new Uint8Array(total);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, head.length, true);
  out.set(head, 8);
  const f = new Float64Array(out.buffer, start);
  let o = 0;
  for (const t of rows) {
    for (const a of [t.keys, t.values, t.removed]) {
      f.set(a, o);
      o += a.length;
    }
  }
  return out;
}

/** Rows from {@link encodeRows} bytes. */
export function decodeRows(bytes: Uint8Array): { rows: ParamRows[]; mark: number; parentMark: number } {
  if (bytes.length < 8 || Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== MAGIC) throw new ModelFormatError('not a Tessera parameter-rows file');
  const copy = new Uint8Array(bytes); // aligned copy
  const len = new DataView(copy.buffer).getUint32(4, true);
  const header = JSON.parse(Buffer.from(copy.subarray(8, 8 + len)).toString('utf8')) as { mark: number; parentMark: number; tables: { name: string; kind: 'sparse' | 'dense'; width: number; keys: number; values: number; removed: number }[] };
  const start = (8 + len + 7) & ~7;
  const f = new Float64Array(copy.buffer, start, (copy.length - start) / 8);
  let o = 0;
  const take = (n: number) => {
    const a = f.slice(o, o + n);
    o += n;
    return a;
  };
  const rows = header.tables.map((t) => ({ name: t.name, kind: t.kind, width: t.width, keys: take(t.keys), values: take(t.values), removed: take(t.removed) }));
  if (o !== f.length) throw new ModelFormatError('parameter-rows file: sizes do not add up');
  return { rows, mark: header.mark, parentMark: header.parentMark };
}

/** A publication's export as text: a header line, then one line per row. */
function kvFile(model: ModelInfo, rows: readonly ParamRows[], parentMark: number): Uint8Array {
  return Buffer.from([...keyValueLines(model, rows, parentMark)].join('\n') + '\n', 'utf8');
}

/** What a publication says about itself (the rest of the manifest comes from the model). */
export interface PublishInput {
  model: Model;
  /** The store's model name, e.g. `fm`. */
  name: string;
  featureSpecHash: string;
  /** Parent version and the model mark it was published at; null for the first version. */
  parent: { version: string; mark: number } | null;
  /** Publish only the rows changed since the parent (needs a parent). */
  delta: boolean;
  data: ModelManifest['data'];
  metrics: Record<string, number>;
  /** Serving options recorded in the manifest's config, e.g. `{ quantize: 'int8' }` (see serving/model-scorer.ts). */
  serving?: { quantize?: 'none' | 'int8' };
  /** The features the version reads (see {@link ModelManifest.features}). */
  features?: ModelManifest['features'];
}

/**
 * A version's content as taken from the model when it is due: the rows to export (all of them,
 * or those changed since the parent), and for a full version the encoded model. Taking it copies
 * arrays and formats no text, so the model can go on learning at once; {@link writeVersion}
 * turns it into files, on any thread (plain data: it crosses to a worker).
 */
export interface VersionContent {
  readonly model: ModelInfo;
  readonly delta: boolean;
  readonly parentMark: number;
  readonly rows: ParamRows[];
  /** `model.bin` of a full version; null for a delta. */
  readonly modelBin: Uint8Array | null;
}

/** The content of the version `input` asks for, from its model as it is now. */
export function versionContent(input: Pick<PublishInput, 'model' | 'parent' | 'delta'>): VersionContent {
  const { model } = input;
  const delta = input.delta && input.parent !== null;
  const parentMark = delta ? (input.parent as { mark: number }).mark : -1;
  return { model: modelInfo(model), delta, parentMark, rows: model.changedSince(parentMark), modelBin: delta ? null : encodeModel(model) };
}

/** Writes a version's files and manifest into the store; returns the manifest. */
export function writeVersion(store: ModelStore, content: VersionContent, input: Omit<PublishInput, 'model'>): Promise<ModelManifest> {
  const { model, rows, parentMark } = content;
  const files = content.modelBin === null
    ? [{ name: 'delta.bin', data: encodeRows(rows, model.mark, parentMark) }, { name: 'weights.kv', data: kvFile(model, rows, parentMark) }]
    : [{ name: 'model.bin', data: content.modelBin }, { name: 'weights.kv', data: kvFile(model, rows, -1) }];
  return store.publish(input.name, files, {
    kind: model.kind,
    featureSpecHash: input.featureSpecHash,
    type: content.delta ? 'delta' : 'full',
    parent: input.parent?.version ?? null,
    data: input.data,
    metrics: input.metrics,
    config: { ...input.serving, mark: model.mark, schemaHash: model.schemaHash },
    ...(input.features ? { features: input.features } : {}),
  });
}

/** Publishes one version; returns its manifest (its `config.mark` is the mark to diff the next delta against). */
export async function publishModel(store: ModelStore, input: PublishInput): Promise<ModelManifest> {
  return writeVersion(store, versionContent(input), input);
}

/** The files a version's model is loaded from (the key-value export is for other platforms). */
export const MODEL_FILES: readonly string[] = ['model.bin', 'delta.bin'];

/**
 * A version as a model: the nearest full snapshot behind it decoded, then every delta up to it
 * applied in order (checksums verified by the store on every read). `head`: the version itself,
 * already read from the store (a hot-reloading service has it), so that it is not read again.
 */
export async function loadPublished(
  store: ModelStore,
  name: string,
  version: string,
  expectKind?: ModelKind,
  head?: { manifest: ModelManifest; files: ReadonlyMap<string, Uint8Array> },
): Promise<{ model: Model; manifest: ModelManifest }> {
  type Read = { manifest: ModelManifest; files: ReadonlyMap<string, Uint8Array> };
  const usable = head !== undefined && head.manifest.version === version && head.files.has(head.manifest.type === 'full' ? 'model.bin' : 'delta.bin');
  const chain: Read[] = [];
  for (let v: string | null = version; v !== null; ) {
    const read: Read = v === version && usable ? head : await store.read(name, v, MODEL_FILES);
    chain.unshift(read);
    if (read.manifest.type === 'full') break;
    v = read.manifest.parent;
    if (v === null) throw new ModelFormatError(`model ${name} version ${read.manifest.version} is a delta without a parent`);
    if (chain.length > 10_000) throw new ModelFormatError(`model ${name}: delta chain of ${version} does not reach a full snapshot`);
  }
  const full = chain[0];
  const bin = full?.files.get('model.bin');
  if (full === undefined || full.manifest.type !== 'full' || bin === undefined) throw new ModelFormatError(`model ${name} version ${version}: no full snapshot behind it`);
  const model = decodeModel(bin, expectKind);
  for (const step of chain.slice(1)) {
    const delta = step.files.get('delta.bin');
    if (delta === undefined) throw new ModelFormatError(`model ${name} version ${step.manifest.version}: delta.bin missing`);
    applyParamRows(model, decodeRows(delta).rows);
  }
  const last = chain[chain.length - 1] as { manifest: ModelManifest };
  return { model, manifest: last.manifest };
}
