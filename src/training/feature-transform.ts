import type { Context } from '../events/event-types.js';
import type { FeatureValue } from '../features/aggregators.js';
import { CONTEXT_FEATURE_NAMES, contextFeatures } from '../features/context.js';
import { type CompiledGroup } from '../features/definitions.js';
import { opModule } from '../features/ops/index.js';
import { featureId } from '../models/feature-id.js';
import { BatchBuilder, inputSchemaHash, type InputSchema, type ModelBatch } from '../models/model-batch.js';
import { ModelConfigError } from '../models/model-errors.js';
import { featureSpec, type FeatureSpec, type FeatureValueKind, type Sample } from '../samples/sample.js';

/**
 * The one feature transform: turns a training {@link Sample} or a serving request into a model
 * input row, so training and serving cannot drift apart. Built from the feature definitions; it
 * records the spec hash it was built for and refuses input of another spec.
 *
 * Categorical fields (one id each, `featureId(field, value)`):
 * `user`, `item`, `category` (missing: the value `\u2205`), `position` (capped at
 * `maxPosition`), `device`, `page`, `hour` (of day, local), `weekday`; then one field per
 * `nullableText` feature (missing: `\u2205`) and one bag field per `textList` feature (each
 * distinct value an entry of weight 1/sqrt(n): a bag sums to unit length).
 *
 * Dense columns, one per numeric feature of the spec in spec order: counts, sums, distinct
 * counts and decayed counts as sign(x) log(1 + |x|); smoothed ratios as is; nullable numbers
 * (avg, min, max) as sign(x) log(1 + |x|) and `last_seen` as log(1 + age in seconds at the
 * sample's time), each followed by a `<name>#missing` indicator column (1 when the value is missing, which is
 * then 0).
 *
 * Bad input (counted in {@link TransformCounters}): a missing feature or a non-finite or
 * wrongly typed value is treated as missing; a sample of another spec (hash given and different,
 * or feature names the spec does not have), a request whose spec hash is given and different, or
 * either without a user or item id is refused (the method returns false and adds nothing). A
 * request may carry features the spec does not read (a group version flipped in after the model
 * was trained serves more): they are ignored.
 */
export interface ServingRequest {
  readonly userId: string;
  readonly itemId: string;
  readonly categoryId: string | null;
  /** The slot the item would be shown at; default 0 (the model learned position as a feature). */
  readonly position?: number;
  readonly context: Context;
  /** The request time, epoch ms: the query time of the features. */
  readonly time: number;
  /** Feature values as the reader returns them (context features are computed when absent). */
  readonly features: Readonly<Record<string, FeatureValue>>;
  /** The spec hash the features were read with, when known. */
  readonly specHash?: string;
}

/** What the transform counted. */
export interface TransformCounters {
  samples: number;
  requests: number;
  /** Refused: another spec (hash or feature names). */
  wrongSpec: number;
  /** Refused: no user or item id, or not an object. */
  invalid: number;
  /** Feature names of the spec absent from the input (defaulted to missing). */
  missingFeatures: number;
  /** Non-finite numbers (defaulted to missing). */
  nonFinite: number;
  /** Values of the wrong type (defaulted to missing). */
  wrongType: number;
}

/** Transform options. */
export interface FeatureTransformOptions {
  /** Positions above this share one category (default 20). */
  readonly maxPosition: number;
  /** Whether the position is a feature (default true; serving then scores at `request.position ?? 0`). */
  readonly usePosition: boolean;
  /** Which label a sample's example carries (default click). */
  readonly label: 'click' | 'order';
  /**
   * Crossed id fields (default none): each pair of the base fields `user`, `item`, `category`
   * becomes one more categorical field `<a>x<b>` whose value is the pair, after every other
   * field. A cross memorises a pair's own effect (what FM's low-rank factors can only
   * approximate), at the price of one more row per pair seen.
   */
  readonly crosses: readonly (readonly [CrossBase, CrossBase])[];
}

/** The base fields a cross can combine. */
export type CrossBase = 'user' | 'item' | 'category';

const MISSING = '\u2205';

type DenseRule = { readonly name: string; readonly column: number; readonly how: 'log' | 'raw' | 'age'; readonly nullable: boolean };
/** Entries of one field's id cache before it is emptied: bounds its memory at a few tens of MB. */
const ID_CACHE_ENTRIES = 1 << 17;

type TextRule = { readonly name: string; readonly field: number; readonly bag: boolean };

function signedLog1p(x: number): number {
  return x < 0 ? -Math.log1p(-x) : Math.log1p(x);
}

