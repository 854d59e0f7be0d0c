import * as zlib from 'node:zlib';
import { DenseNormalizer, DenseTable } from './dense-table.js';
import { EmbeddingTable } from './embedding-table.js';
import { FmModel } from './fm.js';
import { LrModel } from './lr.js';
import type { InputSchema } from './model-batch.js';
import { ModelFormatError, ModelSchemaError } from './model-errors.js';
import type { BaseModel, Model, ModelKind } from './model.js';
import type { ParamRows } from './param-table.js';
import { WideDeepModel } from './wide-deep.js';

/**
 * Model persistence.
 *
 * **Binary** (`encodeModel` / `decodeModel`): everything needed to predict AND to continue
 * learning exactly: config, input schema, every table's parameters and optimiser state, sparse
 * rows' last-seen times and versions, admission sketches, removal logs, normaliser statistics and
 * counters. Layout (little endian):
 *
 * ```
 * "TSRM" | u32 format version | u32 header bytes H | header JSON (H bytes) | zero padding to 8
 * | blocks, each a raw typed array padded to 8 | u32 CRC-32 of every byte before it
 * ```
 *
 * The header lists `{ component, key, type: 'f64' | 'u8', length, offset }` per block. Doubles are
 * stored as their raw bits, sparse rows in ascending id order and the header's JSON with sorted
 * keys, so a model round-trips bit for bit (`encode(decode(b))` equals `b`), and two models that
 * learned the same examples encode to the same bytes however their tables were laid out in memory.
 *
 * **Key-value export** (`keyValueLines`): text, one JSON object per line, for a platform that
 * loads the weights without Tessera: a header line (kind, schema, config, how to score), then one
 * line per row `{"t": table, "k": key, "v": [values]}` where k is the feature id (see
 * `featureId`) for sparse tables and the row index for dense ones. Works on a full snapshot
 * (`model.changedSince(-1)`) or a delta (`changedSince(mark)`: removed ids get `{"t", "k", "del": true}`).
 */

const MAGIC = [0x54, 0x53, 0x52, 0x4d]; // "TSRM"
const FORMAT_VERSION = 1;

/** JSON with sorted keys; non-finite numbers as {"$num": "Infinity"} so configs with Infinity survive. */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : JSON.stringify({ $num: String(value) });
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function reviveNumbers(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reviveNumbers);
  if (value !== null && typeof value === 'object') {
    const rec = value as Record<string, unknown>;
    const keys = Object.keys(rec);
    if (keys.length === 1 && keys[0] === '$num' && typeof rec.$num === 'string') return Number(rec.$num);
    return Object.fromEntries(keys.map((k) => [k, reviveNumbers(rec[k])]));
  }
  return value;
}

/** zlib's own CRC-32 (Node 20.15 and later): native, about 20x the table loop below. */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let crcTable: Uint32Array | null = null;
/** CRC-32 (IEEE 802.3, as zlib and gzip compute it). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (nativeCrc32 !== undefined) return nativeCrc32(bytes, crc);
  return crc32Table(bytes, crc);
}

/** The table-driven CRC-32, for Node releases without zlib.crc32 (and as its test oracle). */
export function crc32Table(bytes: Uint8Array, crc = 0): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = (crcTable[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

interface BlockInfo {
  component: string;
  key: string;
  type: 'f64' | 'u8';
  length: number;
  offset: number;
}

const pad8 = (n: number): number => (n + 7) & ~7;

export function asBase(model: Model): BaseModel {
  if (model instanceof LrModel || model instanceof FmModel || model instanceof WideDeepModel) return model;
  throw new ModelFormatError(`cannot encode a model of kind ${String((model as { kind?: unknown }).kind)}: only lr, fm and wide-deep models`);
}

/** The model's full state as bytes (see the module comment for the layout). */
export function encodeModel(model: Model): Uint8Array {
  if (!LITTLE_ENDIAN) throw new ModelFormatError('model encoding needs a little-endian platform');
  const base = asBase(model);
  const blocks: { info: BlockInfo; bytes: Uint8Array }[] = [];
  let offset = 0;
  const push = (component: string, key: string, a: Float64Array | Uint8Array): void => {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    blocks.push({ info: { component, key, type: a instanceof Float64Array ? 'f64' : 'u8', length: a.length, offset }, bytes });
    offset += pad8(bytes.length);
  };
  push('model', 'counters', base.exportCounters());
  const components = base.components();
  for (const name of Object.keys(components).sort()) {
    const state = (components[name] as { exportState(): Record<string, Float64Array | Uint8Array> }).exportState();
    for (const key of Object.keys(state).sort()) push(name, key, state[key] as Float64Array | Uint8Array);
  }
  const header = new TextEncoder().encode(
    canonicalJson({ kind: model.kind, schema: model.schema, schemaHash: model.schemaHash, config: model.config, blocks: blocks.map((b) => b.info) }),
  );
  const dataStart = pad8(12 + header.length);
  const total = dataStart + offset + 4;
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, FORMAT_VERSION, true);
  view.setUint32(8, header.length, true);
  out.set(header, 12);
  for (const b of blocks) out.set(b.bytes, dataStart + b.info.offset);
  view.setUint32(total - 4, crc32(out.subarray(0, total - 4)), true);
  return out;
}

/** What the header of an encoded model says (without decoding the tables). */
export interface ModelHeader {
  readonly kind: ModelKind;
  readonly schema: InputSchema;
  readonly schemaHash: string;
  readonly config: Record<string, unknown>;
}

function readHeader(bytes: Uint8Array): { header: ModelHeader & { blocks: BlockInfo[] }; dataStart: number } {
  if (bytes.length < 16 || MAGIC.some((m, i) => bytes[i] !== m)) throw new ModelFormatError('not a Tessera model: the bytes do not start with "TSRM"');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== FORMAT_VERSION) throw new ModelFormatError(`model format version ${version} is not supported (this code reads version ${FORMAT_VERSION})`);
  const stored = view.getUint32(bytes.length - 4, true);
  const actual = crc32(bytes.subarray(0, bytes.length - 4));
  if (stored !== actual) throw new ModelFormatError(`model checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)}): the bytes are damaged or truncated`);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > bytes.length - 4) throw new ModelFormatError('model header runs past the end of the bytes');
  let parsed: unknown;
  try {
    parsed = reviveNumbers(JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))));
  } catch (err) {
    throw new ModelFormatError('model header is not valid JSON', err);
  }
  return { header: parsed as ModelHeader & { blocks: BlockInfo[] }, dataStart: pad8(12 + headerLength) };
}

