import { describe, expect, it } from 'vitest';
import { createClickHouseServerOfflineStore } from '../../src/adapters/clickhouse/clickhouse-server-offline-store.js';
import { ServiceError } from '../../src/errors.js';
import { offlineStoreContract, type OfflineStoreCapabilities } from './offline-store.contract.js';

// The server started by `scripts/services.sh up clickhouse` (ClickHouse 18.16, smoke test only);
// point TESSERA_TEST_CLICKHOUSE_URL at a current server to run every case.
const url = process.env.TESSERA_TEST_CLICKHOUSE_URL ?? 'http://127.0.0.1:18123';

const version = await serverVersion(url);
const [major = 0] = version.split('.').map(Number);
const capabilities: OfflineStoreCapabilities = {
  dateTime64: major >= 20,
  boundParams: major >= 19,
  lowCardinality: major >= 19,
  jsonCompactEachRow: major >= 20,
  insertDeduplication: major >= 20,
  binaryInsert: true,
  reason: `ClickHouse ${version} at ${url} predates it (production needs >= 23.x; 18.16 only runs the smoke subset)`,
};

offlineStoreContract(`clickhouse server ${version}`, () => createClickHouseServerOfflineStore({ url }), capabilities);

describe('createClickHouseServerOfflineStore: connecting', () => {
  it('an unreachable server is a retriable ServiceError', async () => {
    const err = await createClickHouseServerOfflineStore({ url: 'http://127.0.0.1:1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect(err).toMatchObject({ code: 'CLICKHOUSE_ERROR', retriable: true });
    expect((err as ServiceError).message).toContain('ECONNREFUSED');
  });

  it('a database that does not exist is refused at connect, not retriable, with the server message', async () => {
    const err = await createClickHouseServerOfflineStore({ url, database: 'tessera_no_such_db' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect(err).toMatchObject({ code: 'CLICKHOUSE_ERROR', retriable: false });
    expect((err as ServiceError).message).toMatch(/Code: 81\b.*tessera_no_such_db/s);
  });
});

async function serverVersion(base: string): Promise<string> {
  const res = await fetch(`${base}/?query=${encodeURIComponent('SELECT version()')}`).catch((err: unknown) => {
    throw new Error(`no ClickHouse server at ${base} (start it with: scripts/services.sh up clickhouse): ${String(err)}`);
  });
  if (!res.ok) throw new Error(`ClickHouse at ${base} answered ${res.status}: ${await res.text()}`);
  return (await res.text()).trim();
}
