import { resolve } from 'node:path';
import chdb, { drainPending, Session } from 'chdb';
import { ServiceError } from '../../errors.js';
import type { InsertColumn, OfflineStore, TextFormat } from '../../ports/offline-store.js';
import { checkColumns } from '../clickhouse/column-type.js';
import { encodeArrowColumns, type ArrowColumn } from './arrow-columns.js';
import { encodeJsonEachRow } from '../clickhouse/json-each-row.js';
import { OFFLINE_STORE_SETTINGS } from '../clickhouse/settings.js';
import { assertTableName } from '../clickhouse/table-name.js';
import { toChdbServiceError } from './chdb-error.js';
import { findDataDirHolder } from './data-dir-holder.js';

/** Options of {@link createChdbOfflineStore}. */
export interface ChdbOfflineStoreOptions {
  /**
   * Persistent data directory (`TESSERA_CHDB_PATH`), created if missing. Undefined: a fresh
   * temporary directory, removed by `close()` (tests, `tessera demo`).
   */
  path?: string;
}

/**
 * chdb's Arrow C Data Interface binding (exported by chdb 3.x, underscore-named: the public
 * `registerArrowTable` wraps it but copies each string into its own Buffer first). Checked at
 * load, so a chdb without it fails at once rather than at the first insert.
 */
const arrowBinding = chdb as unknown as {
  _arrowRegisterColumns?: (connection: unknown, name: string, columns: ArrowColumn[]) => void;
  _arrowUnregister?: (connection: unknown, name: string) => void;
};
if (typeof arrowBinding._arrowRegisterColumns !== 'function' || typeof arrowBinding._arrowUnregister !== 'function') {
  throw new Error('this chdb has no Arrow column registration (_arrowRegisterColumns): install the version package-lock.json pins');
}
const registerArrowColumns = arrowBinding._arrowRegisterColumns;
const unregisterArrowColumns = arrowBinding._arrowUnregister;

/** Arrow tables registered by inserts of this process so far (their names are unique). */
let arrowInserts = 0;

/** Data directories this process has open through a ChdbOfflineStore, with how many stores each. */
const openDirs = new Map<string, number>();

const MULTI_PROCESS_ADVICE =
  'chDB is single-process: a data directory can be open in one process at a time, and a process can have one ' +
  'data directory open at a time. For multi-process deployments run a ClickHouse server and set TESSERA_CLICKHOUSE_URL.';

/**
 * The embedded OfflineStore: chDB, ClickHouse's engine running inside this process (npm `chdb`).
 * Same SQL dialect, same row conventions as the server adapter, no service to run.
 *
 * Only the asynchronous chdb calls are used (`queryAsync`, `queryBindAsync`, the raw `insert`):
 * they run on libuv's thread pool, so a long statement does not stall the event loop and the
 * Kafka consumer sharing it keeps heartbeating. Statements from one process may overlap.
 *
 * One process, one data directory: libchdb binds a single data directory per process, and the
 * engine locks it (`<path>/status`) against other processes. Two stores on the same path in one
 * process share the engine (chdb reference-counts the connection); a store on another path, or a
 * second temporary store, fails while one is open, and so does a second process on the same
 * path. Both failures are ServiceErrors that name the directory and point to
 * TESSERA_CLICKHOUSE_URL.
 *
 * Rows are read as JSONEachRow with 64-bit integers as numbers (exact up to 2^53 only; select
 * `toString(col)` for exact ids and hashes) and written with the conventions of
 * `encodeJsonEachRow`: epoch-ms numbers into `DateTime64(3, 'UTC')` columns. Columns without an
 * explicit time zone use the process's (`TZ`): declare time columns with `'UTC'`.
 *
 * @example
 * const store = await createChdbOfflineStore({ path: process.env.TESSERA_CHDB_PATH });
 * await store.command("CREATE TABLE IF NOT EXISTS raw_events (event_id String, event_time DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY event_time");
 * await store.insert('raw_events', [{ event_id: 'e1', event_time: 1704164645678 }]);
 * await store.close();
 */
