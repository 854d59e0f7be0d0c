import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTEXT_FIELDS, type FieldKind } from '../../../src/events/event-fields.js';
import { EMPTY_CONTEXT, REFERENCE_EVENT_TYPES } from '../../../src/events/event-types.js';
import { locateSchemaDir } from '../../../src/events/schema-registry.js';
import { REFERENCE_CATALOG, REFERENCE_DIR, REFERENCE_KINDS, referenceRegistry } from '../../helpers/reference.js';
import { SAMPLES } from './samples.js';

interface FieldJson {
  name: string;
  type: unknown;
  default?: unknown;
  doc?: string;
}
interface RecordJson {
  type: string;
  name: string;
  namespace: string;
  doc?: string;
  fields: FieldJson[];
}

const schemaDir = locateSchemaDir();
/** Tessera's own shared records (schemas/), by record name. */
const readSharedSchema = (name: string): RecordJson => JSON.parse(readFileSync(join(schemaDir, `${name}.avsc`), 'utf8')) as RecordJson;
/** The schema file of a reference event type, as the project names it. */
const readEventSchema = (type: string): RecordJson => JSON.parse(readFileSync(join(REFERENCE_DIR, REFERENCE_CATALOG.spec(type).file), 'utf8')) as RecordJson;
/** The record name of a reference event type (Impression, ItemProfile, ...). */
const recordNameOf = (type: string): string => REFERENCE_CATALOG.spec(type).recordName.replace(/^.*\./, '');

const TIMESTAMP = { type: 'long', logicalType: 'timestamp-millis' };

/** The Avro field JSON each kind must be written as, stated independently of the code under test. */
const EXPECTED_AVRO: Record<FieldKind, { type: unknown; default?: null }> = {
  id: { type: 'string' },
  nullableId: { type: ['null', 'string'], default: null },
  string: { type: 'string' },
  nullableString: { type: ['null', 'string'], default: null },
  instant: { type: TIMESTAMP },
  nullableInstant: { type: ['null', TIMESTAMP], default: null },
  int: { type: 'int' },
  nullableInt: { type: ['null', 'int'], default: null },
  double: { type: 'double' },
  nullableDouble: { type: ['null', 'double'], default: null },
  context: { type: 'dev.tessera.events.Context' },
};

describe('schemas/ folder and the reference project\'s events/', () => {
  it('schemas/ holds only the shared Context record', () => {
    const files = readdirSync(schemaDir).filter((f) => f.endsWith('.avsc')).sort();
    expect(files).toEqual(['Context.avsc']);
  });

  it('the reference project declares the reference event types, one schema file each in events/, and nothing else', () => {
    expect(REFERENCE_CATALOG.types).toEqual([...REFERENCE_EVENT_TYPES]);
    const files = readdirSync(join(REFERENCE_DIR, 'events')).filter((f) => f.endsWith('.avsc')).sort();
    expect(files).toEqual(REFERENCE_EVENT_TYPES.map((t) => `${recordNameOf(t)}.avsc`).sort());
    for (const type of REFERENCE_EVENT_TYPES) expect(REFERENCE_CATALOG.spec(type).file).toBe(`events/${recordNameOf(type)}.avsc`);
  });

  const documented = (name: string, schema: RecordJson): void => {
    expect(schema.type).toBe('record');
    expect(schema.name).toBe(name);
    expect(schema.namespace).toBe('dev.tessera.events');
    expect(schema.doc?.length).toBeGreaterThan(10);
    for (const field of schema.fields) expect(field.doc, `${name}.${field.name}`).toBeTruthy();
  };

  it('Context is a documented record in dev.tessera.events', () => {
    documented('Context', readSharedSchema('Context'));
  });

  it.each(REFERENCE_EVENT_TYPES)('%s is a documented record in dev.tessera.events', (type) => {
    documented(recordNameOf(type), readEventSchema(type));
    expect(REFERENCE_CATALOG.spec(type).recordName).toBe(`dev.tessera.events.${recordNameOf(type)}`);
  });
});

