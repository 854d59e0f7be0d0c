import avro from 'avsc';
import { ConfigError } from '../errors.js';
import type { FieldKind } from './event-fields.js';

/**
 * A project's event vocabulary: its event types, each with the Avro record it is written in, the
 * kind of every field (derived from the Avro types, see {@link fieldKindOfAvro}) and the field its
 * topic is partitioned by. Built once at start-up by the project loader from the project's
 * `.avsc` files; every layer that reads events (wire codec, JSON form, validation, raw tables,
 * stream, joiner, batch SQL) asks the catalog instead of a fixed list, so a team's own event
 * types flow through all of them (docs/architecture.md, "The feature project").
 *
 * The field kinds travel with compiled feature groups as plain data ({@link EventKinds}), so the
 * batch layer can turn definitions into SQL without holding the Avro types.
 */

/** The field kinds of every event type: `kinds[type][field]`, fields in schema order. */
export type EventKinds = Readonly<Record<string, Readonly<Record<string, FieldKind>>>>;

/** One event type of a project. */
export interface EventTypeSpec {
  /** snake_case name: the JSON form's `type`, the topic suffix, the raw table's stem. */
  readonly name: string;
  /** The Avro record's full name (namespace.name); single-object headers identify it. */
  readonly recordName: string;
  /** The Avro schema as parsed JSON (named types it references stay references). */
  readonly schema: object;
  /** `[field, kind]` of every field, in schema order. */
  readonly fields: ReadonlyArray<readonly [string, FieldKind]>;
  /** The field the topic is partitioned (and the raw table sorted) by: an id field. */
  readonly partitionKey: string;
  /** Where the schema came from, for messages. */
  readonly file: string;
}

/** What a project says about one event type. */
export interface EventTypeInput {
  readonly name: string;
  readonly schema: object;
  readonly partitionKey: string;
  readonly file: string;
}

/** A shared named Avro type (a record the event schemas reference by full name). */
export interface SharedSchemaInput {
  readonly schema: object;
  readonly file: string;
}

/** A project's event types and the shared named types their schemas reference. */
export interface EventCatalog {
  /** Event type names in declaration order. */
  readonly types: readonly string[];
  /** Field kinds per type (plain data, shared with compiled groups). */
  readonly kinds: EventKinds;
  /** The shared named types (e.g. Tessera's `dev.tessera.events.Context`), parsed JSON. */
  readonly shared: readonly SharedSchemaInput[];
  /** Whether `type` is one of the catalog's event types. */
  has(type: unknown): type is string;
  /** The spec of an event type. @throws ConfigError for an unknown type. */
  spec(type: string): EventTypeSpec;
  /** The kind of a field of an event type, undefined when the type has no such field. */
  fieldKind(type: string, field: string): FieldKind | undefined;
  /** The partition key value of an event (the value of its type's `partitionKey` field). */
  partitionKeyOf(event: { readonly type: string }): string;
}

/** The full name of Tessera's context record, which event schemas reference for request context. */
export const CONTEXT_RECORD = 'dev.tessera.events.Context';

const NAME_RE = /^[a-z][a-z0-9_]*$/;

/**
 * Builds a catalog, checking every schema. Each problem is reported with its file and field and
 * what to write instead, all at once.
 *
 * Rules: each schema is an Avro record with `eventId` (string) and `eventTime` (long with
 * logicalType timestamp-millis); every other field maps to a kind (see {@link fieldKindOfAvro});
 * the partition key is a non-nullable string field; two types may not share a record name.
 *
 * @throws ConfigError listing every problem.
 */
