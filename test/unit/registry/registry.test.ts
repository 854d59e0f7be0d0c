import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFsModelStore } from '../../../src/adapters/fs/fs-model-store.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import type { Scorer } from '../../../src/serving/scorer.js';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import { compileProject, type Project } from '../../../src/project/compile-project.js';
import { flipVersion } from '../../../src/registry/backfill.js';
import { formatPlan, planChanges, RegistryError } from '../../../src/registry/plan.js';
import { applyProject, groupsInNamespace, pendingVersion, RegisteredProjects, servingGroup, servingVersion } from '../../../src/registry/registry.js';
import type { ModelManifest } from '../../../src/ports/model-store.js';
import { ModelWatcher, specMismatch } from '../../../src/serving/model-watcher.js';
import { collectGarbage, readCatalog, rollbackAlias, setBatchView, updateCatalog } from '../../../src/streaming/online-catalog.js';
import { createFeatureTransform } from '../../../src/training/feature-transform.js';
import { REFERENCE_PROJECT, referenceRegistry, referenceTopics } from '../../helpers/reference.js';
import { entitiesOf, randomStream, sameFeatures, TEST_GROUPS } from '../../helpers/feature-streams.js';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { topicSpecs } from '../../../src/events/topics.js';
import { oracleFeatures } from '../../../src/features/oracle.js';
import { createEventProducer } from '../../../src/ingest/producer.js';
import { FeatureReader } from '../../../src/serving/feature-reader.js';
import { createStreamKeys, DEFAULT_NAMESPACE } from '../../../src/streaming/stream-keys.js';
import { startStream } from '../../../src/streaming/stream-processor.js';

/** The reference project with its definition changed by `edit` (a deep copy). */
function variant(edit: (d: any, schemas: Record<string, any>) => void): Project {
  const definition = structuredClone(REFERENCE_PROJECT.source.definition) as any;
  const schemas = structuredClone(REFERENCE_PROJECT.source.schemas) as Record<string, any>;
  for (const k of Object.keys(schemas)) if (typeof schemas[k] === 'string') schemas[k] = JSON.parse(schemas[k]);
  edit(definition, schemas);
  return compileProject({ ...REFERENCE_PROJECT.source, definition, schemas });
}

const group = (d: any, name: string) => d.groups.find((g: any) => g.name === name);
const clickSchemaFile = (d: any) => d.events.click.schema as string;

