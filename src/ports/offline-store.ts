/**
 * OfflineStore: the analytical SQL engine holding raw events and batch outputs (a ClickHouse
 * server in production, chDB in-process by default). SQL is ClickHouse's dialect.
 *
 * Contract (checked by `test/contract/offline-store.contract.ts` against both adapters):
 * - `command` runs a statement with no result (DDL, INSERT ... SELECT, OPTIMIZE);
 * - `query` returns rows as plain objects (JSONEachRow: 64-bit integers as strings is
 *   disabled, so UInt64/Int64 come back as numbers, exact up to 2^53 only; DateTime64 as
 *   `YYYY-MM-DD hh:mm:ss.sss` in the column's zone, so time columns are `DateTime64(3, 'UTC')`);
 * - `insert` writes rows given as objects; one call is one INSERT statement, none for no rows.
 *   Times are epoch-ms numbers, 64-bit values above 2^53 are bigints, and a key that
 *   names no column is an error;
 * - `insertColumns` writes the same kind of batch given column by column, each with its
 *   ClickHouse type, in a binary columnar form (chDB: Arrow columns read in place; the server:
 *   RowBinary): the fast path for bulk writes such as the raw sink's. Values follow
 *   `checkColumns` (`src/adapters/clickhouse/column-type.ts`): epoch-ms numbers for DateTime64,
 *   bigints for 64-bit values above 2^53, `null` only in Nullable columns; anything else is a
 *   non-retriable error before anything is written. An identical batch inserted again into a
 *   table with an insert deduplication window is dropped, as a repeated `insert` block is;
 * - `queryText` returns a SELECT's result as the engine writes it in a text format, untouched, for
 *   large reads the caller parses itself (JSONCompactEachRow rows are arrays in column order,
 *   with the same value conventions as `query`; TabSeparated escapes per ClickHouse's rules).
 */
export interface OfflineStore {
  /** Engine name and version, e.g. `chdb 26.7.2.1`. */
  readonly engine: string;
  command(sql: string): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void>;
  insertColumns(table: string, columns: readonly InsertColumn[]): Promise<void>;
  queryText(sql: string, format: TextFormat, params?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/**
 * Result formats `queryText` returns. JSONCompactEachRow needs ClickHouse >= 20.x (chDB has it);
 * TabSeparated is understood by every version.
 */
export type TextFormat = 'JSONCompactEachRow' | 'JSONEachRow' | 'TabSeparated';

/** One column of {@link OfflineStore.insertColumns}: every column of a call has as many values. */
export interface InsertColumn {
  /** The table's column (a plain identifier). */
  readonly name: string;
  /** Its ClickHouse type as the table declares it, e.g. `LowCardinality(Nullable(String))`. */
  readonly type: string;
  /** One value per row. */
  readonly values: readonly unknown[];
}
