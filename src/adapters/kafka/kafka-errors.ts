import { ServiceError, TesseraError } from '../../errors.js';

interface KafkaJsErrorLike {
  name?: string;
  message?: string;
  type?: string;
  retriable?: boolean;
  originalError?: unknown;
  cause?: unknown;
}

/**
 * Translates whatever kafkajs threw into a {@link ServiceError} (code `KAFKA_ERROR`), keeping it
 * as `cause`. `retriable` follows kafkajs's own flag, except that "retries exhausted" is judged by
 * the error that was being retried: a broker that stayed unreachable may well be back later.
 * Errors that are not kafkajs's (a TypeError from our own code) are not retriable.
 */
export function kafkaError(err: unknown, what: string): TesseraError {
  if (err instanceof TesseraError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as KafkaJsErrorLike;
  const message = e.message ?? String(err);
  const isKafkaJs = typeof e.name === 'string' && e.name.startsWith('KafkaJS');
  let retriable = isKafkaJs && e.retriable === true;
  if (e.name === 'KafkaJSNumberOfRetriesExceeded') {
    const inner = (e.originalError ?? e.cause) as KafkaJsErrorLike | undefined;
    retriable = inner?.retriable === true || inner?.name === 'KafkaJSConnectionError';
  }
  if (e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSRequestTimeoutError') retriable = true;
  const type = e.type === undefined ? '' : ` [${e.type}]`;
  return new ServiceError('kafka', `${what}: ${message}${type}`, { retriable, cause: err });
}
