import { describe, expect, it } from 'vitest';
import { MemoryOnlineStore } from '../../src/adapters/memory/memory-online-store.js';
import { createRedisOnlineStore } from '../../src/adapters/redis/redis-online-store.js';
import type { ReadQuery } from '../../src/ports/online-store.js';
import { TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { onlineStoreContract, uniformSource } from './online-store.contract.js';

// The Redis started by `scripts/services.sh up redis`; every case writes under its own random prefix.
onlineStoreContract(`redis at ${TEST_REDIS_URL}`, async () => {
  const prefix = `${randomName('contract')}:`;
  const store = createRedisOnlineStore({ url: TEST_REDIS_URL, keyPrefix: prefix });
  await store.connect();
  return {
    store,
    cleanup: async () => {
      // a second store on the same prefix, since the case may have closed its own
      const janitor = createRedisOnlineStore({ url: TEST_REDIS_URL, keyPrefix: prefix });
      try {
        await janitor.deleteByPrefix('');
        expect(await janitor.deleteByPrefix('')).toBe(0);
      } finally {
        await janitor.close();
        await store.close();
      }
    },
    advanceTime: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
});

describe('MemoryOnlineStore HyperLogLog vs Redis (oracle)', () => {
  it('pfcount is identical on random members of every byte length, sparse and dense, alone and in unions', async () => {
    const redis = createRedisOnlineStore({ url: TEST_REDIS_URL, keyPrefix: `${randomName('hll')}:` });
    const memory = new MemoryOnlineStore();
    try {
      const rand = uniformSource(977);
      const member = (): string => {
        const n = Math.floor(rand() * 24);
        let s = '';
        for (let i = 0; i < n; i++) {
          const r = rand();
          // ASCII, 2- and 3-byte UTF-8, and astral (4 bytes), so every tail length of the hash occurs
          s += String.fromCodePoint(r < 0.6 ? 32 + Math.floor(rand() * 95) : r < 0.8 ? 0x80 + Math.floor(rand() * 0x700) : r < 0.95 ? 0x800 + Math.floor(rand() * 0xd000) : 0x10000 + Math.floor(rand() * 0xffff));
        }
        return s;
      };
      const sizes = [1, 7, 60, 255, 256, 257, 900, 3000, 12_000, 40_000, 150_000];
      const keys = sizes.map((n) => `k${n}`);
      for (const [i, n] of sizes.entries()) {
        const members = Array.from({ length: n }, member);
        for (let from = 0; from < n; from += 25_000) {
          const ops = [{ op: 'pfadd' as const, key: keys[i] as string, members: members.slice(from, from + 25_000) }];
          await redis.apply(ops);
          await memory.apply(ops);
        }
      }
      const queries: ReadQuery[] = [
        ...keys.map((k) => ({ kind: 'pfcount' as const, keys: [k] })),
        { kind: 'pfcount', keys },
        { kind: 'pfcount', keys: keys.slice(0, 6) },
        { kind: 'pfcount', keys: [keys[3] as string, keys[9] as string, 'missing'] },
      ];
      const fromRedis = await redis.read(queries);
      expect(await memory.read(queries)).toEqual(fromRedis);
      // not trivially exact: the big sets carry the estimator's error
      expect(fromRedis.filter((v, i) => v.kind === 'pfcount' && v.value !== sizes[i]).length).toBeGreaterThan(3);
    } finally {
      await redis.deleteByPrefix('');
      await redis.close();
    }
  });
});
