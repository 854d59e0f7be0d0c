import { TesseraError } from '../errors.js';

/** Why a batch job refused to run or stopped; stable values, used as the error `code`. */
export type BatchErrorCode =
  /** The arguments do not describe a job that can run (empty or reversed range, bad option). */
  | 'BATCH_INVALID_ARGUMENT'
  /** The samples table exists but was written for another feature spec or layout. */
  | 'SAMPLES_SPEC_MISMATCH'
  /** An impression's timezone is valid for luxon but unknown to the ClickHouse engine. */
  | 'UNSUPPORTED_TIMEZONE'
  /** The groups cannot share one samples table (two features with the same name). */
  | 'SAMPLES_SPEC_INVALID';

/**
 * A batch job (full recompute, point-in-time samples, offline reads) cannot run as asked. Never
 * retriable: the same arguments against the same tables fail the same way; the message says what
 * to change. Engine failures keep arriving as the adapters' ServiceErrors.
 */
export class BatchError extends TesseraError {
  constructor(code: BatchErrorCode, message: string) {
    super(code, message);
  }
}