/** The transform of one feature spec (see the interface comment above for the encoding). */
export class FeatureTransform {
  readonly spec: FeatureSpec;
  readonly schema: InputSchema;
  readonly counters: TransformCounters = { samples: 0, requests: 0, wrongSpec: 0, invalid: 0, missingFeatures: 0, nonFinite: 0, wrongType: 0 };
  readonly options: FeatureTransformOptions;
  private readonly names: ReadonlySet<string>;
  private readonly dense: readonly DenseRule[];
  private readonly texts: readonly TextRule[];
  private readonly fieldNames: readonly string[];
  /** Field index of the first cross. */
  private readonly crossFrom: number;
  /**
   * Per field, the last value and its feature id: a ranking request's candidates share the user,
   * the context and the user's bags, and featureId hashes its text twice. A pure function's cache.
   */
  private readonly lastValue: (string | undefined)[] = [];
  private readonly lastId: number[] = [];
  /**
   * Per field, value -> feature id for the values seen lately (emptied when it reaches
   * {@link ID_CACHE_ENTRIES}): ids, categories and the items of last-k bags repeat across samples
   * and requests, and a map lookup costs a fraction of the two hashes.
   */
  private readonly idCache: Map<string, number>[] = [];
  /** Per bag rule, within one batch call: the last bag array seen and its ids and weight. */
  private lastBag: ({ array: unknown; ids: number[]; weight: number; wrongType: boolean } | undefined)[] = [];
  /** Within one batch call: a prototype of `features` whose names were all checked already. */
  private checkedProto: object | null = null;

  constructor(groups: readonly CompiledGroup[], options: Partial<FeatureTransformOptions> = {}) {
    this.options = { maxPosition: 20, usePosition: true, label: 'click', crosses: [], ...options };
    for (const c of this.options.crosses) {
      if (!Array.isArray(c) || c.length !== 2 || !c.every((x) => x === 'user' || x === 'item' || x === 'category') || c[0] === c[1]) {
        throw new ModelConfigError(`feature transform: a cross is a pair of two different fields of user, item, category, got ${JSON.stringify(c)}`);
      }
    }
    if (!(Number.isInteger(this.options.maxPosition) && this.options.maxPosition >= 0)) throw new ModelConfigError(`feature transform: maxPosition must be a whole number >= 0, got ${this.options.maxPosition}`);
    const compiled = groups;
    this.spec = featureSpec(compiled);
    // what each feature's op does with its value (its module's `dense`); derived ratios stay raw
    const ops = new Map<string, 'raw' | 'log' | 'age'>();
    for (const g of compiled) for (const f of g.features) ops.set(f.name, f.kind === 'derived' ? 'raw' : opModule(f.op).dense);
    const fields = ['user', 'item', 'category', ...(this.options.usePosition ? ['position'] : []), 'device', 'page', 'hour', 'weekday'];
    const denseNames: string[] = [];
    const dense: DenseRule[] = [];
    const texts: TextRule[] = [];
    const context = new Set<string>(CONTEXT_FEATURE_NAMES);
    for (const entry of this.spec.entries) {
      if (context.has(entry.name)) continue;
      const how = ops.get(entry.name) ?? 'log';
      const kind: FeatureValueKind = entry.kind;
      if (kind === 'nullableText' || kind === 'textList') {
        texts.push({ name: entry.name, field: fields.length, bag: kind === 'textList' });
        fields.push(entry.name);
        continue;
      }
      const nullable = kind === 'nullableNumber';
      dense.push({ name: entry.name, column: denseNames.length, how, nullable });
      denseNames.push(entry.name);
      if (nullable) denseNames.push(`${entry.name}#missing`);
    }
    this.crossFrom = fields.length;
    for (const [a, b] of this.options.crosses) fields.push(`${a}x${b}`);
    this.fieldNames = fields;
    this.dense = dense;
    this.texts = texts;
    this.names = new Set(this.spec.entries.map((e) => e.name));
    this.schema = { fields, dense: denseNames, specHash: this.spec.hash };
  }

  /** A builder sized for this transform's dense columns. */
  newBuilder(capacity = 256): BatchBuilder {
    return new BatchBuilder(this.schema.dense.length, capacity);
  }

  /**
   * Adds a training sample as one example (label: click or order label, time: the impression
   * time). `specHash` is the hash the sample was produced with (e.g. the samples topic header).
   * Returns false, and adds nothing, when the sample is refused.
   */
  addSample(builder: BatchBuilder, sample: Sample, specHash?: string): boolean {
    if (sample === null || typeof sample !== 'object' || sample.features === null || typeof sample.features !== 'object') {
      this.counters.invalid++;
      return false;
    }
    const label = this.options.label === 'click' ? sample.clickLabel : sample.orderLabel;
    const ok = this.add(builder, sample.userId, sample.itemId, sample.categoryId, sample.position, sample.context, sample.eventTime, sample.features, specHash, label === 1 ? 1 : 0);
    if (ok) this.counters.samples++;
    return ok;
  }