describe('planChanges', () => {
  it('registers everything the first time and nothing when the folder equals the registered version', () => {
    const first = planChanges(null, REFERENCE_PROJECT, []);
    expect(first.from).toBe(0);
    expect(first.changed).toBe(true);
    expect(first.groups.map((g) => g.change)).toEqual(['added', 'added', 'added']);
    expect(formatPlan(first)).toContain('nothing registered yet');
    const same = planChanges({ version: 1, project: REFERENCE_PROJECT }, REFERENCE_PROJECT, []);
    expect(same.changed).toBe(false);
    expect(same.groups.every((g) => g.change === 'unchanged')).toBe(true);
    expect(formatPlan(same)).toContain('no changes');
  });

  it('tells added, changed and removed features apart per group, and added and removed groups', () => {
    const next = variant((d) => {
      const user = group(d, 'user');
      user.aggregations[0].windows = ['24h', '7d']; // drops user_impression_count_1h
      user.aggregations.push({ source: 'click', op: 'sum', field: 'position', windows: ['24h'] });
      d.groups = d.groups.filter((g: any) => g.name !== 'user_category');
      d.groups.push({ name: 'user_item', entity: 'user_item', aggregations: [{ source: 'click', op: 'count', windows: ['24h'] }] });
      d.entities.user_item = ['userId', 'itemId'];
    });
    const plan = planChanges({ version: 4, project: REFERENCE_PROJECT }, next, []);
    const byName = Object.fromEntries(plan.groups.map((g) => [g.group, g]));
    expect(byName['user']?.change).toBe('changed');
    expect(byName['user']?.features.removed).toEqual(['user_impression_count_1h']);
    expect(byName['user']?.features.added).toEqual(['user_click_position_sum_24h']);
    expect(byName['item']?.change).toBe('unchanged');
    expect(byName['user_category']?.change).toBe('removed');
    expect(byName['user_item']?.change).toBe('added');
    expect(plan.problems).toEqual([]);
    const text = formatPlan(plan);
    expect(text).toContain('against registered version 4');
    expect(text).toMatch(/group user: changed: a new version, backfilled before it serves \(\+ user_click_position_sum_24h; - user_impression_count_1h\)/);
  });

  it('marks a feature whose computation changed under the same name, and warns the models that read it', () => {
    const next = variant((d) => {
      const item = group(d, 'item');
      item.derived[0].alpha = 5; // the smoothed CTR's prior
    });
    const ctr = REFERENCE_PROJECT.groups.find((g) => g.name === 'item')!.features.find((f) => f.kind === 'derived')!.name;
    const plan = planChanges({ version: 1, project: REFERENCE_PROJECT }, next, [{ model: 'fm', version: 'v7', features: [ctr] }]);
    expect(plan.groups.find((g) => g.group === 'item')?.features.changed).toEqual([ctr]);
    expect(plan.warnings).toEqual([expect.stringContaining(`model fm v7 reads ${ctr}, whose computation changes`)]);
    expect(plan.forcible).toEqual([]);
  });

  it('refuses, unless forced, to remove a feature a published model reads', () => {
    const next = variant((d) => {
      group(d, 'user').aggregations[0].windows = ['24h', '7d'];
    });
    const plan = planChanges({ version: 1, project: REFERENCE_PROJECT }, next, [
      { model: 'fm', version: 'v3', features: ['user_impression_count_1h', 'user_click_count_1h'] },
      { model: 'lr', version: 'v1', features: ['user_click_count_1h'] },
      { model: 'old', version: 'v0', features: null },
    ]);
    expect(plan.forcible).toEqual([expect.stringMatching(/^model fm v3 reads user_impression_count_1h, which this change removes: retrain it without them first, or pass --force$/)]);
    expect(plan.warnings).toEqual([expect.stringContaining('model old v0 was trained before the registry')]);
  });

  it("checks a schema change with Avro's resolution rules both ways", () => {
    // a field with a default: readable both ways
    const compatible = variant((d, s) => {
      s[clickSchemaFile(d)].fields.push({ name: 'dwellMs', type: ['null', 'long'], default: null });
    });
    const ok = planChanges({ version: 1, project: REFERENCE_PROJECT }, compatible, []);
    expect(ok.schemas.find((s) => s.type === 'click')).toMatchObject({ change: 'changed', problems: [] });
    expect(formatPlan(ok)).toContain('event type click: changed (compatible both ways)');
    // a field without a default: old records cannot be read with the new schema
    const added = variant((d, s) => {
      s[clickSchemaFile(d)].fields.push({ name: 'dwellMs', type: 'long' });
    });
    const noDefault = planChanges({ version: 1, project: REFERENCE_PROJECT }, added, []);
    expect(noDefault.problems).toEqual([expect.stringMatching(/^event type click \(.*\): old writer, new reader: .*dwellMs/)]);
    // a kept field whose type changed: neither way
    const retyped = variant((d, s) => {
      const f = s[clickSchemaFile(d)].fields.find((x: any) => x.name === 'position');
      f.type = ['null', 'string'];
    });
    const both = planChanges({ version: 1, project: REFERENCE_PROJECT }, retyped, []).problems.join('\n');
    expect(both).toContain('old writer, new reader');
    expect(both).toContain('new writer, old reader');
  });

  it("refuses a group whose entity changed and an event type whose key changed", () => {
    const next = variant((d) => {
      d.events.click.key = 'itemId';
      d.entities.user = ['userId', 'requestId'];
    });
    const plan = planChanges({ version: 1, project: REFERENCE_PROJECT }, next, []);
    expect(plan.problems.some((p) => /^group user: its entity changed/.test(p))).toBe(true);
    expect(plan.problems.some((p) => /event type click .*its key changed from userId to itemId/.test(p))).toBe(true);
  });
});

