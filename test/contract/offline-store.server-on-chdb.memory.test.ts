import { createClient, ClickHouseLogLevel } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { ClickHouseServerOfflineStore } from '../../src/adapters/clickhouse/clickhouse-server-offline-store.js';
import { ALL_CAPABILITIES, offlineStoreContract } from './offline-store.contract.js';

offlineStoreContract('server adapter over chdb/connection', async () => {
  const client = createClient({ connection: createChdbConnection({ path: ':memory:' }), log: { level: ClickHouseLogLevel.OFF } } as never);
  const rs = await client.query({ query: 'SELECT version() AS version', format: 'JSONEachRow' });
  const [row] = await rs.json<{ version: string }>();
  return new ClickHouseServerOfflineStore(client, row!.version);
}, ALL_CAPABILITIES);