export class ChdbOfflineStore implements OfflineStore {
  /** `chdb <engine version>`, e.g. `chdb 26.7.2.1`. */
  readonly engine: string;
  /** Absolute data directory (the temporary one when no path was given). */
  readonly path: string;
  /** Whether `close()` removes the directory. */
  readonly temporary: boolean;
  readonly #session: Session;
  readonly #inflight = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  /** Use {@link createChdbOfflineStore}, which opens the session and explains a refusal. */
  constructor(session: Session, version: string) {
    this.#session = session;
    this.engine = `chdb ${version}`;
    this.path = resolve(session.path);
    this.temporary = session.isTemp;
  }

  /** Runs a statement with no result (DDL, `INSERT ... SELECT`, `OPTIMIZE`). */
  async command(sql: string): Promise<void> {
    await this.#run('command', () => this.#session.queryAsync(sql));
  }

  /**
   * Runs a SELECT and returns its rows as objects. `params` fill `{name:Type}` placeholders in
   * the engine (`queryBindAsync`), so values never become SQL text; pass `bigint` for 64-bit
   * values above 2^53. Bind instants as `{t:Int64}` epoch ms and convert with
   * `fromUnixTimestamp64Milli({t:Int64}, 'UTC')` (a `Date` bound to a DateTime64 loses its ms).
   */
  async query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
    const result = await this.#run('query', () =>
      params === undefined || Object.keys(params).length === 0
        ? this.#session.queryAsync(sql, { format: 'JSONEachRow' })
        : this.#session.queryBindAsync(sql, params, { format: 'JSONEachRow' }),
    );
    return parseJsonEachRow<T>(result.text());
  }

  /**
   * Runs a SELECT and returns its result text in `format`, as the engine wrote it (large reads the
   * caller parses column by column, e.g. JSONCompactEachRow). `params` bind like {@link query}'s.
   */
  async queryText(sql: string, format: TextFormat, params?: Record<string, unknown>): Promise<string> {
    const result = await this.#run('query', () =>
      params === undefined || Object.keys(params).length === 0 ? this.#session.queryAsync(sql, { format }) : this.#session.queryBindAsync(sql, params, { format }),
    );
    return result.text();
  }

  /**
   * Writes rows as one `INSERT INTO <table> FORMAT JSONEachRow`: encoded into one Buffer by
   * `encodeJsonEachRow` (yielding to the event loop as it goes) and handed to chdb's raw insert,
   * whose parser runs off the event loop. No rows: no statement.
   */
  async insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    assertTableName('chdb', table);
    if (rows.length === 0) {
      this.#assertOpen();
      return;
    }
    await this.#run(`insert into ${table}`, async () => {
      const payload = await encodeJsonEachRow(rows);
      return this.#session.insert({ table, values: payload, format: 'JSONEachRow', settings: OFFLINE_STORE_SETTINGS.insert });
    });
  }

  /**
   * Writes columns as one `INSERT INTO <table> (...) SELECT ... FROM arrowstream(...)`: the
   * values become Arrow columns (`encodeArrowColumns`) registered on this session's connection,
   * which the engine reads in place and casts to the table's types, so neither side prints or
   * parses text. The insert's deduplication token is the batch's SHA-256, so a batch inserted
   * again into a table with a deduplication window is dropped, as a repeated JSONEachRow block
   * is. No rows: no statement.
   */
  async insertColumns(table: string, columns: readonly InsertColumn[]): Promise<void> {
    assertTableName('chdb', table);
    this.#assertOpen();
    let encoded: ReturnType<typeof encodeArrowColumns>;
    let names: string[];
    try {
      const checked = checkColumns(columns);
      if (checked.rows === 0) return;
      names = checked.columns.map((c) => c.name);
      encoded = encodeArrowColumns(checked.columns, checked.rows);
    } catch (err) {
      throw new ServiceError('chdb', `insert into ${table} refused: ${(err as Error).message}`, { retriable: false, cause: err });
    }
    const source = `tessera_insert_${process.pid}_${++arrowInserts}`;
    const digest = `${table}:${encoded.digest}`;
    await this.#run(`insert into ${table}`, async () => {
      registerArrowColumns(this.#session.connection, source, encoded.columns);
      try {
        return await this.#session.queryAsync(
          `INSERT INTO ${table} (${names.join(', ')}) SETTINGS insert_deduplication_token = '${digest}' ` +
            `SELECT ${encoded.selects.join(', ')} FROM arrowstream('${source}')`,
        );
      } finally {
        unregisterArrowColumns(this.#session.connection, source);
      }
    });
  }

  /**
   * Waits for this store's running statements, closes the session (removing the directory if it
   * is temporary) and waits until the engine has let go of it, so another store can open at once.
   * Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inflight]);
      this.#session.close();
      releaseDir(this.path);
      await drainPending();
    })();
    return this.#closing;
  }

  async #run<R>(action: string, op: () => Promise<R>): Promise<R> {
    this.#assertOpen();
    // Started now (so close() sees it), with a synchronous throw turned into a rejection.
    const running = new Promise<R>((resolve) => resolve(op()));
    this.#inflight.add(running);
    try {
      return await running;
    } catch (err) {
      throw toChdbServiceError(err, action);
    } finally {
      this.#inflight.delete(running);
    }
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new ServiceError('chdb', `the offline store on ${this.path} is closed`, { retriable: false });
  }
}

/**
 * Opens chDB on `options.path` (or a temporary directory) and returns a {@link ChdbOfflineStore}.
 *
 * @throws ServiceError `CHDB_ERROR` (not retriable) when the directory cannot be opened: locked
 *   by another process (with its PID), or this process already has chDB open on another directory.
 */
