import { TesseraError } from '../errors.js';

/**
 * A model was given input built for another input schema (other fields, other dense features or
 * another feature spec), or a model file was asked to become a model of another kind. Never
 * retriable: the same input fails the same way; the caller must rebuild the input with the
 * model's own transform or load the matching model.
 */
export class ModelSchemaError extends TesseraError {
  constructor(message: string) {
    super('MODEL_SCHEMA_MISMATCH', message);
  }
}

/**
 * Serialised model bytes are not a model this code can read: wrong magic, unknown format version,
 * a failed checksum, or blocks whose sizes disagree with the header. Not retriable: the bytes
 * are damaged or were written by an incompatible version.
 */
export class ModelFormatError extends TesseraError {
  constructor(message: string, cause?: unknown) {
    super('MODEL_FORMAT_INVALID', message, { cause });
  }
}

/** A model option is out of range; thrown when the model is built, with the fix in the message. */
export class ModelConfigError extends TesseraError {
  constructor(message: string) {
    super('MODEL_CONFIG_INVALID', message);
  }
}
