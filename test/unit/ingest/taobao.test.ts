import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { fieldOf, type AnyEvent, type ReferenceEventType, type TypedEvent } from '../../../src/events/event-types.js';
import { TAOBAO_CONTEXT, importTaobao, taobaoPseudoPrice, type TaobaoImportOptions } from '../../../src/ingest/importers/taobao.js';
import { collect, eventProblems, sharedData } from './event-checks.js';

const T0 = 1_700_000_000; // seconds
const HOUR = 3600;

// A synthetic log (not derived from the real sample). User 1 views X at T0: that is request
// tb-r1. In [T0 - 1 h, T0 + 1 h] other users view A (at the lower bound), B (at the upper
// bound), C, Z, and also X and Y, which user 1 views in that window too, so they are excluded;
// G and H fall just outside. User 1 also views Z, but 2 h later: that does not exclude Z.
const LOG = [
  `1,X,10,pv,${T0}`,
  `1,Y,10,pv,${T0 + 1800}`,
  `1,Z,11,pv,${T0 + 2 * HOUR}`,
  `2,A,20,pv,${T0 - HOUR}`,
  `2,B,20,pv,${T0 + HOUR}`,
  `3,Y,10,pv,${T0 + 100}`,
  `3,Z,11,pv,${T0 - 600}`,
  `4,C,21,pv,${T0 + 200}`,
  `4,G,22,pv,${T0 + HOUR + 1}`,
  `4,H,22,pv,${T0 - HOUR - 1}`,
  `5,X,10,pv,${T0 + 50}`,
  `6,C,21,buy,${T0 + 300}`,
  `6,K,30,cart,${T0 + 301}`,
  `6,K,30,fav,${T0 + 302}`,
  `7,M,40,pv,0`,
  `7,N,40,pv,4102444800`,
].join('\n');
const ELIGIBLE_FOR_R1 = ['A', 'B', 'C', 'Z'];

type Imp = TypedEvent<'impression'>;
const ofType = <T extends ReferenceEventType>(events: AnyEvent[], type: T): TypedEvent<T>[] =>
  events.filter((e): e is TypedEvent<T> => e.type === type);
const request = (events: AnyEvent[], requestId: string): Imp[] => ofType(events, 'impression').filter((e) => e.requestId === requestId);