describe('applyProject and the serving versions', () => {
  const changed = variant((d) => {
    group(d, 'user').aggregations[0].windows = ['24h', '7d'];
  });

  it('registers version 1 in the namespace serving now, then a changed group as a pending version in its own namespace', async () => {
    const store = new MemoryOnlineStore();
    const projects = new RegisteredProjects(store, 'p');
    const first = await applyProject(store, 'p', REFERENCE_PROJECT, { models: [], now: 1000, projects });
    expect(first).toMatchObject({ version: 1, pending: [] });
    let c = await readCatalog(store, 'p');
    expect(servingVersion(c, 'user')).toMatchObject({ version: 1, registry: 1, namespaces: [DEFAULT_NAMESPACE] });
    expect(pendingVersion(c, 'user')).toBeNull();

    const second = await applyProject(store, 'p', changed, { models: [], now: 2000, projects });
    expect(second.version).toBe(2);
    expect(second.pending).toEqual([{ group: 'user', version: 2, namespace: 'user-v2' }]);
    c = await readCatalog(store, 'p');
    await projects.prepare(c);
    // version 1 keeps serving, with the definition it was registered with
    expect(servingVersion(c, 'user')?.version).toBe(1);
    expect(pendingVersion(c, 'user')?.version).toBe(2);
    expect(servingGroup(c, projects, [], 'user')?.features.map((f) => f.name)).toContain('user_impression_count_1h');
    expect(servingVersion(c, 'item')?.version).toBe(1);
    // the live deployment keeps writing every version 1; the new namespace holds user v2 only
    expect((await groupsInNamespace(c, projects, [], DEFAULT_NAMESPACE)).map((g) => g.name)).toEqual(['user', 'item', 'user_category']);
    const inNew = await groupsInNamespace(c, projects, [], 'user-v2');
    expect(inNew.map((g) => g.name)).toEqual(['user']);
    expect(inNew[0]?.features.map((f) => f.name)).not.toContain('user_impression_count_1h');

    // the flip: alias and batch view in one step; then the definition follows
    await updateCatalog(store, 'p', (cat) => [{ field: 'registry', value: JSON.stringify({ ...cat.registry, groups: { ...cat.registry!.groups, user: { versions: cat.registry!.groups['user']!.versions.map((v) => (v.version === 2 ? { ...v, backfill: { namespace: 'bv-user-2', until: 3_600_000, writtenAt: 5 } } : v)) } } }) }]);
    await setBatchView(store, 'p', 'user', 'bv-user-1', 3_600_000, 60_000, 4000, 1);
    await flipVersion({ store, prefix: 'p', clock: () => 5000 }, 'user', 2, 60_000);
    c = await readCatalog(store, 'p');
    await projects.prepare(c);
    expect(servingVersion(c, 'user')?.version).toBe(2);
    expect(pendingVersion(c, 'user')).toBeNull();
    expect(c.batchViews.get('user')).toMatchObject({ namespace: 'bv-user-2', version: 2, previous: { namespace: 'bv-user-1', version: 1 } });
    expect(servingGroup(c, projects, [], 'user')?.features.map((f) => f.name)).not.toContain('user_impression_count_1h');

    // rollback: alias and batch view go back together
    c = await rollbackAlias(store, 'p', 'user', 60_000, 6000);
    expect(servingVersion(c, 'user')?.version).toBe(1);
    expect(c.batchViews.get('user')).toMatchObject({ namespace: 'bv-user-1', version: 1 });
  });

  it('drops an expired version from the namespace it leaves, so that deployment stops writing it', async () => {
    const store = new MemoryOnlineStore();
    const projects = new RegisteredProjects(store, 'p');
    await applyProject(store, 'p', REFERENCE_PROJECT, { models: [], now: 1, projects });
    await applyProject(store, 'p', changed, { models: [], now: 2, projects });
    await flipVersion({ store, prefix: 'p', clock: () => 10 }, 'user', 2, 1000);
    expect(await collectGarbage(store, 'p', 500)).toEqual([]);
    expect(await collectGarbage(store, 'p', 2000)).toEqual([{ group: 'user', kind: 'stream', namespace: DEFAULT_NAMESPACE }]);
    const c = await readCatalog(store, 'p');
    expect(c.registry?.groups['user']?.versions.map((v) => v.namespaces)).toEqual([[], ['user-v2']]);
    expect((await groupsInNamespace(c, projects, [], DEFAULT_NAMESPACE)).map((g) => g.name)).toEqual(['item', 'user_category']);
    expect(servingVersion(c, 'user')?.version).toBe(2);
  });

  it('refuses an apply planned against a version another apply has replaced, and applies nothing', async () => {
    const store = new MemoryOnlineStore();
    const projects = new RegisteredProjects(store, 'p');
    await applyProject(store, 'p', REFERENCE_PROJECT, { models: [], now: 1, projects });
    await applyProject(store, 'p', changed, { models: [], now: 2, projects, expected: 1 });
    const other = variant((d) => {
      group(d, 'item').aggregations[2].windows = ['14d'];
    });
    const late = applyProject(store, 'p', other, { models: [], now: 3, projects, expected: 1 });
    await expect(late).rejects.toThrow(RegistryError);
    await expect(late).rejects.toThrow(/another apply registered version 2 .* after this one planned against version 1: nothing applied/);
    expect((await readCatalog(store, 'p')).registry?.version).toBe(2);
  });

  it('runs two concurrent applies against one version: exactly one wins', async () => {
    const store = new MemoryOnlineStore();
    const projects = new RegisteredProjects(store, 'p');
    await applyProject(store, 'p', REFERENCE_PROJECT, { models: [], now: 1, projects });
    const other = variant((d) => {
      group(d, 'item').aggregations[2].windows = ['14d'];
    });
    const results = await Promise.allSettled([changed, other].map((p) => applyProject(store, 'p', p, { models: [], now: 2, projects, expected: 1 })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['REGISTRY_CONFLICT']);
  });

  it('refuses a plan with problems or, unless forced, a removed feature a model reads', async () => {
    const store = new MemoryOnlineStore();
    const projects = new RegisteredProjects(store, 'p');
    await applyProject(store, 'p', REFERENCE_PROJECT, { models: [], now: 1, projects });
    const models = [{ model: 'fm', version: 'v1', features: ['user_impression_count_1h'] }];
    await expect(applyProject(store, 'p', changed, { models, now: 2, projects })).rejects.toThrow(/nothing applied:\n {2}- model fm v1 reads user_impression_count_1h/);
    expect((await readCatalog(store, 'p')).registry?.version).toBe(1);
    expect((await applyProject(store, 'p', changed, { models, now: 2, projects, force: true })).version).toBe(2);
  });
});

describe('a model trained on other features', () => {
  const manifest = (names: string[]): ModelManifest =>
    ({ model: 'fm', version: 'v9', featureSpecHash: 'a', features: { names, registry: 3, groups: { user: 2, item: 1 } } }) as unknown as ModelManifest;

  it('is refused with the features it reads that the service does not serve', () => {
    const message = specMismatch(manifest(['user_click_count_1h', 'user_dwell_sum_24h']), { featureSpecHash: 'b', servedFeatures: ['user_click_count_1h'] });
    expect(message).toBe('reads features the service does not serve: user_dwell_sum_24h (registry version 3, groups user v2, item v1); serve the versions it was trained on, or retrain it on the ones serving');
    expect(specMismatch(manifest(['user_click_count_1h']), { featureSpecHash: 'b', servedFeatures: ['user_click_count_1h'] })).toMatch(/^trained for feature spec a .* the service computes b/);
  });

  it('loads a version for the spec serving when it arrives: after a flip, the new spec loads and the old is refused with why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-watcher-'));
    try {
      const store = createFsModelStore(dir);
      let served = { hash: 'spec-v1', names: ['user_click_count_1h'] };
      const loaded: string[] = [];
      const w = new ModelWatcher({
        store,
        model: 'fm',
        load: async (m) => {
          loaded.push(m.version);
          return { version: m.version } as unknown as Scorer;
        },
        featureSpecHash: 'ignored-when-servedSpec-is-given',
        servedSpec: async () => served,
        smokeTest: async () => {},
        metrics: new Metrics(),
        logger: SILENT_LOGGER,
        pollMs: 60_000,
      });
      const publish = (spec: string, names: string[]) =>
        store.publish('fm', [{ name: 'model.bin', data: new Uint8Array([1]) }], { kind: 'fm', featureSpecHash: spec, type: 'full', parent: null, data: { samples: 0, from: null, to: null }, metrics: {}, config: {}, features: { names, registry: 1, groups: {} } });
      const a = await publish('spec-v1', ['user_click_count_1h']);
      await w.check();
      expect(w.version).toBe(a.version);
      served = { hash: 'spec-v2', names: ['user_click_count_1h', 'user_click_count_30d'] };
      await publish('spec-v1', ['user_click_count_1h']);
      await w.check();
      expect(w.version).toBe(a.version); // refused: trained on the versions no longer serving
      const c = await publish('spec-v2', ['user_click_count_1h', 'user_click_count_30d']);
      await w.check();
      expect(w.version).toBe(c.version);
      expect(loaded).toEqual([a.version, c.version]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is scored on the features it reads when the service serves more (a flipped version added some)', () => {
    const t = createFeatureTransform(REFERENCE_PROJECT.groups);
    const b = t.newBuilder();
    const request = { userId: 'u1', itemId: 'i1', categoryId: 'c1', context: { device: 'ios', page: 'home' } as any, time: 1_700_000_000_000, features: { user_click_count_1h: 2, user_new_feature_24h: 5 } };
    expect(t.addRequest(b, request)).toBe(true);
    expect(t.counters.wrongSpec).toBe(0);
  });
});

