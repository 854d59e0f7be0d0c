import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { ConfigError, InvalidEventError } from '../errors.js';
import type { EventCatalog } from './event-catalog.js';
import type { AnyEvent, EventType } from './event-types.js';
import { definedTypeNames, fingerprintToHex, fingerprintType } from './fingerprint.js';
import { createSingleObjectDecoder, encodeSingleObject } from './single-object.js';

/**
 * The Avro side of a project's event contract: the current schema of every event type of its
 * catalog, plus the other versions of them known as writers, and the single-object encode/decode
 * of events built on both.
 *
 * Events are always written with the current schema and always read into it, whatever schema
 * wrote them: a writer of another version is resolved field by field (Avro schema resolution),
 * so adding a field with a default or removing one works in both directions across a rolling
 * deploy.
 *
 * Instants stay plain epoch-ms numbers: the schemas declare `timestamp-millis` for other
 * readers, but types are parsed without avsc's logical-type classes, which would turn them into
 * `Date` objects.
 */

/** The Avro namespace of Tessera's own records (the shared `Context`). */
export const EVENT_NAMESPACE = 'dev.tessera.events';

/** The shared record event schemas reference by name for request context. */
export const CONTEXT_SCHEMA_NAME = 'Context';

/**
 * The package's `schemas/` folder, which holds Tessera's own shared records (`Context.avsc`).
 * Both `src/events/` (tsx, vitest) and the compiled `dist/events/` sit two levels below the
 * root, so one relative URL serves both.
 */
export function locateSchemaDir(moduleUrl: string = import.meta.url): string {
  return fileURLToPath(new URL('../../schemas/', moduleUrl));
}

/** Tessera's shared `Context` record (parsed JSON) and the file it was read from. */
export function readContextSchema(schemaDir: string = locateSchemaDir()): { schema: object; file: string } {
  const file = join(schemaDir, `${CONTEXT_SCHEMA_NAME}.avsc`);
  if (!existsSync(file)) throw new ConfigError(`Tessera's shared schema ${file} is missing; reinstall the package`);
  return { schema: readSchemaFile(file) as object, file };
}

/** How to build a {@link SchemaRegistry} beyond its catalog. */
export interface SchemaRegistryOptions {
  /**
   * Current schemas to use instead of the catalog's for some event types (JSON text or parsed
   * JSON). For schema-evolution tests and for staging a schema change.
   */
  schemas?: Partial<Record<EventType, string | object>>;
}

/** A schema version that events may have been written with. */
export interface RegisteredWriter {
  eventType: EventType;
  /** CRC-64-AVRO of the schema's Parsing Canonical Form; the single-object header carries it. */
  fingerprint: bigint;
  type: avro.Type;
}

/** Current and known writer schemas of the events, and the wire codec built on them. */
export interface SchemaRegistry {
  /** The event types whose schemas these are. */
  readonly catalog: EventCatalog;
  /** The current schema of an event type: events are written with it and read into it. */
  currentType(eventType: EventType): avro.Type;
  /** The fingerprint of the current schema of an event type. */
  currentFingerprint(eventType: EventType): bigint;
  /**
   * Makes another version of an event schema known, so messages written with it can be decoded.
   * Idempotent: registering a schema with a known fingerprint returns the existing writer.
   *
   * @throws ConfigError when the schema does not parse, is not one of the event records, or
   *   cannot be resolved into the current schema of its type.
   */
  registerWriter(schema: string | object): RegisteredWriter;
  /** The writer known under a fingerprint, if any. */
  writer(fingerprint: bigint): RegisteredWriter | undefined;
  /** Every known writer, current ones included. */
  writers(): RegisteredWriter[];
  /**
   * Single-object encoding of an event with the current schema of its type (the `type` tag is
   * not part of the body; the schema says what the record is).
   *
   * @throws InvalidEventError `UNKNOWN_TYPE`, or `SCHEMA_INVALID` with `<field path>: <problem>`
   *   for every field that does not fit the schema, unknown fields included.
   */
  encode(event: AnyEvent): Buffer;
  /**
   * Decodes a single-object message into the current schema of the type its writer schema names.
   *
   * @param expected the type the caller expects (e.g. from the topic); a message of another type
   *   is rejected with `SCHEMA_INVALID`.
   * @throws InvalidEventError `UNDECODABLE`, `UNKNOWN_FINGERPRINT` or `SCHEMA_INVALID`.
   */
  decode(bytes: Uint8Array, expected?: EventType): AnyEvent;
}

type AvroSchema = Parameters<typeof avro.Type.forSchema>[0];
type NamedTypes = Record<string, avro.Type>;

/**
 * Parses the catalog's schemas and returns the registry.
 *
 * @throws ConfigError when a schema is invalid; the message names its file.
 */
