import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createKafkaEventLog } from '../../src/adapters/kafka/kafka-event-log.js';
import { parseEventJson } from '../../src/events/json-form.js';
import { createTopics, topicSpecs } from '../../src/events/topics.js';
import type { AnyEvent } from '../../src/events/event-types.js';
import type { FeatureValue } from '../../src/features/aggregators.js';
import { oracleFeatures } from '../../src/features/oracle.js';
import { Rng } from '../../src/ingest/rng.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import { loadProject } from '../../src/project/load-project.js';
import type { Project } from '../../src/project/compile-project.js';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { sameFeatures } from '../helpers/feature-streams.js';
import { exited, REPO_ROOT, spawnTessera, tempDir } from '../helpers/pipeline.js';

/**
 * Feature projects other than the reference one, end to end through the compiled CLI on the real
 * Kafka, Redis and chDB: a JSON project with event types of its own (features checked against
 * the naive oracle, lateness, the batch layer), and the Taobao example with its cart and
 * favourite events (replay, sink, stream, samples, training, serving, consistency).
 */

const log = createKafkaEventLog({ brokers: TEST_KAFKA_BROKERS, clientId: 'tessera-test', logger: SILENT_LOGGER });
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
  await log.close();
});

async function run(args: string[], env: Record<string, string>): Promise<string> {
  const child = spawnTessera(args, env);
  const code = await exited(child);
  expect(code, `tessera ${args.join(' ')}:\n${child.output()}`).toBe(0);
  return child.output();
}

/** The JSON a command printed (after any log lines). */
function jsonOf<T>(output: string): T {
  return JSON.parse(output.slice(output.indexOf('{'))) as T;
}

function readEvents(file: string, project: Project): AnyEvent[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => parseEventJson(l, project.catalog, Date.UTC(2030, 0, 1)));
}

async function onlineFeatures(env: Record<string, string>, group: string, key: string, at: string): Promise<{ q: number; values: Record<string, FeatureValue> }> {
  const out = jsonOf<{ q: string; values: Record<string, FeatureValue> }>(await run(['features', 'get', `${group}:${key}`, '--at', at, '--json'], env));
  return { q: Date.parse(out.q), values: out.values };
}

function servicesEnv(dir: string, project: string, prefix: string): Record<string, string> {
  return {
    TESSERA_PROJECT: project,
    TESSERA_KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
    TESSERA_REDIS_URL: TEST_REDIS_URL,
    TESSERA_TOPIC_PREFIX: prefix,
    TESSERA_CHDB_PATH: join(dir, 'chdb'),
    TESSERA_MODEL_DIR: join(dir, 'models'),
    TESSERA_PARTITIONS: '2',
  };
}

function dropTopicsLater(project: Project, prefix: string): void {
  cleanups.push(async () => {
    await log.deleteTopics(topicSpecs(createTopics(project.catalog.types, prefix), 2).map((s) => s.name));
  });
}

