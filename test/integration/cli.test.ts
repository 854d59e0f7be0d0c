import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createKafkaEventLog } from '../../src/adapters/kafka/kafka-event-log.js';
import { topicSpecs } from '../../src/events/topics.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import { TEST_KAFKA_BROKERS, TEST_PROJECT_ENV, TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { exited, spawnTessera, tempDir } from '../helpers/pipeline.js';
import { referenceTopics } from '../helpers/reference.js';

/** The compiled `tessera` binary, end to end, on the real broker and chDB. */
describe('tessera CLI on the real services', () => {
  const log = createKafkaEventLog({ brokers: TEST_KAFKA_BROKERS, clientId: 'tessera-test', logger: SILENT_LOGGER });
  const prefix = randomName('cli');
  const topics = referenceTopics(prefix);
  const dir = tempDir();
  const env = { ...TEST_PROJECT_ENV, TESSERA_KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','), TESSERA_TOPIC_PREFIX: prefix, TESSERA_CHDB_PATH: join(dir, 'chdb'), TESSERA_PARTITIONS: '2' };

  afterAll(async () => {
    await log.deleteTopics(topicSpecs(topics, 2).map((s) => s.name));
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('generate | produce (bad lines reported with their numbers, good ones sent) | sink | deadletters', async () => {
    const file = join(dir, 'events.jsonl');
    const gen = spawnTessera(['generate', '--events', '300', '--users', '20', '--items', '50', '--seed', '3', '--output', file], env);
    expect(await exited(gen), gen.output()).toBe(0);
    const { readFileSync } = await import('node:fs');
    const good = readFileSync(file, 'utf8').trim().split('\n');
    const bad = [
      '{"type":"click", "eventId": ',
      '{"type":"rating","eventId":"x","eventTime":1767600000000}',
      '{"type":"click","eventId":"x2","eventTime":"2026-01-05T10:00:00Z","requestId":"r","userId":"","itemId":"i"}',
      '{"type":"click","eventId":"x3","eventTime":"1999-01-05T10:00:00Z","requestId":"r","userId":"u","itemId":"i"}',
      '{"type":"click","eventId":"x4","eventTime":"2026-01-05T10:00:00Z","requestId":"r","userId":"u","itemId":"i","colour":"red"}',
    ];
    // bad lines at known positions: 2, 4, 6, 8, 10
    const lines = [...good];
    bad.forEach((b, i) => lines.splice(1 + 2 * i, 0, b));
    writeFileSync(join(dir, 'mixed.jsonl'), lines.join('\n') + '\n');
    const produce = spawnTessera(['produce', '--input', join(dir, 'mixed.jsonl')], env);
    expect(await exited(produce)).toBe(1);
    const out = produce.output();
    expect(out).toMatch(/line 2: BAD_JSON: /);
    expect(out).toMatch(/line 4: UNKNOWN_TYPE: .*rating/);
    expect(out).toMatch(/line 6: MISSING_ID: .*userId/);
    expect(out).toMatch(/line 8: EVENT_TIME_OUT_OF_RANGE: /);
    expect(out).toMatch(/line 10: SCHEMA_INVALID: .*colour/);
    expect(out).toContain(`sent ${good.length} events, rejected 5 lines`);
    let inLog = 0;
    for (const t of topics.allEvents()) for (const p of await log.endOffsets(t)) inLog += p.offset;
    expect(inLog).toBe(good.length);

    const sink = spawnTessera(['sink', '--until-idle', '--idle-ms', '300'], env);
    expect(await exited(sink), sink.output()).toBe(0);
    expect(sink.output()).toContain(`stored ${good.length} events, dead-lettered 0 records`);
    const dl = spawnTessera(['deadletters', '--json'], env);
    expect(await exited(dl), dl.output()).toBe(0);
    expect(JSON.parse(dl.output().slice(dl.output().indexOf('{')))).toEqual({ byReason: [], latest: [] });
  });

  it('stream | batch features (lambda) | check consistency | versions | features get --offline | rebuild (kappa), on the events sunk above', async () => {
    const redisEnv = { ...env, TESSERA_REDIS_URL: TEST_REDIS_URL };
    const stream = spawnTessera(['stream', '--until-idle', '--idle-ms', '500'], redisEnv);
    expect(await exited(stream), stream.output()).toBe(0);
    const { readFileSync } = await import('node:fs');
    const events = readFileSync(join(dir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; eventTime: number | string; userId?: string });
    const times = events.map((e) => (typeof e.eventTime === 'number' ? e.eventTime : Date.parse(e.eventTime)));
    const day = 86_400_000;
    const until = new Date(Math.floor(Math.min(...times) / day) * day + day).toISOString();
    const batch = spawnTessera(['batch', 'features', '--until', until, '--json'], redisEnv);
    expect(await exited(batch), batch.output()).toBe(0);
    const views = JSON.parse(batch.output().slice(batch.output().indexOf('{'))) as { views: { group: string; entities: number }[] };
    expect(views.views.map((v) => v.group)).toEqual(['user', 'item', 'user_category']);
    const check = spawnTessera(['check', 'consistency', '--sample', '25', '--json'], redisEnv);
    expect(await exited(check), check.output()).toBe(0);
    const report = JSON.parse(check.output().slice(check.output().indexOf('{'))) as { consistent: boolean; features: { totalMismatches: number } };
    expect(report).toMatchObject({ consistent: true, features: { totalMismatches: 0 } });
    const versions = spawnTessera(['versions', 'list', '--json'], redisEnv);
    expect(await exited(versions), versions.output()).toBe(0);
    expect(versions.output()).toMatch(/"batchView": \{\s+"namespace": "bv-user-/);
    const user = events.find((e) => e.type === 'click')?.userId as string;
    const offline = spawnTessera(['features', 'get', `user:${user}`, '--at', new Date(Math.max(...times) + 1).toISOString(), '--offline', '--json'], redisEnv);
    expect(await exited(offline), offline.output()).toBe(0);
    expect(offline.output()).toMatch(/"source": "batch layer"/);
    const rebuild = spawnTessera(['rebuild', 'item', '--namespace', 'item-v2', '--until-idle', '--idle-ms', '500'], redisEnv);
    expect(await exited(rebuild), rebuild.output()).toBe(0);
    expect(rebuild.output()).toMatch(/rebuilt item into item-v2 \(\d+ events\); alias flipped from live/);
    const again = spawnTessera(['check', 'consistency', '--sample', '25'], redisEnv);
    expect(await exited(again), again.output()).toBe(0);
    expect(again.output()).toContain('consistent');
  });

  it('produce rejects oversized input by line and reason, promptly, and still sends every good line', async () => {
    const bigPrefix = randomName('cli-big');
    const bigTopics = referenceTopics(bigPrefix);
    // The item profiles' topic takes records of at most 600 bytes, so an event within the field
    // limits can still be too large for it.
    await log.ensureTopics([{ name: bigTopics.events('item_profile'), partitions: 2, config: { 'max.message.bytes': '600' } }]);
    try {
      let seq = 0;
      const profile = (id: string, brand: string) =>
        JSON.stringify({ type: 'item_profile', eventId: `p-${++seq}`, eventTime: '2026-01-05T00:00:00Z', itemId: id, categoryId: 'c1', price: 1.5, brand });
      const lines = [
        profile('i1', 'b'),
        profile('i2', 'x'.repeat(6 * 1024 * 1024)), // over the 4 MiB a line may take
        profile('i3', 'b'),
        profile('i'.repeat(1000), 'b'), // an id over 256 bytes
        profile('i5', 'y'.repeat(1000)), // valid, but its record is over the topic's 600 bytes
        profile('i6', 'b'),
      ];
      const file = join(dir, 'oversized.jsonl');
      writeFileSync(file, lines.join('\n') + '\n');
      const produce = spawnTessera(['produce', '--input', file], { ...env, TESSERA_TOPIC_PREFIX: bigPrefix });
      expect(await exited(produce), produce.output()).toBe(1);
      const out = produce.output();
      expect(out).toMatch(/line 2: RECORD_TOO_LARGE: the line takes 629\d{4} bytes; a line may take at most 4194304/);
      expect(out).toMatch(/line 4: FIELD_TOO_LONG: itemId: 1000 characters, more than the 256 bytes/);
      expect(out).toMatch(new RegExp(`line 5: RECORD_TOO_LARGE: the encoded event takes \\d+ bytes; ${bigTopics.events('item_profile').replace(/\./g, '\\.')} accepts at most 539`));
      expect(out).toContain('sent 3 events, rejected 3 lines');
      let stored = 0;
      for (const p of await log.endOffsets(bigTopics.events('item_profile'))) stored += p.offset;
      expect(stored).toBe(3);
    } finally {
      await log.deleteTopics(topicSpecs(bigTopics, 2).map((s) => s.name));
    }
  });

  it('demo runs the whole chain on embedded defaults: raw store, dead letters, features, samples, models, serving', async () => {
    const demo = spawnTessera(['demo', '--source', 'generator', '--events', '3000', '--users', '50', '--items', '200'], {
      ...TEST_PROJECT_ENV,
      TESSERA_CHDB_PATH: join(dir, 'demo-chdb'),
      TESSERA_MODEL_DIR: join(dir, 'demo-models'),
      TESSERA_KAFKA_BROKERS: '',
      TESSERA_REDIS_URL: '',
    });
    expect(await exited(demo), demo.output()).toBe(0);
    const out = demo.output();
    expect(out).toContain('event log in-process');
    expect(out).toMatch(/raw_impressions\s+3000/);
    expect(out).toMatch(/dead letters: EVENT_TIME_OUT_OF_RANGE 1, MISSING_ID 1, UNDECODABLE 1, UNKNOWN_FINGERPRINT 1/);
    expect(out).toMatch(/streaming features: applied \d+ events \(0 duplicates, 0 late\)/);
    expect(out).toMatch(/user_ctr_7d\s+0\.\d+/);
    // samples, the project's models (examples/reference: fm, wide_deep, lr) trained and published, the service ranking over HTTP
    expect(out).toMatch(/point-in-time samples: [1-9]\d* of 3000 impressions/);
    expect(out).toMatch(/fm \(fm\)\s+progressive AUC 0\.\d+, logloss 0\.\d+, [1-9] version\(s\) published \(v\d{6}-/);
    expect(out).toMatch(/wide_deep \(wide-deep\)\s+progressive AUC 0\.\d+, logloss 0\.\d+, [1-9] version\(s\) published \(v\d{6}-/);
    expect(out).toMatch(/lr \(lr\)\s+progressive AUC 0\.\d+, logloss 0\.\d+, [1-9] version\(s\) published \(v\d{6}-/);
    expect(out).toMatch(/ranking service on http:\/\/127\.0\.0\.1:\d+\/v1\/rank \(model demo-fm v\d{6}-/);
    expect(out).toMatch(/serving\s+20\d requests of \d+ candidates in-process over HTTP: p50 [\d.]+ ms, p99 [\d.]+ ms/);
  });
});