describe('importTaobao on a synthetic log', () => {
  let dir = '';
  let path = '';
  const run = (options: Partial<TaobaoImportOptions> = {}): Promise<AnyEvent[]> => collect(importTaobao({ path, ...options }));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-taobao-'));
    path = join(dir, 'UserBehavior.csv');
    await writeFile(path, LOG + '\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('turns a pv into one request: impressions at t and a click on the viewed item at t + 1 s', async () => {
    const events = await run({ negatives: 4, seed: 1 });
    const slate = request(events, 'tb-r1');
    expect(slate.length).toBe(5);
    expect(slate.map((e) => e.position).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(slate.map((e) => `${e.eventTime}|${e.userId}`))).toEqual(new Set([`${T0 * 1000}|1`]));
    const clicks = ofType(events, 'click').filter((c) => c.requestId === 'tb-r1');
    expect(clicks.length).toBe(1);
    const click = clicks[0]!;
    expect(click).toMatchObject({ eventId: 'tb-1-c', eventTime: T0 * 1000 + 1000, userId: '1', itemId: 'X', categoryId: '10' });
    const shown = slate.find((e) => e.itemId === 'X')!;
    expect(click.position).toBe(shown.position);
    expect(shown.categoryId).toBe('10');
    expect(slate.every((e) => e.context === TAOBAO_CONTEXT && e.eventId === `tb-1-p${e.position}`)).toBe(true);
    expect(TAOBAO_CONTEXT).toEqual({ device: null, os: null, country: null, city: null, page: null, timezone: 'Asia/Shanghai' });
  });

  it('samples negatives only from other views within +-1 h (bounds included), never ones this user viewed then', async () => {
    const seen = new Map<string, number>();
    const clickPositions = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const events = await run({ negatives: 2, seed });
      const slate = request(events, 'tb-r1');
      const negatives = slate.filter((e) => e.itemId !== 'X');
      expect(negatives.length).toBe(2);
      expect(new Set(negatives.map((e) => e.itemId)).size).toBe(2);
      for (const e of negatives) {
        expect(ELIGIBLE_FOR_R1).toContain(e.itemId);
        seen.set(e.itemId, (seen.get(e.itemId) ?? 0) + 1);
      }
      clickPositions.add(slate.find((e) => e.itemId === 'X')!.position);
    }
    // Every eligible item, including the two on the window's bounds, turns up; so does every slot.
    expect([...seen.keys()].sort()).toEqual(ELIGIBLE_FOR_R1);
    expect([...clickPositions].sort()).toEqual([0, 1, 2]);
  });

  it('takes k = min(negatives, eligible items): all four when asked for four or more', async () => {
    for (const negatives of [4, 10]) {
      const slate = request(await run({ negatives, seed: 3 }), 'tb-r1');
      expect(slate.map((e) => e.itemId).sort()).toEqual([...ELIGIBLE_FOR_R1, 'X'].sort());
    }
    // The 1970 row has no other view within an hour: a slate of one.
    expect(request(await run({ negatives: 4 }), 'tb-r15').map((e) => e.itemId)).toEqual(['M']);
    const none = await run({ negatives: 0 });
    expect(request(none, 'tb-r1').map((e) => [e.itemId, e.position])).toEqual([['X', 0]]);
  });

  it('finds the one eligible item even when rejection sampling would miss it', async () => {
    const rows = [`1,X,1,pv,${T0}`, ...Array.from({ length: 2_000 }, (_, i) => `${100 + i},X,1,pv,${T0 + 1}`), `9,E,2,pv,${T0 + 2}`];
    const file = join(dir, 'crowded.csv');
    await writeFile(file, rows.join('\n'));
    const events = await collect(importTaobao({ path: file, negatives: 3, seed: 5 }));
    expect(request(events, 'tb-r1').map((e) => e.itemId).sort()).toEqual(['E', 'X']);
  });

  it('draws negatives in proportion to views around the time (popularity)', async () => {
    // 300 users each view their own item; user 'p' views P 40 times and user 'q' views Q once.
    const rows = [
      ...Array.from({ length: 300 }, (_, i) => `${1000 + i},own${i},1,pv,${T0 + i}`),
      ...Array.from({ length: 40 }, (_, i) => `p,P,2,pv,${T0 + 2 * i}`),
      `q,Q,3,pv,${T0 + 5}`,
    ];
    const file = join(dir, 'popular.csv');
    await writeFile(file, rows.join('\n'));
    const events = await collect(importTaobao({ path: file, negatives: 1, seed: 2 }));
    const negatives = ofType(events, 'impression').filter((e) => e.userId.startsWith('1') && !e.itemId.startsWith('own'));
    const p = negatives.filter((e) => e.itemId === 'P').length;
    const q = negatives.filter((e) => e.itemId === 'Q').length;
    // Expected about 300 * 40 / 340 = 35 for P and 0.9 for Q.
    expect(p).toBeGreaterThan(15);
    expect(p).toBeGreaterThan(5 * Math.max(q, 1));
  });

  it('turns a buy into an order at its time with the pseudo price, and ignores cart and fav', async () => {
    const events = await run();
    const orders = ofType(events, 'order');
    expect(orders).toEqual([
      {
        type: 'order',
        eventId: 'tb-12-o',
        eventTime: (T0 + 300) * 1000,
        orderId: 'tb-o12',
        requestId: null,
        userId: '6',
        itemId: 'C',
        categoryId: '21',
        amount: taobaoPseudoPrice('C'),
        currency: 'CNY',
        quantity: 1,
        context: TAOBAO_CONTEXT,
      },
    ]);
    expect(events.some((e) => 'itemId' in e && e.itemId === 'K')).toBe(false);
  });

  it('passes timestamps outside any sane range through, for the pipeline to dead-letter', async () => {
    const events = await run();
    expect(request(events, 'tb-r15')[0]!.eventTime).toBe(0);
    expect(request(events, 'tb-r16')[0]!.eventTime).toBe(4102444800 * 1000);
  });

  it('emits valid events sorted by eventTime, each item profiled once just before its first use', async () => {
    const events = await run({ negatives: 4, seed: 9 });
    expect(events.map(eventProblems).filter((p) => p.length > 0)).toEqual([]);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    for (let i = 1; i < events.length; i++) expect(events[i]!.eventTime).toBeGreaterThanOrEqual(events[i - 1]!.eventTime);
    const profiles = ofType(events, 'item_profile');
    const used = new Set(events.filter((e) => e.type !== 'item_profile').map((e) => fieldOf(e, 'itemId')));
    expect(profiles.map((p) => p.itemId).sort()).toEqual([...used].sort());
    for (const p of profiles) {
      const firstUse = events.findIndex((e) => e.type !== 'item_profile' && fieldOf(e, 'itemId') === p.itemId);
      expect(events.indexOf(p)).toBeLessThan(firstUse);
      expect(p.eventTime).toBe(events[firstUse]!.eventTime);
      expect(p).toMatchObject({ eventId: `tb-item-${p.itemId}`, price: taobaoPseudoPrice(p.itemId), brand: null });
    }
    expect(profiles.find((p) => p.itemId === 'G')!.categoryId).toBe('22');
  });

  it('is deterministic for a seed, and the seed matters', async () => {
    const a = JSON.stringify(await run({ negatives: 2, seed: 1 }));
    expect(JSON.stringify(await run({ negatives: 2, seed: 1 }))).toBe(a);
    const others = await Promise.all([2, 3, 4, 5].map(async (seed) => JSON.stringify(await run({ negatives: 2, seed }))));
    expect(others.some((o) => o !== a)).toBe(true);
  });

  it('tolerates a header line, and reports or skips malformed rows by policy', async () => {
    const withHeader = join(dir, 'header.csv');
    await writeFile(withHeader, `user_id,item_id,category_id,behavior_type,timestamp\n${LOG}`);
    expect(ofType(await collect(importTaobao({ path: withHeader })), 'click').length).toBe(ofType(await run(), 'click').length);

    const bad = join(dir, 'bad.csv');
    await writeFile(bad, `1,X,10,pv,${T0}\n1,X,10,pv,yesterday\n1,X,10,like,${T0}\n1,X\n`);
    await expect(collect(importTaobao({ path: bad }))).rejects.toThrow(UsageError);
    await expect(collect(importTaobao({ path: bad }))).rejects.toThrow(`${bad}:2`);
    const skipped: number[] = [];
    const events = await collect(importTaobao({ path: bad, badRows: 'skip', onSkip: (line) => skipped.push(line) }));
    expect(skipped).toEqual([2, 3, 4]);
    expect(ofType(events, 'click').length).toBe(1);
  });

  it('names a missing file, and rejects bad options', async () => {
    const missing = join(dir, 'missing.csv');
    await expect(collect(importTaobao({ path: missing }))).rejects.toThrow(UsageError);
    await expect(collect(importTaobao({ path: missing }))).rejects.toThrow(missing);
    await expect(run({ negatives: -1 })).rejects.toThrow(/'negatives'/);
  });
});

