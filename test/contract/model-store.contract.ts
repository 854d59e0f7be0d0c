import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServiceError, UsageError } from '../../src/errors.js';
import type { ManifestInput, ModelStore } from '../../src/ports/model-store.js';

export interface ModelStoreFixture {
  store: ModelStore;
  /** Overwrites a stored file's bytes behind the store's back (corruption). */
  corrupt(model: string, version: string, file: string): Promise<void>;
  /** Leaves what a publisher killed mid-write leaves. */
  crashMidPublish(model: string): Promise<void>;
  cleanup(): Promise<void>;
}

const input = (over: Partial<ManifestInput> = {}): ManifestInput => ({
  kind: 'fm',
  featureSpecHash: 'abc123',
  type: 'full',
  parent: null,
  data: { samples: 10, from: 1, to: 2 },
  metrics: { auc: 0.7 },
  config: { k: 16 },
  ...over,
});
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

/** The ModelStore contract (see src/ports/model-store.ts). */
export function modelStoreContract(name: string, make: () => Promise<ModelStoreFixture>): void {
  describe(`ModelStore contract: ${name}`, () => {
    let f: ModelStoreFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => f.cleanup());

    it('publishes immutable versions, moves the pointer last, and verifies checksums on read', async () => {
      expect(await f.store.pointer('fm')).toBeNull();
      const a = await f.store.publish('fm', [{ name: 'params.bin', data: bytes('one') }, { name: 'weights.kv', data: bytes('x\t1\n') }], input());
      const b = await f.store.publish('fm', [{ name: 'params.bin', data: bytes('two') }], input({ type: 'delta', parent: a.version }));
      expect(a.version < b.version).toBe(true);
      expect(await f.store.pointer('fm')).toBe(b.version);
      expect((await f.store.list('fm')).map((m) => m.version)).toEqual([a.version, b.version]);
      const got = await f.store.read('fm', a.version);
      expect(Buffer.from(got.files.get('params.bin')!).toString()).toBe('one');
      expect(got.manifest).toMatchObject({ model: 'fm', kind: 'fm', featureSpecHash: 'abc123', type: 'full', parent: null, metrics: { auc: 0.7 } });
      expect(got.manifest.files.map((x) => x.name).sort()).toEqual(['params.bin', 'weights.kv']);
      expect(await f.store.models()).toEqual(['fm']);
      // `only`: just the named files are read (and verified); a corrupt file left out is not noticed
      const big = await f.store.publish('fm', [{ name: 'params.bin', data: new Uint8Array(3 << 20).fill(7) }, { name: 'weights.kv', data: bytes('y\t2\n') }], input());
      expect([...(await f.store.read('fm', big.version, ['params.bin'])).files.keys()]).toEqual(['params.bin']);
      expect((await f.store.read('fm', big.version, ['params.bin'])).files.get('params.bin')!.every((x) => x === 7)).toBe(true);
      await f.corrupt('fm', big.version, 'params.bin');
      await expect(f.store.read('fm', big.version, ['params.bin'])).rejects.toThrow(/checksum/);
      expect([...(await f.store.read('fm', big.version, ['weights.kv'])).files.keys()]).toEqual(['weights.kv']);
      await f.corrupt('fm', a.version, 'params.bin');
      await expect(f.store.read('fm', a.version)).rejects.toThrow(ServiceError);
      await expect(f.store.read('fm', a.version)).rejects.toThrow(/checksum/);
    });

    it('never lists or points at what a crashed publisher left', async () => {
      const a = await f.store.publish('lr', [{ name: 'p.bin', data: bytes('a') }], input({ kind: 'lr' }));
      await f.crashMidPublish('lr');
      expect((await f.store.list('lr')).map((m) => m.version)).toEqual([a.version]);
      expect(await f.store.pointer('lr')).toBe(a.version);
      const b = await f.store.publish('lr', [{ name: 'p.bin', data: bytes('b') }], input({ kind: 'lr' }));
      expect((await f.store.list('lr')).map((m) => m.version)).toEqual([a.version, b.version]);
    });

    it('concurrent publishers each get a complete version, and a reader following the pointer never sees half of one', async () => {
      let stop = false;
      let reads = 0;
      const reader = (async () => {
        while (!stop) {
          const v = await f.store.pointer('wd');
          if (v !== null) {
            const { files } = await f.store.read('wd', v);
            expect(files.get('p.bin')?.byteLength).toBe(50_000);
            reads++;
          }
          await new Promise((r) => setImmediate(r));
        }
      })();
      const published = await Promise.all(Array.from({ length: 8 }, (_, i) => f.store.publish('wd', [{ name: 'p.bin', data: new Uint8Array(50_000).fill(i) }], input({ kind: 'wide-deep' }))));
      stop = true;
      await reader;
      expect(new Set(published.map((m) => m.version)).size).toBe(8);
      expect((await f.store.list('wd')).length).toBe(8);
      expect(reads).toBeGreaterThan(0);
    });

    it('rolls the pointer back and forth; refuses unknown versions, bad names, a missing parent', async () => {
      const a = await f.store.publish('fm', [{ name: 'p.bin', data: bytes('a') }], input());
      const b = await f.store.publish('fm', [{ name: 'p.bin', data: bytes('b') }], input({ parent: a.version }));
      await f.store.setPointer('fm', a.version);
      expect(await f.store.pointer('fm')).toBe(a.version);
      await f.store.setPointer('fm', b.version);
      expect(await f.store.pointer('fm')).toBe(b.version);
      await expect(f.store.setPointer('fm', 'v999999-nope')).rejects.toThrow(UsageError);
      await expect(f.store.publish('../escape', [], input())).rejects.toThrow(UsageError);
      await expect(f.store.publish('fm', [{ name: '../x', data: bytes('') }], input())).rejects.toThrow(UsageError);
      await expect(f.store.publish('fm', [{ name: 'manifest.json', data: bytes('') }], input())).rejects.toThrow(UsageError);
      await expect(f.store.publish('fm', [], input({ parent: 'v000042-missing' }))).rejects.toThrow(/parent/);
    });

    it('prune keeps the newest, the pointed version and every delta chain back to its full snapshot', async () => {
      const v: string[] = [];
      const pub = async (type: 'full' | 'delta', parent: string | null) => v.push((await f.store.publish('fm', [{ name: 'p.bin', data: bytes(String(v.length)) }], input({ type, parent }))).version);
      await pub('full', null); // v0
      await pub('delta', v[0]!); // v1
      await pub('full', v[1]!); // v2: a snapshot continuing v1
      await pub('delta', v[2]!); // v3
      await pub('delta', v[3]!); // v4
      await f.store.setPointer('fm', v[1]!); // a rollback to a delta: it and its chain stay
      const deleted = await f.store.prune('fm', 1);
      expect(deleted).toEqual([]); // v4 needs v3, v2; the pointer needs v1, v0
      await f.store.setPointer('fm', v[4]!);
      expect(await f.store.prune('fm', 1)).toEqual([v[0], v[1]]);
      expect((await f.store.list('fm')).map((m) => m.version)).toEqual([v[2], v[3], v[4]]);
      await expect(f.store.prune('fm', 0)).rejects.toThrow(UsageError);
    });
  });
}
