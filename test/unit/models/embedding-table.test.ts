import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/ingest/rng.js';
import { EmbeddingTable, DEFAULT_ADMISSION } from '../../../src/models/embedding-table.js';
import { ModelConfigError } from '../../../src/models/model-errors.js';
import { adagrad, sgd } from '../../../src/models/optimizers.js';

const table = (overrides: Partial<typeof DEFAULT_ADMISSION> = {}, width = 3) =>
  new EmbeddingTable({ name: 'emb', width, optimizer: adagrad(), init: { kind: 'normal', sd: 0.1 }, seed: 5, admission: { ...DEFAULT_ADMISSION, ...overrides } });

describe('EmbeddingTable', () => {
  it('agrees with a Map oracle under random admissions and removals (index with backward-shift deletion)', () => {
    const t = table();
    const oracle = new Map<number, Float64Array>();
    const rng = new Rng(1, 'ops');
    for (let step = 0; step < 20_000; step++) {
      // a small key space forces long probe runs, wrap-around and many deletions
      const id = rng.int(0, 3000) * 7919 + (rng.bernoulli(0.5) ? 2 ** 40 : 0);
      if (rng.bernoulli(0.35)) {
        t.remove(id, step);
        oracle.delete(id);
      } else {
        const row = t.admit(id, step, step);
        if (!oracle.has(id)) oracle.set(id, t.weights.slice(row * 3, row * 3 + 3));
      }
      if (step % 997 === 0) {
        expect(t.size).toBe(oracle.size);
        for (const [k, w] of oracle) {
          const r = t.find(k);
          expect(r).toBeGreaterThanOrEqual(0);
          expect(Array.from(t.weights.subarray(r * 3, r * 3 + 3))).toEqual(Array.from(w));
        }
        for (let probe = 0; probe < 200; probe++) {
          const id2 = rng.int(0, 3000) * 7919;
          expect(t.find(id2) >= 0).toBe(oracle.has(id2));
        }
      }
    }
  });

  it('initialises a row from its id alone, whatever the admission order', () => {
    const a = table();
    const b = table();
    for (let i = 0; i < 100; i++) a.admit(i, 0, 0);
    for (let i = 99; i >= 0; i--) b.admit(i, 0, 0);
    for (let i = 0; i < 100; i++) {
      const ra = a.find(i);
      const rb = b.find(i);
      expect(Array.from(a.weights.subarray(ra * 3, ra * 3 + 3))).toEqual(Array.from(b.weights.subarray(rb * 3, rb * 3 + 3)));
    }
  });

  it('admits an id at its minCount-th sighting and not before', () => {
    const t = table({ minCount: 3, sketchWidth: 1 << 12 });
    expect(t.admit(42, 0, 1)).toBe(-1);
    expect(t.admit(42, 0, 2)).toBe(-1);
    expect(t.find(42)).toBe(-1);
    expect(t.admit(42, 0, 3)).toBeGreaterThanOrEqual(0);
    expect(t.size).toBe(1);
    // ids seen once never get a row
    for (let i = 1000; i < 2000; i++) t.admit(i, 0, 4);
    expect(t.size).toBeLessThan(20); // only sketch collisions could admit some
  });

  it('expires ids not seen for ttlMs of event time and records the removals for deltas', () => {
    const t = table({ ttlMs: 1000 });
    t.admit(1, 0, 1);
    t.admit(2, 700, 2);
    t.admit(3, 1500, 3);
    expect(t.expire(1600, 4)).toBe(1); // id 1 last seen at 0 < 600
    expect(t.find(1)).toBe(-1);
    expect(t.find(2)).toBeGreaterThanOrEqual(0);
    const delta = t.rowsChangedSince(3);
    expect(Array.from(delta.removed)).toEqual([1]);
    expect(delta.keys.length).toBe(0);
    t.forgetRemovalsThrough(4);
    expect(t.rowsChangedSince(3).removed.length).toBe(0);
    expect(t.expired).toBe(1);
  });

  it('exports rows in id order and imports them back exactly', () => {
    const t = new EmbeddingTable({ name: 'x', width: 2, optimizer: sgd(), init: { kind: 'uniform', scale: 1 }, seed: 1, admission: { ...DEFAULT_ADMISSION, minCount: 2, sketchWidth: 64 } });
    for (const id of [9, 3, 7, 3, 9, 9, 1, 1, 5]) t.admit(id, id, id);
    t.remove(7, 10);
    const state = t.exportState();
    expect(Array.from(state.ids as Float64Array)).toEqual([1, 3, 9]);
    const u = new EmbeddingTable(t.config);
    u.importState(state);
    const again = u.exportState();
    for (const key of Object.keys(state)) expect(Array.from(again[key] as ArrayLike<number>)).toEqual(Array.from(state[key] as ArrayLike<number>));
  });

  it('refuses bad admission options with the fix in the message', () => {
    expect(() => table({ minCount: 0 })).toThrow(ModelConfigError);
    expect(() => table({ sketchWidth: 1000 })).toThrow(/power of two/);
    expect(() => table({ ttlMs: 0 })).toThrow(/ttlMs/);
  });
});
