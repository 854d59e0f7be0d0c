import { describe, expect, it } from 'vitest';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import { ServiceError } from '../../../src/errors.js';

describe('MemoryOnlineStore specifics', () => {
  it('expires on the injected clock, with Redis boundary semantics (alive at exactly now + ttl)', async () => {
    let now = 1000;
    const store = new MemoryOnlineStore({ now: () => now });
    await store.apply([
      { op: 'set', key: 'k', value: 'v' },
      { op: 'expire', key: 'k', ttlMs: 50 },
    ]);
    now = 1050;
    expect(await store.read([{ kind: 'get', key: 'k' }])).toEqual([{ kind: 'get', value: 'v' }]);
    now = 1051;
    expect(await store.read([{ kind: 'get', key: 'k' }])).toEqual([{ kind: 'get', value: null }]);
  });

  it('an expire re-arms the TTL from the current time; an expired key no longer blocks another type or counts for deleteByPrefix', async () => {
    let now = 0;
    const store = new MemoryOnlineStore({ now: () => now });
    await store.apply([
      { op: 'zadd', key: 'p:z', member: 'm', score: 1 },
      { op: 'expire', key: 'p:z', ttlMs: 10 },
      { op: 'set', key: 'p:s', value: 'v' },
      { op: 'expire', key: 'p:s', ttlMs: 10 },
    ]);
    now = 8;
    await store.apply([{ op: 'expire', key: 'p:s', ttlMs: 10 }]);
    now = 15;
    await store.apply([{ op: 'hset', key: 'p:z', field: 'f', value: 'v' }]); // the sorted set is gone
    expect(await store.read([{ kind: 'hgetall', key: 'p:z' }, { kind: 'get', key: 'p:s' }])).toEqual([
      { kind: 'hgetall', value: { f: 'v' } },
      { kind: 'get', value: 'v' },
    ]);
    now = 19;
    expect(await store.deleteByPrefix('p:')).toBe(1);
  });

  it('hands out copies: mutating a read result does not change the store', async () => {
    const store = new MemoryOnlineStore();
    await store.apply([{ op: 'hset', key: 'h', field: 'f', value: 'v' }]);
    const [first] = await store.read([{ kind: 'hgetall', key: 'h' }]);
    if (first?.kind === 'hgetall') first.value.f = 'changed';
    expect(await store.read([{ kind: 'hgetall', key: 'h' }])).toEqual([{ kind: 'hgetall', value: { f: 'v' } }]);
  });

  it('reports conflicts as non-retriable ServiceErrors named after the op', async () => {
    const store = new MemoryOnlineStore();
    await store.apply([{ op: 'set', key: 's', value: 'v' }]);
    const err = await store.apply([{ op: 'hincr', key: 's', field: 'f', by: 1 }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).code).toBe('MEMORY_ERROR');
    expect((err as ServiceError).retriable).toBe(false);
    expect((err as Error).message).toMatch(/op #0 \(hincr s\): the key holds another type/);
  });

  it('a HyperLogLog counts the same whatever the batching and order (sparse, dense, merges); get of one is refused', async () => {
    const members = Array.from({ length: 5000 }, (_, i) => `m${(i * 7919) % 5000}`);
    const one = new MemoryOnlineStore();
    await one.apply([{ op: 'pfadd', key: 'p', members }]);
    const many = new MemoryOnlineStore();
    for (let i = members.length; i > 0; i -= 100) {
      await many.apply([{ op: 'pfadd', key: `p${i % 3}`, members: members.slice(Math.max(0, i - 100), i).reverse() }]);
    }
    const [whole] = await one.read([{ kind: 'pfcount', keys: ['p'] }]);
    expect(whole?.kind === 'pfcount' && Math.abs(whole.value - 5000) / 5000).toBeLessThan(0.03);
    expect(await many.read([{ kind: 'pfcount', keys: ['p0', 'p1', 'p2'] }])).toEqual([whole]);
    await expect(one.read([{ kind: 'get', key: 'p' }])).rejects.toThrow(/WRONGTYPE get on key p holding a hll/);
  });
});
