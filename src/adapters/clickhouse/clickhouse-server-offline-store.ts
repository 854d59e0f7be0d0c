import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { ServiceError } from '../../errors.js';
import type { InsertColumn, OfflineStore, TextFormat } from '../../ports/offline-store.js';
import { toClickHouseServiceError } from './clickhouse-error.js';
import { checkColumns } from './column-type.js';
import { encodeJsonEachRow } from './json-each-row.js';
import { OFFLINE_STORE_SETTINGS } from './settings.js';
import { encodeRowBinary } from './row-binary.js';
import { assertTableName } from './table-name.js';

/** Connection options of {@link createClickHouseServerOfflineStore}. */
export interface ClickHouseServerOfflineStoreOptions {
  /** HTTP(S) endpoint, e.g. `http://clickhouse:8123` (`TESSERA_CLICKHOUSE_URL`). */
  url: string;
  /** Default `default`. */
  username?: string;
  /** Default empty. */
  password?: string;
  /** Database that unqualified table names refer to. Default: the user's default database. */
  database?: string;
  /** Per-request timeout, ms. Default 300000 (batch jobs run long statements). */
  requestTimeoutMs?: number;
}

// Sent on every statement: the server buffers the whole response before its first byte, so an
// error raised half-way through (a failing INSERT ... SELECT, a row that breaks the result)
// arrives as an HTTP error instead of a 200 with a truncated body.
const WAIT_END_OF_QUERY = { wait_end_of_query: 1 } as const;

/**
 * The production OfflineStore: a ClickHouse server (or cluster, through a distributed table)
 * over HTTP with @clickhouse/client. Any number of Tessera processes may share one server.
 *
 * Needs a current ClickHouse (>= 23.x): statements use server-side parameter binding
 * (`{name:Type}`, ClickHouse >= 19.x), DateTime64 (>= 20.1) and LowCardinality without the
 * experimental switch (>= 19.x). The Debian ClickHouse 18.16 that `scripts/services.sh up
 * clickhouse` starts is only for the smoke test (connect, create, insert, select, drop): on it
 * `query` with params fails with "Unknown setting param_<name>", a DateTime64 column with "Unknown
 * data type family", and LowCardinality needs `allow_experimental_low_cardinality_type = 1`.
 *
 * Rows are read as JSONEachRow with 64-bit integers as numbers (exact up to 2^53 only; select
 * `toString(col)` for exact ids and hashes) and written with the conventions of
 * `encodeJsonEachRow`: epoch-ms numbers into `DateTime64(3, 'UTC')` columns.
 *
 * @example
 * const store = await createClickHouseServerOfflineStore({ url: process.env.TESSERA_CLICKHOUSE_URL! });
 * await store.insert('raw_events', [{ event_id: 'e1', event_time: 1704164645678 }]);
 * const rows = await store.query<{ n: number }>('SELECT count() AS n FROM raw_events WHERE user_id = {u:String}', { u: 'u1' });
 * await store.close();
 */
export class ClickHouseServerOfflineStore implements OfflineStore {
  /** `clickhouse <server version>`, e.g. `clickhouse 24.8.4.13`. */
  readonly engine: string;
  readonly #client: ClickHouseClient;
  #closed = false;

  /**
   * Wraps a connected client; use {@link createClickHouseServerOfflineStore}, which checks the
   * connection and reads the server's version first.
   */
  constructor(client: ClickHouseClient, version: string) {
    this.#client = client;
    this.engine = `clickhouse ${version}`;
  }

  /** Runs a statement with no result (DDL, `INSERT ... SELECT`, `OPTIMIZE`); one statement per call. */
  async command(sql: string): Promise<void> {
    this.#assertOpen();
    try {
      await this.#client.command({ query: sql, clickhouse_settings: WAIT_END_OF_QUERY });
    } catch (err) {
      throw toClickHouseServiceError(err, 'command');
    }
  }

