import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  CRC64_AVRO_EMPTY,
  crc64Avro,
  definedTypeNames,
  fingerprintSchema,
  fingerprintToHex,
  fingerprintType,
  parsingCanonicalForm,
} from '../../../src/events/fingerprint.js';

/**
 * Apache Avro's own test vectors: share/test/data/schema-tests.txt in apache/avro (cases 000 to
 * 033). Each gives an input schema, its Parsing Canonical Form and, for one input per canonical
 * form, the CRC-64-AVRO fingerprint as a signed long, cross-checked upstream by the Java
 * implementation.
 */
const VECTORS: ReadonlyArray<{ id: string; input: string; canonical: string; fingerprint?: bigint }> = [
  { id: '000', input: '"null"', canonical: '"null"', fingerprint: 7195948357588979594n },
  { id: '001', input: '{"type":"null"}', canonical: '"null"' },
  { id: '002', input: '"boolean"', canonical: '"boolean"', fingerprint: -6970731678124411036n },
  { id: '003', input: '{"type":"boolean"}', canonical: '"boolean"' },
  { id: '004', input: '"int"', canonical: '"int"', fingerprint: 8247732601305521295n },
  { id: '005', input: '{"type":"int"}', canonical: '"int"' },
  { id: '006', input: '"long"', canonical: '"long"', fingerprint: -3434872931120570953n },
  { id: '007', input: '{"type":"long"}', canonical: '"long"' },
  { id: '008', input: '"float"', canonical: '"float"', fingerprint: 5583340709985441680n },
  { id: '009', input: '{"type":"float"}', canonical: '"float"' },
  { id: '010', input: '"double"', canonical: '"double"', fingerprint: -8181574048448539266n },
  { id: '011', input: '{"type":"double"}', canonical: '"double"' },
  { id: '012', input: '"bytes"', canonical: '"bytes"', fingerprint: 5746618253357095269n },
  { id: '013', input: '{"type":"bytes"}', canonical: '"bytes"' },
  { id: '014', input: '"string"', canonical: '"string"', fingerprint: -8142146995180207161n },
  { id: '015', input: '{"type":"string"}', canonical: '"string"' },
  { id: '016', input: '[  ]', canonical: '[]', fingerprint: -1241056759729112623n },
  { id: '017', input: '[ "int"  ]', canonical: '["int"]', fingerprint: -5232228896498058493n },
  { id: '018', input: '[ "int" , {"type":"boolean"} ]', canonical: '["int","boolean"]', fingerprint: 5392556393470105090n },
  {
    id: '019',
    input: '{"fields":[], "type":"record", "name":"foo"}',
    canonical: '{"name":"foo","type":"record","fields":[]}',
    fingerprint: -4824392279771201922n,
  },
  {
    id: '020',
    input: '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
    canonical: '{"name":"x.y.foo","type":"record","fields":[]}',
    fingerprint: 5916914534497305771n,
  },
  {
    id: '021',
    input: '{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}',
    canonical: '{"name":"a.b.foo","type":"record","fields":[]}',
    fingerprint: -4616218487480524110n,
  },
  {
    id: '022',
    input: '{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}',
    canonical: '{"name":"foo","type":"record","fields":[]}',
    fingerprint: -4824392279771201922n,
  },
  {
    id: '023',
    input: '{"fields":[], "type":"record", "name":"foo", "aliases":["foo","bar"]}',
    canonical: '{"name":"foo","type":"record","fields":[]}',
    fingerprint: -4824392279771201922n,
  },
  {
    id: '024',
    input: '{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}',
    canonical: '{"name":"foo","type":"record","fields":[]}',
    fingerprint: -4824392279771201922n,
  },
  {
    id: '025',
    input: '{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}',
    canonical: '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}',
    fingerprint: 7843277075252814651n,
  },
  {
    id: '026',
    input: `{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},
            {"order":"descending","name":"f2","doc":"Hello","type":"int"}],
  "type":"record", "name":"foo"
}`,
    canonical: '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
    fingerprint: -4860222112080293046n,
  },
  {
    id: '027',
    input: '{"type":"enum", "name":"foo", "symbols":["A1"]}',
    canonical: '{"name":"foo","type":"enum","symbols":["A1"]}',
    fingerprint: -6342190197741309591n,
  },
  {
    id: '028',
    input: '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
    canonical: '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
    fingerprint: -4448647247586288245n,
  },
  {
    id: '029',
    input: '{"name":"foo","type":"fixed","size":15}',
    canonical: '{"name":"foo","type":"fixed","size":15}',
    fingerprint: 1756455273707447556n,
  },
  {
    id: '030',
    input: '{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
    canonical: '{"name":"x.y.z.foo","type":"fixed","size":32}',
    fingerprint: -3064184465700546786n,
  },
  {
    id: '031',
    input: '{ "items":{"type":"null"}, "type":"array"}',
    canonical: '{"type":"array","items":"null"}',
    fingerprint: -589620603366471059n,
  },
  {
    id: '032',
    input: '{ "values":"string", "type":"map"}',
    canonical: '{"type":"map","values":"string"}',
    fingerprint: -8732877298790414990n,
  },
  {
    id: '033',
    input: '{"name":"PigValue","type":"record", "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
    canonical: '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
    fingerprint: -1759257747318642341n,
  },
];