  /** Adds a serving request as one example (label 0, time: the request time). */
  addRequest(builder: BatchBuilder, request: ServingRequest): boolean {
    if (request === null || typeof request !== 'object' || request.features === null || typeof request.features !== 'object') {
      this.counters.invalid++;
      return false;
    }
    const ok = this.add(builder, request.userId, request.itemId, request.categoryId, request.position ?? 0, request.context, request.time, request.features, request.specHash, 0, false);
    if (ok) this.counters.requests++;
    return ok;
  }

  /** Samples as one batch (refused ones left out and counted). */
  samplesBatch(samples: readonly Sample[], specHash?: string): ModelBatch {
    const b = this.newBuilder(samples.length);
    this.newBatchCall();
    for (const s of samples) this.addSample(b, s, specHash);
    return b.build();
  }

  /**
   * Requests as one batch (refused ones left out and counted). Requests whose `features` share a
   * prototype (the user and context part of one ranking request, as the service builds them) have
   * that part checked and hashed once.
   */
  requestsBatch(requests: readonly ServingRequest[]): ModelBatch {
    const b = this.newBuilder(requests.length);
    this.newBatchCall();
    for (const r of requests) this.addRequest(b, r);
    return b.build();
  }

  /** Forgets what is cached per batch call (bag arrays and checked prototypes may change between calls). */
  private newBatchCall(): void {
    this.lastBag = [];
    this.checkedProto = null;
  }

  /** featureId(fieldNames[field], value), through the last value of the field and the field's cache. */
  private idOf(field: number, value: string): number {
    if (this.lastValue[field] === value) return this.lastId[field] as number;
    let cache = this.idCache[field];
    if (cache === undefined) this.idCache[field] = cache = new Map();
    let id = cache.get(value);
    if (id === undefined) {
      id = featureId(this.fieldNames[field] as string, value);
      if (cache.size >= ID_CACHE_ENTRIES) cache.clear();
      cache.set(value, id);
    }
    this.lastValue[field] = value;
    this.lastId[field] = id;
    return id;
  }

  /** Whether every feature name of `features` (own and inherited) is in the spec. */
  private namesKnown(features: Readonly<Record<string, FeatureValue>>): boolean {
    const proto = Object.getPrototypeOf(features) as object | null;
    if (proto !== null && proto !== Object.prototype && proto === this.checkedProto) {
      for (const name of Object.keys(features)) if (!this.names.has(name)) return false;
      return true;
    }
    for (const name in features) if (!this.names.has(name)) return false;
    if (proto !== null && proto !== Object.prototype) this.checkedProto = proto;
    return true;
  }

  /** A bag's distinct values' ids (in first-seen order) and weight; a short bag is deduplicated without a Set. */
  private bagOf(field: number, v: readonly unknown[]): { array: unknown; ids: number[]; weight: number; wrongType: boolean } {
    const ids: number[] = [];
    const seen: string[] = [];
    const set = v.length > 32 ? new Set<string>() : null;
    let valid = 0;
    for (const x of v) {
      let text: string;
      if (typeof x === 'string') text = x;
      else if (typeof x === 'number' && Number.isFinite(x)) text = String(x);
      else continue;
      valid++;
      if (set === null ? seen.includes(text) : set.has(text)) continue;
      if (set === null) seen.push(text);
      else set.add(text);
      ids.push(this.idOf(field, text));
    }
    return { array: v, ids, weight: ids.length === 0 ? 0 : 1 / Math.sqrt(ids.length), wrongType: valid < v.length };
  }

