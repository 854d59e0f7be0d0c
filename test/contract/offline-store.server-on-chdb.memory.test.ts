import { ClickHouseLogLevel, createClient, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { ClickHouseServerOfflineStore } from '../../src/adapters/clickhouse/clickhouse-server-offline-store.js';
import { ALL_CAPABILITIES, offlineStoreContract } from './offline-store.contract.js';

// The server adapter's full contract on a current engine. The only ClickHouse server the project
// starts is 18.16 (smoke subset), so this is where the production adapter's bound parameters,
// DateTime64, LowCardinality and current-format error translation are exercised: the same
// @clickhouse/client calls, carried by chDB's Connection for that client (`chdb/connection`,
// experimental upstream) instead of HTTP. What it cannot cover is HTTP itself (status codes,
// sockets, wait_end_of_query), which the `.real.` run covers on 18.16.
offlineStoreContract(
  'clickhouse server adapter on chDB (chdb/connection)',
  async () => {
    // chdb types its Connection against @clickhouse/client-common, the client against its own
    // bundled copy of the same declarations; they differ only in identity.
    const connection = createChdbConnection({ path: ':memory:' }) as unknown as NonNullable<ClickHouseClientConfigOptions['connection']>;
    const client = createClient({ connection, log: { level: ClickHouseLogLevel.OFF } });
    const result = await client.query({ query: 'SELECT version() AS version', format: 'JSONEachRow' });
    const [row] = await result.json<{ version: string }>();
    return new ClickHouseServerOfflineStore(client, row?.version ?? 'unknown');
  },
  {
    ...ALL_CAPABILITIES,
    binaryInsert: false,
    reason: "chdb's Connection for @clickhouse/client turns an insert body into text, so RowBinary cannot pass; the `.real.` run covers it on a server",
  },
);