export function createSchemaRegistry(catalog: EventCatalog, options: SchemaRegistryOptions = {}): SchemaRegistry {
  // Named types the event schemas may reference without defining them.
  const shared: NamedTypes = {};
  for (const s of catalog.shared) {
    const t = parseType(s.schema, shared, s.file);
    if (t.name !== undefined) shared[t.name] = t;
  }

  const byFullName = new Map<string, EventType>();
  const current = new Map<EventType, RegisteredWriter>();
  const writers = new Map<bigint, RegisteredWriter>();

  for (const eventType of catalog.types) {
    const spec = catalog.spec(eventType);
    const override = options.schemas?.[eventType];
    const source = override === undefined ? spec.file : `the ${eventType} schema given in options`;
    const json = override === undefined ? spec.schema : parseSchemaJson(override, source);
    const type = parseType(json, shared, source);
    if (type.name !== spec.recordName) {
      throw new ConfigError(`${source}: record is named ${String(type.name)}, expected ${spec.recordName}`);
    }
    byFullName.set(spec.recordName, eventType);
    const writer: RegisteredWriter = { eventType, fingerprint: fingerprintType(type), type };
    current.set(eventType, writer);
    writers.set(writer.fingerprint, writer);
  }
  const currentOf = (eventType: EventType): RegisteredWriter => {
    const w = current.get(eventType);
    if (w === undefined) throw new ConfigError(`unknown event type ${JSON.stringify(eventType)}; the project's event types are ${catalog.types.join(', ')}`);
    return w;
  };

  const decoder = createSingleObjectDecoder((fingerprint) => {
    const writer = writers.get(fingerprint);
    return writer === undefined ? undefined : { writer: writer.type, reader: currentOf(writer.eventType).type };
  });

  function registerWriter(schema: string | object): RegisteredWriter {
    const source = 'registered writer schema';
    const type = parseType(parseSchemaJson(schema, source), shared, source);
    const fingerprint = fingerprintType(type);
    const known = writers.get(fingerprint);
    if (known !== undefined) return known;
    const eventType = type.name === undefined ? undefined : byFullName.get(type.name);
    if (eventType === undefined) {
      throw new ConfigError(`${source}: ${String(type.name)} is not an event record; expected one of ${[...byFullName.keys()].join(', ')}`);
    }
    try {
      currentOf(eventType).type.createResolver(type);
    } catch (err) {
      throw new ConfigError(
        `${source} 0x${fingerprintToHex(fingerprint)} cannot be read as the current ${type.name} schema: ${errorMessage(err)}; ` +
          'give fields the current schema added a default, and do not change the type of a kept field',
        err,
      );
    }
    const writer: RegisteredWriter = { eventType, fingerprint, type };
    writers.set(fingerprint, writer);
    return writer;
  }

  function encode(event: AnyEvent): Buffer {
    if (event === null || typeof event !== 'object') throw new InvalidEventError('SCHEMA_INVALID', 'event is not an object');
    if (!catalog.has(event.type)) {
      throw new InvalidEventError('UNKNOWN_TYPE', `unknown event type ${JSON.stringify(event.type)}; the project's event types are ${catalog.types.join(', ')}`);
    }
    const { type: eventType, ...body } = event;
    const type = currentOf(eventType).type;
    // The cheap check first; the diagnosis walk runs only for events that fail it.
    if (!type.isValid(body, { noUndeclaredFields: true })) {
      throw new InvalidEventError('SCHEMA_INVALID', describeInvalid(type, body).join('; '));
    }
    return encodeSingleObject(type, body);
  }

  function decode(bytes: Uint8Array, expected?: EventType): AnyEvent {
    const decoded = decoder.decode(bytes);
    const eventType = byFullName.get(decoded.writer.name ?? '');
    if (eventType === undefined) {
      // Unreachable while only event records are registered; kept so a bug cannot mislabel data.
      throw new InvalidEventError('UNDECODABLE', `writer schema ${String(decoded.writer.name)} is not an event record`);
    }
    if (expected !== undefined && expected !== eventType) {
      throw new InvalidEventError(
        'SCHEMA_INVALID',
        `expected a ${expected} event, got a ${eventType} event (writer schema 0x${fingerprintToHex(decoded.fingerprint)})`,
      );
    }
    return plainOf(decoded.reader)(decoded.value as Record<string, unknown>, eventType) as unknown as AnyEvent;
  }

  return {
    catalog,
    currentType: (eventType) => currentOf(eventType).type,
    currentFingerprint: (eventType) => currentOf(eventType).fingerprint,
    registerWriter,
    writer: (fingerprint) => writers.get(fingerprint),
    writers: () => [...writers.values()],
    encode,
    decode,
  };
}

function readSchemaFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read event schema ${file}: ${errorMessage(err)}`, err);
  }
  return parseSchemaJson(text, file);
}

function parseSchemaJson(schema: string | object, source: string): unknown {
  if (typeof schema !== 'string') return schema;
  try {
    return JSON.parse(schema);
  } catch (err) {
    throw new ConfigError(`${source} is not valid JSON: ${errorMessage(err)}`, err);
  }
}

/**
 * Parses a schema, letting it reference the shared named types it does not define itself (a
 * schema that brings its own `Context` must not clash with the shared one). Logical types are
 * deliberately not mapped, so `timestamp-millis` longs stay numbers.
 */
function parseType(json: unknown, shared: NamedTypes, source: string): avro.Type {
  try {
    const own = definedTypeNames(json);
    const registry: NamedTypes = {};
    for (const [name, type] of Object.entries(shared)) if (!own.has(name)) registry[name] = type;
    return avro.Type.forSchema(json as AvroSchema, { registry });
  } catch (err) {
    throw new ConfigError(`${source} is not a valid Avro schema: ${errorMessage(err)}`, err);
  }
}

/** One `<path>: <problem>` line per field of `value` that does not fit `type`. */
function describeInvalid(type: avro.Type, value: unknown): string[] {
  const problems: string[] = [];
  type.isValid(value, {
    errorHook: (path: string[], bad: unknown, badType: avro.Type) => {
      const where = path.length === 0 ? '(event)' : path.join('.');
      const got = bad === undefined ? 'missing' : `got ${show(bad)}`;
      problems.push(`${where}: expected ${describeType(badType)}, ${got}`);
    },
  });
  collectUndeclared(type, value, '', problems);
  return problems.length > 0 ? problems : ['does not match the schema'];
}

function collectUndeclared(type: avro.Type, value: unknown, prefix: string, problems: string[]): void {
  if (!(type instanceof avro.types.RecordType) || value === null || typeof value !== 'object') return;
  const fields = new Map(type.fields.map((f) => [f.name, f.type]));
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const fieldType = fields.get(key);
    if (fieldType === undefined) {
      // Reported even when undefined: avsc's undeclared-field check counts keys, not values.
      problems.push(`${prefix}${key}: unknown field of ${String(type.name)}`);
      continue;
    }
    const branches = fieldType instanceof avro.types.UnwrappedUnionType ? fieldType.types : [fieldType];
    for (const branch of branches) collectUndeclared(branch, v, `${prefix}${key}.`, problems);
  }
}

function describeType(type: avro.Type): string {
  if (type instanceof avro.types.UnwrappedUnionType || type instanceof avro.types.WrappedUnionType) {
    return type.types.map(describeType).join(' or ');
  }
  if (type instanceof avro.types.RecordType) return `a ${String(type.name)} record`;
  return type.typeName;
}

function show(value: unknown): string {
  if (typeof value === 'number') return String(value);
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// avsc returns instances of generated record classes; callers get plain objects, which compare,
// spread and serialise like the rest of the code base expects.
type Plain = (value: Record<string, unknown>, eventType?: EventType) => Record<string, unknown>;

/** Per reader record type, the function that copies its decoded value into a plain object. */
const plainers = new WeakMap<avro.Type, Plain>();

/**
 * Copies an avsc record value (an instance of avsc's generated class) into a plain object, field by
 * field in schema order, nested records (also inside a union) likewise and arrays as they are,
 * with the event type first when given. Built once per record type from its fields, so decoding
 * looks up no keys.
 */
function plainOf(type: avro.Type): Plain {
  let plain = plainers.get(type);
  if (plain !== undefined) return plain;
  const fields = (type as avro.types.RecordType).fields.map((f) => ({ name: f.name, nested: nestedRecord(f.type) }));
  plain = (value, eventType) => {
    const out: Record<string, unknown> = eventType === undefined ? {} : { type: eventType };
    for (const { name, nested } of fields) {
      const v = value[name];
      out[name] = nested !== undefined && v !== null && typeof v === 'object' ? nested(v as Record<string, unknown>) : v;
    }
    return out;
  };
  plainers.set(type, plain);
  return plain;
}

/**
 * The copier of a field's record type, or of the one record branch of its (unwrapped) union;
 * {@link deepPlain} for a union avsc wraps (several records) and for a map (whose values may be
 * records), as before; undefined for other types (arrays are passed on as they are, as before).
 */
function nestedRecord(type: avro.Type): Plain | undefined {
  if (type.typeName === 'record') return plainOf(type);
  if (type instanceof avro.types.UnwrappedUnionType) {
    const records = type.types.filter((t) => t.typeName === 'record');
    return records.length === 1 ? plainOf(records[0]!) : undefined;
  }
  return type instanceof avro.types.WrappedUnionType || type.typeName === 'map' ? (deepPlain as Plain) : undefined;
}

function deepPlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = deepPlain((value as Record<string, unknown>)[key]);
  return out;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
