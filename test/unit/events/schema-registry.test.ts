import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, InvalidEventError } from '../../../src/errors.js';
import { REFERENCE_EVENT_TYPES, type AnyEvent, type TypedEvent } from '../../../src/events/event-types.js';
import { fingerprintSchema, fingerprintToHex } from '../../../src/events/fingerprint.js';
import { createSchemaRegistry, locateSchemaDir, readContextSchema } from '../../../src/events/schema-registry.js';
import { REFERENCE_CATALOG, REFERENCE_DIR, referenceRegistry } from '../../helpers/reference.js';
import { SAMPLES } from './samples.js';

const EVENT_TYPES = REFERENCE_EVENT_TYPES;
const schemaDir = locateSchemaDir();
/** The record name (without namespace) of a reference event type's schema. */
const recordNameOf = (type: string): string => REFERENCE_CATALOG.spec(type).recordName.replace(/^.*\./, '');
/** Context from Tessera's schemas/ folder; event records from the reference project's events/. */
const readJson = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(name === 'Context' ? join(schemaDir, 'Context.avsc') : join(REFERENCE_DIR, 'events', `${name}.avsc`), 'utf8')) as Record<string, unknown>;
const fieldsOf = (schema: Record<string, unknown>): Array<Record<string, unknown>> => schema['fields'] as Array<Record<string, unknown>>;

/** The current Impression schema with its Context reference replaced by the full definition. */
function selfContained(name: string): Record<string, unknown> {
  const schema = readJson(name);
  const context = readJson('Context');
  return { ...schema, fields: fieldsOf(schema).map((f) => (f['type'] === 'dev.tessera.events.Context' ? { ...f, type: context } : f)) };
}

/** v2 with a field added (with a default). */
function impressionWithAddedField(): Record<string, unknown> {
  const schema = readJson('Impression');
  return { ...schema, fields: [...fieldsOf(schema), { name: 'slate', type: 'string', default: 'main' }] };
}

/** v2 with a field removed. */
function impressionWithoutCategory(): Record<string, unknown> {
  const schema = readJson('Impression');
  return { ...schema, fields: fieldsOf(schema).filter((f) => f['name'] !== 'categoryId') };
}

function rejection(fn: () => unknown): InvalidEventError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidEventError);
    return err as InvalidEventError;
  }
  throw new Error('expected a rejection');
}

const registry = referenceRegistry();
const impression = SAMPLES.impression;

describe('SchemaRegistry: current schemas', () => {
  it('serves the catalog it was built from', () => {
    expect(registry.catalog).toBe(REFERENCE_CATALOG);
    for (const type of EVENT_TYPES) expect(registry.currentType(type).name).toBe(REFERENCE_CATALOG.spec(type).recordName);
    expect(() => registry.currentType('view')).toThrow(ConfigError);
  });

  it('finds the schemas/ folder from the module, in src/ and in dist/', () => {
    expect(readContextSchema().file).toBe(join(schemaDir, 'Context.avsc'));
    expect(locateSchemaDir('file:///opt/tessera/dist/events/schema-registry.js')).toBe('/opt/tessera/schemas/');
    expect(locateSchemaDir('file:///repo/src/events/schema-registry.ts')).toBe('/repo/schemas/');
  });

  it.each(EVENT_TYPES)('round-trips a %s exactly', (type) => {
    const event = SAMPLES[type];
    const decoded = registry.decode(registry.encode(event), type);
    expect(decoded).toStrictEqual(event);
    expect(typeof decoded.eventTime).toBe('number');
  });

  it('returns plain objects, not avsc record instances', () => {
    const decoded = registry.decode(registry.encode(impression)) as TypedEvent<'impression'>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(decoded.context)).toBe(Object.prototype);
  });

  it('keeps every instant a number, signupTime included', () => {
    const decoded = registry.decode(registry.encode(SAMPLES.user_profile));
    expect(decoded).toMatchObject({ eventTime: SAMPLES.user_profile.eventTime, signupTime: SAMPLES.user_profile.signupTime });
  });

  it.each(EVENT_TYPES)('stamps %s messages with C3 01 and the fingerprint of the self-contained schema', (type) => {
    const bytes = registry.encode(SAMPLES[type]);
    const expected = fingerprintSchema(selfContained(recordNameOf(type)));
    expect(bytes.subarray(0, 2).toString('hex')).toBe('c301');
    expect(bytes.readBigUInt64LE(2)).toBe(expected);
    expect(registry.currentFingerprint(type)).toBe(expected);
  });

  it('gives every event kind its own fingerprint', () => {
    expect(new Set(EVENT_TYPES.map((t) => registry.currentFingerprint(t))).size).toBe(EVENT_TYPES.length);
  });

  it('rejects a message of another kind than expected', () => {
    const error = rejection(() => registry.decode(registry.encode(SAMPLES.click), 'impression'));
    expect(error.reason).toBe('SCHEMA_INVALID');
    expect(error.message).toMatch(/expected a impression event, got a click event/);
  });

  it('rejects unknown fingerprints, bad markers, truncated and padded messages', () => {
    const bytes = registry.encode(impression);
    const foreign = Buffer.from(bytes);
    foreign.writeBigUInt64LE(0x0123456789abcdefn, 2);
    expect(rejection(() => registry.decode(foreign))).toMatchObject({ reason: 'UNKNOWN_FINGERPRINT', message: expect.stringMatching(/0x0123456789abcdef/) });
    const magic = Buffer.from(bytes);
    magic[0] = 0x00;
    expect(rejection(() => registry.decode(magic)).reason).toBe('UNDECODABLE');
    expect(rejection(() => registry.decode(bytes.subarray(0, bytes.length - 3))).reason).toBe('UNDECODABLE');
    expect(rejection(() => registry.decode(Buffer.concat([bytes, Buffer.from('junk')]))).message).toMatch(/4 trailing bytes/);
  });
});

