import { ServiceError } from '../../errors.js';

const TABLE_NAME = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$/;

/**
 * Whether `name` is a table name `insert` accepts: `table` or `database.table`, each part made of
 * ASCII letters, digits and `_`. It is spliced into `INSERT INTO <name>` unquoted, so nothing
 * else is let through; chDB's own insert applies the same rule, and both adapters check it
 * first so they refuse the same names.
 *
 * @example isTableName('tessera.raw_events') // true
 * @example isTableName('events; DROP TABLE x') // false
 */
export function isTableName(name: string): boolean {
  return TABLE_NAME.test(name);
}

/**
 * Refuses a name {@link isTableName} rejects, before anything is sent.
 *
 * @throws ServiceError (not retriable) of `service`, naming the table.
 */
export function assertTableName(service: 'chdb' | 'clickhouse', table: string): void {
  if (!isTableName(table)) {
    throw new ServiceError(service, `insert refused: ${JSON.stringify(table)} is not a table name ([A-Za-z0-9_] parts, optionally database.table)`, {
      retriable: false,
    });
  }
}
