import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTEXT_FIELDS, EVENT_FIELDS, type FieldKind } from '../../../src/events/event-fields.js';
import { EMPTY_CONTEXT, EVENT_TYPES, SCHEMA_NAMES } from '../../../src/events/event-types.js';
import { createSchemaRegistry, locateSchemaDir } from '../../../src/events/schema-registry.js';
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
const readSchema = (name: string): RecordJson => JSON.parse(readFileSync(join(schemaDir, `${name}.avsc`), 'utf8')) as RecordJson;

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

describe('schemas/ folder', () => {
  it('holds Context plus one schema per event kind, and nothing else', () => {
    const files = readdirSync(schemaDir).filter((f) => f.endsWith('.avsc')).sort();
    expect(files).toEqual(['Context', ...Object.values(SCHEMA_NAMES)].map((n) => `${n}.avsc`).sort());
  });

  it.each(['Context', ...Object.values(SCHEMA_NAMES)])('%s is a documented record in dev.tessera.events', (name) => {
    const schema = readSchema(name);
    expect(schema.type).toBe('record');
    expect(schema.name).toBe(name);
    expect(schema.namespace).toBe('dev.tessera.events');
    expect(schema.doc?.length).toBeGreaterThan(10);
    for (const field of schema.fields) expect(field.doc, `${name}.${field.name}`).toBeTruthy();
  });
});

describe('event-types.ts mirrors the Avro schemas', () => {
  const registry = createSchemaRegistry();

  it.each(EVENT_TYPES)('%s: every interface field is in the schema and vice versa, in order', (type) => {
    // SAMPLES is typed per kind, so its keys are exactly the interface's fields.
    const interfaceFields = Object.keys(SAMPLES[type]).filter((k) => k !== 'type');
    const schemaFields = readSchema(SCHEMA_NAMES[type]).fields.map((f) => f.name);
    expect(schemaFields).toEqual(interfaceFields);
    const parsedFields = (registry.currentType(type) as unknown as { fields: { name: string }[] }).fields.map((f) => f.name);
    expect(parsedFields).toEqual(interfaceFields);
    expect(Object.keys(EVENT_FIELDS[type])).toEqual(interfaceFields);
  });

  it.each(EVENT_TYPES)('%s: each field has the Avro type and default of its kind', (type) => {
    const kinds = EVENT_FIELDS[type] as Record<string, FieldKind>;
    for (const field of readSchema(SCHEMA_NAMES[type]).fields) {
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
    const fields = readSchema('Context').fields;
    expect(fields.map((f) => f.name)).toEqual(Object.keys(EMPTY_CONTEXT));
    expect(fields.map((f) => f.name)).toEqual([...CONTEXT_FIELDS]);
    for (const field of fields) expect({ type: field.type, default: field.default }).toEqual({ type: ['null', 'string'], default: null });
  });
});
