import { describe, expect, it } from 'vitest';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import { Rng } from '../../../src/ingest/rng.js';
import type { StoreOp } from '../../../src/ports/online-store.js';
import { coalesceOps } from '../../../src/streaming/coalesce-ops.js';

async function dump(store: MemoryOnlineStore, keys: string[]) {
  const out = [];
  for (const key of keys) out.push(await store.read([{ kind: 'hgetall', key }, { kind: 'ztop', key: `z${key}`, limit: 100 }]));
  return out;
}

describe('coalesceOps', () => {
  it.each([1, 2, 3])('applying the coalesced batch leaves the store exactly as the original batch (seed %i)', async (seed) => {
    const rng = new Rng(seed, 'coalesce');
    const keys = ['a', 'b', 'c'];
    const ops: StoreOp[] = [];
    for (let i = 0; i < 400; i++) {
      const key = rng.choice(keys);
      const field = `f${rng.int(0, 3)}`;
      switch (rng.int(0, 6)) {
        case 0: ops.push({ op: 'hincr', key, field: `n${field}`, by: rng.int(1, 3) }); break;
        case 1: ops.push({ op: 'hincr', key, field: `x${field}`, by: rng.uniform(0, 10) }); break;
        case 2: ops.push({ op: 'hmax', key, field: `m${field}`, value: rng.int(0, 1000) }); break;
        case 3: ops.push({ op: 'hmin', key, field: `l${field}`, value: rng.int(0, 1000) }); break;
        case 4: ops.push({ op: 'hlatest', key, field: `t${field}`, value: rng.choice(['p', 'q', 'é', 'zz']), at: rng.int(0, 5) }); break;
        case 5: ops.push({ op: 'zadd', key: `z${key}`, member: `m${rng.int(0, 9)}`, score: rng.int(0, 50), keepTop: 4 }); break;
        default: ops.push({ op: 'expire', key, ttlMs: 60_000 });
      }
    }
    const coalesced = coalesceOps(ops);
    expect(coalesced.length).toBeLessThan(ops.length / 2);
    const a = new MemoryOnlineStore();
    const b = new MemoryOnlineStore();
    await a.apply(ops);
    await b.apply(coalesced);
    expect(await dump(b, keys)).toEqual(await dump(a, keys));
  });
});