describe('a JSON project with event types of its own', () => {
  const dir = tempDir('tessera-project-');
  const projectDir = join(dir, 'video');
  const prefix = randomName('pj');
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));

  const schema = (name: string, fields: object[]) => ({
    type: 'record',
    name,
    namespace: 'com.example.video',
    fields: [{ name: 'eventId', type: 'string' }, { name: 'eventTime', type: { type: 'long', logicalType: 'timestamp-millis' } }, ...fields],
  });
  mkdirSync(join(projectDir, 'events'), { recursive: true });
  for (const f of ['Impression.avsc', 'Click.avsc', 'Purchase.avsc']) copyFileSync(resolve(REPO_ROOT, 'examples', 'starter', 'events', f), join(projectDir, 'events', f));
  writeFileSync(
    join(projectDir, 'events', 'Share.avsc'),
    JSON.stringify(schema('Share', [{ name: 'userId', type: 'string' }, { name: 'itemId', type: 'string' }, { name: 'channel', type: ['null', 'string'], default: null }])),
  );
  writeFileSync(
    join(projectDir, 'events', 'Watch.avsc'),
    JSON.stringify(schema('Watch', [{ name: 'userId', type: 'string' }, { name: 'itemId', type: 'string' }, { name: 'seconds', type: 'double' }])),
  );
  writeFileSync(
    join(projectDir, 'tessera.project.json'),
    JSON.stringify(
      {
        name: 'video',
        events: {
          impression: { schema: 'events/Impression.avsc', key: 'userId' },
          click: { schema: 'events/Click.avsc', key: 'userId' },
          purchase: { schema: 'events/Purchase.avsc', key: 'userId' },
          share: { schema: 'events/Share.avsc', key: 'userId' },
          watch: { schema: 'events/Watch.avsc', key: 'userId' },
        },
        entities: { viewer: ['userId'], clip: ['itemId'] },
        groups: [
          {
            name: 'viewer',
            entity: 'viewer',
            aggregations: [
              { source: 'share', op: 'count', windows: ['1h', '1d'] },
              { source: 'watch', op: 'sum', field: 'seconds', windows: ['1d'] },
              { source: 'watch', op: 'avg', field: 'seconds', windows: ['7d'] },
              { source: 'watch', op: 'max', field: 'seconds', windows: ['6h'] },
              { source: 'share', op: 'last_k', field: 'channel', k: 3 },
              { source: 'share', op: 'approx_distinct', field: 'itemId', windows: ['1d'] },
              { source: 'watch', op: 'decayed_count', halfLife: '6h' },
              { source: 'share', op: 'last_seen' },
            ],
          },
          {
            name: 'clip',
            entity: 'clip',
            aggregations: [
              { source: 'watch', op: 'count', windows: ['1d'] },
              { source: 'share', op: 'count', windows: ['1d'] },
            ],
            derived: [{ op: 'smoothed_ratio', label: 'share_rate', numerator: { source: 'share', op: 'count' }, denominator: { source: 'watch', op: 'count' }, alpha: 1, beta: 10 }],
          },
        ],
        labels: { exposure: 'impression', click: { source: 'click', window: '30m' }, conversion: { source: 'purchase', window: '1d' } },
        models: { ranker: { kind: 'lr' } },
        stream: { lateness: '5m' },
      },
      null,
      2,
    ),
  );
  const env = servicesEnv(dir, projectDir, prefix);

  it('lists its features, streams its own events into Redis exactly as the naive oracle computes them, sends too-late ones to the batch layer, which agrees with the oracle on everything', async () => {
    const project = await loadProject(projectDir);
    dropTopicsLater(project, prefix);
    const list = jsonOf<{ features: { name: string; group: string }[] }>(await run(['features', 'list', '--json'], env));
    expect(list.features.map((f) => f.name)).toEqual(project.groups.flatMap((g) => g.features.map((f) => f.name)));
    expect(list.features.map((f) => f.name)).toContain('viewer_last_shared_channels');

    // synthetic events in the project's vocabulary; shares get channels of their own
    const file = join(dir, 'events.jsonl');
    const gen = await run(['generate', '--events', '4000', '--users', '40', '--items', '150', '--seed', '5', '--output', file], env);
    expect(gen).toMatch(/share: drawn after 30 % of clicks/);
    const rng = new Rng(9);
    const channels = ['whatsapp', 'wechat', 'mail', 'link'];
    const events = readEvents(file, project).map((e) => (e.type === 'share' ? ({ ...e, channel: rng.uniform() < 0.1 ? null : channels[Math.floor(rng.uniform() * 4)] } as AnyEvent) : e));
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(['impression', 'click', 'purchase', 'share', 'watch']));
    const toJsonl = (list: readonly AnyEvent[]) => list.map((e) => JSON.stringify({ ...e, eventTime: e.eventTime })).join('\n') + '\n';
    writeFileSync(join(dir, 'own.jsonl'), toJsonl(events));
    expect(await run(['produce', '--input', join(dir, 'own.jsonl')], env)).toContain(`sent ${events.length} events, rejected 0 lines`);
    await run(['sink', '--until-idle', '--idle-ms', '300'], env);
    const streamed = await run(['stream', '--until-idle', '--idle-ms', '500'], env);
    // the stream consumes the event types its groups read: shares and watches
    expect(streamed).toContain(`applied ${events.filter((e) => e.type === 'share' || e.type === 'watch').length} events`);

    const viewer = project.groups.find((g) => g.name === 'viewer')!;
    const clip = project.groups.find((g) => g.name === 'clip')!;
    const sharers = [...new Set(events.filter((e) => e.type === 'share').map((e) => (e as unknown as { userId: string }).userId))].slice(0, 6);
    const clips = [...new Set(events.filter((e) => e.type === 'watch').map((e) => (e as unknown as { itemId: string }).itemId))].slice(0, 4);
    expect(sharers.length).toBeGreaterThan(3);
    for (const [group, keys] of [[viewer, sharers], [clip, clips]] as const) {
      for (const key of keys) {
        const online = await onlineFeatures(env, group.name, key, 'watermark');
        expect(sameFeatures(online.values, oracleFeatures(group, events, key, online.q)), `${group.name}:${key}`).toBeNull();
      }
    }
    const check = await run(['check', 'consistency', '--sample', '15', '--json'], env);
    expect(jsonOf<{ consistent: boolean }>(check).consistent).toBe(true);

    // shares 2 h behind the watermark: too late for the stream (lateness 5 min), not for the batch layer
    const user = sharers[0] as string;
    const latest = Math.max(...events.map((e) => e.eventTime));
    const late: AnyEvent[] = [0, 1, 2].map((i) => ({ type: 'share', eventId: `late-${i}`, eventTime: latest - 2 * 3_600_000 + i, userId: user, itemId: `late-item-${i}`, channel: 'fax' }) as AnyEvent);
    writeFileSync(join(dir, 'late.jsonl'), toJsonl(late));
    await run(['produce', '--input', join(dir, 'late.jsonl')], env);
    await run(['sink', '--until-idle', '--idle-ms', '300'], env);
    expect(await run(['stream', '--until-idle', '--idle-ms', '500'], env)).toMatch(/routed 3 late events/);
    const online = await onlineFeatures(env, 'viewer', user, 'watermark');
    expect(sameFeatures(online.values, oracleFeatures(viewer, events, user, online.q))).toBeNull();
    const at = new Date(online.q).toISOString();
    const offline = jsonOf<{ values: Record<string, FeatureValue> }>(await run(['features', 'get', `viewer:${user}`, '--at', at, '--offline', '--json'], env));
    const all = [...events, ...late];
    expect(sameFeatures(offline.values, oracleFeatures(viewer, all, user, online.q))).toBeNull();
    expect(offline.values['viewer_share_count_24h']).toBe((online.values['viewer_share_count_24h'] as number) + 3);
  });
});

