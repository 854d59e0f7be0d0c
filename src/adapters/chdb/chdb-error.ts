import { ServiceError } from '../../errors.js';

/**
 * Translates an error from the chdb package (`ChdbQueryError`, `ChdbSyntaxError`,
 * `ChdbInsertError`, `ChdbBindError`, `ChdbClosedError`, ...; told apart by their `code`, since
 * the package does not export the classes) into a ServiceError (`CHDB_ERROR`) that keeps the
 * engine's text, ClickHouse code included, e.g.
 * `chdb: query failed: Code: 62. DB::Exception: Syntax error: ... (SYNTAX_ERROR)`.
 *
 * Never retriable: the engine runs in this process, so nothing transient (network, failover)
 * stands between the call and its outcome, and the same statement fails the same way again.
 *
 * @param action what the adapter was doing, e.g. `query`, `insert into raw_events`.
 */
export function toChdbServiceError(err: unknown, action: string): ServiceError {
  if (err instanceof ServiceError) return err;
  const message = err instanceof Error ? err.message.trim() : String(err);
  return new ServiceError('chdb', `${action} failed: ${message}`, { retriable: false, cause: err });
}
