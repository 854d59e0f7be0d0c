import { describe, expect, it } from 'vitest';
import type { AnyEvent, ReferenceEvent } from '../../../src/events/event-types.js';
import type { FeatureValue } from '../../../src/features/aggregators.js';
import { compileGroup } from '../../../src/features/definitions.js';
import { REFERENCE_GROUPS, USER_GROUP } from '../../helpers/reference.js';
import { generateEvents } from '../../../src/ingest/generator.js';
import { JoinState } from '../../../src/joiner/join-state.js';
import { featureId } from '../../../src/models/feature-id.js';
import { createLr } from '../../../src/models/lr.js';
import type { ModelBatch } from '../../../src/models/model-batch.js';
import { DEFAULT_LABEL_RULE } from '../../../src/samples/labels.js';
import { featureSpec, type Sample } from '../../../src/samples/sample.js';
import { createFeatureTransform, transformForSchema, type ServingRequest } from '../../../src/training/feature-transform.js';

const GROUPS = REFERENCE_GROUPS;
const SPEC = featureSpec(GROUPS);

/** Real samples: the generator's log through the joiner's core (shared label rule, PIT features). */
function samples(): Sample[] {
  const events: ReferenceEvent[] = [];
  for (const r of generateEvents({ users: 30, items: 80, events: 4000, seed: 3, days: 3 })) if (['impression', 'click', 'order'].includes(r.event.type)) events.push(r.event);
  const core = new JoinState({ groups: GROUPS, spec: SPEC, rule: DEFAULT_LABEL_RULE, latenessMs: 600_000, dedupeHorizonMs: 86_400_000 });
  core.observe('all', 0, { start: 0, end: events.length });
  events.forEach((e, i) => core.offer('all', 0, i, e));
  return core.advance();
}
const SAMPLES = samples();

function requestOf(s: Sample, dropContext = false): ServingRequest {
  const features = { ...s.features };
  if (dropContext) for (const k of Object.keys(features)) if (k.startsWith('context_')) delete features[k];
  return { userId: s.userId, itemId: s.itemId, categoryId: s.categoryId, position: s.position, context: s.context, time: s.eventTime, features, specHash: SPEC.hash };
}

const rows = (b: ModelBatch) => ({ ...b, labels: undefined });