  private add(
    b: BatchBuilder,
    userId: unknown,
    itemId: unknown,
    categoryId: unknown,
    position: unknown,
    context: Context | null | undefined,
    time: number,
    features: Readonly<Record<string, FeatureValue>>,
    specHash: string | undefined,
    label: number,
    /** Refuse feature names the spec lacks: samples yes; requests no, since a flipped group version may serve more features than the model reads. */
    strictNames = true,
  ): boolean {
    if (specHash !== undefined && specHash !== this.spec.hash) {
      this.counters.wrongSpec++;
      return false;
    }
    if (strictNames && !this.namesKnown(features)) {
      this.counters.wrongSpec++;
      return false;
    }
    if (typeof userId !== 'string' || userId === '' || typeof itemId !== 'string' || itemId === '') {
      this.counters.invalid++;
      return false;
    }
    const t = typeof time === 'number' && Number.isFinite(time) ? time : NaN;
    let field = 0;
    b.addDistinct(this.idOf(field, userId), field++);
    b.addDistinct(this.idOf(field, itemId), field++);
    b.addDistinct(this.idOf(field, typeof categoryId === 'string' && categoryId !== '' ? categoryId : MISSING), field++);
    if (this.options.usePosition) {
      const p = typeof position === 'number' && Number.isInteger(position) && position >= 0 ? String(Math.min(position, this.options.maxPosition)) : MISSING;
      b.addDistinct(this.idOf(field, p), field++);
    }
    // context: as the spec computed it, or from the context and time when the input lacks it
    let ctx: Record<string, FeatureValue> | null = null;
    const contextValue = (name: (typeof CONTEXT_FEATURE_NAMES)[number]): string => {
      let v = features[name];
      if (v === undefined) {
        if (ctx === null) {
          ctx = Number.isFinite(t) && context !== null && context !== undefined ? { ...contextFeatures(context, t) } : {};
        }
        v = ctx[name];
        if (v === undefined) this.counters.missingFeatures++;
      }
      if (typeof v === 'string' && v !== '') return v;
      if (typeof v === 'number' && Number.isFinite(v)) return String(v);
      return MISSING;
    };
    b.addDistinct(this.idOf(field, contextValue('context_device')), field++);
    b.addDistinct(this.idOf(field, contextValue('context_page')), field++);
    b.addDistinct(this.idOf(field, contextValue('context_hour_of_day')), field++);
    b.addDistinct(this.idOf(field, contextValue('context_day_of_week')), field++);
    for (let r = 0; r < this.texts.length; r++) {
      const rule = this.texts[r] as TextRule;
      const v = features[rule.name];
      if (v === undefined) this.counters.missingFeatures++;
      if (rule.bag) {
        if (v === undefined || v === null) continue;
        if (!Array.isArray(v)) {
          this.counters.wrongType++;
          continue;
        }
        let bag = this.lastBag[r];
        if (bag === undefined || bag.array !== v) {
          bag = this.bagOf(rule.field, v as readonly unknown[]);
          this.lastBag[r] = bag;
        }
        if (bag.wrongType) this.counters.wrongType++;
        for (const id of bag.ids) b.addDistinct(id, rule.field, bag.weight);
      } else {
        let text = MISSING;
        if (typeof v === 'string' && v !== '') text = v;
        else if (typeof v === 'number' && Number.isFinite(v)) text = String(v);
        else if (v !== null && v !== undefined && v !== '') this.counters.wrongType++;
        b.addDistinct(this.idOf(rule.field, text), rule.field);
      }
    }
    if (this.options.crosses.length > 0) {
      const base: Record<CrossBase, string> = { user: userId, item: itemId, category: typeof categoryId === 'string' && categoryId !== '' ? categoryId : MISSING };
      this.options.crosses.forEach(([a, c], j) => {
        const at = this.crossFrom + j;
        b.addDistinct(this.idOf(at, `${base[a]}\u001f${base[c]}`), at);
      });
    }
    for (const rule of this.dense) {
      const v = features[rule.name];
      let x: number | null = null;
      if (v === undefined) this.counters.missingFeatures++;
      else if (typeof v === 'number') {
        if (Number.isFinite(v)) x = v;
        else this.counters.nonFinite++;
      } else if (v !== null) this.counters.wrongType++;
      if (x !== null) {
        let out: number;
        if (rule.how === 'raw') out = x;
        else if (rule.how === 'log') out = signedLog1p(x);
        else out = Number.isFinite(t) ? Math.log1p(Math.max(0, (t - x) / 1000)) : 0;
        b.setDense(rule.column, out);
      }
      if (rule.nullable) b.setDense(rule.column + 1, x === null ? 1 : 0);
    }
    b.end(label, Number.isFinite(t) ? t : 0);
    return true;
  }
}

/** The transform of the given groups (a project's). */
export function createFeatureTransform(groups: readonly CompiledGroup[], options: Partial<FeatureTransformOptions> = {}): FeatureTransform {
  return new FeatureTransform(groups, options);
}

/**
 * The transform whose input schema is `schema`: the one a published model was trained through,
 * rebuilt from the schema's field names (crosses `<a>x<b>`, the position field present or not), so
 * a service scores each model with exactly its training transform. Null when no transform of
 * these groups produces that schema (another feature spec, unknown fields).
 */
export function transformForSchema(groups: readonly CompiledGroup[], schema: InputSchema): FeatureTransform | null {
  const crosses: [CrossBase, CrossBase][] = [];
  const bases = new Set<string>(['user', 'item', 'category']);
  for (const f of schema.fields) {
    const m = /^([a-z]+)x([a-z]+)$/.exec(f);
    if (m !== null && bases.has(m[1] as string) && bases.has(m[2] as string)) crosses.push([m[1] as CrossBase, m[2] as CrossBase]);
  }
  let t: FeatureTransform;
  try {
    t = new FeatureTransform(groups, { crosses, usePosition: schema.fields.includes('position') });
  } catch {
    return null;
  }
  return inputSchemaHash(t.schema) === inputSchemaHash(schema) ? t : null;
}
