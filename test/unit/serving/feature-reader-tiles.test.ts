import { describe, expect, it } from 'vitest';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import type { FeatureValue } from '../../../src/features/aggregators.js';
import { compileGroup, days, hours, minutes, type CompiledGroup, type FeatureGroupDef } from '../../../src/features/definitions.js';
import { compileRef, REFERENCE_GROUPS, REFERENCE_KINDS } from '../../helpers/reference.js';
import { assembleGroup, assembleTiles, TileList } from '../../../src/features/window-assembly.js';
import { tileStart } from '../../../src/features/windows.js';
import { Rng } from '../../../src/ingest/rng.js';
import { FeatureReader } from '../../../src/serving/feature-reader.js';
import { createStreamKeys } from '../../../src/streaming/stream-keys.js';
import { decodeEntity, decodeEntityTiles, lastKState, tileListDecodable } from '../../../src/streaming/tile-decode.js';

/** Every op the tile-list path reads, windowed and lifetime, plus a ratio. */
const TILE_OPS: FeatureGroupDef = {
  name: 'tile_ops',
  entity: { name: 'user', keyFields: ['userId'] },
  aggregations: [
    { source: 'impression', op: 'count', windowsMs: [minutes(10), hours(1), days(2)] },
    { source: 'click', op: 'count', windowsMs: [hours(1), days(2)] },
    { source: 'order', op: 'sum', field: 'amount', windowsMs: [hours(6), days(20)] },
    { source: 'order', op: 'min', field: 'amount', windowsMs: [hours(1)] },
    { source: 'order', op: 'max', field: 'amount', windowsMs: [days(2)] },
    { source: 'order', op: 'count' },
    { source: 'order', op: 'sum', field: 'amount' },
    { source: 'order', op: 'last', field: 'itemId' },
    { source: 'order', op: 'last', field: 'amount' },
    { source: 'click', op: 'last_k', field: 'itemId', k: 4 },
    { source: 'impression', op: 'last_seen' },
  ],
  derived: [{ op: 'smoothed_ratio', label: 'ctr', numerator: { source: 'click', op: 'count' }, denominator: { source: 'impression', op: 'count' }, alpha: 1, beta: 20 }],
};

const GROUPS = [compileRef(TILE_OPS), ...REFERENCE_GROUPS];
const Q0 = Date.UTC(2026, 0, 20, 13, 7, 11, 5);

/** A value as the store keeps it: integers, doubles (%.17g-like), negatives, odd texts. */
function storedNumber(rng: Rng): string {
  const k = rng.int(0, 8);
  if (k < 4) return String(rng.int(0, 40));
  if (k === 4) return String(rng.uniform(-50, 500));
  if (k === 5) return String(-rng.int(1, 1e6));
  if (k === 6) return ['0.10000000000000001', '1e3', '007', '', 'x', '-0', '123456789012345678'][rng.int(0, 7)] as string;
  return String(rng.int(0, 2 ** 31) * 1000);
}

/** A random entity hash of `group`: mostly what the stream writes, sometimes fields it never writes. */
function randomHash(rng: Rng, group: CompiledGroup, q: number, odd: boolean): string[] {
  const fields = new Map<string, string>();
  let latest = q - rng.int(1, days(3));
  for (const a of group.aggregations) {
    if (a.lifetime) {
      if (a.def.op !== 'last_k' && rng.bernoulli(0.7)) fields.set(`${a.index}|L`, a.def.op === 'last' ? `${q - rng.int(1, days(9))}|${rng.bernoulli(0.5) ? `i${rng.int(0, 9)}` : storedNumber(rng)}` : storedNumber(rng));
      continue;
    }
    for (const tile of a.tiles) {
      const n = rng.int(0, 12);
      for (let i = 0; i < n; i++) {
        // tiles around every window's start and the head, some outside every window
        const span = Math.max(...tile.windowsMs) + 3 * tile.hopMs;
        const start = tileStart(q - rng.int(-2 * tile.hopMs, span), tile.hopMs);
        fields.set(`${a.index}|${tile.hopMs}|${start}`, a.def.op === 'last' ? `${start}|v${i}` : storedNumber(rng));
        fields.set(`t|${tile.hopMs}|${start}`, String(Math.min(start + tile.hopMs - 1, latest)));
      }
    }
  }
  if (group.tileSizesMs.length === 0 || rng.bernoulli(0.2)) fields.set('_t', String(latest));
  if (rng.bernoulli(0.5)) fields.set('_p', String(rng.int(0, 500000)));
  if (rng.bernoulli(0.1)) fields.set(`${group.def.aggregations.length + 3}|60000|${tileStart(q - 1, 60000)}`, '5'); // a newer definition's field
  if (rng.bernoulli(0.1)) latest = q + rng.int(0, minutes(5)); // a read not after the entity's latest event
  if (rng.bernoulli(0.1)) fields.set('t|60000|0', String(latest));
  if (odd) {
    const i = rng.int(0, group.aggregations.length);
    const weird = [`0${i}|60000|${tileStart(q - 1, 60000)}`, `${i}|060000|${tileStart(q - 1, 60000)}`, `${i}|3600000|-0`, `${i}|3600000|${tileStart(q - 1, 3600000)}|x`, `${i}|L|s`, `${i}`, '_x', '', `${i}|3600000|${tileStart(q - 1, 3600000)}.0`, `${i}|L`][rng.int(0, 10)] as string;
    fields.set(weird, storedNumber(rng));
  }
  if (rng.bernoulli(0.05)) fields.clear();
  const flat: string[] = [];
  for (const [f, v] of [...fields].sort(() => rng.uniform() - 0.5)) flat.push(f, v);
  return flat;
}

