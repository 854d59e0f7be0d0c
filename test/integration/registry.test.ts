import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createKafkaEventLog } from '../../src/adapters/kafka/kafka-event-log.js';
import { createRedisOnlineStore } from '../../src/adapters/redis/redis-online-store.js';
import { createFsModelStore } from '../../src/adapters/fs/fs-model-store.js';
import { parseEventJson } from '../../src/events/json-form.js';
import { createTopics, topicSpecs } from '../../src/events/topics.js';
import type { AnyEvent } from '../../src/events/event-types.js';
import type { CompiledGroup } from '../../src/features/definitions.js';
import { oracleFeatures } from '../../src/features/oracle.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import { loadProject } from '../../src/project/load-project.js';
import type { Project } from '../../src/project/compile-project.js';
import { RegisteredProjects } from '../../src/registry/registry.js';
import { FeatureReader } from '../../src/serving/feature-reader.js';
import { createStreamKeys } from '../../src/streaming/stream-keys.js';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { sameFeatures } from '../helpers/feature-streams.js';
import { exited, REPO_ROOT, spawnTessera, tempDir } from '../helpers/pipeline.js';

/**
 * The registry on the real Kafka, Redis and chDB, through the compiled CLI: apply, two concurrent
 * applies (one wins, the other is told why), an incompatible schema refused at plan time, a changed
 * group backfilled and flipped while readers in this process read it (none sees a mix of the two
 * versions, the old one serves until the flip, both equal the naive oracle of their own
 * definitions), rollback, and the removal of a feature a published model reads refused unless forced.
 */

const log = createKafkaEventLog({ brokers: TEST_KAFKA_BROKERS, clientId: 'tessera-test', logger: SILENT_LOGGER });
const store = createRedisOnlineStore({ url: TEST_REDIS_URL });
const dir = tempDir('tessera-registry-');
const prefix = randomName('rg');
afterAll(async () => {
  const project = await loadProject(join(dir, 'v1')).catch(() => null);
  if (project) await log.deleteTopics(topicSpecs(createTopics(project.catalog.types, prefix), 2).map((s) => s.name));
  for (const p of [`${prefix}:`]) await store.deleteByPrefix(p);
  await store.close();
  await log.close();
  rmSync(dir, { recursive: true, force: true });
});

type Viewer = { aggregations: object[] };
const V1: Viewer = {
  aggregations: [
    { source: 'watch', op: 'count', windows: ['1h', '1d'] },
    { source: 'watch', op: 'sum', field: 'seconds', windows: ['1d'] },
  ],
};
// the version that wins the race: one more window, one more aggregation
const V2: Viewer = {
  aggregations: [
    { source: 'watch', op: 'count', windows: ['1h', '1d'] },
    { source: 'watch', op: 'sum', field: 'seconds', windows: ['6h', '1d'] },
    { source: 'watch', op: 'avg', field: 'seconds', windows: ['7d'] },
  ],
};
const V2_OTHER: Viewer = { aggregations: [...V1.aggregations, { source: 'watch', op: 'max', field: 'seconds', windows: ['6h'] }] };
// drops viewer_watch_count_1h
const V3: Viewer = { aggregations: [{ source: 'watch', op: 'count', windows: ['1d'] }, ...V2.aggregations.slice(1)] };

function writeProject(name: string, viewer: Viewer, extraFields: object[] = []): string {
  const projectDir = join(dir, name);
  mkdirSync(join(projectDir, 'events'), { recursive: true });
  for (const f of ['Impression.avsc', 'Click.avsc', 'Purchase.avsc']) copyFileSync(resolve(REPO_ROOT, 'examples', 'starter', 'events', f), join(projectDir, 'events', f));
  writeFileSync(
    join(projectDir, 'events', 'Watch.avsc'),
    JSON.stringify({
      type: 'record',
      name: 'Watch',
      namespace: 'com.example.video',
      fields: [
        { name: 'eventId', type: 'string' },
        { name: 'eventTime', type: { type: 'long', logicalType: 'timestamp-millis' } },
        { name: 'userId', type: 'string' },
        { name: 'itemId', type: 'string' },
        { name: 'seconds', type: 'double' },
        ...extraFields,
      ],
    }),
  );
  writeFileSync(
    join(projectDir, 'tessera.project.json'),
    JSON.stringify({
      name: 'video',
      events: {
        impression: { schema: 'events/Impression.avsc', key: 'userId' },
        click: { schema: 'events/Click.avsc', key: 'userId' },
        purchase: { schema: 'events/Purchase.avsc', key: 'userId' },
        watch: { schema: 'events/Watch.avsc', key: 'userId' },
      },
      entities: { viewer: ['userId'], clip: ['itemId'] },
      groups: [
        { name: 'viewer', entity: 'viewer', ...viewer },
        { name: 'clip', entity: 'clip', aggregations: [{ source: 'watch', op: 'count', windows: ['1d'] }] },
      ],
      labels: { exposure: 'impression', click: { source: 'click', window: '30m' }, conversion: { source: 'purchase', window: '1d' } },
      models: { ranker: { kind: 'lr' } },
    }),
  );
  return projectDir;
}