export async function createChdbOfflineStore(options: ChdbOfflineStoreOptions = {}): Promise<ChdbOfflineStore> {
  const requested = options.path === undefined ? undefined : resolve(options.path);
  let session: Session;
  try {
    session = new Session(requested, {
      // Per connection, so a chdb session someone else opens on the same path keeps its own.
      connectionArgs: Object.entries(OFFLINE_STORE_SETTINGS.query).map(([name, value]) => `--${name}=${value}`),
    });
  } catch (err) {
    throw await explainOpenFailure(err, requested);
  }
  let version: string | undefined;
  try {
    const result = await session.queryAsync('SELECT version() AS version', { format: 'JSONEachRow' });
    version = parseJsonEachRow<{ version: string }>(result.text())[0]?.version;
  } catch (err) {
    session.close();
    await drainPending();
    throw toChdbServiceError(err, `open ${session.path}`);
  }
  holdDir(resolve(session.path));
  return new ChdbOfflineStore(session, version ?? 'unknown');
}

async function explainOpenFailure(err: unknown, requested: string | undefined): Promise<ServiceError> {
  const engineSays = err instanceof Error ? err.message : String(err);
  const target = requested === undefined ? 'a new temporary data directory' : `data directory ${requested}`;
  const held = [...openDirs.keys()].filter((dir) => dir !== requested);
  if (held.length > 0) {
    return new ServiceError(
      'chdb',
      `cannot open ${target}: this process already has chDB open on ${held.join(', ')}, and chDB binds one data directory per process. ` +
        `Share that store, or close it first. ${MULTI_PROCESS_ADVICE} (chdb: ${engineSays})`,
      { retriable: false, cause: err },
    );
  }
  const holder = requested === undefined ? undefined : await findDataDirHolder(requested);
  if (holder !== undefined) {
    const since = holder.startedAt === undefined ? '' : `, running since ${holder.startedAt}`;
    return new ServiceError(
      'chdb',
      `data directory ${requested} is locked by another process (PID ${holder.pid}${since}, see ${requested}/status). ` +
        `Stop that process or give this one its own TESSERA_CHDB_PATH. ${MULTI_PROCESS_ADVICE}`,
      { retriable: false, cause: err },
    );
  }
  return new ServiceError(
    'chdb',
    `cannot open ${target}: ${engineSays}. If another process has it open: ${MULTI_PROCESS_ADVICE} (the engine prints its reason on stderr)`,
    { retriable: false, cause: err },
  );
}

function holdDir(dir: string): void {
  openDirs.set(dir, (openDirs.get(dir) ?? 0) + 1);
}

function releaseDir(dir: string): void {
  const n = (openDirs.get(dir) ?? 0) - 1;
  if (n > 0) openDirs.set(dir, n);
  else openDirs.delete(dir);
}

function parseJsonEachRow<T>(text: string): T[] {
  const rows: T[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end > start) rows.push(JSON.parse(text.slice(start, end)) as T);
    start = end + 1;
  }
  return rows;
}