describe('event-types.ts mirrors the Avro schemas', () => {
  const registry = referenceRegistry();

  it.each(REFERENCE_EVENT_TYPES)('%s: every interface field is in the schema and vice versa, in order', (type) => {
    // SAMPLES is typed per kind, so its keys are exactly the interface's fields.
    const interfaceFields = Object.keys(SAMPLES[type]).filter((k) => k !== 'type');
    const schemaFields = readEventSchema(type).fields.map((f) => f.name);
    expect(schemaFields).toEqual(interfaceFields);
    const parsedFields = (registry.currentType(type) as unknown as { fields: { name: string }[] }).fields.map((f) => f.name);
    expect(parsedFields).toEqual(interfaceFields);
    expect(Object.keys(REFERENCE_KINDS[type] ?? {})).toEqual(interfaceFields);
    expect(REFERENCE_CATALOG.spec(type).fields.map(([f]) => f)).toEqual(interfaceFields);
  });

  it.each(REFERENCE_EVENT_TYPES)('%s: each field has the Avro type and default of its kind', (type) => {
    const kinds = REFERENCE_KINDS[type] as Record<string, FieldKind>;
    for (const field of readEventSchema(type).fields) {
      const kind = kinds[field.name];
      expect(kind, field.name).toBeDefined();
      const expected = EXPECTED_AVRO[kind as FieldKind];
      expect({ type: field.type, default: field.default }, `${type}.${field.name}`).toEqual({
        type: expected.type,
        default: expected.default,
      });
    }
  });

  it('Context has the fields of the Context interface, all nullable strings defaulting to null', () => {
    const fields = readSharedSchema('Context').fields;
    expect(fields.map((f) => f.name)).toEqual(Object.keys(EMPTY_CONTEXT));
    expect(fields.map((f) => f.name)).toEqual([...CONTEXT_FIELDS]);
    for (const field of fields) expect({ type: field.type, default: field.default }).toEqual({ type: ['null', 'string'], default: null });
  });
});

describe('the reference field kinds', () => {
  it('are what the generator, the importers and the label rule rely on', () => {
    // Stated independently of the Avro files: ids non-empty, counts and amounts numeric. categoryId
    // follows the catalog's naming rule (a string field ending in Id is an id: null, never empty).
    expect(REFERENCE_KINDS).toEqual({
      impression: { eventId: 'id', eventTime: 'instant', requestId: 'id', userId: 'id', itemId: 'id', categoryId: 'nullableId', position: 'int', context: 'context' },
      click: { eventId: 'id', eventTime: 'instant', requestId: 'id', userId: 'id', itemId: 'id', categoryId: 'nullableId', position: 'nullableInt', context: 'context' },
      order: {
        eventId: 'id',
        eventTime: 'instant',
        orderId: 'id',
        requestId: 'nullableId',
        userId: 'id',
        itemId: 'id',
        categoryId: 'nullableId',
        amount: 'double',
        currency: 'string',
        quantity: 'int',
        context: 'context',
      },
      item_profile: { eventId: 'id', eventTime: 'instant', itemId: 'id', categoryId: 'nullableId', price: 'nullableDouble', brand: 'nullableString' },
      user_profile: { eventId: 'id', eventTime: 'instant', userId: 'id', ageBucket: 'nullableString', gender: 'nullableString', signupTime: 'nullableInstant' },
    });
    // Key order is schema order.
    for (const type of REFERENCE_EVENT_TYPES) expect(Object.keys(REFERENCE_KINDS[type] ?? {})).toEqual(readEventSchema(type).fields.map((f) => f.name));
  });

  it('are what catalog.fieldKind answers, undefined for fields a type does not have', () => {
    for (const type of REFERENCE_EVENT_TYPES) {
      for (const [field, kind] of Object.entries(REFERENCE_KINDS[type] ?? {})) expect(REFERENCE_CATALOG.fieldKind(type, field)).toBe(kind);
    }
    expect(REFERENCE_CATALOG.fieldKind('click', 'amount')).toBeUndefined();
    expect(REFERENCE_CATALOG.fieldKind('view', 'itemId')).toBeUndefined();
  });

  it('partition each type by its key field', () => {
    expect(Object.fromEntries(REFERENCE_EVENT_TYPES.map((t) => [t, REFERENCE_CATALOG.spec(t).partitionKey]))).toEqual({
      impression: 'userId',
      click: 'userId',
      order: 'userId',
      item_profile: 'itemId',
      user_profile: 'userId',
    });
    for (const type of REFERENCE_EVENT_TYPES) {
      const sample = SAMPLES[type];
      expect(REFERENCE_CATALOG.partitionKeyOf(sample)).toBe(type === 'item_profile' ? 'i-1' : 'u-1');
    }
    expect(REFERENCE_CATALOG.has('click')).toBe(true);
    expect(REFERENCE_CATALOG.has('view')).toBe(false);
    expect(REFERENCE_CATALOG.has(undefined)).toBe(false);
  });
});
