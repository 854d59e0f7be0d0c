import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { DEFAULT_CONFIG, loadConfig } from '../../../src/app/config.js';
import { ConfigError } from '../../../src/errors.js';

describe('config', () => {
  it('is the embedded default when nothing is set', () => {
    expect(loadConfig({})).toEqual(DEFAULT_CONFIG);
    expect(loadConfig({}).kafkaBrokers).toBeNull();
    expect(loadConfig({}).project).toBeNull();
  });

  it('reads the feature project from TESSERA_PROJECT, a --project override winning over it', () => {
    expect(loadConfig({ TESSERA_PROJECT: 'examples/reference' }).project).toBe('examples/reference');
    expect(loadConfig({ TESSERA_PROJECT: 'a' }, { overrides: { project: 'b' } }).project).toBe('b');
    expect(loadConfig({}, { overrides: { project: 'b' } }).project).toBe('b');
    // an empty variable is unset
    expect(loadConfig({ TESSERA_PROJECT: '' }).project).toBeNull();
  });

  it('reads the environment and validates it', () => {
    const c = loadConfig({ TESSERA_KAFKA_BROKERS: 'a:1, b:2', TESSERA_REDIS_URL: 'redis://h:6379/1', TESSERA_PARTITIONS: '8' });
    expect(c.kafkaBrokers).toEqual(['a:1', 'b:2']);
    expect(c.redisUrl).toBe('redis://h:6379/1');
    expect(c.partitions).toBe(8);
  });

  it.each([
    [{ TESSERA_KAFKA_BROKERS: 'localhost' }, /not host:port/],
    [{ TESSERA_REDIS_URL: 'http://x' }, /must start with redis:\/\//],
    [{ TESSERA_CLICKHOUSE_URL: 'not a url' }, /is not a URL/],
    [{ TESSERA_PARTITIONS: '0' }, /TESSERA_PARTITIONS=0 must be a whole number from 1/],
    [{ TESSERA_LOG_LEVEL: 'loud' }, /not a log level/],
    [{ TESSERA_TOPIC_PREFIX: 'a b' }, /may hold only letters/],
  ])('rejects %j with a message that says how to fix it', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('reads a JSON config file, the environment winning over it, and rejects unknown fields', () => {
    const file = join(tmpdir(), `tessera-config-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ topicPrefix: 'fromfile', partitions: 2 }));
    expect(loadConfig({ TESSERA_CONFIG: file, TESSERA_PARTITIONS: '6' })).toMatchObject({ topicPrefix: 'fromfile', partitions: 6 });
    writeFileSync(file, JSON.stringify({ kafkaBroker: 'x:1' }));
    expect(() => loadConfig({ TESSERA_CONFIG: file })).toThrow(/unknown field "kafkaBroker"/);
    writeFileSync(file, JSON.stringify({ project: 'my-project' }));
    expect(loadConfig({ TESSERA_CONFIG: file }).project).toBe('my-project');
    expect(loadConfig({ TESSERA_CONFIG: file, TESSERA_PROJECT: 'other' }).project).toBe('other');
  });
});
