import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServiceError, TesseraError, UsageError } from '../../src/errors.js';
import type { OnlineStore, ReadQuery, ReadValue, StoreOp } from '../../src/ports/online-store.js';
import { formatDouble } from '../../src/util/format-double.js';
import { Rng } from '../../src/ingest/rng.js';
import { hllCreate, hllEstimate, hllPosition } from '../../src/features/hll.js';

/** What a contract run needs from an adapter. */
export interface OnlineStoreHarness {
  store: OnlineStore;
  /** Deletes what the case wrote and closes the store. */
  cleanup: () => Promise<void>;
  /** Lets `ms` of wall-clock time pass for `expire` (a fake clock, or a real sleep). */
  advanceTime: (ms: number) => Promise<void>;
}

/**
 * The OnlineStore contract (see `src/ports/online-store.ts`), run against every adapter. Each case
 * gets a fresh store (Redis: a random key prefix) that it may fill freely.
 *
 * Stored numbers are compared with exact strings: the `%.17g` text the Redis Lua script writes.
 * The in-process store must produce the same bytes, so the expected strings are literals (checked
 * against Redis) and, for random doubles, `formatDouble` (itself checked against Redis here).
 */
export function onlineStoreContract(name: string, makeStore: () => Promise<OnlineStoreHarness>): void {
  describe(`OnlineStore contract: ${name}`, () => {
    let h: OnlineStoreHarness;
    let store: OnlineStore;
    beforeEach(async () => {
      h = await makeStore();
      store = h.store;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    const get = async (key: string) => value(await store.read([{ kind: 'get', key }]), 'get');
    const hgetall = async (key: string) => value(await store.read([{ kind: 'hgetall', key }]), 'hgetall');
    const field = async (key: string, f: string) => (await hgetall(key))[f];
    const ztop = async (key: string, limit = 100) => value(await store.read([{ kind: 'ztop', key, limit }]), 'ztop');
    const pfcount = async (...keys: string[]) => value(await store.read([{ kind: 'pfcount', keys }]), 'pfcount');
    const users = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `user:${from + i}`);

    describe('operations', () => {
      it('set writes a string and overwrites it; get of a missing key is null', async () => {
        expect(await store.apply([{ op: 'set', key: 's', value: 'one' }])).toEqual({ applied: true });
        await store.apply([{ op: 'set', key: 's', value: 'twö ✓ 😀' }]);
        expect(await get('s')).toBe('twö ✓ 😀');
        expect(await get('missing')).toBeNull();
      });

      it('hgetallFlat reads whole hashes as flat [field, value, ...] arrays, in one snapshot with other queries', async () => {
        await store.apply([
          { op: 'hset', key: 'f1', field: 'a', value: '1' },
          { op: 'hset', key: 'f1', field: 'b|2', value: 'x y ✓' },
          { op: 'hset', key: 'f1', field: '', value: '' },
          { op: 'hset', key: 'f2', field: 'n\u0000ul', value: 'v\u0000' },
          { op: 'hset', key: 'f2', field: 'c', value: '' },
          { op: 'hset', key: 'f3', field: '', value: '' },
          { op: 'set', key: 's', value: 'str' },
        ]);
        const pairs = (flat: readonly string[]) => {
          const out: [string, string][] = [];
          for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
          return out.sort((x, y) => (x[0] < y[0] ? -1 : 1));
        };
        const res = await store.read([
          { kind: 'hgetallFlat', key: 'f1' },
          { kind: 'get', key: 's' },
          { kind: 'hgetallFlat', key: 'missing' },
          { kind: 'hgetallFlat', key: 'f2' },
          { kind: 'hgetallFlat', key: 'f3' },
        ]);
        expect(res.map((r) => r.kind)).toEqual(['hgetallFlat', 'get', 'hgetallFlat', 'hgetallFlat', 'hgetallFlat']);
        expect(pairs(value([res[0] as ReadValue], 'hgetallFlat'))).toEqual([['', ''], ['a', '1'], ['b|2', 'x y ✓']]);
        expect(value([res[1] as ReadValue], 'get')).toBe('str');
        expect(value([res[2] as ReadValue], 'hgetallFlat')).toEqual([]);
        expect(pairs(value([res[3] as ReadValue], 'hgetallFlat'))).toEqual([['c', ''], ['n\u0000ul', 'v\u0000']]);
        expect(value([res[4] as ReadValue], 'hgetallFlat')).toEqual(['', '']);
        await expect(store.read([{ kind: 'hgetallFlat', key: 's' }])).rejects.toThrow(/WRONGTYPE/);
      });

      it('hset writes fields; hgetall and hmget read them, missing fields as null', async () => {
        await store.apply([
          { op: 'hset', key: 'h', field: 'a', value: '1' },
          { op: 'hset', key: 'h', field: 'b', value: 'x|y' },
          { op: 'hset', key: 'h', field: '', value: '' },
        ]);
        await store.apply([{ op: 'hset', key: 'h', field: 'a', value: 'A' }]);
        expect(await hgetall('h')).toEqual({ a: 'A', b: 'x|y', '': '' });
        expect(await store.read([{ kind: 'hmget', key: 'h', fields: ['b', 'nope', 'a'] }])).toEqual([
          { kind: 'hmget', value: ['x|y', null, 'A'] },
        ]);
      });

      it('hincr adds doubles exactly, from 0, stored as %.17g text', async () => {
        await store.apply([{ op: 'hincr', key: 'h', field: 'f', by: 0.1 }]);
        expect(await field('h', 'f')).toBe('0.10000000000000001');
        await store.apply([{ op: 'hincr', key: 'h', field: 'f', by: 0.2 }]);
        expect(await field('h', 'f')).toBe('0.30000000000000004');
        expect(Number(await field('h', 'f'))).toBe(0.1 + 0.2);
        // a sum no long-double or decimal shortcut gets right: ten times 0.1
        for (let i = 0; i < 10; i++) await store.apply([{ op: 'hincr', key: 'h', field: 'g', by: 0.1 }]);
        expect(await field('h', 'g')).toBe('0.99999999999999989');
        await store.apply([
          { op: 'hincr', key: 'h', field: 'i', by: 2 ** 53 },
          { op: 'hincr', key: 'h', field: 'i', by: -1 },
          { op: 'hincr', key: 'h', field: 'j', by: -2.5e-8 },
          { op: 'hincr', key: 'h', field: 'k', by: 1e21 },
        ]);
        expect(await hgetall('h')).toMatchObject({ i: '9007199254740991', j: '-2.4999999999999999e-08', k: '1e+21' });
      });

      it('hincr also adds to a number written as text', async () => {
        await store.apply([
          { op: 'hset', key: 'h', field: 'a', value: '5' },
          { op: 'hset', key: 'h', field: 'b', value: '1e3' },
          { op: 'hincr', key: 'h', field: 'a', by: 0.5 },
          { op: 'hincr', key: 'h', field: 'b', by: 1 },
        ]);
        expect(await hgetall('h')).toEqual({ a: '5.5', b: '1001' });
      });

      it('hmax and hmin keep the larger and the smaller number', async () => {
        const ops = (v: number): StoreOp[] => [
          { op: 'hmax', key: 'h', field: 'max', value: v },
          { op: 'hmin', key: 'h', field: 'min', value: v },
        ];
        await store.apply(ops(3));
        await store.apply(ops(-0.1));
        await store.apply(ops(7.25));
        await store.apply(ops(3));
        expect(await hgetall('h')).toEqual({ max: '7.25', min: '-0.10000000000000001' });
      });

      it('hlatest keeps the greatest `at`, and on a tie the greater value in UTF-8 byte order, whatever the arrival order', async () => {
        const a: StoreOp = { op: 'hlatest', key: 'h', field: 'x', value: 'old', at: 1_700_000_000_000 };
        const b: StoreOp = { op: 'hlatest', key: 'h', field: 'x', value: 'new|with bar', at: 1_700_000_000_001 };
        // U+FFFF sorts after U+1F600's high surrogate in UTF-16, before it in UTF-8 (and code points)
        const t1: StoreOp = { op: 'hlatest', key: 'h', field: 'y', value: '\uFFFF', at: 5.5 };
        const t2: StoreOp = { op: 'hlatest', key: 'h', field: 'y', value: '😀', at: 5.5 };
        await store.apply([a, b, t1, t2]);
        await store.apply([
          { ...b, field: 'x2' },
          { ...a, field: 'x2' },
          { ...t2, field: 'y2' },
          { ...t1, field: 'y2' },
        ]);
        expect(await hgetall('h')).toEqual({
          x: '1700000000001|new|with bar',
          x2: '1700000000001|new|with bar',
          y: '5.5|😀',
          y2: '5.5|😀',
        });
        await store.apply([{ op: 'hlatest', key: 'h', field: 'x', value: 'zzz', at: 1_700_000_000_000 }]);
        expect(await field('h', 'x')).toBe('1700000000001|new|with bar');
      });

      it('hdel removes fields, and a hash left empty disappears', async () => {
        await store.apply([
          { op: 'hset', key: 'h', field: 'a', value: '1' },
          { op: 'hset', key: 'h', field: 'b', value: '2' },
          { op: 'hset', key: 'h', field: 'c', value: '3' },
        ]);
        await store.apply([{ op: 'hdel', key: 'h', fields: ['a', 'c', 'nope'] }]);
        expect(await hgetall('h')).toEqual({ b: '2' });
        await store.apply([{ op: 'hdel', key: 'h', fields: ['b'] }]);
        expect(await hgetall('h')).toEqual({});
        // gone, so the key can now hold another type
        await store.apply([{ op: 'zadd', key: 'h', member: 'm', score: 1 }]);
        expect(await ztop('h')).toEqual([{ member: 'm', score: 1 }]);
      });

      it('zadd keeps the greater score; ztop lists highest first, ties by greater member (UTF-8 bytes)', async () => {
        await store.apply([
          { op: 'zadd', key: 'z', member: 'a', score: 1 },
          { op: 'zadd', key: 'z', member: 'c', score: 1 },
          { op: 'zadd', key: 'z', member: 'b', score: 1 },
          { op: 'zadd', key: 'z', member: '\uFFFF', score: 1 },
          { op: 'zadd', key: 'z', member: '😀', score: 1 },
          { op: 'zadd', key: 'z', member: 'd', score: 0.1 },
          { op: 'zadd', key: 'z', member: 'd', score: 0.05 },
          { op: 'zadd', key: 'z', member: 'e', score: -3 },
          { op: 'zadd', key: 'z', member: 'e', score: 2.5 },
        ]);
        expect(await ztop('z')).toEqual([
          { member: 'e', score: 2.5 },
          { member: '😀', score: 1 },
          { member: '\uFFFF', score: 1 },
          { member: 'c', score: 1 },
          { member: 'b', score: 1 },
          { member: 'a', score: 1 },
          { member: 'd', score: 0.1 },
        ]);
        expect(await ztop('z', 2)).toEqual([
          { member: 'e', score: 2.5 },
          { member: '😀', score: 1 },
        ]);
        expect(await ztop('z', 0)).toEqual([]);
      });

      it('zadd with keepTop trims to the top entries in ztop order, after every add', async () => {
        const add = (member: string, score: number): StoreOp => ({ op: 'zadd', key: 'z', member, score, keepTop: 3 });
        await store.apply([add('a', 1), add('b', 1), add('c', 1), add('d', 1)]);
        expect((await ztop('z')).map((e) => e.member)).toEqual(['d', 'c', 'b']);
        await store.apply([add('a', 5)]); // enters at the top
        expect((await ztop('z')).map((e) => e.member)).toEqual(['a', 'd', 'c']);
        await store.apply([add('0', 0)]); // added, then trimmed away at once
        expect((await ztop('z')).map((e) => e.member)).toEqual(['a', 'd', 'c']);
        await store.apply([{ op: 'zadd', key: 'z', member: 'x', score: 0 }, add('y', -1)]); // the trim also hits earlier members
        expect((await ztop('z')).map((e) => e.member)).toEqual(['a', 'd', 'c']);
      });

      it('zremBelow removes members scoring strictly below the bound', async () => {
        await store.apply([
          { op: 'zadd', key: 'z', member: 'a', score: 1 },
          { op: 'zadd', key: 'z', member: 'b', score: 2 },
          { op: 'zadd', key: 'z', member: 'c', score: 2.0000000000000004 },
          { op: 'zremBelow', key: 'z', below: 2 },
        ]);
        expect(await ztop('z')).toEqual([
          { member: 'c', score: 2.0000000000000004 },
          { member: 'b', score: 2 },
        ]);
        await store.apply([{ op: 'zremBelow', key: 'z', below: 1e9 }]);
        expect(await ztop('z')).toEqual([]);
      });

      it('del removes a key of any type', async () => {
        await store.apply([
          { op: 'set', key: 's', value: 'v' },
          { op: 'hset', key: 'h', field: 'f', value: 'v' },
          { op: 'zadd', key: 'z', member: 'm', score: 1 },
        ]);
        await store.apply([
          { op: 'del', key: 's' },
          { op: 'del', key: 'h' },
          { op: 'del', key: 'z' },
          { op: 'del', key: 'never' },
        ]);
        expect(await store.read([
          { kind: 'get', key: 's' },
          { kind: 'hgetall', key: 'h' },
          { kind: 'ztop', key: 'z', limit: 10 },
        ])).toEqual([
          { kind: 'get', value: null },
          { kind: 'hgetall', value: {} },
          { kind: 'ztop', value: [] },
        ]);
      });

      it('expire drops a key after its TTL; set clears a TTL, hash writes keep it', async () => {
        await store.apply([
          { op: 'set', key: 'gone', value: 'v' },
          { op: 'expire', key: 'gone', ttlMs: 60 },
          { op: 'set', key: 'reset', value: 'v' },
          { op: 'expire', key: 'reset', ttlMs: 60 },
          { op: 'set', key: 'reset', value: 'w' },
          { op: 'hset', key: 'h', field: 'f', value: '1' },
          { op: 'expire', key: 'h', ttlMs: 60 },
          { op: 'hincr', key: 'h', field: 'f', by: 1 },
          { op: 'set', key: 'long', value: 'v' },
          { op: 'expire', key: 'long', ttlMs: 600_000 },
          { op: 'expire', key: 'missing', ttlMs: 60 },
        ]);
        expect(await get('gone')).toBe('v');
        await h.advanceTime(150);
        expect(await store.read([
          { kind: 'get', key: 'gone' },
          { kind: 'get', key: 'reset' },
          { kind: 'hgetall', key: 'h' },
          { kind: 'get', key: 'long' },
          { kind: 'get', key: 'missing' },
        ])).toEqual([
          { kind: 'get', value: null },
          { kind: 'get', value: 'w' },
          { kind: 'hgetall', value: {} },
          { kind: 'get', value: 'v' },
          { kind: 'get', value: null },
        ]);
      });

      it('stores random doubles as exactly the %.17g text, which reads back to the same double', async () => {
        const rand = uniformSource(20240601);
        const xs: number[] = [];
        const view = new DataView(new ArrayBuffer(8));
        while (xs.length < 150) {
          view.setUint32(0, Math.floor(rand() * 2 ** 32));
          view.setUint32(4, Math.floor(rand() * 2 ** 32));
          const bits = view.getFloat64(0);
          if (Number.isFinite(bits)) xs.push(bits);
          xs.push((rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20));
          xs.push(Math.round(rand() * 1e6) / 2 ** Math.floor(rand() * 60));
        }
        xs.push(2 ** -25, 5e-324, -0, 1e17, 1 / 3, 1.7976931348623157e308);
        const ops: StoreOp[] = xs.map((x, i) => ({ op: 'hmax', key: 'nums', field: String(i), value: x }));
        ops.push({ op: 'hincr', key: 'sums', field: 'ab', by: xs[1] as number }, { op: 'hincr', key: 'sums', field: 'ab', by: xs[2] as number });
        await store.apply(ops);
        const stored = await hgetall('nums');
        xs.forEach((x, i) => {
          expect(stored[String(i)], `double #${i} ${x}`).toBe(formatDouble(x));
          expect(Object.is(Number(stored[String(i)]), x)).toBe(true);
        });
        expect(stored[String(xs.length - 6)]).toBe('2.9802322387695312e-08'); // exact tie, rounded half to even
        expect(await field('sums', 'ab')).toBe(formatDouble((xs[1] as number) + (xs[2] as number)));
      });
    });

    describe('hprune, pfadd, zscores', () => {
      it('hprune deletes the fields whose number after a rule prefix is below its bound, and nothing else', async () => {
        const pruned = ['3|60000|1000', '3|60000|1999.5', '3|60000|1500|x', '3|60000|-5', '3|60000|1e3', '7|3600000|100'];
        const kept = [
          '3|60000|2000', // not below
          '3|60000|2500|x',
          '3|60000|2e3',
          '3|60000|', // no number
          '3|60000|abc',
          '3|60000|0x10',
          '3|60000| 5',
          '3|600000|1', // other prefixes
          '3|6000|1',
          'x3|60000|1',
          '4|60000|1',
          '7|3600000|200',
          'plain',
        ];
        await store.apply([...pruned, ...kept].map((f): StoreOp => ({ op: 'hset', key: 'tiles', field: f, value: '1' })));
        const prune: StoreOp = {
          op: 'hprune',
          key: 'tiles',
          rules: [
            { prefix: '3|60000|', below: 2000 },
            { prefix: '7|3600000|', below: 150 },
          ],
        };
        expect(await store.apply([prune])).toEqual({ applied: true });
        expect(Object.keys(await hgetall('tiles')).sort()).toEqual([...kept].sort());
        await store.apply([prune]); // idempotent
        expect(Object.keys(await hgetall('tiles')).sort()).toEqual([...kept].sort());
      });

      it('hprune on a missing key is a no-op, and a hash it empties disappears', async () => {
        expect(await store.apply([{ op: 'hprune', key: 'nope', rules: [{ prefix: '', below: 1 }] }])).toEqual({ applied: true });
        await store.apply([
          { op: 'hset', key: 'h', field: '1|a', value: 'x' },
          { op: 'hset', key: 'h', field: '2.5', value: 'y' },
          { op: 'hprune', key: 'h', rules: [{ prefix: '', below: 3 }] },
        ]);
        expect(await hgetall('h')).toEqual({});
        // both keys are free for another type
        await store.apply([
          { op: 'zadd', key: 'h', member: 'm', score: 1 },
          { op: 'set', key: 'nope', value: 'v' },
        ]);
        expect(await ztop('h')).toEqual([{ member: 'm', score: 1 }]);
        expect(await get('nope')).toBe('v');
      });

      it('hprune deletes tens of thousands of fields in one op', async () => {
        const ops: StoreOp[] = Array.from({ length: 20_000 }, (_, i) => ({ op: 'hset', key: 'big', field: `1|60000|${i}`, value: String(i) }));
        ops.push({ op: 'hset', key: 'big', field: '2|60000|0', value: 'other window' });
        await store.apply(ops);
        await store.apply([{ op: 'hprune', key: 'big', rules: [{ prefix: '1|60000|', below: 15_500 }] }]);
        const left = await hgetall('big');
        expect(Object.keys(left)).toHaveLength(4_501);
        expect(left['1|60000|15499']).toBeUndefined();
        expect(left['1|60000|15500']).toBe('15500');
        expect(left['2|60000|0']).toBe('other window');
      });

      it('hprune conflicts on another type; within a batch a pruned field counts as missing', async () => {
        await store.apply([
          { op: 'zadd', key: 'z', member: 'm', score: 1 },
          { op: 'hset', key: 'h', field: 't|1', value: 'text' },
        ]);
        await expect(store.apply([{ op: 'hprune', key: 'z', rules: [{ prefix: '', below: 10 }] }])).rejects.toThrow(
          /op #0 \(hprune z\): the key holds another type/,
        );
        // text in a stored field and in one written earlier in the batch: both pruned, so hincr may follow
        await store.apply([
          { op: 'hset', key: 'h', field: 't|5', value: 'more text' },
          { op: 'hprune', key: 'h', rules: [{ prefix: 't|', below: 10 }] },
          { op: 'hincr', key: 'h', field: 't|1', by: 2 },
          { op: 'hincr', key: 'h', field: 't|5', by: 3 },
        ]);
        expect(await hgetall('h')).toEqual({ 't|1': '2', 't|5': '3' });
        // a field the prune leaves still blocks, and then nothing of the batch is written
        await store.apply([{ op: 'hset', key: 'h', field: 't|50', value: 'text' }]);
        await expect(
          store.apply([
            { op: 'hprune', key: 'h', rules: [{ prefix: 't|', below: 10 }] },
            { op: 'hincr', key: 'h', field: 't|50', by: 1 },
          ]),
        ).rejects.toThrow(/op #1 \(hincr h\)/);
        expect(await hgetall('h')).toEqual({ 't|1': '2', 't|5': '3', 't|50': 'text' });
      });

      it("pfcount returns Redis's HyperLogLog estimate to the unit, for one key and for unions", async () => {
        // Literals read from Redis 7.0 (PFADD/PFCOUNT); the memory store must compute the same numbers.
        const mixed = ['', ...Array.from({ length: 3000 }, (_, i) => `${'é😀中'.repeat(i % 4)}${'x'.repeat(i % 17)}${i}`)];
        await store.apply([
          { op: 'pfadd', key: 'a', members: users(0, 1000) },
          { op: 'pfadd', key: 'b', members: users(500, 20_000) },
          { op: 'pfadd', key: 'c', members: mixed },
        ]);
        const expected = { a: 1007, b: 19_335, ab: 19_857, c: 2978, abc: 22_701 };
        const check = async () => {
          expect(await store.read([
            { kind: 'pfcount', keys: ['a'] },
            { kind: 'pfcount', keys: ['b'] },
            { kind: 'pfcount', keys: ['a', 'b'] },
            { kind: 'pfcount', keys: ['c'] },
            { kind: 'pfcount', keys: ['a', 'b', 'c', 'missing'] },
          ])).toEqual([expected.a, expected.b, expected.ab, expected.c, expected.abc].map((v) => ({ kind: 'pfcount', value: v })));
        };
        await check();
        // adding members already counted changes nothing; small sets are exact
        await store.apply([
          { op: 'pfadd', key: 'a', members: users(0, 1000).reverse() },
          { op: 'pfadd', key: 'b', members: users(500, 1500) },
          { op: 'pfadd', key: 'small', members: ['x', 'y', 'x', 'z', ''] },
        ]);
        await check();
        expect(await pfcount('small')).toBe(4);
        expect(await pfcount('missing')).toBe(0);
        expect(await pfcount('missing', 'small', 'small')).toBe(4);
        expect(await pfcount()).toBe(0);
        // a new member can move the estimate
        await store.apply([{ op: 'pfadd', key: 'small', members: ['w'] }]);
        expect(await pfcount('small')).toBe(5);
      });

      it("hll returns the registers PFADD built: the core's sketch of the same members, sparse or dense", async () => {
        const sketch = (members: readonly string[]): Uint8Array => {
          const r = hllCreate();
          for (const m of members) {
            const { index, rank } = hllPosition(m);
            if (rank > (r[index] as number)) r[index] = rank;
          }
          return r;
        };
        const small = ['x', 'y', '', 'é😀'];
        const big = users(0, 5000); // past Redis's sparse limit: dense encoding
        await store.apply([
          { op: 'pfadd', key: 'small', members: small },
          { op: 'pfadd', key: 'big', members: big },
          { op: 'hset', key: 'h', field: 'f', value: 'v' },
        ]);
        const [a, b, missing] = await store.read([
          { kind: 'hll', key: 'small' },
          { kind: 'hll', key: 'big' },
          { kind: 'hll', key: 'missing' },
        ]);
        expect(a).toEqual({ kind: 'hll', value: sketch(small) });
        expect(b).toEqual({ kind: 'hll', value: sketch(big) });
        expect(missing).toEqual({ kind: 'hll', value: null });
        expect(hllEstimate(sketch(big))).toBe(await pfcount('big'));
        await expect(store.read([{ kind: 'hll', key: 'h' }])).rejects.toThrow(ServiceError);
      });

      it('pfadd conflicts with any other type; del, expire and set work on a HyperLogLog', async () => {
        await store.apply([
          { op: 'hset', key: 'h', field: 'f', value: 'v' },
          { op: 'set', key: 's', value: 'a plain string' },
          { op: 'pfadd', key: 'p', members: ['m'] },
        ]);
        const conflicts: StoreOp[][] = [
          [{ op: 'pfadd', key: 'h', members: ['m'] }],
          [{ op: 'pfadd', key: 's', members: ['m'] }],
          [{ op: 'set', key: 'p', value: 'v' }, { op: 'pfadd', key: 'p', members: ['m'] }],
          [{ op: 'pfadd', key: 'new', members: ['m'] }, { op: 'hset', key: 'new', field: 'f', value: 'v' }],
          [{ op: 'pfadd', key: 'p', members: ['m'] }, { op: 'zadd', key: 'p', member: 'm', score: 1 }],
        ];
        for (const ops of conflicts) {
          const err = await store.apply(ops).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err, JSON.stringify(ops)).toBeInstanceOf(ServiceError);
          expect((err as Error).message).toMatch(new RegExp(`op #${ops.length - 1} \\(\\w+ \\w+\\): the key holds another type`));
        }
        expect(await store.read([{ kind: 'pfcount', keys: ['p'] }, { kind: 'pfcount', keys: ['new'] }, { kind: 'hgetall', key: 'h' }])).toEqual([
          { kind: 'pfcount', value: 1 },
          { kind: 'pfcount', value: 0 },
          { kind: 'hgetall', value: { f: 'v' } },
        ]);
        for (const key of ['h', 's']) {
          const err = await store.read([{ kind: 'pfcount', keys: ['p', key] }]).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err, key).toBeInstanceOf(ServiceError);
          expect((err as TesseraError).retriable).toBe(false);
        }
        // del frees the key within the batch; a later pfadd starts afresh
        await store.apply([
          { op: 'del', key: 's' },
          { op: 'pfadd', key: 's', members: ['a', 'b'] },
          { op: 'pfadd', key: 'gone', members: ['a'] },
          { op: 'expire', key: 'gone', ttlMs: 60 },
        ]);
        expect(await pfcount('s')).toBe(2);
        await h.advanceTime(150);
        expect(await pfcount('gone')).toBe(0);
        await store.apply([{ op: 'set', key: 'p', value: 'v' }]);
        expect(await get('p')).toBe('v');
      });

      it('zscores reads sorted-set scores in order, null for missing members and keys', async () => {
        await store.apply([
          { op: 'zadd', key: 'z', member: 'a', score: 1.5 },
          { op: 'zadd', key: 'z', member: '😀', score: -2e-300 },
          { op: 'zadd', key: 'z', member: 'big', score: 1.7976931348623157e308 },
          { op: 'hset', key: 'h', field: 'a', value: '1' },
        ]);
        expect(
          await store.read([
            { kind: 'zscores', key: 'z', members: ['big', 'nope', 'a', '😀', 'a'] },
            { kind: 'zscores', key: 'missing', members: ['a', 'b'] },
            { kind: 'zscores', key: 'z', members: [] },
          ]),
        ).toEqual([
          { kind: 'zscores', value: [1.7976931348623157e308, null, 1.5, -2e-300, 1.5] },
          { kind: 'zscores', value: [null, null] },
          { kind: 'zscores', value: [] },
        ]);
        await expect(store.read([{ kind: 'zscores', key: 'h', members: ['a'] }])).rejects.toBeInstanceOf(ServiceError);
      });
    });

    describe('fence', () => {
      const counter = (by = 1): StoreOp => ({ op: 'hincr', key: 'c', field: 'n', by });
      const fence = (offset: number) => ({ key: 'offsets', field: 'events:0', offset });

      it('with expected, applies only when the stored offset is exactly the one the caller read (compare-and-set)', async () => {
        const f = (offset: number, expected: number | null) => ({ ...fence(offset), expected });
        // nothing stored yet: only expected null passes
        expect(await store.apply([counter()], f(10, 0))).toEqual({ applied: false, storedOffset: -1 });
        expect(await store.apply([counter()], f(10, null))).toEqual({ applied: true });
        expect(await store.apply([counter()], f(20, null))).toEqual({ applied: false, storedOffset: 10 });
        // a stale owner that read 5 and a current one that read 10, both planning up to 20
        expect(await store.apply([counter(100)], f(20, 5))).toEqual({ applied: false, storedOffset: 10 });
        expect(await store.apply([counter()], f(20, 10))).toEqual({ applied: true });
        expect(await field('c', 'n')).toBe('2');
        expect(await field('offsets', 'events:0')).toBe('20');
        await expect(store.apply([counter()], f(30, -1))).rejects.toThrow(/expected must be null or a non-negative/);
      });

      it('applies once per offset and refuses an equal or lower one without applying anything', async () => {
        expect(await store.apply([counter(), { op: 'set', key: 's', value: 'first' }], fence(5))).toEqual({ applied: true });
        expect(await store.apply([counter(), { op: 'set', key: 's', value: 'again' }], fence(5))).toEqual({ applied: false, storedOffset: 5 });
        expect(await store.apply([counter(), { op: 'set', key: 's', value: 'older' }], fence(3))).toEqual({ applied: false, storedOffset: 5 });
        expect(await field('c', 'n')).toBe('1');
        expect(await get('s')).toBe('first');
        expect(await store.apply([counter()], fence(6))).toEqual({ applied: true });
        expect(await field('c', 'n')).toBe('2');
        expect(await field('offsets', 'events:0')).toBe('6');
        expect(await store.apply([counter()], fence(2 ** 53 - 1))).toEqual({ applied: true });
        expect(await store.apply([counter()], fence(2 ** 53 - 1))).toEqual({ applied: false, storedOffset: 2 ** 53 - 1 });
      });

      it('gates hprune and pfadd like every other op', async () => {
        await store.apply([
          { op: 'hset', key: 't', field: '1|10', value: 'a' },
          { op: 'hset', key: 't', field: '1|20', value: 'b' },
        ]);
        const batch = (below: number, members: string[]): StoreOp[] => [
          { op: 'hprune', key: 't', rules: [{ prefix: '1|', below }] },
          { op: 'pfadd', key: 'p', members },
        ];
        expect(await store.apply(batch(15, ['a']), fence(3))).toEqual({ applied: true });
        expect(await store.apply(batch(25, ['b', 'c']), fence(3))).toEqual({ applied: false, storedOffset: 3 });
        expect(await hgetall('t')).toEqual({ '1|20': 'b' });
        expect(await pfcount('p')).toBe(1);
        expect(await store.apply(batch(25, ['b', 'c']), fence(4))).toEqual({ applied: true });
        expect(await hgetall('t')).toEqual({});
        expect(await pfcount('p')).toBe(3);
      });

      it('fences are independent per field, and an empty batch still advances the fence', async () => {
        await store.apply([counter()], { key: 'offsets', field: 'p0', offset: 10 });
        expect(await store.apply([counter()], { key: 'offsets', field: 'p1', offset: 0 })).toEqual({ applied: true });
        expect(await store.apply([], { key: 'offsets', field: 'p1', offset: 4 })).toEqual({ applied: true });
        expect(await store.apply([counter()], { key: 'offsets', field: 'p1', offset: 4 })).toEqual({ applied: false, storedOffset: 4 });
        expect(await hgetall('offsets')).toEqual({ p0: '10', p1: '4' });
        expect(await field('c', 'n')).toBe('2');
      });

      it('the fence is written after the ops, in the same step, even when the ops touch its hash', async () => {
        await store.apply(
          [
            { op: 'hset', key: 'offsets', field: 'events:0', value: '999' },
            { op: 'hset', key: 'offsets', field: 'other', value: 'x' },
          ],
          fence(7),
        );
        expect(await hgetall('offsets')).toEqual({ 'events:0': '7', other: 'x' });
      });

      it('many concurrent applies with the same offset apply exactly once', async () => {
        const results = await Promise.all(Array.from({ length: 50 }, () => store.apply([counter(), counter(0.5)], fence(42))));
        expect(results.filter((r) => r.applied)).toHaveLength(1);
        expect(results.filter((r) => !r.applied)).toEqual(Array.from({ length: 49 }, () => ({ applied: false, storedOffset: 42 })));
        expect(await field('c', 'n')).toBe('1.5');
      });

      it('concurrent increasing offsets from one writer are each applied exactly once', async () => {
        const results = await Promise.all(Array.from({ length: 40 }, (_, i) => store.apply([counter(0.1)], fence(i + 1))));
        expect(results.every((r) => r.applied)).toBe(true);
        let sum = 0;
        for (let i = 0; i < 40; i++) sum += 0.1;
        expect(await field('c', 'n')).toBe(formatDouble(sum));
      });
    });

    describe('all or nothing', () => {
      it('a batch with an invalid op is rejected before anything is written', async () => {
        const bad: unknown[] = [
          { op: 'hincr', key: 'h', field: 'f', by: Number.NaN },
          { op: 'hmax', key: 'h', field: 'f', value: Infinity },
          { op: 'zadd', key: 'z', member: 'm', score: 1, keepTop: 0 },
          { op: 'expire', key: 'k', ttlMs: 0 },
          { op: 'hdel', key: 'h', fields: [] },
          { op: 'hprune', key: 'h', rules: [] },
          { op: 'hprune', key: 'h', rules: [{ prefix: 'p|', below: Number.NaN }] },
          { op: 'hprune', key: 'h', rules: [{ prefix: 'p|', below: -Infinity }] },
          { op: 'hprune', key: 'h', rules: [{ prefix: 7, below: 1 }] },
          { op: 'hprune', key: 'h', rules: [null] },
          { op: 'hprune', key: 'h', rules: 'p|' },
          { op: 'pfadd', key: 'p', members: [] },
          { op: 'pfadd', key: 'p', members: ['a', 1] },
          { op: 'pfadd', key: 'p', members: 'a' },
          { op: 'pfadd', key: 'p', members: ['\uDC00'] },
          { op: 'set', key: '', value: 'v' },
          { op: 'set', key: 'k', value: 'lone \uD800 surrogate' },
          { op: 'teleport', key: 'k' },
        ];
        for (const op of bad) {
          const attempt = store.apply([{ op: 'set', key: 'first', value: 'v' }, op as StoreOp]);
          await expect(attempt, JSON.stringify(op)).rejects.toBeInstanceOf(UsageError);
          await expect(store.apply([{ op: 'set', key: 'first', value: 'v' }, op as StoreOp])).rejects.toThrow(/op #1/);
        }
        await expect(store.apply([{ op: 'set', key: 'first', value: 'v' }], { key: 'o', field: 'f', offset: -1 })).rejects.toBeInstanceOf(UsageError);
        await expect(store.apply([{ op: 'set', key: 'first', value: 'v' }], { key: 'o', field: 'f', offset: 1.5 })).rejects.toBeInstanceOf(UsageError);
        expect(await get('first')).toBeNull();
        expect(await hgetall('o')).toEqual({});
      });

      it('a batch that hits a type conflict fails as a whole: earlier ops and the fence are not written', async () => {
        await store.apply([
          { op: 'zadd', key: 'z', member: 'm', score: 1 },
          { op: 'hset', key: 'h', field: 'text', value: 'abc' },
          { op: 'hset', key: 'h', field: 'spaced', value: ' 5' },
          { op: 'hlatest', key: 'h', field: 'latest', value: 'v', at: 1 },
        ]);
        const before = await store.read([{ kind: 'hgetall', key: 'h' }, { kind: 'ztop', key: 'z', limit: 10 }]);
        const prefix: StoreOp[] = [
          { op: 'set', key: 'a', value: 'v' },
          { op: 'hincr', key: 'b', field: 'f', by: 1 },
          { op: 'zadd', key: 'z', member: 'n', score: 2 },
        ];
        const conflicts: StoreOp[] = [
          { op: 'hset', key: 'z', field: 'f', value: 'v' }, // a hash op on a sorted set
          { op: 'hincr', key: 'h', field: 'text', by: 1 }, // not a number
          { op: 'hmax', key: 'h', field: 'spaced', value: 1 }, // not a number either, for both stores
          { op: 'hmin', key: 'h', field: 'latest', value: 1 }, // `<at>|<value>` is not a number
          { op: 'hlatest', key: 'h', field: 'text', value: 'v', at: 2 }, // not `<at>|<value>`
          { op: 'zadd', key: 'h', member: 'm', score: 1 }, // a sorted-set op on a hash
        ];
        for (const conflict of conflicts) {
          const attempt = store.apply([...prefix, conflict, { op: 'set', key: 'c', value: 'v' }], { key: 'o', field: 'f', offset: 1 });
          const err = await attempt.then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err, JSON.stringify(conflict)).toBeInstanceOf(ServiceError);
          expect((err as TesseraError).retriable).toBe(false);
          expect((err as Error).message).toContain(`op #3 (${conflict.op} ${conflict.key})`);
        }
        expect(await store.read([
          { kind: 'get', key: 'a' },
          { kind: 'hgetall', key: 'b' },
          { kind: 'get', key: 'c' },
          { kind: 'hgetall', key: 'o' },
          { kind: 'hgetall', key: 'h' },
          { kind: 'ztop', key: 'z', limit: 10 },
        ])).toEqual([
          { kind: 'get', value: null },
          { kind: 'hgetall', value: {} },
          { kind: 'get', value: null },
          { kind: 'hgetall', value: {} },
          ...before,
        ]);
      });

      it('a conflict after an hprune or a pfadd leaves both unapplied', async () => {
        await store.apply([
          { op: 'hset', key: 't', field: '1|10', value: 'a' },
          { op: 'hset', key: 't', field: '1|20', value: 'b' },
          { op: 'pfadd', key: 'p', members: ['a'] },
          { op: 'zadd', key: 'z', member: 'm', score: 1 },
        ]);
        const attempt = store.apply(
          [
            { op: 'hprune', key: 't', rules: [{ prefix: '1|', below: 100 }] },
            { op: 'pfadd', key: 'p', members: users(0, 100) },
            { op: 'pfadd', key: 'q', members: ['x'] },
            { op: 'hset', key: 'z', field: 'f', value: 'v' },
          ],
          { key: 'o', field: 'f', offset: 1 },
        );
        await expect(attempt).rejects.toThrow(/op #3 \(hset z\)/);
        expect(await store.read([
          { kind: 'hgetall', key: 't' },
          { kind: 'pfcount', keys: ['p'] },
          { kind: 'pfcount', keys: ['q'] },
          { kind: 'hgetall', key: 'o' },
        ])).toEqual([
          { kind: 'hgetall', value: { '1|10': 'a', '1|20': 'b' } },
          { kind: 'pfcount', value: 1 },
          { kind: 'pfcount', value: 0 },
          { kind: 'hgetall', value: {} },
        ]);
      });

      it('conflicts are judged against the state the batch itself leaves', async () => {
        await store.apply([{ op: 'zadd', key: 'k', member: 'm', score: 1 }]);
        // del then a hash op: fine; the key no longer holds a sorted set
        await store.apply([{ op: 'del', key: 'k' }, { op: 'hset', key: 'k', field: 'f', value: 'x' }]);
        expect(await hgetall('k')).toEqual({ f: 'x' });
        // text written earlier in the same batch blocks a later hincr: nothing of the batch is written
        await expect(
          store.apply([
            { op: 'hset', key: 'k2', field: 'g', value: 'x' },
            { op: 'hincr', key: 'k2', field: 'g', by: 1 },
          ]),
        ).rejects.toThrow(/op #1 \(hincr k2\)/);
        expect(await hgetall('k2')).toEqual({});
        // a number written earlier in the batch does not
        await store.apply([
          { op: 'hset', key: 'k2', field: 'g', value: '2' },
          { op: 'hincr', key: 'k2', field: 'g', by: 1 },
          { op: 'hmax', key: 'k2', field: 'g', value: 10 },
          { op: 'set', key: 'k3', value: 'x' },
          { op: 'del', key: 'k3' },
          { op: 'zadd', key: 'k3', member: 'm', score: 1 },
        ]);
        expect(await hgetall('k2')).toEqual({ g: '10' });
        // set replaces a key of any type; a hash op after it in the batch conflicts
        await expect(
          store.apply([
            { op: 'set', key: 'k', value: 'now a string' },
            { op: 'hset', key: 'k', field: 'f', value: 'y' },
          ]),
        ).rejects.toThrow(/op #1/);
        expect(await hgetall('k')).toEqual({ f: 'x' });
      });

      it('a fence on a key that is not a hash, or not holding a number, is a conflict', async () => {
        await store.apply([
          { op: 'set', key: 'str', value: 'v' },
          { op: 'hset', key: 'offs', field: 'p', value: 'not a number' },
        ]);
        await expect(store.apply([{ op: 'set', key: 'a', value: 'v' }], { key: 'str', field: 'p', offset: 1 })).rejects.toThrow(/fence \(str p\)/);
        await expect(store.apply([{ op: 'set', key: 'a', value: 'v' }], { key: 'offs', field: 'p', offset: 1 })).rejects.toThrow(/fence \(offs p\)/);
        // and a batch that would turn the fence key into another type
        await expect(store.apply([{ op: 'set', key: 'offs2', value: 'v' }], { key: 'offs2', field: 'p', offset: 1 })).rejects.toThrow(/fence/);
        expect(await store.read([{ kind: 'get', key: 'a' }, { kind: 'get', key: 'offs2' }])).toEqual([
          { kind: 'get', value: null },
          { kind: 'get', value: null },
        ]);
      });
    });

    describe('read', () => {
      it('answers missing keys with empty values, in query order', async () => {
        await store.apply([{ op: 'set', key: 'present', value: 'p' }]);
        expect(
          await store.read([
            { kind: 'get', key: 'nope' },
            { kind: 'hgetall', key: 'nope' },
            { kind: 'hmget', key: 'nope', fields: ['a', 'b'] },
            { kind: 'hmget', key: 'nope', fields: [] },
            { kind: 'ztop', key: 'nope', limit: 5 },
            { kind: 'zscores', key: 'nope', members: ['a'] },
            { kind: 'pfcount', keys: ['nope', 'nope2'] },
            { kind: 'pfcount', keys: [] },
            { kind: 'get', key: 'present' },
          ]),
        ).toEqual([
          { kind: 'get', value: null },
          { kind: 'hgetall', value: {} },
          { kind: 'hmget', value: [null, null] },
          { kind: 'hmget', value: [] },
          { kind: 'ztop', value: [] },
          { kind: 'zscores', value: [null] },
          { kind: 'pfcount', value: 0 },
          { kind: 'pfcount', value: 0 },
          { kind: 'get', value: 'p' },
        ]);
        expect(await store.read([])).toEqual([]);
      });

      it('a query on a key of another type fails (not retriable); a bad query is a UsageError', async () => {
        await store.apply([{ op: 'hset', key: 'h', field: 'f', value: 'v' }]);
        const err = await store.read([{ kind: 'get', key: 'h' }]).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ServiceError);
        expect((err as TesseraError).retriable).toBe(false);
        await expect(store.read([{ kind: 'ztop', key: 'h', limit: -1 }])).rejects.toBeInstanceOf(UsageError);
        const badQueries: unknown[] = [
          { kind: 'pfcount', keys: 'h' },
          { kind: 'pfcount', keys: ['h', ''] },
          { kind: 'pfcount', key: 'h' },
          { kind: 'zscores', key: 'h', members: 'a' },
          { kind: 'zscores', key: 'h', members: [null] },
          { kind: 'zscores', members: ['a'] },
        ];
        for (const q of badQueries) {
          await expect(store.read([{ kind: 'get', key: 'x' }, q as ReadQuery]), JSON.stringify(q)).rejects.toThrow(/query #1/);
          await expect(store.read([q as ReadQuery])).rejects.toBeInstanceOf(UsageError);
        }
      });
    });

    describe('deleteByPrefix', () => {
      it('deletes exactly the keys starting with the prefix, glob characters taken literally', async () => {
        await store.apply([
          { op: 'set', key: 'user:1', value: 'v' },
          { op: 'hset', key: 'user:2', field: 'f', value: 'v' },
          { op: 'zadd', key: 'user:3', member: 'm', score: 1 },
          { op: 'set', key: 'user', value: 'v' },
          { op: 'set', key: 'item:1', value: 'v' },
          { op: 'set', key: 'a*b:1', value: 'v' },
          { op: 'set', key: 'axb:1', value: 'v' },
          { op: 'set', key: 'a?[c]:1', value: 'v' },
        ]);
        expect(await store.deleteByPrefix('user:')).toBe(3);
        expect(await store.deleteByPrefix('a*b')).toBe(1);
        expect(await store.deleteByPrefix('a?[c]')).toBe(1);
        expect(await store.deleteByPrefix('nothing-here')).toBe(0);
        const left = await store.read(['user:1', 'user', 'item:1', 'a*b:1', 'axb:1', 'a?[c]:1'].map((key) => ({ kind: 'get' as const, key })));
        expect(left.map((v) => (v.kind === 'get' ? v.value : 'x'))).toEqual([null, 'v', 'v', null, 'v', null]);
        expect(await hgetall('user:2')).toEqual({});
      });
    });

    it('rejects calls after close', async () => {
      await store.close();
      await expect(store.apply([{ op: 'set', key: 'k', value: 'v' }])).rejects.toBeInstanceOf(ServiceError);
      await expect(store.read([{ kind: 'get', key: 'k' }])).rejects.toBeInstanceOf(ServiceError);
    });
  });
}

type ValueOf<K extends ReadValue['kind']> = Extract<ReadValue, { kind: K }> extends { value: infer V } ? V : never;

function value<K extends ReadValue['kind']>(values: ReadValue[], kind: K): ValueOf<K> {
  const [v] = values;
  if (v === undefined || v.kind !== kind) throw new Error(`expected one ${kind} result, got ${JSON.stringify(values)}`);
  return (v as { value: unknown }).value as ValueOf<K>;
}

/** Seeded uniform numbers in [0, 1), the same on every run and adapter (the project's PRNG). */
export function uniformSource(seed: number): () => number {
  const rng = new Rng(seed, 'online-store-contract');
  return () => rng.uniform();
}