describe('a catalog that keeps moving', () => {
  it('still answers with the version the keys were built from, whole, instead of an empty placeholder', async () => {
    const events = randomStream(4, 300, { start: Date.UTC(2026, 0, 5), spanMs: 86_400_000 });
    const log = new MemoryEventLog();
    const topics = referenceTopics('mv');
    await log.ensureTopics(topicSpecs(topics, 2));
    await createEventProducer({ log, registry: referenceRegistry(), topics, clock: Date.now }).send(events);
    const inner = new MemoryOnlineStore();
    const keys = createStreamKeys('t', DEFAULT_NAMESPACE);
    await startStream({ log, store: inner, registry: referenceRegistry(), topics, keys, groups: TEST_GROUPS, logger: SILENT_LOGGER, metrics: new Metrics(), clock: Date.now }, { untilIdle: true, idleMs: 50 }).done;
    // every read moves the catalog (another writer flipping something else, over and over)
    let reads = 0;
    const store = Object.create(inner) as MemoryOnlineStore;
    store.read = async (queries) => {
      await updateCatalog(inner, 't', () => [{ field: 'noise', value: String(++reads) }]);
      return inner.read(queries);
    };
    const group = TEST_GROUPS[0]!;
    const [key, latest] = [...entitiesOf(group, events)][0]!;
    const reader = new FeatureReader({ store, keys, groups: TEST_GROUPS, clock: Date.now });
    const { entities } = await reader.read([{ group: group.name, key }], latest + 1);
    expect(reads).toBe(4);
    expect(entities).toHaveLength(1);
    expect(sameFeatures(entities[0]!.values, oracleFeatures(group, events, key, latest + 1))).toBeNull();
  });
});
