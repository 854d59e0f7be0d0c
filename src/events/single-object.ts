import avro from 'avsc';
import { InvalidEventError } from '../errors.js';
import { fingerprintToHex, fingerprintType } from './fingerprint.js';

/**
 * Avro single-object encoding (Avro specification, "Single-object encoding"): the two marker
 * bytes `C3 01`, the writer schema's CRC-64-AVRO fingerprint as 8 little-endian bytes, then the
 * Avro binary body. Each Kafka record carries the identity of the schema it was written with,
 * so a reader can resolve it into its own schema without a schema-registry service, and a
 * record can be understood outside the topic it came from (dead letters, files, replays).
 */

/** The two marker bytes every single-object message starts with. */
export const SINGLE_OBJECT_MAGIC: readonly [number, number] = [0xc3, 0x01];

/** Marker plus fingerprint: where the Avro body starts. */
export const SINGLE_OBJECT_HEADER_LENGTH = 10;

// The header depends only on the type; computing the fingerprint is a canonical-form walk plus
// a hash, far too slow to repeat per message.
const headers = new WeakMap<avro.Type, Buffer>();

/** The 10-byte header for a writer type (cached per type). */
export function singleObjectHeader(type: avro.Type): Buffer {
  let header = headers.get(type);
  if (header === undefined) {
    header = Buffer.alloc(SINGLE_OBJECT_HEADER_LENGTH);
    header[0] = SINGLE_OBJECT_MAGIC[0];
    header[1] = SINGLE_OBJECT_MAGIC[1];
    header.writeBigUInt64LE(fingerprintType(type), 2);
    headers.set(type, header);
  }
  return header;
}

// One growable scratch buffer: avsc writes into it, then exactly the used bytes are copied out,
// so each message costs one allocation of its own size. Encoding is synchronous, so sharing the
// buffer within the process is safe.
let scratch = Buffer.allocUnsafe(4096);

/**
 * Encodes a value as a single-object message with `type` as the writer schema. The value must be
 * valid for the type (check with `type.isValid` first: avsc does not validate while writing).
 */
export function encodeSingleObject(type: avro.Type, value: unknown): Buffer {
  const header = singleObjectHeader(type);
  for (;;) {
    header.copy(scratch, 0);
    const end = type.encode(value, scratch, SINGLE_OBJECT_HEADER_LENGTH);
    if (end >= 0) {
      const out = Buffer.allocUnsafe(end);
      scratch.copy(out, 0, 0, end);
      return out;
    }
    // A negative result is minus the number of bytes that did not fit.
    scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end));
  }
}

/**
 * Reads the header of a single-object message and returns the writer fingerprint.
 *
 * @throws InvalidEventError `UNDECODABLE` when the marker is wrong or the header is cut short.
 */
export function readSingleObjectFingerprint(bytes: Uint8Array): bigint {
  if (bytes.length < SINGLE_OBJECT_HEADER_LENGTH) {
    throw new InvalidEventError('UNDECODABLE', `truncated single-object header: ${bytes.length} of ${SINGLE_OBJECT_HEADER_LENGTH} bytes`);
  }
  if (bytes[0] !== SINGLE_OBJECT_MAGIC[0] || bytes[1] !== SINGLE_OBJECT_MAGIC[1]) {
    const got = Buffer.from(bytes.subarray(0, 2)).toString('hex');
    throw new InvalidEventError('UNDECODABLE', `not an Avro single-object message: marker is 0x${got}, expected 0xc301`);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readBigUInt64LE(2);
}

/** The writer and reader types a fingerprint resolves to. */
export interface SchemaPair {
  /** The schema the bytes were written with. */
  writer: avro.Type;
  /** The schema the caller wants the value in. */
  reader: avro.Type;
}

/** A decoded message: the value in the reader's shape, and the schemas used. */
export interface DecodedObject extends SchemaPair {
  value: unknown;
  fingerprint: bigint;
}

/** Decodes single-object messages into reader schemas (see {@link createSingleObjectDecoder}). */
export interface SingleObjectDecoder {
  /**
   * @throws InvalidEventError `UNKNOWN_FINGERPRINT` (message names the fingerprint in hex) or
   *   `UNDECODABLE` (bad marker, truncated, trailing bytes, body not readable with the writer
   *   schema, writer not resolvable into the reader).
   */
  decode(bytes: Uint8Array): DecodedObject;
}

interface CachedPlan extends SchemaPair {
  /** Absent when writer and reader are the same schema: reading directly is faster. */
  resolver: ReturnType<avro.Type['createResolver']> | undefined;
}

/**
 * A decoder that finds the writer schema of each message by fingerprint through `lookup` and
 * reads it into the reader schema `lookup` pairs it with, via an avsc resolver. Resolvers are
 * built once per fingerprint and cached; unknown fingerprints are not cached, so a writer
 * registered later is found on the next message.
 */
export function createSingleObjectDecoder(lookup: (fingerprint: bigint) => SchemaPair | undefined): SingleObjectDecoder {
  const plans = new Map<bigint, CachedPlan>();

  function planFor(fingerprint: bigint): CachedPlan {
    const cached = plans.get(fingerprint);
    if (cached !== undefined) return cached;
    const pair = lookup(fingerprint);
    if (pair === undefined) {
      throw new InvalidEventError('UNKNOWN_FINGERPRINT', `unknown writer schema fingerprint 0x${fingerprintToHex(fingerprint)}`);
    }
    let resolver: CachedPlan['resolver'];
    if (pair.reader !== pair.writer && fingerprintType(pair.reader) !== fingerprint) {
      try {
        resolver = pair.reader.createResolver(pair.writer);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new InvalidEventError(
          'UNDECODABLE',
          `writer schema ${pair.writer.name ?? '?'} (0x${fingerprintToHex(fingerprint)}) cannot be read as ${pair.reader.name ?? '?'}: ${why}`,
          err,
        );
      }
    }
    const plan: CachedPlan = { ...pair, resolver };
    plans.set(fingerprint, plan);
    return plan;
  }

  return {
    decode(bytes) {
      const fingerprint = readSingleObjectFingerprint(bytes);
      const plan = planFor(fingerprint);
      const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let decoded: { value: unknown; offset: number };
      try {
        decoded = plan.reader.decode(buf, SINGLE_OBJECT_HEADER_LENGTH, plan.resolver);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new InvalidEventError('UNDECODABLE', `Avro body does not match writer schema 0x${fingerprintToHex(fingerprint)}: ${why}`, err);
      }
      if (decoded.offset < 0) {
        throw new InvalidEventError('UNDECODABLE', `truncated Avro body (${buf.length} bytes, writer schema 0x${fingerprintToHex(fingerprint)})`);
      }
      if (decoded.offset !== buf.length) {
        throw new InvalidEventError('UNDECODABLE', `${buf.length - decoded.offset} trailing bytes after the Avro body`);
      }
      return { value: decoded.value, writer: plan.writer, reader: plan.reader, fingerprint };
    },
  };
}