function envOf(projectDir: string): Record<string, string> {
  return {
    TESSERA_PROJECT: projectDir,
    TESSERA_KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
    TESSERA_REDIS_URL: TEST_REDIS_URL,
    TESSERA_TOPIC_PREFIX: prefix,
    TESSERA_CHDB_PATH: join(dir, 'chdb'),
    TESSERA_MODEL_DIR: join(dir, 'models'),
    TESSERA_PARTITIONS: '2',
  };
}

async function run(args: string[], env: Record<string, string>, expectCode: number | 'nonzero' = 0): Promise<string> {
  const child = spawnTessera(args, env);
  const code = await exited(child);
  if (expectCode === 'nonzero') expect(code, `tessera ${args.join(' ')}:\n${child.output()}`).not.toBe(0);
  else expect(code, `tessera ${args.join(' ')}:\n${child.output()}`).toBe(expectCode);
  return child.output();
}

function jsonOf<T>(output: string): T {
  return JSON.parse(output.slice(output.search(/[[{]/))) as T;
}

describe('the registry: plan, apply, backfill, flip, rollback', () => {
  const v1 = writeProject('v1', V1);
  const v2 = writeProject('v2', V2);
  const v2other = writeProject('v2-other', V2_OTHER);
  // a field without a default: records written before cannot be read with it
  const incompatible = writeProject('v2-incompatible', V1, [{ name: 'quality', type: 'int' }]);
  const v3 = writeProject('v3', V3);

  it('registers, refuses a lost race and an incompatible schema, flips a changed group while readers run without a mix, rolls back, guards what a model reads', async () => {
    const env = envOf(v1);
    expect(await run(['apply'], env)).toContain('registered version 1');
    expect(await run(['apply'], env)).toContain('nothing to apply: registry version 1 is the folder');

    // events in the project's vocabulary (watches drawn beside clicks), through Kafka into chDB and Redis
    const file = join(dir, 'events.jsonl');
    await run(['generate', '--events', '5000', '--users', '30', '--items', '120', '--seed', '3', '--output', file], env);
    const project1 = await loadProject(v1);
    const events: AnyEvent[] = readFileSync(file, 'utf8').trim().split('\n').map((l) => parseEventJson(l, project1.catalog, Date.UTC(2030, 0, 1)));
    expect(events.some((e) => e.type === 'watch')).toBe(true);
    expect(await run(['produce', '--input', file], env)).toContain(`sent ${events.length} events`);
    await run(['sink', '--until-idle', '--idle-ms', '300'], env);
    await run(['stream', '--until-idle', '--idle-ms', '500'], env);
    const listed = jsonOf<{ registry: number; groups: { group: string; version: number }[] }>(await run(['features', 'list', '--json'], env));
    expect(listed.registry).toBe(1);
    expect(listed.groups.map((g) => [g.group, g.version])).toEqual([['viewer', 1], ['clip', 1]]);

    // two applies planned against version 1 at once: one registers version 2, the other is told why
    const race = await Promise.all([v2, v2other].map(async (p) => {
      const child = spawnTessera(['apply', '--expect', '1'], envOf(p));
      return { p, code: await exited(child), out: child.output() };
    }));
    const won = race.filter((r) => r.code === 0);
    const lost = race.filter((r) => r.code !== 0);
    expect(won.length, race.map((r) => r.out).join('\n---\n')).toBe(1);
    expect(lost[0]?.out).toMatch(/another apply registered version 2 .*nothing applied; run tessera plan again/);
    const winner = won[0]!.p;
    const project2 = await loadProject(winner);
    expect(won[0]!.out).toContain('viewer v2 waits in namespace viewer-v2: run tessera backfill viewer');

    // an incompatible schema change is refused at plan time, and apply applies nothing
    const planned = await run(['plan'], envOf(incompatible), 1);
    expect(planned).toMatch(/refused: event type watch .*old writer, new reader: .*quality/);
    expect(planned).not.toMatch(/new writer, old reader/);
    expect(await run(['apply'], envOf(incompatible), 'nonzero')).toMatch(/nothing applied/);
    expect(jsonOf<{ registry: number }>(await run(['features', 'list', '--json'], env)).registry).toBe(2);

    // before the backfill version 1 serves; readers in this process follow the catalog
    const viewer1 = project1.groups.find((g) => g.name === 'viewer') as CompiledGroup;
    const viewer2 = project2.groups.find((g) => g.name === 'viewer') as CompiledGroup;
    const names1 = viewer1.features.map((f) => f.name).sort().join(',');
    const names2 = viewer2.features.map((f) => f.name).sort().join(',');
    expect(names1).not.toBe(names2);
    const q = Math.max(...events.map((e) => e.eventTime)) + 1;
    const users = [...new Set(events.filter((e) => e.type === 'watch').map((e) => (e as unknown as { userId: string }).userId))].slice(0, 5);
    const expected = new Map(users.map((u) => [u, { 1: oracleFeatures(viewer1, events, u, q), 2: oracleFeatures(viewer2, events, u, q) }]));
    const reader = new FeatureReader({ store, keys: createStreamKeys(prefix), groups: project2.groups, definitions: new RegisteredProjects(store, prefix), clock: () => q });
    const seen: { version: 1 | 2; problem: string | null }[] = [];
    let reading = true;
    const readOnce = async () => {
      const { entities } = await reader.read(users.map((key) => ({ group: 'viewer', key })), q);
      for (const e of entities) {
        const names = Object.keys(e.values).sort().join(',');
        const version = names === names1 ? 1 : names === names2 ? 2 : null;
        if (version === null) seen.push({ version: 1, problem: `${e.key}: features of neither version: ${names}` });
        else seen.push({ version, problem: sameFeatures(e.values, expected.get(e.key)![version]) });
      }
    };
    await readOnce();
    expect(seen.every((s) => s.version === 1 && s.problem === null), JSON.stringify(seen.slice(0, 3))).toBe(true);
    const readers = [0, 1, 2].map(async () => {
      while (reading) await readOnce();
    });

    // backfill: the batch part before U from chDB, the stream part from U; the flip while the readers run
    const hour = 3_600_000;
    const times = events.map((e) => e.eventTime).sort((a, b) => a - b);
    const until = Math.floor((times[Math.floor(times.length / 2)] as number) / hour) * hour;
    let backfilled: { version: number; namespace: string; entities: number; applied: number; previous: string };
    try {
      backfilled = jsonOf(await run(['backfill', 'viewer', '--until', new Date(until).toISOString(), '--until-idle', '--idle-ms', '500', '--json'], envOf(winner)));
    } finally {
      reading = false;
      await Promise.all(readers);
    }
    await readOnce();
    expect(backfilled).toMatchObject({ version: 2, namespace: 'viewer-v2', previous: 'live' });
    expect(backfilled.entities).toBeGreaterThan(0);
    expect(backfilled.applied).toBeGreaterThan(0);
    const problems = seen.filter((s) => s.problem !== null);
    expect(problems.slice(0, 3), 'every read equals the oracle of the version it read').toEqual([]);
    const firstV2 = seen.findIndex((s) => s.version === 2);
    // the readers read version 1 all through the backfill and the catch-up, then version 2
    expect(firstV2).toBeGreaterThan(10 * users.length);
    expect(seen.slice(firstV2).every((s) => s.version === 2), 'once flipped, never back').toBe(true);
    const versions = jsonOf<{ group: string; version: number; stream: string; previous: { namespace: string } | null; batchView: { version: number } | null }[]>(await run(['versions', 'list', '--json'], env));
    expect(versions.find((v) => v.group === 'viewer')).toMatchObject({ version: 2, stream: 'viewer-v2', previous: { namespace: 'live' }, batchView: { version: 2 } });
    expect(versions.find((v) => v.group === 'clip')).toMatchObject({ version: 1, stream: 'live' });
    expect(jsonOf<{ consistent: boolean }>(await run(['check', 'consistency', '--sample', '10', '--json'], env)).consistent).toBe(true);

    // rollback: version 1 serves again, whole
    expect(await run(['versions', 'rollback', 'viewer'], env)).toContain('viewer now served by live');
    seen.length = 0;
    await readOnce();
    expect(seen.every((s) => s.version === 1 && s.problem === null), JSON.stringify(seen.slice(0, 2))).toBe(true);

    // a published model reads viewer_watch_count_1h: removing it is refused unless forced
    const models = createFsModelStore(join(dir, 'models'));
    await models.publish('ranker', [{ name: 'model.bin', data: new Uint8Array([1]) }], {
      kind: 'lr',
      featureSpecHash: 'spec-of-v2',
      type: 'full',
      parent: null,
      data: { samples: 0, from: null, to: null },
      metrics: {},
      config: {},
      features: { names: viewer2.features.map((f) => f.name), registry: 2, groups: { viewer: 2, clip: 1 } },
    });
    const refused = await run(['plan'], envOf(v3), 1);
    expect(refused).toMatch(/refused unless --force: model ranker \S+ reads viewer_watch_count_1h/);
    expect(await run(['apply'], envOf(v3), 'nonzero')).toMatch(/nothing applied/);
    expect(await run(['apply', '--force'], envOf(v3))).toContain('registered version 3');
    const described = jsonOf<{ readBy: string[]; version: number }>(await run(['features', 'describe', 'viewer_watch_count_24h', '--json'], env));
    expect(described.readBy).toEqual([expect.stringMatching(/^ranker@/)]);
  }, 240_000);
});
