import { randomBytes } from 'node:crypto';
import { REFERENCE_DIR } from './reference.js';

/** Where the real services started by scripts/services.sh listen (`scripts/services.sh env`). */
export const TEST_KAFKA_BROKERS = (process.env.TESSERA_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
export const TEST_REDIS_URL = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:16379';
export const TEST_CLICKHOUSE_URL = process.env.TESSERA_TEST_CLICKHOUSE_URL ?? 'http://127.0.0.1:18123';

/** A random name for topics, keys, tables and groups, so tests never see each other's data. */
export function randomName(prefix = 't'): string {
  return `${prefix}${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

/**
 * The environment a spawned (or in-process) CLI needs to run on the reference example project
 * (examples/reference): most commands refuse to start without a feature project.
 */
export const TEST_PROJECT_ENV: Readonly<{ TESSERA_PROJECT: string }> = Object.freeze({ TESSERA_PROJECT: REFERENCE_DIR });