function randomSets(rng: Rng, group: CompiledGroup, q: number): Map<number, { member: string; score: number }[]> {
  const sets = new Map<number, { member: string; score: number }[]>();
  for (const a of group.aggregations) {
    if (a.def.op !== 'last_k') continue;
    sets.set(a.index, Array.from({ length: rng.int(0, (a.def.k ?? 1) + 1) }, (_, j) => ({ member: `i${rng.int(0, 30)}`, score: q - 1000 * (j + 1) })));
  }
  return sets;
}

function same(a: Record<string, FeatureValue>, b: Record<string, FeatureValue>): void {
  expect(Object.keys(a)).toEqual(Object.keys(b));
  // bit for bit: same merges in the same order
  for (const k of Object.keys(a)) expect(Object.is(a[k], b[k]) || JSON.stringify(a[k]) === JSON.stringify(b[k]), `${k}: ${String(a[k])} vs ${String(b[k])}`).toBe(true);
}

describe('the reader decodes stream hashes into tile lists exactly as decodeEntity + assembleGroup', () => {
  it('accepts the groups of count, sum, min, max, last, last_seen and last_k only', () => {
    for (const g of GROUPS) expect(tileListDecodable(g)).toBe(true);
    const withAvg = compileGroup({ ...TILE_OPS, name: 'x', aggregations: [...TILE_OPS.aggregations, { source: 'order', op: 'avg', field: 'amount', windowsMs: [hours(1)] }] }, REFERENCE_KINDS);
    expect(tileListDecodable(withAvg)).toBe(false);
  });

  it.each([1, 2, 3])('random hashes %i: the same latest time and the same values, or the general path for fields the stream never writes', (seed) => {
    const rng = new Rng(seed, 'tile-list');
    const list = new TileList();
    let fast = 0;
    let declined = 0;
    for (let round = 0; round < 600; round++) {
      const group = GROUPS[round % GROUPS.length] as CompiledGroup;
      // some query times on a tile boundary, where a tile starting at q must stay out
      const q0 = Q0 + rng.int(0, days(2));
      const q = rng.bernoulli(0.3) ? tileStart(q0, [minutes(1), hours(1), days(1)][rng.int(0, 3)] as number) : q0;
      const odd = rng.bernoulli(0.25);
      const flat = randomHash(rng, group, q, odd);
      const sets = randomSets(rng, group, q);
      const ok = decodeEntityTiles(group, flat, list);
      if (!ok) {
        expect(odd, `declined a hash of canonical fields: ${flat.join(' ')}`).toBe(true);
        declined++;
        continue;
      }
      const states = decodeEntity(group, flat, sets);
      expect(list.latest).toEqual(states.latest);
      if (list.latest === null || list.latest >= q) continue;
      for (const [agg, top] of sets) list.lifetime[agg] = lastKState(group.events, group.def.aggregations[agg]!, top);
      same(assembleTiles(group, list, q), assembleGroup(group, states, q));
      fast++;
    }
    expect(fast).toBeGreaterThan(300);
    expect(declined).toBeGreaterThan(10);
  });

  it('a read of repeated refs reads each once and answers every position, the same as separate reads', async () => {
    const store = new MemoryOnlineStore();
    const keys = createStreamKeys('t', 'live');
    const groups = REFERENCE_GROUPS;
    const rng = new Rng(5, 'repeated refs');
    const ops = [];
    for (const [group, key] of [['user', 'u1'], ['item', 'i1'], ['item', 'i2'], ['user_category', 'u1:c1']] as const) {
      const g = groups.find((x) => x.name === group)!;
      const flat = randomHash(rng, g, Q0, false);
      for (let i = 0; i < flat.length; i += 2) ops.push({ op: 'hset' as const, key: keys.entity(group, key), field: flat[i]!, value: flat[i + 1]! });
    }
    await store.apply(ops);
    const reader = new FeatureReader({ store, keys, groups, clock: () => Q0 + days(3) });
    const refs = [
      { group: 'user', key: 'u1' },
      { group: 'item', key: 'i1' },
      { group: 'user_category', key: 'u1:c1' },
      { group: 'item', key: 'i2' },
      { group: 'user_category', key: 'u1:c1' },
      { group: 'item', key: 'i1' },
      { group: 'item', key: 'i9' },
      { group: 'user_category', key: 'u1:c1' },
    ];
    const reads: unknown[][] = [];
    const counting = { ...store, read: (queries: Parameters<typeof store.read>[0]) => (reads.push([...queries]), store.read(queries)) } as typeof store;
    const { entities } = await new FeatureReader({ store: counting, keys, groups, clock: () => Q0 + days(3) }).read(refs, 'now');
    expect(reads).toHaveLength(1);
    expect(reads[0]!.filter((q) => (q as { kind: string }).kind === 'hgetallFlat')).toHaveLength(5);
    expect(entities.map((e) => `${e.group}:${e.key}`)).toEqual(refs.map((r) => `${r.group}:${r.key}`));
    expect(entities[2]).toBe(entities[4]);
    for (const [i, ref] of refs.entries()) expect(entities[i]).toEqual((await reader.read([ref], 'now')).entities[0]);
  });
});