describe('SchemaRegistry: encode validates against the schema', () => {
  it('names each bad field with its path', () => {
    const bad = {
      ...impression,
      position: 1.5,
      userId: 42,
      context: { ...impression.context, timezone: 5 },
    } as unknown as AnyEvent;
    const error = rejection(() => registry.encode(bad));
    expect(error.reason).toBe('SCHEMA_INVALID');
    expect(error.message).toContain('position: expected int, got 1.5');
    expect(error.message).toContain('userId: expected string, got 42');
    expect(error.message).toContain('context.timezone: expected null or string, got 5');
  });

  it('reports missing required fields and unknown fields', () => {
    const { itemId: _dropped, ...withoutItem } = impression;
    expect(rejection(() => registry.encode(withoutItem as unknown as AnyEvent)).message).toContain('itemId: expected string, missing');
    const typo = { ...impression, userID: 'u' } as unknown as AnyEvent;
    expect(rejection(() => registry.encode(typo)).message).toContain('userID: unknown field of dev.tessera.events.Impression');
    const contextTypo = { ...impression, context: { ...impression.context, contry: 'FR' } } as unknown as AnyEvent;
    expect(rejection(() => registry.encode(contextTypo)).message).toContain('context.contry: unknown field');
    const undefinedExtra = { ...impression, score: undefined } as unknown as AnyEvent;
    expect(rejection(() => registry.encode(undefinedExtra)).message).toBe('score: unknown field of dev.tessera.events.Impression');
  });

  it('rejects an unknown type tag', () => {
    expect(rejection(() => registry.encode({ ...impression, type: 'view' } as unknown as AnyEvent)).reason).toBe('UNKNOWN_TYPE');
  });

  it('checks structure only: semantic checks belong to validateEvent', () => {
    const emptyId = { ...impression, userId: '' };
    expect(registry.decode(registry.encode(emptyId))).toEqual(emptyId);
  });
});