/** The header of encoded model bytes (kind, schema, config), checked but without building the model. */
export function readModelHeader(bytes: Uint8Array): ModelHeader {
  const { header } = readHeader(bytes);
  return { kind: header.kind, schema: header.schema, schemaHash: header.schemaHash, config: header.config };
}

/** Builds an empty model of a kind (the configuration as saved). */
export function createModel(kind: ModelKind, schema: InputSchema, config: Record<string, unknown> = {}): Model {
  switch (kind) {
    case 'lr':
      return new LrModel(schema, config);
    case 'fm':
      return new FmModel(schema, config);
    case 'wide-deep':
      return new WideDeepModel(schema, config);
    default:
      throw new ModelFormatError(`unknown model kind ${JSON.stringify(kind)}: expected lr, fm or wide-deep`);
  }
}

/**
 * A model from {@link encodeModel} bytes, ready to predict and to continue learning exactly where
 * the encoded one was. `expectKind` refuses a file of another kind.
 */
export function decodeModel(bytes: Uint8Array, expectKind?: ModelKind): Model {
  const { header, dataStart } = readHeader(bytes);
  if (expectKind !== undefined && header.kind !== expectKind) throw new ModelSchemaError(`model file holds a ${header.kind} model, expected ${expectKind}`);
  const model = createModel(header.kind, header.schema, header.config);
  if (model.schemaHash !== header.schemaHash) throw new ModelFormatError(`model schema hash ${header.schemaHash} does not match its schema (${model.schemaHash})`);
  const base = asBase(model);
  const byComponent = new Map<string, Record<string, Float64Array | Uint8Array>>();
  const dataEnd = bytes.length - 4;
  for (const b of header.blocks) {
    const size = b.type === 'f64' ? b.length * 8 : b.length;
    const start = dataStart + b.offset;
    if (!(Number.isInteger(b.length) && b.length >= 0 && start + size <= dataEnd)) throw new ModelFormatError(`block ${b.component}/${b.key} runs past the end of the bytes`);
    // copy into fresh aligned buffers: the source may be any Buffer slice
    const copy = bytes.slice(start, start + size);
    const array = b.type === 'f64' ? new Float64Array(copy.buffer, 0, b.length) : copy;
    let rec = byComponent.get(b.component);
    if (rec === undefined) {
      rec = {};
      byComponent.set(b.component, rec);
    }
    rec[b.key] = array;
  }
  const counters = byComponent.get('model')?.counters;
  if (!(counters instanceof Float64Array)) throw new ModelFormatError('model counters block is missing');
  const components = base.components();
  for (const [name, component] of Object.entries(components)) {
    const state = byComponent.get(name);
    if (state === undefined) throw new ModelFormatError(`model bytes lack table ${name}`);
    component.importState(state);
  }
  base.importCounters(counters);
  return model;
}

