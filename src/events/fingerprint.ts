import avro from 'avsc';

/**
 * Schema identity on the wire: the CRC-64-AVRO (Rabin) fingerprint of a schema's Parsing
 * Canonical Form, both as defined by the Avro specification ("Schema Fingerprints" and "Parsing
 * Canonical Form for Schemas"). Two schemas that read and write bytes the same way share a
 * fingerprint whatever their docs, defaults, aliases or whitespace, so the fingerprint in a
 * single-object header names the writer schema without a central schema service.
 *
 * Fingerprints are unsigned 64-bit `bigint`s. Other implementations (Java's
 * `SchemaNormalization`, Avro's own test vectors) print them as signed longs; `BigInt.asIntN(64, fp)`
 * converts.
 */

/** The fingerprint of the empty byte string, and the polynomial the table is derived from. */
export const CRC64_AVRO_EMPTY = 0xc15d213aa4d7a795n;

// The 64-bit state is kept as two uint32 halves: BigInt arithmetic per byte would allocate, and
// plain numbers cannot hold 64 bits. The table is the classic one-byte-at-a-time Rabin table.
const EMPTY_HI = Number(CRC64_AVRO_EMPTY >> 32n) >>> 0;
const EMPTY_LO = Number(CRC64_AVRO_EMPTY & 0xffffffffn) >>> 0;
const TABLE_HI = new Uint32Array(256);
const TABLE_LO = new Uint32Array(256);

for (let i = 0; i < 256; i++) {
  let hi = 0;
  let lo = i;
  for (let bit = 0; bit < 8; bit++) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (carry !== 0) {
      hi = (hi ^ EMPTY_HI) >>> 0;
      lo = (lo ^ EMPTY_LO) >>> 0;
    }
  }
  TABLE_HI[i] = hi;
  TABLE_LO[i] = lo;
}

const utf8 = new TextEncoder();

/**
 * CRC-64-AVRO of raw bytes (a string is hashed as its UTF-8 bytes).
 *
 * @example crc64Avro('"string"') === 0x8f014872634503c7n
 */
