import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../../src/errors.js';
import { fingerprintType } from '../../../src/events/fingerprint.js';
import {
  createSingleObjectDecoder,
  encodeSingleObject,
  readSingleObjectFingerprint,
  type SchemaPair,
} from '../../../src/events/single-object.js';

const stringType = avro.Type.forSchema('string');

const pointV1 = avro.Type.forSchema({
  type: 'record',
  name: 'test.Point',
  fields: [
    { name: 'x', type: 'int' },
    { name: 'label', type: ['null', 'string'], default: null },
  ],
});
const pointV2 = avro.Type.forSchema({
  type: 'record',
  name: 'test.Point',
  fields: [
    { name: 'x', type: 'int' },
    { name: 'y', type: 'int', default: -1 },
  ],
});

function expectReject(fn: () => unknown, reason: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(InvalidEventError);
  expect((thrown as InvalidEventError).reason).toBe(reason);
  if (message !== undefined) expect((thrown as InvalidEventError).message).toMatch(message);
}

describe('encodeSingleObject', () => {
  it('writes C3 01, the little-endian CRC-64-AVRO of the schema, then the Avro body', () => {
    // "string" has fingerprint 0x8f014872634503c7 (Avro test vector 014); "foo" is zigzag(3)=06 + bytes.
    const bytes = encodeSingleObject(stringType, 'foo');
    expect(bytes.toString('hex')).toBe('c301' + 'c70345637248018f' + '06666f6f');
  });

  it('writes the header of a record from its fingerprint and grows past its scratch buffer', () => {
    const big = 'z'.repeat(20_000);
    const bytes = encodeSingleObject(pointV1, { x: 1, label: big });
    expect([...bytes.subarray(0, 2)]).toEqual([0xc3, 0x01]);
    expect(bytes.readBigUInt64LE(2)).toBe(fingerprintType(pointV1));
    expect(pointV1.fromBuffer(bytes.subarray(10))).toEqual({ x: 1, label: big });
  });
});

describe('readSingleObjectFingerprint', () => {
  it('reads the fingerprint back', () => {
    expect(readSingleObjectFingerprint(encodeSingleObject(pointV2, { x: 1, y: 2 }))).toBe(fingerprintType(pointV2));
  });

  it('rejects a wrong marker and a short header as UNDECODABLE', () => {
    const good = encodeSingleObject(stringType, 'a');
    const wrongMagic = Buffer.from(good);
    wrongMagic[1] = 0x02;
    expectReject(() => readSingleObjectFingerprint(wrongMagic), 'UNDECODABLE', /marker is 0xc302/);
    expectReject(() => readSingleObjectFingerprint(good.subarray(0, 9)), 'UNDECODABLE', /truncated/);
    expectReject(() => readSingleObjectFingerprint(Buffer.alloc(0)), 'UNDECODABLE', /truncated/);
  });
});

describe('createSingleObjectDecoder', () => {
  const byFingerprint = new Map<bigint, SchemaPair>([
    [fingerprintType(pointV1), { writer: pointV1, reader: pointV2 }],
    [fingerprintType(pointV2), { writer: pointV2, reader: pointV2 }],
  ]);

  it('resolves the writer schema into the reader schema', () => {
    const decoder = createSingleObjectDecoder((fp) => byFingerprint.get(fp));
    const decoded = decoder.decode(encodeSingleObject(pointV1, { x: 7, label: 'dropped' }));
    expect({ ...(decoded.value as object) }).toEqual({ x: 7, y: -1 });
    expect(decoded.writer).toBe(pointV1);
    expect(decoded.fingerprint).toBe(fingerprintType(pointV1));
    const same = decoder.decode(encodeSingleObject(pointV2, { x: 7, y: 8 }));
    expect({ ...(same.value as object) }).toEqual({ x: 7, y: 8 });
  });

  it('looks each known fingerprint up once, but retries unknown ones', () => {
    const calls: bigint[] = [];
    let known = false;
    const decoder = createSingleObjectDecoder((fp) => {
      calls.push(fp);
      return known ? byFingerprint.get(fp) : undefined;
    });
    const bytes = encodeSingleObject(pointV1, { x: 1, label: null });
    expectReject(() => decoder.decode(bytes), 'UNKNOWN_FINGERPRINT');
    known = true;
    decoder.decode(bytes);
    decoder.decode(bytes);
    expect(calls).toEqual([fingerprintType(pointV1), fingerprintType(pointV1)]);
  });

  it('names an unknown fingerprint in hex', () => {
    const decoder = createSingleObjectDecoder(() => undefined);
    expectReject(() => decoder.decode(encodeSingleObject(stringType, 'x')), 'UNKNOWN_FINGERPRINT', /0x8f014872634503c7/);
  });

  it('rejects truncated bodies, trailing bytes and unreadable bodies as UNDECODABLE', () => {
    const decoder = createSingleObjectDecoder((fp) => byFingerprint.get(fp));
    const bytes = encodeSingleObject(pointV1, { x: 1, label: 'hello' });
    expectReject(() => decoder.decode(bytes.subarray(0, bytes.length - 1)), 'UNDECODABLE', /truncated/);
    expectReject(() => decoder.decode(bytes.subarray(0, 10)), 'UNDECODABLE', /truncated/);
    expectReject(() => decoder.decode(Buffer.concat([bytes, Buffer.from([0])])), 'UNDECODABLE', /1 trailing bytes/);
    // Union branch index 2 does not exist in ["null","string"].
    const badUnion = Buffer.from(bytes);
    badUnion[11] = 0x04;
    expectReject(() => decoder.decode(badUnion), 'UNDECODABLE', /does not match/);
  });

  it('reports a writer that cannot be resolved into the reader as UNDECODABLE', () => {
    const incompatible = avro.Type.forSchema({ type: 'record', name: 'test.Point', fields: [{ name: 'x', type: 'string' }] });
    const decoder = createSingleObjectDecoder(() => ({ writer: incompatible, reader: pointV2 }));
    expectReject(() => decoder.decode(encodeSingleObject(incompatible, { x: 'a' })), 'UNDECODABLE', /cannot be read as test.Point/);
  });

  it('accepts a Uint8Array view into a larger buffer', () => {
    const decoder = createSingleObjectDecoder((fp) => byFingerprint.get(fp));
    const bytes = encodeSingleObject(pointV2, { x: 3, y: 4 });
    const backing = new Uint8Array(bytes.length + 8);
    backing.set(bytes, 4);
    const view = new Uint8Array(backing.buffer, 4, bytes.length);
    expect({ ...(decoder.decode(view).value as object) }).toEqual({ x: 3, y: 4 });
  });
});