describe('feature transform', () => {
  it('gives the same model input for a sample and the equivalent serving request', () => {
    expect(SAMPLES.length).toBeGreaterThan(1000);
    const t = createFeatureTransform(GROUPS);
    const fromSamples = t.samplesBatch(SAMPLES, SPEC.hash);
    const fromRequests = t.requestsBatch(SAMPLES.map((s) => requestOf(s)));
    // context features computed by the transform when a request lacks them
    const computed = t.requestsBatch(SAMPLES.map((s) => requestOf(s, true)));
    expect(rows(fromRequests)).toEqual(rows(fromSamples));
    expect(rows(computed)).toEqual(rows(fromSamples));
    expect(fromSamples.size).toBe(SAMPLES.length);
    expect(Array.from(fromSamples.labels)).toEqual(SAMPLES.map((s) => s.clickLabel));
    expect(t.counters.missingFeatures).toBe(0);
    expect(t.counters.wrongSpec + t.counters.invalid + t.counters.nonFinite + t.counters.wrongType).toBe(0);
  });

  it('requests sharing a prototype (one ranking request\'s user and context) give the same input as plain ones, and names the spec lacks are ignored', () => {
    const user = SAMPLES[0]!;
    const shared: Record<string, FeatureValue> = {};
    for (const [k, v] of Object.entries(user.features)) if (k.startsWith('user_') || k.startsWith('context_')) shared[k] = v;
    const candidates = SAMPLES.slice(0, 300).map((s) => {
      const own: Record<string, FeatureValue> = {};
      for (const [k, v] of Object.entries(s.features)) if (!(k in shared)) own[k] = v;
      return { ...requestOf(user), itemId: s.itemId, categoryId: s.categoryId, own };
    });
    const chained = candidates.map(({ own, ...r }) => ({ ...r, features: Object.assign(Object.create(shared) as Record<string, FeatureValue>, own) }));
    // the oracle: own properties, every bag a fresh array (nothing for a cache to reuse)
    const plain = candidates.map(({ own, ...r }) => ({ ...r, features: Object.fromEntries(Object.entries({ ...shared, ...own }).map(([k, v]) => [k, Array.isArray(v) ? [...(v as string[])] : v])) as Record<string, FeatureValue> }));
    const a = createFeatureTransform(GROUPS);
    const b = createFeatureTransform(GROUPS);
    expect(rows(a.requestsBatch(chained))).toEqual(rows(b.requestsBatch(plain)));
    expect(a.counters).toEqual(b.counters);
    // names the spec lacks (a group version flipped in after training serves more) change nothing, own or inherited
    const extra = Object.assign(Object.create(shared) as Record<string, FeatureValue>, chained[1]!.features, { nope: 1 });
    expect(rows(a.requestsBatch([chained[0]!, { ...chained[1]!, features: extra }]))).toEqual(rows(b.requestsBatch(plain.slice(0, 2))));
    (shared as Record<string, FeatureValue>).stranger = 1;
    expect(rows(a.requestsBatch(chained.slice(0, 2)))).toEqual(rows(b.requestsBatch(plain.slice(0, 2))));
    expect(a.counters.wrongSpec).toBe(0);
  });

  it('encodes ids, bags, counts and nullable numbers as documented', () => {
    const t = createFeatureTransform(GROUPS);
    expect(t.schema.specHash).toBe(SPEC.hash);
    expect(t.schema.fields.slice(0, 8)).toEqual(['user', 'item', 'category', 'position', 'device', 'page', 'hour', 'weekday']);
    expect(t.schema.fields).toContain('user_last_clicked_items');
    expect(t.schema.dense).toContain('user_last_click_time#missing');
    const s = SAMPLES.find((x) => (x.features.user_last_clicked_items as readonly string[]).length >= 2 && x.features.user_last_click_time !== null)!;
    const b = t.samplesBatch([s]);
    const ids = Array.from(b.ids);
    expect(ids).toContain(featureId('user', s.userId));
    expect(ids).toContain(featureId('item', s.itemId));
    const bag = s.features.user_last_clicked_items as readonly string[];
    const bagField = t.schema.fields.indexOf('user_last_clicked_items');
    const bagValues = Array.from(b.values).filter((_, e) => b.fields[e] === bagField);
    expect(bagValues.length).toBe(bag.length);
    for (const v of bagValues) expect(v).toBeCloseTo(1 / Math.sqrt(bag.length), 12);
    const col = (name: string) => b.dense[t.schema.dense.indexOf(name)];
    expect(col('user_impression_count_7d')).toBeCloseTo(Math.log1p(s.features.user_impression_count_7d as number), 12);
    expect(col('user_ctr_7d')).toBe(s.features.user_ctr_7d);
    expect(col('user_last_click_time')).toBeCloseTo(Math.log1p((s.eventTime - (s.features.user_last_click_time as number)) / 1000), 12);
    expect(col('user_last_click_time#missing')).toBe(0);
  });

  it("its id cache never changes an id: past the cache's size, values coming back, bag items and user ids alike", () => {
    const t = createFeatureTransform(GROUPS);
    const base = SAMPLES.find((x) => (x.features.user_last_clicked_items as readonly string[]).length >= 1)!;
    const bagField = t.schema.fields.indexOf('user_last_clicked_items');
    // 140,000 distinct users (more than the 131,072 a field's cache holds before it is emptied), then the first ones again
    const users = [...Array.from({ length: 140_000 }, (_, i) => `u${i}`), 'u0', 'u1', 'u139999'];
    const samples = users.map((userId, i) => ({ ...base, impressionId: `imp${i}`, userId, features: { ...base.features, user_last_clicked_items: [`i${i % 1000}`, `i${(i * 7) % 150_001}`] } }));
    const b = t.samplesBatch(samples);
    expect(b.size).toBe(samples.length);
    for (let i = 0; i < samples.length; i += i < 1000 || i > samples.length - 1000 ? 1 : 97) {
      const entries = Array.from({ length: (b.offsets[i + 1] as number) - (b.offsets[i] as number) }, (_, k) => (b.offsets[i] as number) + k);
      expect(b.ids[entries.find((e) => b.fields[e] === 0) as number]).toBe(featureId('user', users[i] as string));
      const bag = entries.filter((e) => b.fields[e] === bagField).map((e) => b.ids[e]);
      expect(bag).toEqual([...new Set(samples[i]!.features.user_last_clicked_items as string[])].map((v) => featureId('user_last_clicked_items', v)));
    }
  });

  it('crosses add one pair-valued field after the others, the same for samples and requests', () => {
    const plain = createFeatureTransform(GROUPS);
    const t = createFeatureTransform(GROUPS, { crosses: [['user', 'item'], ['user', 'category']] });
    expect(t.schema.fields).toEqual([...plain.schema.fields, 'userxitem', 'userxcategory']);
    expect(plain.schema.fields.some((f) => f.includes('x'))).toBe(false);
    const fromSamples = t.samplesBatch(SAMPLES, SPEC.hash);
    expect(rows(t.requestsBatch(SAMPLES.map((s) => requestOf(s))))).toEqual(rows(fromSamples));
    const base = plain.samplesBatch(SAMPLES, SPEC.hash);
    const ux = t.schema.fields.indexOf('userxitem');
    const uc = t.schema.fields.indexOf('userxcategory');
    const pairId = new Map<string, number>();
    SAMPLES.forEach((s, i) => {
      const entries = Array.from({ length: (fromSamples.offsets[i + 1] as number) - (fromSamples.offsets[i] as number) }, (_, k) => (fromSamples.offsets[i] as number) + k);
      const cross = entries.filter((e) => fromSamples.fields[e] === ux);
      expect(cross.length).toBe(1);
      expect(entries.filter((e) => fromSamples.fields[e] === uc).length).toBe(1);
      const id = fromSamples.ids[cross[0] as number] as number;
      expect(id).toBe(featureId('userxitem', `${s.userId}\u001f${s.itemId}`));
      // one id per pair, different pairs different ids
      const key = `${s.userId}|${s.itemId}`;
      expect(pairId.get(key) ?? id).toBe(id);
      pairId.set(key, id);
      // the other entries and the dense row are those of the plain transform
      const others = entries.filter((e) => (fromSamples.fields[e] as number) < plain.schema.fields.length).map((e) => fromSamples.ids[e]);
      expect(others).toEqual(Array.from(base.ids.subarray(base.offsets[i] as number, base.offsets[i + 1] as number)));
    });
    expect(new Set(pairId.values()).size).toBe(pairId.size);
    expect(Array.from(fromSamples.dense)).toEqual(Array.from(base.dense));
    expect(() => createFeatureTransform(GROUPS, { crosses: [['user', 'user']] })).toThrow(/two different fields/);
  });

  it('rebuilds the transform a model was trained through from its input schema', () => {
    for (const options of [{}, { crosses: [['user', 'item']] as const }, { crosses: [['item', 'category'], ['user', 'category']] as const, usePosition: false }]) {
      const trained = createFeatureTransform(GROUPS, { ...options, crosses: [...(options.crosses ?? [])] });
      const again = transformForSchema(GROUPS, trained.schema);
      expect(again?.schema).toEqual(trained.schema);
      expect(again?.options.crosses).toEqual(trained.options.crosses);
    }
    const base = createFeatureTransform(GROUPS).schema;
    expect(transformForSchema(GROUPS, { ...base, fields: [...base.fields, 'shopxitem'] })).toBeNull();
    expect(transformForSchema(GROUPS, { ...base, specHash: 'other' })).toBeNull();
    expect(transformForSchema(GROUPS.slice(0, 1), base)).toBeNull();
  });

  it('defaults missing features and non-finite or mistyped values to missing, with counters', () => {
    const t = createFeatureTransform(GROUPS);
    const s = SAMPLES[10]!;
    const features = { ...s.features };
    delete features.user_click_count_1h;
    features.item_ctr_24h = NaN;
    features.user_last_click_time = Infinity;
    features.user_last_clicked_items = 'not a list';
    const b = t.samplesBatch([{ ...s, features }]);
    expect(b.size).toBe(1);
    expect(t.counters.missingFeatures).toBe(1);
    expect(t.counters.nonFinite).toBe(2);
    expect(t.counters.wrongType).toBe(1);
    for (const v of b.dense) expect(Number.isFinite(v)).toBe(true);
    expect(b.dense[t.schema.dense.indexOf('user_last_click_time#missing')]).toBe(1);
    expect(b.dense[t.schema.dense.indexOf('item_ctr_24h')]).toBe(0);
    // a model scores and learns it without harm
    const lr = createLr(t.schema);
    lr.learn(b);
    expect(lr.counters.learned).toBe(1);
  });

  it('refuses samples and requests of another spec, or without ids, and counts them', () => {
    const t = createFeatureTransform(GROUPS);
    const builder = t.newBuilder();
    const s = SAMPLES[0]!;
    expect(t.addSample(builder, s, 'another-hash')).toBe(false);
    expect(t.addSample(builder, { ...s, features: { ...s.features, some_other_feature: 1 } })).toBe(false);
    expect(t.addRequest(builder, { ...requestOf(s), specHash: 'x' })).toBe(false);
    expect(t.addSample(builder, { ...s, userId: '' })).toBe(false);
    expect(t.addRequest(builder, { ...requestOf(s), itemId: undefined as unknown as string })).toBe(false);
    expect(t.addSample(builder, null as unknown as Sample)).toBe(false);
    expect(builder.size).toBe(0);
    expect(t.counters.wrongSpec).toBe(3);
    expect(t.counters.invalid).toBe(3);
    // a transform built for another spec (user group only) refuses the reference samples
    const userOnly = createFeatureTransform([USER_GROUP]);
    expect(userOnly.schema.specHash).not.toBe(SPEC.hash);
    expect(userOnly.samplesBatch(SAMPLES.slice(0, 5)).size).toBe(0);
    expect(userOnly.counters.wrongSpec).toBe(5);
  });

  it('unknown users and items are new ids the model scores as cold start', () => {
    const t = createFeatureTransform(GROUPS);
    const lr = createLr(t.schema);
    lr.learn(t.samplesBatch(SAMPLES));
    const s = SAMPLES[0]!;
    const p = lr.predict(t.requestsBatch([{ ...requestOf(s), userId: 'never-seen', itemId: 'never-seen-either' }]));
    expect(p[0]! > 0 && p[0]! < 1).toBe(true);
  });
});