describe('SchemaRegistry: schema evolution', () => {
  it('reads an old writer into a new reader that added a field with a default, and back', () => {
    const next = referenceRegistry({ schemas: { impression: impressionWithAddedField() } });
    next.registerWriter(readJson('Impression'));
    registry.registerWriter(impressionWithAddedField());

    // old writer -> new reader: the default fills the new field
    expect(next.decode(registry.encode(impression), 'impression')).toEqual({ ...impression, slate: 'main' });
    // new writer -> old reader: the new field is skipped
    const v2Event = { ...impression, slate: 'carousel' } as unknown as AnyEvent;
    const bytes = next.encode(v2Event);
    expect(bytes.readBigUInt64LE(2)).not.toBe(registry.currentFingerprint('impression'));
    expect(registry.decode(bytes, 'impression')).toStrictEqual(impression);
  });

  it('reads across a removed field in both directions', () => {
    const next = referenceRegistry({ schemas: { impression: JSON.stringify(impressionWithoutCategory()) } });
    next.registerWriter(JSON.stringify(readJson('Impression')));
    const current = referenceRegistry();
    current.registerWriter(impressionWithoutCategory());

    // old writer -> new reader: the removed field is skipped
    const { categoryId: _gone, ...withoutCategory } = impression;
    expect(next.decode(current.encode(impression))).toStrictEqual(withoutCategory);
    // new writer -> old reader: the field comes back as its default, null
    expect(current.decode(next.encode(withoutCategory as unknown as AnyEvent))).toStrictEqual({ ...impression, categoryId: null });
  });

  it('cannot decode a version it was never told about', () => {
    const next = referenceRegistry({ schemas: { impression: impressionWithAddedField() } });
    const fresh = referenceRegistry();
    const error = rejection(() => fresh.decode(next.encode({ ...impression, slate: 'x' } as unknown as AnyEvent)));
    expect(error.reason).toBe('UNKNOWN_FINGERPRINT');
    expect(error.message).toContain(fingerprintToHex(next.currentFingerprint('impression')));
  });
});

describe('SchemaRegistry: registerWriter', () => {
  it('is idempotent, and a self-contained copy of a current schema is that schema', () => {
    const fresh = referenceRegistry();
    const writer = fresh.registerWriter(selfContained('Click'));
    expect(writer.fingerprint).toBe(fresh.currentFingerprint('click'));
    expect(writer.type).toBe(fresh.currentType('click'));
    expect(fresh.writers()).toHaveLength(EVENT_TYPES.length);
    const added = fresh.registerWriter(impressionWithAddedField());
    expect(fresh.registerWriter(impressionWithAddedField())).toBe(added);
    expect(fresh.writers()).toHaveLength(EVENT_TYPES.length + 1);
    expect(fresh.writer(added.fingerprint)?.eventType).toBe('impression');
  });

  it('refuses schemas that are not event records, are invalid, or cannot be resolved', () => {
    const fresh = referenceRegistry();
    expect(() => fresh.registerWriter({ type: 'record', name: 'dev.tessera.events.Other', fields: [] })).toThrow(ConfigError);
    expect(() => fresh.registerWriter('{not json')).toThrow(/not valid JSON/);
    expect(() => fresh.registerWriter({ type: 'record', name: 'X', fields: [{ name: 'a', type: 'Nope' }] })).toThrow(/not a valid Avro schema/);
    // position changed from int to string: no resolution rule reads a string as an int.
    const changed = readJson('Impression');
    const retyped = { ...changed, fields: fieldsOf(changed).map((f) => (f['name'] === 'position' ? { ...f, type: 'string' } : f)) };
    expect(() => fresh.registerWriter(retyped)).toThrow(/cannot be read as the current dev.tessera.events.Impression/);
  });

  it('refuses a current schema that adds a field without a default once old writers are registered', () => {
    const schema = readJson('Impression');
    const next = referenceRegistry({ schemas: { impression: { ...schema, fields: [...fieldsOf(schema), { name: 'slate', type: 'string' }] } } });
    expect(() => next.registerWriter(readJson('Impression'))).toThrow(ConfigError);
  });
});

describe('createSchemaRegistry: configuration errors', () => {
  const empty = mkdtempSync(join(tmpdir(), 'tessera-schemas-'));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));

  it('says where it looked when the folder has no shared schemas', () => {
    expect(() => readContextSchema(empty)).toThrow(ConfigError);
    expect(() => readContextSchema(empty)).toThrow(`${join(empty, 'Context.avsc')} is missing`);
  });

  it('refuses a catalog shared schema that is not valid Avro, naming its file', () => {
    const broken = { ...REFERENCE_CATALOG, shared: [{ schema: { type: 'record', name: 'dev.tessera.events.Context', fields: [{ name: 'a', type: 'Nope' }] }, file: 'Broken.avsc' }] };
    expect(() => createSchemaRegistry(broken)).toThrow(/Broken.avsc is not a valid Avro schema/);
  });

  it('refuses an override whose record name does not match its kind', () => {
    expect(() => referenceRegistry({ schemas: { click: readJson('Impression') } })).toThrow(/expected dev.tessera.events.Click/);
  });
});