  /**
   * Runs a SELECT and returns its rows as objects. `params` fill `{name:Type}` placeholders on
   * the server, so values never become SQL text. Bind instants as `{t:Int64}` epoch ms and
   * convert with `fromUnixTimestamp64Milli({t:Int64}, 'UTC')`: the same on every version.
   */
  async query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
    this.#assertOpen();
    try {
      const result = await this.#client.query({
        query: sql,
        format: 'JSONEachRow',
        ...(params === undefined || Object.keys(params).length === 0 ? {} : { query_params: params }),
        clickhouse_settings: { ...OFFLINE_STORE_SETTINGS.query, ...WAIT_END_OF_QUERY },
      });
      return await result.json<T>();
    } catch (err) {
      throw toClickHouseServiceError(err, 'query');
    }
  }

  /**
   * Runs a SELECT and returns its result text in `format`, as the server wrote it (large reads the
   * caller parses itself). `params` bind on the server like {@link query}'s.
   */
  async queryText(sql: string, format: TextFormat, params?: Record<string, unknown>): Promise<string> {
    this.#assertOpen();
    try {
      const result = await this.#client.query({
        query: sql,
        format,
        ...(params === undefined || Object.keys(params).length === 0 ? {} : { query_params: params }),
        clickhouse_settings: { ...OFFLINE_STORE_SETTINGS.query, ...WAIT_END_OF_QUERY },
      });
      return await result.text();
    } catch (err) {
      throw toClickHouseServiceError(err, 'query');
    }
  }

  /**
   * Writes rows with one `INSERT INTO <table> FORMAT JSONEachRow` request (encoded by
   * `encodeJsonEachRow`, which yields to the event loop while it works). No rows: no request.
   */
  async insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    this.#assertOpen();
    assertTableName('clickhouse', table);
    if (rows.length === 0) return;
    let payload: Buffer;
    try {
      payload = await encodeJsonEachRow(rows);
    } catch (err) {
      throw new ServiceError('clickhouse', `insert into ${table} failed: ${(err as Error).message}`, { retriable: false, cause: err });
    }
    await this.#send(table, `INSERT INTO ${table} FORMAT JSONEachRow`, payload);
  }

  /** Sends an INSERT with its payload as the request body. */
  async #send(table: string, query: string, payload: Buffer): Promise<void> {
    try {
      const { stream } = await this.#client.exec({ query, values: Readable.from([payload]), clickhouse_settings: OFFLINE_STORE_SETTINGS.insert });
      // The body is empty; reading it to the end hands the socket back to the pool.
      for await (const _chunk of stream) void _chunk;
    } catch (err) {
      throw toClickHouseServiceError(err, `insert into ${table}`);
    }
  }

  /**
   * Writes columns with one `INSERT INTO <table> (...) FORMAT RowBinary` request
   * (`encodeRowBinary`): binary rows, so the server parses no text. A batch sent again into a
   * table with a deduplication window is dropped by the server's block hash, as a repeated
   * JSONEachRow block is. No rows: no request.
   */
  async insertColumns(table: string, columns: readonly InsertColumn[]): Promise<void> {
    this.#assertOpen();
    assertTableName('clickhouse', table);
    let payload: Buffer;
    let names: string[];
    try {
      const checked = checkColumns(columns);
      if (checked.rows === 0) return;
      names = checked.columns.map((c) => c.name);
      payload = encodeRowBinary(checked.columns, checked.rows);
    } catch (err) {
      throw new ServiceError('clickhouse', `insert into ${table} refused: ${(err as Error).message}`, { retriable: false, cause: err });
    }
    await this.#send(table, `INSERT INTO ${table} (${names.join(', ')}) FORMAT RowBinary`, payload);
  }

  /** Closes the HTTP connection pool. Idempotent; the store refuses further calls. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ServiceError('clickhouse', 'the offline store is closed', { retriable: false });
  }
}

/**
 * Connects to a ClickHouse server and returns a {@link ClickHouseServerOfflineStore}. Checks
 * that the server answers (`/ping`) and that the credentials and database work (reads
 * `version()`), so a misconfiguration fails here with a
 * ServiceError rather than on the first write.
 *
 * @throws ServiceError `CLICKHOUSE_ERROR`: retriable when the server is unreachable, not when it
 *   refuses the user, the password or the database.
 */
export async function createClickHouseServerOfflineStore(options: ClickHouseServerOfflineStoreOptions): Promise<ClickHouseServerOfflineStore> {
  let client: ClickHouseClient;
  try {
    client = createClient({
      url: options.url,
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.database === undefined ? {} : { database: options.database }),
      request_timeout: options.requestTimeoutMs ?? 300_000,
      // Every failure reaches the caller as a ServiceError; the client's own console logging
      // would report it a second time, outside the project's Logger.
      log: { level: ClickHouseLogLevel.OFF },
    });
  } catch (err) {
    throw new ServiceError('clickhouse', `invalid connection options for ${options.url}: ${(err as Error).message}`, { retriable: false, cause: err });
  }
  try {
    const ping = await client.ping();
    if (!ping.success) throw toClickHouseServiceError(ping.error, `ping ${options.url}`);
    const version = await client.query({ query: 'SELECT version() AS version', format: 'JSONEachRow' });
    const [row] = await version.json<{ version: string }>();
    return new ClickHouseServerOfflineStore(client, row?.version ?? 'unknown');
  } catch (err) {
    await client.close().catch(() => undefined);
    throw toClickHouseServiceError(err, `connect to ${options.url}`);
  }
}
