/**
 * One base error for the whole project. Every failure kind is a subclass with a stable `code`;
 * `retriable` tells the retry helper (and only it) whether trying again can help. Vendor errors
 * are translated into these at the adapter boundary, keeping the original as `cause`.
 */
export class TesseraError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A configuration value is missing or malformed; the message says how to fix it. */
export class ConfigError extends TesseraError {
  constructor(message: string, cause?: unknown) {
    super('CONFIG_INVALID', message, { cause });
  }
}

/** Why an event was rejected; stable values, used as the dead-letter `reason` code. */
export type RejectCode =
  | 'UNDECODABLE'
  | 'UNKNOWN_FINGERPRINT'
  | 'SCHEMA_INVALID'
  | 'MISSING_ID'
  | 'EVENT_TIME_OUT_OF_RANGE'
  | 'BAD_JSON'
  | 'UNKNOWN_TYPE'
  | 'FIELD_TOO_LONG'
  | 'RECORD_TOO_LARGE';

/** An event failed validation or decoding. Never retriable: the same bytes fail the same way. */
export class InvalidEventError extends TesseraError {
  readonly reason: RejectCode;

  constructor(reason: RejectCode, message: string, cause?: unknown) {
    super(reason, message, { cause });
    this.reason = reason;
  }
}

/**
 * A record is larger than its topic accepts (see `EventLog.maxRecordBytes`). Never retriable;
 * `index` is the record's position in the `send` call.
 */
export class RecordTooLargeError extends TesseraError {
  constructor(
    readonly topic: string,
    readonly index: number,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super('RECORD_TOO_LARGE', `record ${index} for ${topic} takes ${bytes} bytes; the topic accepts at most ${limit} (max.message.bytes less the batch header)`);
  }
}

/** A service (Kafka, Redis, ClickHouse) failed or timed out; usually worth retrying. */
export class ServiceError extends TesseraError {
  constructor(service: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(`${service.toUpperCase()}_ERROR`, `${service}: ${message}`, { retriable: options.retriable ?? true, cause: options.cause });
  }
}

/** The caller asked for something the command line or API does not accept. */
export class UsageError extends TesseraError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Wraps anything thrown into a TesseraError, keeping it as the cause. */
export function asTesseraError(err: unknown, service = 'internal'): TesseraError {
  if (err instanceof TesseraError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ServiceError(service, message, { cause: err });
}