describe('taobaoPseudoPrice', () => {
  it('is a deterministic, log-normal-looking price in cents with a median near 60 CNY', () => {
    expect(taobaoPseudoPrice('2268318')).toBe(taobaoPseudoPrice('2268318'));
    const prices = Array.from({ length: 10_000 }, (_, i) => taobaoPseudoPrice(String(1_000_000 + i))).sort((a, b) => a - b);
    expect(prices.every((p) => p >= 1 && Math.abs(p * 100 - Math.round(p * 100)) < 1e-6)).toBe(true);
    expect(prices[5_000]).toBeGreaterThan(55);
    expect(prices[5_000]).toBeLessThan(65);
    expect(new Set(prices).size).toBeGreaterThan(5_000);
  });
});

describe('importTaobao on the real sample', () => {
  const data = sharedData('taobao/UserBehavior_head_84k.csv');

  it('imports pv as clicks with sampled negatives and buys as orders', async (ctx) => {
    ctx.skip(!data.present, data.reason);
    const text = await readFile(data.path, 'utf8');
    const behaviors = text.split('\n').filter((l) => l.length > 0).map((l) => l.split(',')[3]);
    const pv = behaviors.filter((b) => b === 'pv').length;
    const buy = behaviors.filter((b) => b === 'buy').length;
    const negatives = 4;

    const events = await collect(importTaobao({ path: data.path, negatives, seed: 1 }));
    const impressions = ofType(events, 'impression');
    expect(ofType(events, 'click').length).toBe(pv);
    expect(ofType(events, 'order').length).toBe(buy);
    expect(impressions.length).toBeLessThanOrEqual(pv * (1 + negatives));
    const slates = new Map<string, number>();
    for (const e of impressions) slates.set(e.requestId, (slates.get(e.requestId) ?? 0) + 1);
    expect(slates.size).toBe(pv);
    // Only rows far from any other view (the few outliers in time) lack a full pool.
    const full = [...slates.values()].filter((n) => n === 1 + negatives).length;
    expect(full / pv).toBeGreaterThan(0.99);
    for (let i = 1; i < events.length; i++) if (events[i]!.eventTime < events[i - 1]!.eventTime) expect.fail(`unsorted at ${i}`);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    expect(events.slice(0, 5_000).flatMap(eventProblems)).toEqual([]);
  });
});