export function createEventCatalog(inputs: readonly EventTypeInput[], shared: readonly SharedSchemaInput[] = []): EventCatalog {
  const problems: string[] = [];
  const named: Record<string, avro.Type> = {};
  for (const s of shared) {
    try {
      const t = avro.Type.forSchema(s.schema as avro.Schema, { registry: named });
      if (t.name !== undefined) named[t.name] = t;
    } catch (err) {
      problems.push(`${s.file}: not a valid Avro schema: ${errorMessage(err)}`);
    }
  }
  const specs = new Map<string, EventTypeSpec>();
  const byRecord = new Map<string, string>();
  for (const input of inputs) {
    const where = input.file;
    if (!NAME_RE.test(input.name)) {
      problems.push(`event type ${JSON.stringify(input.name)} (${where}): names are snake_case (lower-case letters, digits and _, starting with a letter), e.g. "add_to_cart"`);
      continue;
    }
    let type: avro.Type;
    try {
      const registry: Record<string, avro.Type> = { ...named };
      type = avro.Type.forSchema(input.schema as avro.Schema, { registry });
    } catch (err) {
      problems.push(`${where}: not a valid Avro schema: ${errorMessage(err)}`);
      continue;
    }
    if (!(type instanceof avro.types.RecordType)) {
      problems.push(`${where}: an event schema must be an Avro record ({"type": "record", "name": ..., "fields": [...]}), got ${type.typeName}`);
      continue;
    }
    const recordName = String(type.name);
    const clash = byRecord.get(recordName);
    if (clash !== undefined) {
      problems.push(`${where}: record ${recordName} is already the schema of event type ${clash}; give each event type its own record name`);
      continue;
    }
    byRecord.set(recordName, input.name);
    const jsonFields = fieldJson(input.schema);
    const fields: [string, FieldKind][] = [];
    for (const f of type.fields) {
      const kind = fieldKindOfAvro(f.type, jsonFields.get(f.name));
      if (typeof kind === 'string') fields.push([f.name, idKind(f.name, kind)]);
      else problems.push(`${where}: field ${f.name}: ${kind.problem}`);
    }
    const kinds = Object.fromEntries(fields);
    if (kinds['eventId'] !== 'id') {
      problems.push(`${where}: every event needs the envelope field eventId of type "string" (unique per event: the dedupe key); add { "name": "eventId", "type": "string" }`);
    }
    if (kinds['eventTime'] !== 'instant') {
      problems.push(
        `${where}: every event needs the envelope field eventTime, epoch ms UTC; add { "name": "eventTime", "type": { "type": "long", "logicalType": "timestamp-millis" } }`,
      );
    }
    const keyKind = kinds[input.partitionKey];
    if (keyKind === undefined) {
      problems.push(`${where}: the partition key ${JSON.stringify(input.partitionKey)} is not a field of ${recordName}; use one of its string fields (${fields.filter(([, k]) => k === 'id' || k === 'string').map(([n]) => n).join(', ')})`);
    } else if (keyKind !== 'id' && keyKind !== 'string') {
      problems.push(`${where}: the partition key ${input.partitionKey} is ${keyKind}; partition by a non-nullable string field (an id such as userId)`);
    }
    specs.set(input.name, { name: input.name, recordName, schema: input.schema, fields, partitionKey: input.partitionKey, file: input.file });
  }
  if (inputs.length === 0) problems.push('a project declares at least one event type');
  if (problems.length > 0) throw new ConfigError(problems.length === 1 ? (problems[0] as string) : `event schemas have ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`);

  const types = [...specs.keys()];
  const kinds: Record<string, Record<string, FieldKind>> = {};
  for (const [name, spec] of specs) kinds[name] = Object.freeze(Object.fromEntries(spec.fields));
  Object.freeze(kinds);
  return {
    types,
    kinds,
    shared,
    has: (type: unknown): type is string => typeof type === 'string' && specs.has(type),
    spec(type) {
      const spec = specs.get(type);
      if (spec === undefined) throw new ConfigError(`unknown event type ${JSON.stringify(type)}; the project's event types are ${types.join(', ')}`);
      return spec;
    },
    fieldKind: (type, field) => {
      const k = kinds[type];
      return k !== undefined && Object.hasOwn(k, field) ? k[field] : undefined;
    },
    partitionKeyOf(event) {
      const spec = specs.get(event.type);
      const value = spec === undefined ? undefined : (event as unknown as Record<string, unknown>)[spec.partitionKey];
      return typeof value === 'string' ? value : String(value ?? '');
    },
  };
}

/**
 * The kind of a field from its Avro type (and its JSON declaration, which keeps logical types):
 * - `string` and `enum`: `id` when the field's name is `eventId` or ends in `Id` (identifiers
 *   must be non-empty), else `string`; inside `["null", ...]` the nullable form;
 * - `int`, `long`: `int`; `long` with logicalType `timestamp-millis`: `instant`;
 * - `float`, `double`: `double`;
 * - the record `dev.tessera.events.Context`: `context` (request context: device, page, timezone...).
 *
 * Anything else (booleans, bytes, arrays, maps, other records, unions of two non-null types) is
 * refused with the form to use instead: features read scalar fields.
 */
export function fieldKindOfAvro(type: avro.Type, json: unknown): FieldKind | { problem: string } {
  let nullable = false;
  let t = type;
  let j = json;
  if (t instanceof avro.types.UnwrappedUnionType || t instanceof avro.types.WrappedUnionType) {
    const branches = t.types;
    const nonNull = branches.filter((b) => b.typeName !== 'null');
    if (nonNull.length !== 1 || branches.length !== 2) {
      return { problem: `a union must be ["null", T] (an optional value); ${describe(t)} has ${nonNull.length} non-null branches` };
    }
    nullable = true;
    t = nonNull[0] as avro.Type;
    j = Array.isArray(j) ? j.find((b) => b !== 'null') : undefined;
  }
  const logical = typeof j === 'object' && j !== null && !Array.isArray(j) ? (j as Record<string, unknown>)['logicalType'] : undefined;
  switch (t.typeName) {
    case 'string':
    case 'enum':
      return nullable ? 'nullableString' : 'string';
    case 'int':
      return nullable ? 'nullableInt' : 'int';
    case 'long':
      if (logical === 'timestamp-millis') return nullable ? 'nullableInstant' : 'instant';
      return nullable ? 'nullableInt' : 'int';
    case 'float':
    case 'double':
      return nullable ? 'nullableDouble' : 'double';
    case 'record':
      if (t.name === CONTEXT_RECORD && !nullable) return 'context';
      return {
        problem:
          t.name === CONTEXT_RECORD
            ? `the context record is not nullable; declare it as "type": "${CONTEXT_RECORD}" (every field inside may be null)`
            : `records other than ${CONTEXT_RECORD} are not supported; flatten ${String(t.name)} into scalar fields`,
      };
    default:
      return { problem: `${describe(t)} is not supported; use string, int, long, double, a timestamp-millis long, or ["null", one of those]` };
  }
}

/** Applies the id naming rule to a string kind (see {@link fieldKindOfAvro}). */
export function idKind(field: string, kind: FieldKind): FieldKind {
  const isId = field === 'eventId' || (field.length > 2 && field.endsWith('Id'));
  if (!isId) return kind;
  if (kind === 'string') return 'id';
  if (kind === 'nullableString') return 'nullableId';
  return kind;
}

function describe(t: avro.Type): string {
  return t.typeName.startsWith('union') ? 'a union' : `type ${t.typeName}`;
}

function fieldJson(schema: object): Map<string, unknown> {
  const fields = (schema as { fields?: unknown }).fields;
  const out = new Map<string, unknown>();
  if (Array.isArray(fields)) {
    for (const f of fields as { name?: unknown; type?: unknown }[]) if (typeof f?.name === 'string') out.set(f.name, f.type);
  }
  return out;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
