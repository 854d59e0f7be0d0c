import { ClickHouseError } from '@clickhouse/client';
import { ServiceError } from '../../errors.js';

/**
 * ClickHouse error codes worth retrying: the server is overloaded, a replica or Keeper is
 * briefly unavailable, or the outcome of an insert is unknown. Every other coded error comes from
 * the statement or the schema (syntax, unknown table, type mismatch, bad credentials) and fails
 * the same way again.
 */
const RETRIABLE_CODES = new Set([
  159, // TIMEOUT_EXCEEDED
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  242, // TABLE_IS_READ_ONLY (replica lost its Keeper session)
  252, // TOO_MANY_PARTS
  279, // ALL_CONNECTION_TRIES_FAILED
  285, // TOO_FEW_LIVE_REPLICAS
  319, // UNKNOWN_STATUS_OF_INSERT
  999, // KEEPER_EXCEPTION
]);

/** Socket-level failures: the request may not have reached the server, or its answer was lost. */
const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// clickhouse-js only recognises the current `Code: 62. DB::Exception: ... (SYNTAX_ERROR)` form;
// servers before 19.x answer `Code: 62, e.displayText() = DB::Exception: ...`, which reaches us
// as a plain Error. Both start with the code.
const LEADING_CODE = /^Code: (\d+)[.,]/;

/**
 * Translates anything @clickhouse/client throws (or reports from `ping`) into a ServiceError
 * (`CLICKHOUSE_ERROR`) whose message keeps the server's own text, ClickHouse code included, e.g.
 * `clickhouse: query failed: Code: 60. DB::Exception: Unknown table ...`. Statement errors are
 * not retriable; connection failures, timeouts and the overload codes above are.
 *
 * @param action what the adapter was doing, e.g. `query`, `insert into raw_events`.
 */
export function toClickHouseServiceError(err: unknown, action: string): ServiceError {
  if (err instanceof ServiceError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = clickHouseCode(err, message);
  let retriable: boolean;
  if (code !== undefined) retriable = RETRIABLE_CODES.has(code);
  else retriable = isNetworkFailure(err, message);
  const where = code === undefined && retriable ? ' (is the ClickHouse server reachable?)' : '';
  const text = isClickHouseError(err) ? `Code: ${err.code}. DB::Exception: ${err.message.trim()} (${err.type})` : message.trim();
  return new ServiceError('clickhouse', `${action} failed${where}: ${text}`, { retriable, cause: err });
}

function clickHouseCode(err: unknown, message: string): number | undefined {
  if (isClickHouseError(err)) return Number(err.code);
  const m = LEADING_CODE.exec(message);
  return m ? Number(m[1]) : undefined;
}

// By shape as well as by class: a second copy of client-common (chdb/connection brings its own)
// throws ClickHouseErrors of another class.
function isClickHouseError(err: unknown): err is ClickHouseError {
  if (err instanceof ClickHouseError) return true;
  const e = err as { code?: unknown; type?: unknown } | null;
  return err instanceof Error && typeof e?.code === 'string' && /^\d+$/.test(e.code) && typeof e.type === 'string';
}

function isNetworkFailure(err: unknown, message: string): boolean {
  const errno = (err as { code?: unknown } | null)?.code;
  if (typeof errno === 'string' && NETWORK_ERRNOS.has(errno)) return true;
  // clickhouse-js's own request timeout, and a socket closed mid-response.
  return message === 'Timeout error.' || message === 'socket hang up' || message === 'aborted';
}