describe('the Taobao example project (examples/taobao), end to end', () => {
  const dir = tempDir('tessera-taobao-');
  const prefix = randomName('tb');
  const projectDir = resolve(REPO_ROOT, 'examples', 'taobao');
  const env = servicesEnv(dir, projectDir, prefix);
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));

  /** A seeded log in the Taobao format (userId,itemId,categoryId,behavior,unixSeconds), with every behaviour. */
  function taobaoCsv(file: string): void {
    const rng = new Rng(17);
    const start = Date.UTC(2017, 10, 25) / 1000;
    const rows: string[] = [];
    for (let i = 0; i < 6000; i++) {
      const user = 1 + Math.floor(rng.uniform() ** 1.5 * 60);
      const item = 100 + Math.floor(rng.uniform() ** 2 * 400);
      const category = 10 + (item % 25);
      const r = rng.uniform();
      const behavior = r < 0.82 ? 'pv' : r < 0.9 ? 'cart' : r < 0.95 ? 'fav' : 'buy';
      rows.push(`${user},${item},${category},${behavior},${Math.floor(start + (i / 6000) * 3 * 86_400 + rng.uniform() * 30)}`);
    }
    writeFileSync(file, rows.join('\n') + '\n');
  }

  it('replay | sink | stream (cart and favourite features as the oracle computes them) | batch samples | train the ranker | serve it | check consistency', async () => {
    const project = await loadProject(projectDir);
    dropTopicsLater(project, prefix);
    const csv = join(dir, 'UserBehavior.csv');
    taobaoCsv(csv);
    // the same import to a file, for the oracle
    await run(['replay', 'taobao', '--path', csv, '--output', join(dir, 'events.jsonl')], env);
    const events = readEvents(join(dir, 'events.jsonl'), project);
    const types = new Set(events.map((e) => e.type));
    expect(types).toEqual(new Set(['impression', 'click', 'order', 'item_profile', 'cart', 'fav']));

    expect(await run(['replay', 'taobao', '--path', csv], env)).toContain(`sent ${events.length} events, rejected 0`);
    expect(await run(['sink', '--until-idle', '--idle-ms', '300'], env)).toContain(`stored ${events.length} events`);
    await run(['stream', '--until-idle', '--idle-ms', '500'], env);
    const shopper = project.groups.find((g) => g.name === 'shopper')!;
    const carters = [...new Set(events.filter((e) => e.type === 'cart').map((e) => (e as unknown as { userId: string }).userId))].slice(0, 5);
    for (const key of carters) {
      const online = await onlineFeatures(env, 'shopper', key, 'watermark');
      expect(sameFeatures(online.values, oracleFeatures(shopper, events, key, online.q)), `shopper:${key}`).toBeNull();
      expect((online.values['shopper_last_carted_items'] as string[]).length).toBeGreaterThan(0);
    }

    const times = events.map((e) => e.eventTime);
    const from = new Date(Math.min(...times)).toISOString();
    const to = new Date(Math.max(...times) + 1).toISOString();
    const samples = jsonOf<{ samples: number; clickPositives: number }>(await run(['batch', 'samples', '--from', from, '--to', to, '--json'], env));
    expect(samples.samples).toBeGreaterThan(1000);
    expect(samples.clickPositives).toBeGreaterThan(100);
    const trained = await run(['train', '--inputs', 'ranker', '--source', 'clickhouse', '--from', from, '--to', to, '--until-idle', '--checkpoint-dir', join(dir, 'trainer')], env);
    expect(trained).toMatch(/progressive AUC 0\.\d+/);
    expect(trained).toMatch(/published 1 version\(s\): v\d{6}-/);

    const serve = spawnTessera(['serve', '--port', '0', '--model', 'ranker'], env);
    try {
      const url = await new Promise<string>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`serve did not start:\n${serve.output()}`)), 60_000);
        const poll = setInterval(() => {
          const m = /serving on (http:\/\/[\d.:]+)/.exec(serve.output());
          if (m) {
            clearInterval(poll);
            clearTimeout(timer);
            ok(m[1] as string);
          }
        }, 100);
      });
      const user = carters[0] as string;
      const items = [...new Map(events.filter((e) => e.type === 'impression').map((e) => { const x = e as unknown as { itemId: string; categoryId: string }; return [x.itemId, x]; })).values()].slice(0, 20);
      const res = await fetch(`${url}/v1/rank`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: user, candidates: items.map((i) => ({ itemId: i.itemId, categoryId: i.categoryId })), context: { timezone: 'Asia/Shanghai' }, at: 'watermark' }),
      });
      const body = (await res.json()) as { model: { version: string }; items: { itemId: string; score: number }[]; freshness: { userKnown: boolean } };
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.model.version).toMatch(/^v\d{6}-/);
      expect(body.items).toHaveLength(20);
      expect(body.freshness.userKnown).toBe(true);
      for (const x of body.items) expect(x.score).toBeGreaterThan(0);
      // a field no group is keyed by is refused with the fields a candidate may have
      const bad = await fetch(`${url}/v1/rank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: user, candidates: [{ itemId: 'i', brand: 'b' }] }) });
      expect(bad.status).toBe(400);
      expect(await bad.text()).toMatch(/candidates\[0\]\.brand is not a candidate field \(itemId, categoryId\)/);
    } finally {
      serve.kill('SIGTERM');
      await exited(serve);
    }

    const check = jsonOf<{ consistent: boolean; features: { totalMismatches: number } }>(await run(['check', 'consistency', '--sample', '20', '--json'], env));
    expect(check).toMatchObject({ consistent: true, features: { totalMismatches: 0 } });
  });
});