/** The spec's definition, one bit at a time with BigInt: slow, but shares nothing with the table code. */
function naiveCrc64Avro(bytes: Uint8Array): bigint {
  const mask = (1n << 64n) - 1n;
  let fp = CRC64_AVRO_EMPTY;
  for (const byte of bytes) {
    fp ^= BigInt(byte);
    for (let i = 0; i < 8; i++) fp = ((fp >> 1n) ^ (CRC64_AVRO_EMPTY & -(fp & 1n))) & mask;
  }
  return fp;
}

/** Deterministic pseudo-random bytes (mulberry32), so a failure reproduces. */
function randomBytes(seed: number, length: number): Uint8Array {
  let state = seed >>> 0;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

describe('crc64Avro', () => {
  it('is the spec constant 0xc15d213aa4d7a795 for empty input', () => {
    expect(crc64Avro(new Uint8Array(0))).toBe(0xc15d213aa4d7a795n);
    expect(crc64Avro('')).toBe(0xc15d213aa4d7a795n);
  });

  it('matches the bit-by-bit definition on random inputs', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const bytes = randomBytes(seed, seed % 97);
      expect(crc64Avro(bytes)).toBe(naiveCrc64Avro(bytes));
    }
  });

  it('hashes strings as UTF-8', () => {
    expect(crc64Avro('é→')).toBe(naiveCrc64Avro(new TextEncoder().encode('é→')));
  });
});

describe('Avro schema-tests.txt vectors', () => {
  it.each(VECTORS)('$id: Parsing Canonical Form', ({ input, canonical }) => {
    expect(parsingCanonicalForm(input)).toBe(canonical);
  });

  it.each(VECTORS.filter((v) => v.fingerprint !== undefined))('$id: fingerprint', ({ input, canonical, fingerprint }) => {
    expect(BigInt.asIntN(64, crc64Avro(canonical))).toBe(fingerprint);
    expect(BigInt.asIntN(64, fingerprintSchema(input))).toBe(fingerprint);
  });

  it('gives every input the fingerprint of its canonical form, parsed or as text', () => {
    for (const { input, canonical } of VECTORS) {
      expect(fingerprintSchema(JSON.parse(input))).toBe(crc64Avro(canonical));
    }
  });

  // avsc's schema() is what fingerprintType canonicalises; it must not change the form of any
  // schema avsc accepts (it refuses 016, an empty union, and 026, a string default for a boolean).
  it('agrees with avsc types for every vector avsc accepts', () => {
    let accepted = 0;
    for (const { id, input, canonical } of VECTORS) {
      if (id === '016' || id === '026') continue;
      const type = avro.Type.forSchema(JSON.parse(input));
      expect(JSON.stringify(type.schema()), id).toBe(canonical);
      expect(fingerprintType(type), id).toBe(crc64Avro(canonical));
      accepted++;
    }
    expect(accepted).toBe(VECTORS.length - 2);
  });
});

describe('parsingCanonicalForm', () => {
  it('inlines a named type at its first use and references it by full name afterwards', () => {
    const schema = {
      type: 'record',
      name: 'Outer',
      namespace: 'ns',
      fields: [
        { name: 'a', type: { type: 'record', name: 'Inner', fields: [{ name: 'x', type: 'int' }] } },
        { name: 'b', type: 'Inner' },
        { name: 'c', type: { type: 'long', logicalType: 'timestamp-millis' }, default: 0, doc: 'stripped' },
      ],
    };
    expect(parsingCanonicalForm(schema)).toBe(
      '{"name":"ns.Outer","type":"record","fields":[' +
        '{"name":"a","type":{"name":"ns.Inner","type":"record","fields":[{"name":"x","type":"int"}]}},' +
        '{"name":"b","type":"ns.Inner"},{"name":"c","type":"long"}]}',
    );
  });

  it('rejects JSON that is not a schema', () => {
    expect(() => parsingCanonicalForm('{"type":"record","fields":[]}')).toThrow(/without a name/);
    expect(() => parsingCanonicalForm('{"name":"x"}')).toThrow(/without a type/);
    expect(() => parsingCanonicalForm('{')).toThrow(/not a JSON schema/);
    const twice = { type: 'record', name: 'R', fields: [{ name: 'a', type: { type: 'fixed', name: 'F', size: 1 } }, { name: 'b', type: { type: 'fixed', name: 'F', size: 2 } }] };
    expect(() => parsingCanonicalForm(twice)).toThrow(/F is defined twice/);
  });

  it('lists the named types a schema defines, not those it references', () => {
    const names = definedTypeNames({
      type: 'record',
      name: 'a.R',
      fields: [
        { name: 'e', type: { type: 'enum', name: 'E', symbols: ['X'] } },
        { name: 'ref', type: 'other.Ctx' },
      ],
    });
    expect([...names].sort()).toEqual(['a.E', 'a.R']);
  });
});

describe('fingerprintToHex', () => {
  it('prints the unsigned value in 16 digits', () => {
    expect(fingerprintToHex(fingerprintSchema('"string"'))).toBe('8f014872634503c7');
    expect(fingerprintToHex(5n)).toBe('0000000000000005');
    expect(fingerprintToHex(-1n)).toBe('ffffffffffffffff');
  });
});
