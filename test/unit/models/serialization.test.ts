import { describe, expect, it } from 'vitest';
import { ModelFormatError, ModelSchemaError } from '../../../src/models/model-errors.js';
import { applyParamRows, crc32, crc32Table, createModel, decodeModel, encodeModel, keyValueLines, readModelHeader } from '../../../src/models/serialization.js';
import { MODEL_FACTORIES, randomBatch, SCHEMA } from './model-fixtures.js';

describe.each(MODEL_FACTORIES)('serialisation of $name', ({ create }) => {
  it('refuses damaged bytes and the wrong kind', () => {
    const model = create();
    model.learn(randomBatch(1, 100));
    const bytes = encodeModel(model);
    const flipped = bytes.slice();
    flipped[Math.floor(bytes.length / 2)] = (flipped[Math.floor(bytes.length / 2)] as number) ^ 1;
    expect(() => decodeModel(flipped)).toThrow(ModelFormatError);
    expect(() => decodeModel(bytes.subarray(0, bytes.length - 9))).toThrow(ModelFormatError);
    expect(() => decodeModel(new TextEncoder().encode('not a model at all'))).toThrow(/TSRM/);
    expect(() => decodeModel(bytes, model.kind === 'lr' ? 'fm' : 'lr')).toThrow(ModelSchemaError);
    expect(readModelHeader(bytes).schemaHash).toBe(model.schemaHash);
  });

  it('a replica following a snapshot then deltas predicts exactly as the trainer', () => {
    const trainer = create(2);
    trainer.learn(randomBatch(2, 300));
    const replica = createModel(trainer.kind, SCHEMA, { ...trainer.config });
    applyParamRows(replica, trainer.changedSince(-1));
    const test = randomBatch(3, 100, { vocabScale: 1.4 });
    expect(Array.from(replica.predict(test))).toEqual(Array.from(trainer.predict(test)));
    for (let round = 0; round < 3; round++) {
      const mark = trainer.mark();
      trainer.learn(randomBatch(10 + round, 80, { vocabScale: 1.6 }));
      const delta = trainer.changedSince(mark);
      const sparseRows = delta.filter((t) => t.kind === 'sparse').reduce((a, t) => a + t.keys.length, 0);
      const allRows = trainer.changedSince(-1).filter((t) => t.kind === 'sparse').reduce((a, t) => a + t.keys.length, 0);
      expect(sparseRows).toBeLessThan(allRows);
      applyParamRows(replica, delta);
      expect(Array.from(replica.predict(test))).toEqual(Array.from(trainer.predict(test)));
    }
  });

  it('the key-value export has a header and one parseable line per row with the exact values', () => {
    const model = create(4);
    model.learn(randomBatch(4, 200));
    const rows = model.changedSince(-1);
    const lines = [...keyValueLines(model, rows)];
    const header = JSON.parse(lines[0]!) as { kind: string; tables: { name: string; rows: number }[]; scoring: string };
    expect(header.kind).toBe(model.kind);
    expect(header.scoring.length).toBeGreaterThan(20);
    const total = rows.reduce((a, t) => a + t.keys.length, 0);
    expect(lines.length).toBe(1 + total);
    const byTable = new Map(rows.map((t) => [t.name, t]));
    for (const line of lines.slice(1)) {
      const r = JSON.parse(line) as { t: string; k: string; v: number[] };
      const t = byTable.get(r.t)!;
      const i = Array.from(t.keys).indexOf(Number(r.k));
      expect(i).toBeGreaterThanOrEqual(0);
      expect(r.v).toEqual(Array.from(t.values.subarray(i * t.width, (i + 1) * t.width)));
    }
  });
});

describe('expiry through the model', () => {
  it('ids not seen for the TTL leave the tables and the next delta lists them as removed', () => {
    const model = MODEL_FACTORIES[0]!.create();
    const ttl = { admission: { minCount: 1, sketchWidth: 1 << 10, ttlMs: 60_000 }, expiryCheckMs: 10_000 };
    const lr = createModel('lr', SCHEMA, { ...model.config, ...ttl });
    lr.learn(randomBatch(5, 100, { timeStart: 0, timeStep: 10 })); // ids seen during the first second
    const mark = lr.mark();
    const before = lr.params().find((t) => t.name === 'linear')!.rows;
    const late = randomBatch(6, 5, { timeStart: 200_000, timeStep: 20_000 });
    lr.learn(late);
    const after = lr.params().find((t) => t.name === 'linear')!;
    expect(after.rows).toBeLessThan(before);
    expect(lr.counters.expired).toBeGreaterThan(0);
    const removed = lr.changedSince(mark).find((t) => t.name === 'linear')!.removed;
    expect(removed.length).toBeGreaterThan(0);
    for (const id of removed) expect(after.row(id)).toBeNull();
  });
});

describe('crc32', () => {
  it('is zlib\'s CRC-32: the check value, chained calls, and the table loop on random bytes', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
    const bytes = new Uint8Array(100_003);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    expect(crc32(bytes)).toBe(crc32Table(bytes));
    expect(crc32(bytes.subarray(40_000), crc32(bytes.subarray(0, 40_000)))).toBe(crc32Table(bytes));
  });
});
