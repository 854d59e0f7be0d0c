import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFsModelStore } from '../../src/adapters/fs/fs-model-store.js';
import { createKafkaEventLog } from '../../src/adapters/kafka/kafka-event-log.js';
import { createRedisOnlineStore } from '../../src/adapters/redis/redis-online-store.js';
import { topicSpecs } from '../../src/events/topics.js';
import { hours } from '../../src/features/definitions.js';
import { createEventProducer } from '../../src/ingest/producer.js';
import { readJoinedSamples } from '../../src/joiner/joined-samples.js';
import { createJoinerKeys } from '../../src/joiner/joiner-keys.js';
import { startJoiner } from '../../src/joiner/joiner.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { EventLog } from '../../src/ports/event-log.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import type { OnlineStore } from '../../src/ports/online-store.js';
import { labelRule } from '../../src/samples/labels.js';
import { featureSpec } from '../../src/samples/sample.js';
import { loadPublished } from '../../src/training/publication.js';
import { TEST_KAFKA_BROKERS, TEST_PROJECT_ENV, TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { exited, spawnTessera, tempDir } from '../helpers/pipeline.js';
import { joinStream } from '../unit/joiner/join-streams.js';
import { allParams } from '../unit/models/model-fixtures.js';
import { REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../helpers/reference.js';

const GROUPS = REFERENCE_GROUPS;
const PARTITIONS = 3;

/**
 * `tessera train` (the compiled CLI) on the joiner's samples topic in the real broker: a clean run,
 * and a run SIGKILLed three times while it learns and then finished, end with the same model,
 * optimiser state included, and the same published weights.
 */
describe('train: the samples topic on real Kafka, killed and restarted', () => {
  const prefix = randomName('tr');
  const topics = referenceTopics(prefix);
  const dir = tempDir('tessera-train-');
  let log: EventLog;
  let store: OnlineStore;
  let total = 0;

  beforeAll(async () => {
    log = createKafkaEventLog({ brokers: TEST_KAFKA_BROKERS, clientId: 'tessera-test', logger: SILENT_LOGGER });
    store = createRedisOnlineStore({ url: TEST_REDIS_URL });
    await log.ensureTopics(topicSpecs(topics, PARTITIONS));
    const events = joinStream(43, 2500, { orderWindowMs: hours(4), users: 60, items: 120 });
    const producer = createEventProducer({ log, registry: referenceRegistry(), topics, clock: Date.now });
    for (let i = 0; i < events.length; i += 1000) expect((await producer.send(events.slice(i, i + 1000))).rejected).toEqual([]);
    const joiner = startJoiner(
      { log, store, registry: referenceRegistry(), topics, keys: createJoinerKeys(prefix, 'join'), groups: GROUPS, logger: SILENT_LOGGER, metrics: new Metrics(), clock: Date.now },
      { rule: labelRule({ orderWindowMs: hours(4) }), untilIdle: true, idleMs: 1500, checkpointIntervalMs: 0 },
    );
    await joiner.done;
    total = (await readJoinedSamples(log, topics.samples(), { specHash: featureSpec(GROUPS).hash })).samples.length;
    expect(total).toBeGreaterThan(2000);
  });
  afterAll(async () => {
    await store.deleteByPrefix(`${prefix}:`);
    await log.deleteTopics(topicSpecs(topics, PARTITIONS).map((s) => s.name));
    await store.close();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a run killed three times mid-way ends with the clean run\'s model and published weights', async () => {
    const env = { ...TEST_PROJECT_ENV, TESSERA_KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','), TESSERA_TOPIC_PREFIX: prefix, TESSERA_PARTITIONS: String(PARTITIONS), TESSERA_MODEL_DIR: join(dir, 'models') };
    // small steps so that a run lasts long enough to be killed in the middle
    const args = (name: string) => ['train', '--model', 'wide-deep', '--config', '{"hidden":[128,64],"batchSize":16}', '--mini-batch', '32', '--checkpoint-every', '64', '--publish-every-samples', '500', '--publish-every', '0', '--name', name, '--checkpoint-dir', join(dir, 'ckpt')];
    const clean = spawnTessera([...args('clean'), '--until-idle'], env);
    expect(await exited(clean), clean.output()).toBe(0);
    expect(clean.output()).toMatch(new RegExp(`learned ${total} samples \\(fresh start\\)`));

    const ckpt = join(dir, 'ckpt', 'crashy.ckpt');
    const learnedSoFar = async () => {
      const bytes = await readFile(ckpt);
      return (JSON.parse(bytes.subarray(8, 8 + bytes.readUInt32LE(4)).toString('utf8')) as { learned: number }).learned;
    };
    let killedMidway = 0;
    for (let round = 0; round < 3; round++) {
      const before = existsSync(ckpt) ? await learnedSoFar() : 0;
      const child = spawnTessera(args('crashy'), env); // no --until-idle: it would wait for more samples
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && child.exitCode === null && !(existsSync(ckpt) && (await learnedSoFar().catch(() => before)) > before)) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 100)));
      child.kill('SIGKILL');
      expect(await exited(child), child.output()).toBe('SIGKILL');
      if ((await learnedSoFar()) < total) killedMidway++;
    }
    expect(killedMidway).toBeGreaterThan(0);
    const finisher = spawnTessera([...args('crashy'), '--until-idle'], env);
    expect(await exited(finisher), finisher.output()).toBe(0);
    expect(finisher.output()).toMatch(new RegExp(`learned ${total} samples \\(checkpoint start\\)`));

    const modelPart = async (file: string) => {
      const bytes = await readFile(file);
      return bytes.subarray(8 + bytes.readUInt32LE(4));
    };
    expect((await modelPart(ckpt)).equals(await modelPart(join(dir, 'ckpt', 'clean.ckpt')))).toBe(true);
    const models = createFsModelStore(join(dir, 'models'));
    const a = await loadPublished(models, 'clean', (await models.pointer('clean'))!);
    const b = await loadPublished(models, 'crashy', (await models.pointer('crashy'))!);
    expect(b.manifest.data.samples).toBe(total);
    // the published parameters (a delta carries weights, not optimiser state, and the two chains
    // put their full snapshots at different points, so the weights are what must agree)
    expect(allParams(b.model)).toEqual(allParams(a.model));
  }, 180_000);
});