export function crc64Avro(data: Uint8Array | string): bigint {
  const bytes = typeof data === 'string' ? utf8.encode(data) : data;
  let hi = EMPTY_HI;
  let lo = EMPTY_LO;
  for (let i = 0; i < bytes.length; i++) {
    // Indices are in range by construction: `& 0xff` and a Uint8Array element.
    const index = (lo ^ bytes[i]!) & 0xff;
    lo = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ TABLE_LO[index]!) >>> 0;
    hi = ((hi >>> 8) ^ TABLE_HI[index]!) >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

/** A schema's JSON as parsed from text: anything JSON can hold. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The Parsing Canonical Form of a schema given as JSON text or as its parsed value, following the
 * spec's transformations: primitives in simple form, names fully qualified, only
 * `name, type, fields, symbols, items, values, size` kept and in that order, integers unquoted,
 * no whitespace. A named type is written in full where it is defined and by name where referenced.
 *
 * It works on plain JSON rather than on a parsed avsc type so that it also covers schemas avsc
 * refuses but the spec still defines a form for (an empty union, an ill-typed default). Names
 * the schema references without defining are kept as (qualified) names: to fingerprint a schema
 * that uses types defined elsewhere, canonicalise the resolved type (see {@link fingerprintType}).
 *
 * A string is read as JSON text when it starts with `{`, `[` or `"`, and as a bare type name
 * otherwise, so both `'"int"'` and `'int'` mean the int schema.
 *
 * @throws Error when the JSON is not a schema (unknown shape, missing `name`, bad `size`, a name
 *   defined twice).
 */
export function parsingCanonicalForm(schema: unknown): string {
  const parsed: unknown = typeof schema === 'string' ? parseSchemaText(schema) : schema;
  return canonical(parsed as Json, '', new Set<string>());
}

function parseSchemaText(text: string): unknown {
  const trimmed = text.trim();
  // A string that does not look like JSON is a bare type name (`int`, `ns.Rec`): that also keeps
  // an already-parsed `"null"` from being re-read as the JSON literal null.
  if (!/^[[{"]/.test(trimmed)) return trimmed;
  try {
    return JSON.parse(trimmed);
  } catch {
    throw new Error(`not a JSON schema: ${trimmed.slice(0, 80)}`);
  }
}

function canonical(schema: Json, namespace: string, defined: Set<string>): string {
  if (typeof schema === 'string') {
    if (PRIMITIVES.has(schema)) return JSON.stringify(schema);
    return JSON.stringify(qualify(schema, namespace));
  }
  if (Array.isArray(schema)) {
    return `[${schema.map((branch) => canonical(branch, namespace, defined)).join(',')}]`;
  }
  if (schema === null || typeof schema !== 'object') {
    throw new Error(`not a schema: ${JSON.stringify(schema)}`);
  }
  const type = schema['type'];
  if (typeof type !== 'string') {
    // `{"type": {...}}` and `{"type": [...]}` wrap a schema; the wrapper has no meaning of its own.
    if (type !== undefined && type !== null) return canonical(type, namespace, defined);
    throw new Error(`schema object without a type: ${JSON.stringify(schema).slice(0, 80)}`);
  }
  switch (type) {
    case 'record':
    case 'error':
    case 'enum':
    case 'fixed':
      return canonicalNamed(schema, type, namespace, defined);
    case 'array':
      return `{"type":"array","items":${canonical(required(schema, 'items'), namespace, defined)}}`;
    case 'map':
      return `{"type":"map","values":${canonical(required(schema, 'values'), namespace, defined)}}`;
    default:
      // A primitive (logical types and other attributes are stripped) or a reference by name.
      return canonical(type, namespace, defined);
  }
}

function canonicalNamed(schema: { [key: string]: Json }, type: string, namespace: string, defined: Set<string>): string {
  const name = schema['name'];
  if (typeof name !== 'string' || name === '') throw new Error(`${type} schema without a name`);
  const ownNamespace = typeof schema['namespace'] === 'string' ? schema['namespace'] : namespace;
  const fullName = qualify(name, ownNamespace);
  // Later uses are plain name references (strings); a second inline definition is an error in
  // every Avro parser, and its canonical form would be ambiguous.
  if (defined.has(fullName)) throw new Error(`${fullName} is defined twice`);
  defined.add(fullName);
  // Types nested in this one resolve short names against this type's namespace.
  const innerNamespace = fullName.includes('.') ? fullName.slice(0, fullName.lastIndexOf('.')) : '';
  const head = `{"name":${JSON.stringify(fullName)},"type":${JSON.stringify(type)}`;
  switch (type) {
    case 'enum': {
      const symbols = required(schema, 'symbols');
      if (!Array.isArray(symbols)) throw new Error(`enum ${fullName}: symbols is not an array`);
      return `${head},"symbols":[${symbols.map((s) => JSON.stringify(String(s))).join(',')}]}`;
    }
    case 'fixed': {
      const size = Number(required(schema, 'size'));
      if (!Number.isSafeInteger(size) || size < 0) throw new Error(`fixed ${fullName}: bad size`);
      return `${head},"size":${size}}`;
    }
    default: {
      const fields = required(schema, 'fields');
      if (!Array.isArray(fields)) throw new Error(`record ${fullName}: fields is not an array`);
      const parts = fields.map((field) => {
        if (field === null || typeof field !== 'object' || Array.isArray(field) || typeof field['name'] !== 'string') {
          throw new Error(`record ${fullName}: field without a name`);
        }
        const fieldType = canonical(required(field, 'type'), innerNamespace, defined);
        return `{"name":${JSON.stringify(field['name'])},"type":${fieldType}}`;
      });
      return `${head},"fields":[${parts.join(',')}]}`;
    }
  }
}

function qualify(name: string, namespace: string): string {
  return name.includes('.') || namespace === '' ? name : `${namespace}.${name}`;
}

function required(schema: { [key: string]: Json }, key: string): Json {
  const value = schema[key];
  if (value === undefined) throw new Error(`schema without ${key}: ${JSON.stringify(schema).slice(0, 80)}`);
  return value;
}

/**
 * Full names of the named types (records, enums, fixed) a schema defines inline, as opposed to
 * those it only references by name. A loader uses it to know which shared definitions a schema
 * needs from outside and which it brings along.
 */
export function definedTypeNames(schema: unknown): Set<string> {
  const defined = new Set<string>();
  canonical((typeof schema === 'string' ? parseSchemaText(schema) : schema) as Json, '', defined);
  return defined;
}

/** CRC-64-AVRO of a schema's Parsing Canonical Form (schema as JSON text or parsed JSON). */
export function fingerprintSchema(schema: unknown): bigint {
  return crc64Avro(parsingCanonicalForm(schema));
}

/**
 * The fingerprint of a parsed avsc type. avsc's `schema()` inlines every named type at its first
 * use with its full name, so types that reference shared definitions (our records referencing
 * `dev.tessera.events.Context`) get the same fingerprint as the equivalent self-contained schema
 * in any other Avro implementation. Compute it once per type, not per message.
 */
export function fingerprintType(type: avro.Type): bigint {
  return fingerprintSchema(type.schema());
}

/** 16 lower-case hex digits of the fingerprint's value (the number, not the wire byte order). */
export function fingerprintToHex(fingerprint: bigint): string {
  return BigInt.asUintN(64, fingerprint).toString(16).padStart(16, '0');
}
