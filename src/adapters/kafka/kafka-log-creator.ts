// First: replaces kafkajs's quadratic grouping before kafkajs loads (see the module).
import './kafkajs-grouping.js';
import { logLevel, type logCreator } from 'kafkajs';
import type { Logger } from '../../ports/logger.js';

/**
 * Routes kafkajs's own log lines to the Logger port as `kafka.client` events (WARN and ERROR
 * only; the Kafka client is created with `logLevel: WARN`, so lower levels are never formatted).
 *
 * Two kinds of line are demoted to debug because they are expected, not problems:
 * kafkajs's warning that a bounded retry count "may invalidate EoS guarantees" (we bound retries on
 * purpose and replace the producer after a failed send, see `KafkaEventLog.send`), and the
 * REBALANCE_IN_PROGRESS responses every member sees whenever the group changes.
 */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, ...extra } = log;
      const fields = { namespace, message, ...extra };
      if (isExpected(message, extra)) logger.debug('kafka.client', fields);
      else if (level === logLevel.ERROR) logger.error('kafka.client', fields);
      else if (level === logLevel.WARN) logger.warn('kafka.client', fields);
      else logger.debug('kafka.client', fields);
    };
}

function isExpected(message: string, extra: Record<string, unknown>): boolean {
  if (message.startsWith('Limiting retries for the idempotent producer')) return true;
  const error = typeof extra.error === 'string' ? extra.error : '';
  return /rebalanc/i.test(error) || /rebalanc/i.test(message);
}