/**
 * Applies parameter rows (a snapshot or a delta from `changedSince`) to a model of the same
 * kind, schema and config: removed ids are deleted, then rows are upserted (weights only; the
 * optimiser state of new rows starts fresh). For a serving replica that follows deltas.
 */
export function applyParamRows(model: Model, rows: readonly ParamRows[]): void {
  const components = asBase(model).components();
  for (const t of rows) {
    const c = components[t.name];
    if (c === undefined) throw new ModelSchemaError(`model ${model.kind} has no table ${t.name}`);
    if (c instanceof EmbeddingTable) {
      if (t.width !== c.width) throw new ModelSchemaError(`table ${t.name}: width ${t.width} differs from the model's ${c.width}`);
      for (const id of t.removed) c.remove(id, model.mark());
      for (let i = 0; i < t.keys.length; i++) c.upsert(t.keys[i] as number, t.values.subarray(i * t.width, (i + 1) * t.width), model.mark());
    } else if (c instanceof DenseTable) {
      if (t.width !== c.width) throw new ModelSchemaError(`table ${t.name}: width ${t.width} differs from the model's ${c.width}`);
      for (let i = 0; i < t.keys.length; i++) c.weights.set(t.values.subarray(i * t.width, (i + 1) * t.width), (t.keys[i] as number) * t.width);
    } else if (c instanceof DenseNormalizer) {
      for (let i = 0; i < t.keys.length; i++) c.stats.set(t.values.subarray(i * 3, (i + 1) * 3), (t.keys[i] as number) * 3);
    }
  }
}

/** What a model's exports say about it besides its rows (plain data: it crosses to a worker thread). */
export interface ModelInfo {
  readonly kind: ModelKind;
  readonly schema: InputSchema;
  readonly schemaHash: string;
  readonly config: unknown;
  /** The model's mark when its rows were taken. */
  readonly mark: number;
}

/** The {@link ModelInfo} of a model as it is now. */
export function modelInfo(model: Model): ModelInfo {
  return { kind: model.kind, schema: model.schema, schemaHash: model.schemaHash, config: model.config, mark: model.mark() };
}

/** How each kind scores, for the key-value export's header (a loader without Tessera reads this). */
const SCORING: Record<ModelKind, string> = {
  lr: 'p = sigmoid(bias + sum_e linear[id_e] * value_e + sum_j dense_linear[0][j] * zn_j); zn_j = clip((x_j - mean_j) / sqrt(m2_j / count_j), +-normalizerClip) from dense_norm[j] = [count, mean, m2] (0 when m2/count <= 1e-12); unknown ids contribute 0',
  fm: 'p = sigmoid(LR score + 1/2 sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2]); i ranges over sparse entries (v = factors[id], x = value) and dense features (v = dense_factors[j], x = zn_j)',
  'wide-deep':
    'p = sigmoid(wide + deep); wide = LR score of wide.bias, wide.linear, wide.dense_linear; deep input = [for each field f: sum over its entries of value * embeddings[id]] ++ [zn_j]; then h = relu(h W + b) per deep.<l> layer (weights stored input-major: row = input index), the last layer linear',
};

/**
 * The key-value export as text lines (see the module comment). `rows` is a snapshot
 * (`model.changedSince(-1)`) or a delta; `parentMark` (the delta's base, -1 for a snapshot)
 * is written in the header.
 */
export function* keyValueLines(of: Model | ModelInfo, rows: readonly ParamRows[], parentMark = -1): Generator<string> {
  const model = 'learn' in of ? modelInfo(of) : of;
  yield canonicalJson({
    format: 'tessera-kv',
    version: 1,
    kind: model.kind,
    schema: model.schema,
    schemaHash: model.schemaHash,
    config: model.config,
    mark: model.mark,
    parentMark,
    scoring: SCORING[model.kind],
    tables: rows.map((t) => ({ name: t.name, kind: t.kind, width: t.width, rows: t.keys.length, removed: t.removed.length })),
  });
  for (const t of rows) {
    const name = JSON.stringify(t.name);
    for (const id of t.removed) yield `{"t":${name},"k":"${id}","del":true}`;
    const { values, width } = t;
    for (let i = 0; i < t.keys.length; i++) {
      let line = `{"t":${name},"k":"${t.keys[i] as number}","v":[`;
      for (let j = i * width; j < (i + 1) * width; j++) {
        if (j > i * width) line += ',';
        line += kvNumber(values[j] as number);
      }
      yield line + ']}';
    }
  }
}

/** A value as the key-value export writes it: JSON's form, with -0 kept as `-0.0`. */
function kvNumber(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0';
  return Number.isFinite(x) ? String(x) : 'null';
}
