import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbOfflineStore, type ChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import { BatchError } from '../../src/batch/batch-errors.js';
import { TEMP_TABLE_PREFIX, buildSamples as buildSamplesOf, dropStaleTempTables, type BuildSamplesDeps, type BuildSamplesOptions } from '../../src/batch/build-samples.js';
import { readSamples } from '../../src/batch/read-samples.js';
import type { Context, ReferenceEvent } from '../../src/events/event-types.js';
import { days, hours, minutes, type CompiledGroup } from '../../src/features/definitions.js';
import type { Sample } from '../../src/samples/sample.js';
import { ALL_OPS_GROUP as ALL_OPS_DEF } from '../helpers/feature-streams.js';
import { compileRef, REFERENCE_CATALOG, REFERENCE_GROUPS } from '../helpers/reference.js';
import { dedupe, dropRawTables, expectedSamples, loadRawEvents, sampleDiff, sampleStream } from './batch-fixtures.js';

/** An entity read from item profiles (query rows come from impressions, events from another table). */
const PROFILE_GROUP: CompiledGroup = compileRef({
  name: 'item_profile',
  entity: { name: 'profile', keyFields: ['itemId'] },
  aggregations: [
    { source: 'item_profile', op: 'avg', field: 'price' },
    { source: 'item_profile', op: 'min', field: 'price' },
    { source: 'item_profile', op: 'max', field: 'price', windowsMs: [hours(6)] },
    { source: 'item_profile', op: 'last', field: 'brand' },
    { source: 'item_profile', op: 'count' },
    { source: 'item_profile', op: 'sum', field: 'price', windowsMs: [days(1)] },
  ],
});

/** An entity impressions cannot name (orders only): every sample gets its cold-start values. */
const ORDER_GROUP: CompiledGroup = compileRef({
  name: 'by_order',
  entity: { name: 'by_order', keyFields: ['orderId'] },
  aggregations: [{ source: 'order', op: 'count', windowsMs: [hours(1)] }],
});

/** Windowed and lifetime counts, integer sums and averages on the user x category entity (fast path through a non-impression key). */
const CATEGORY_GROUP: CompiledGroup = compileRef({
  name: 'cat',
  entity: { name: 'cat', keyFields: ['userId', 'categoryId'] },
  aggregations: [
    { source: 'click', op: 'count', windowsMs: [minutes(10), hours(2)] },
    { source: 'impression', op: 'avg', field: 'position', windowsMs: [hours(1)] },
    { source: 'impression', op: 'sum', field: 'position' },
    { source: 'click', op: 'last_seen' },
    { source: 'order', op: 'max', field: 'amount' },
    { source: 'order', op: 'avg', field: 'amount' },
  ],
});

const ALL_OPS_GROUP: CompiledGroup = compileRef(ALL_OPS_DEF);

const ALL_GROUPS: readonly CompiledGroup[] = [...REFERENCE_GROUPS, ALL_OPS_GROUP, PROFILE_GROUP, ORDER_GROUP, CATEGORY_GROUP];

/** buildSamples on the reference project: its catalog, and its groups unless others are given. */
function buildSamples(deps: BuildSamplesDeps, options: Omit<BuildSamplesOptions, 'catalog' | 'groups'> & { groups?: readonly CompiledGroup[] }) {
  return buildSamplesOf(deps, { catalog: REFERENCE_CATALOG, groups: REFERENCE_GROUPS, ...options });
}

async function readAll(store: ChdbOfflineStore, from: number, to: number, groups: readonly CompiledGroup[], table?: string, pageSize?: number): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of readSamples(store, { from, to, groups, ...(table ? { table } : {}), ...(pageSize ? { pageSize } : {}) })) out.push(s);
  return out;
}

function compare(got: readonly Sample[], want: ReturnType<typeof expectedSamples>): void {
  const byId = new Map(want.map((w) => [w.impression.eventId, w]));
  expect(got.map((s) => s.impressionId).sort()).toEqual([...byId.keys()].sort());
  for (const s of got) {
    const diff = sampleDiff(s, byId.get(s.impressionId) as (typeof want)[number]);
    if (diff !== null) expect.fail(`sample ${s.impressionId} at ${s.eventTime}: ${diff}`);
  }
}

describe('batch samples == naive rule and oracle (chDB)', () => {
  let store: ChdbOfflineStore;
  beforeAll(async () => {
    store = await createChdbOfflineStore();
  });
  afterAll(async () => {
    await store?.close();
  });

  const cases = [
    { seed: 11, maxSlate: 2, passMode: 'auto' },
    { seed: 12, maxSlate: 6, passMode: 'auto', maxImpressionsPerChunk: 250 },
    { seed: 13, maxSlate: 4, passMode: 'perPoint' },
    { seed: 14, maxSlate: 4, passMode: 'perImpression' },
  ] as const;
  for (const { seed, maxSlate, passMode, ...more } of cases) {
    const maxImpressionsPerChunk = 'maxImpressionsPerChunk' in more ? more.maxImpressionsPerChunk : undefined;
    it(`seed ${seed} (slates up to ${maxSlate}, passes ${passMode}${maxImpressionsPerChunk === undefined ? '' : `, chunks of ${maxImpressionsPerChunk}`}): every mature impression, labels and every feature of ${ALL_GROUPS.length} groups (all ops, windowed and lifetime)`, async () => {
      await dropRawTables(store);
      await store.command('DROP TABLE IF EXISTS samples_all');
      const start = Date.UTC(2026, 2, 27, 12);
      const events = sampleStream(seed, 600, { start, maxSlate });
      await loadRawEvents(store, events);
      const completeThrough = Math.max(...events.map((e) => e.eventTime));
      const from = start + hours(3);
      const to = start + days(2);
      const result = await buildSamples({ offline: store }, { from, to, groups: ALL_GROUPS, table: 'samples_all', passMode, ...(maxImpressionsPerChunk === undefined ? {} : { maxImpressionsPerChunk }) });
      if (maxImpressionsPerChunk !== undefined) expect(result.chunks).toBeGreaterThan(2);
      const want = expectedSamples(events, ALL_GROUPS, { from, to, completeThrough });
      expect(result.completeThrough).toBe(completeThrough);
      expect(result.samples).toBe(want.length);
      expect(result.clickPositives).toBe(want.filter((w) => w.clickLabel === 1).length);
      expect(result.orderPositives).toBe(want.filter((w) => w.orderLabel === 1).length);
      expect(result.impressions).toBe(dedupe(events).filter((e) => e.type === 'impression' && e.eventTime >= from && e.eventTime < to).length);
      expect(result.immature).toBe(result.impressions - result.samples);
      // the bounded lookback of last / last_k decided most rows, the core rechecked some (users clicking few items)
      expect(result.recheckedPoints.probe ?? 0).toBeGreaterThan(0);
      expect(result.recheckedPoints.user ?? 0).toBeLessThan(want.length / 2);
      const got = await readAll(store, from, to, ALL_GROUPS, 'samples_all', 97);
      expect(got.length).toBe(want.length);
      // tiny pages: busy minutes are read in keyset slices, and the result is the same
      expect(await readAll(store, from, to, ALL_GROUPS, 'samples_all', 3)).toEqual(got);
      // read order: (eventTime, impressionId)
      for (let i = 1; i < got.length; i++) {
        const a = got[i - 1] as Sample;
        const b = got[i] as Sample;
        expect(a.eventTime < b.eventTime || (a.eventTime === b.eventTime && a.impressionId < b.impressionId)).toBe(true);
      }
      compare(got, want);
      // some labels and cold starts really occur, so the comparison is not vacuous
      expect(want.filter((w) => w.clickLabel === 1).length).toBeGreaterThan(10);
      expect(want.filter((w) => w.orderLabel === 1).length).toBeGreaterThan(2);
      expect(want.filter((w) => w.impression.categoryId === null || w.impression.categoryId === '').length).toBeGreaterThan(5);
    });
  }

  it('maturity follows completeThrough and the rule; a custom rule changes labels and the cut-off', async () => {
    await dropRawTables(store);
    await store.command('DROP TABLE IF EXISTS samples');
    const start = Date.UTC(2026, 0, 10);
    const events = sampleStream(21, 400, { start, spanMs: days(2) });
    await loadRawEvents(store, events);
    const completeThrough = start + days(1) + hours(3);
    const rule = { clickWindowMs: minutes(10), orderWindowMs: hours(2) };
    const from = start;
    const to = start + days(2);
    const result = await buildSamples({ offline: store }, { from, to, rule, completeThrough });
    const want = expectedSamples(events, REFERENCE_GROUPS, { from, to, completeThrough, clickWindowMs: rule.clickWindowMs, orderWindowMs: rule.orderWindowMs });
    expect(result.samples).toBe(want.length);
    expect(result.immature).toBeGreaterThan(0);
    expect(Math.max(...want.map((w) => w.impression.eventTime))).toBeLessThanOrEqual(completeThrough - hours(2));
    compare(await readAll(store, from, to, REFERENCE_GROUPS), want);
  });

  it('leakage, label window edges, ties, duplicates: hand-made cases', async () => {
    await dropRawTables(store);
    await store.command('DROP TABLE IF EXISTS samples');
    const t = Date.UTC(2026, 0, 6, 10, 0, 0);
    const ctx: Context = { device: 'ios', os: null, country: null, city: null, page: 'home', timezone: 'Asia/Shanghai' };
    const imp = (id: string, at: number, requestId: string, itemId: string, userId = 'u1', categoryId: string | null = 'c1'): ReferenceEvent => ({ type: 'impression', eventId: id, eventTime: at, requestId, userId, itemId, categoryId, position: 0, context: ctx });
    const click = (id: string, at: number, requestId: string, itemId: string, userId = 'u1'): ReferenceEvent => ({ type: 'click', eventId: id, eventTime: at, requestId, userId, itemId, categoryId: 'c1', position: 0, context: ctx });
    const order = (id: string, at: number, itemId: string, userId = 'u1'): ReferenceEvent => ({ type: 'order', eventId: id, eventTime: at, orderId: `o-${id}`, requestId: null, userId, itemId, categoryId: 'c1', amount: 10.25, currency: 'USD', quantity: 1, context: ctx });
    const events: ReferenceEvent[] = [
      // history: two earlier clicks and an impression of u1
      click('h1', t - hours(2), 'old', 'i9'),
      click('h2', t - minutes(5), 'old2', 'i8'),
      imp('h3', t - minutes(1), 'old3', 'i7'),
      // the impression under test, with a click at exactly t (a label, never a feature) and a tie
      imp('a', t, 'rA', 'i1'),
      imp('a2', t, 'rA', 'i2'),
      click('ca', t, 'rA', 'i1'),
      click('ca', t, 'rA', 'i1'), // duplicate delivery of the same click
      // click window edges: exactly t + 30 min counts, + 1 ms does not
      imp('b', t + hours(1), 'rB', 'i1'),
      click('cb', t + hours(1) + minutes(30), 'rB', 'i1'),
      imp('c', t + hours(2), 'rC', 'i2'),
      click('cc', t + hours(2) + minutes(30) + 1, 'rC', 'i2'),
      // order window edges: exactly t + 24 h counts, + 1 ms does not
      imp('d', t + hours(3), 'rD', 'i3'),
      order('od', t + hours(3) + hours(24), 'i3'),
      imp('e', t + hours(4), 'rE', 'i4'),
      order('oe', t + hours(4) + hours(24) + 1, 'i4'),
      // a click of another user on the same request id and item does count (the rule is request + item)
      imp('f', t + hours(5), 'rF', 'i5', 'u2', null),
      click('cf', t + hours(5) + 1, 'rF', 'i5', 'u2'),
      // completes the log well past every label window
      click('z', t + days(3), 'rZ', 'i0', 'u9'),
    ];
    await loadRawEvents(store, events);
    const from = t - hours(1);
    const to = t + days(1);
    await buildSamples({ offline: store }, { from, to });
    const got = new Map((await readAll(store, from, to, REFERENCE_GROUPS)).map((s) => [s.impressionId, s]));
    const completeThrough = t + days(3);
    compare([...got.values()], expectedSamples(events, REFERENCE_GROUPS, { from, to, completeThrough }));
    const a = got.get('a') as Sample;
    expect(a.clickLabel).toBe(1);
    // h1 and h2 count, the click at exactly t does not; the impression at t - 1 min counts, a2 (same ms) does not
    expect(a.features.user_click_count_24h).toBe(2);
    expect(a.features.user_click_count_1h).toBe(1);
    expect(a.features.user_impression_count_1h).toBe(1);
    expect(a.features.user_last_clicked_items).toEqual(['i8', 'i9']);
    expect(a.features.user_last_click_time).toBe(t - minutes(5));
    const b = got.get('b') as Sample;
    expect(b.features.user_click_count_1h).toBe(1); // the click at t, now strictly before
    expect(b.features.user_last_clicked_items).toEqual(['i1', 'i8', 'i9']);
    expect(b.clickLabel).toBe(1);
    expect(got.get('c')?.clickLabel).toBe(0);
    expect(got.get('d')?.orderLabel).toBe(1);
    expect(got.get('e')?.orderLabel).toBe(0);
    expect(got.get('f')?.clickLabel).toBe(1);
    expect(got.get('f')?.features.user_category_click_count_7d).toBe(0); // no category: cold start
    expect(got.get('a')?.features.context_hour_of_day).toBe(18); // 10:00 UTC in Shanghai
  });

  it('late events are counted on rerun, the rerun replaces the range (no duplicates), and reruns are identical', async () => {
    await dropRawTables(store);
    await store.command('DROP TABLE IF EXISTS samples');
    const start = Date.UTC(2026, 0, 12);
    const events = sampleStream(31, 500, { start, spanMs: days(2) });
    const late = events.filter((_, i) => i % 7 === 3 && events[i]?.type !== 'impression');
    const early = events.filter((e) => !late.includes(e));
    await loadRawEvents(store, early);
    const from = start;
    const to = start + days(1);
    const completeThrough = start + days(3);
    await buildSamples({ offline: store }, { from, to, completeThrough });
    const first = await readAll(store, from, to, REFERENCE_GROUPS);
    compare(first, expectedSamples(early, REFERENCE_GROUPS, { from, to, completeThrough }));
    // the late events arrive (long after their time) and the range is rebuilt
    await loadRawEvents(store, late);
    const again = await buildSamples({ offline: store }, { from, to, completeThrough });
    const second = await readAll(store, from, to, REFERENCE_GROUPS);
    expect(second.length).toBe(first.length);
    expect(again.samples).toBe(first.length);
    compare(second, expectedSamples(events, REFERENCE_GROUPS, { from, to, completeThrough }));
    expect(JSON.stringify(second)).not.toBe(JSON.stringify(first));
    // a third run over unchanged input writes the same bytes
    await buildSamples({ offline: store }, { from, to, completeThrough });
    const third = await readAll(store, from, to, REFERENCE_GROUPS);
    expect(JSON.stringify(third)).toBe(JSON.stringify(second));
    const [n] = await store.query<{ n: number; u: number }>('SELECT count() AS n, uniqExact(impressionId) AS u FROM samples');
    expect(n?.n).toBe(n?.u);
    // an overlapping range rebuilt on its own leaves the rest alone and duplicates nothing
    await buildSamples({ offline: store }, { from: from + hours(6), to: to + hours(6), completeThrough });
    const [m] = await store.query<{ n: number; u: number }>('SELECT count() AS n, uniqExact(impressionId) AS u FROM samples');
    expect(m?.n).toBe(m?.u);
    compare(await readAll(store, from, to + hours(6), REFERENCE_GROUPS), expectedSamples(events, REFERENCE_GROUPS, { from, to: to + hours(6), completeThrough }));
  });

  it('last and last_k order values of equal times like the core, non-ASCII included', async () => {
    await dropRawTables(store);
    await store.command('DROP TABLE IF EXISTS samples_text');
    const group: CompiledGroup = compileRef({
      name: 'text',
      entity: { name: 'text', keyFields: ['userId'] },
      aggregations: [
        { source: 'click', op: 'last_k', field: 'itemId', k: 3 },
        { source: 'click', op: 'last', field: 'itemId' },
      ],
    });
    const t = Date.UTC(2026, 0, 6, 9);
    const ctx: Context = { device: null, os: null, country: null, city: null, page: null, timezone: null };
    // UTF-8 byte order and JavaScript's UTF-16 order disagree on U+E000.. versus astral characters
    const items = ['a', 'é', '\uE000x', '😀', 'z', 'Z', 'b'];
    const events: ReferenceEvent[] = [];
    items.forEach((itemId, j) => events.push({ type: 'click', eventId: `c${j}`, eventTime: t + (j < 4 ? 0 : 1000), requestId: `r${j}`, userId: 'u1', itemId, categoryId: null, position: null, context: ctx }));
    events.push({ type: 'impression', eventId: 'i1', eventTime: t + 500, requestId: 'q1', userId: 'u1', itemId: 'x', categoryId: null, position: 0, context: ctx });
    events.push({ type: 'impression', eventId: 'i2', eventTime: t + 2000, requestId: 'q2', userId: 'u1', itemId: 'x', categoryId: null, position: 0, context: ctx });
    events.push({ type: 'click', eventId: 'end', eventTime: t + days(2), requestId: 'q9', userId: 'u9', itemId: 'x', categoryId: null, position: null, context: ctx });
    await loadRawEvents(store, events);
    await buildSamples({ offline: store }, { from: t, to: t + hours(1), groups: [group], table: 'samples_text' });
    const got = await readAll(store, t, t + hours(1), [group], 'samples_text');
    compare(got, expectedSamples(events, [group], { from: t, to: t + hours(1), completeThrough: t + days(2) }));
    // newest first; among equal times the greater value first, by UTF-16 code units as JavaScript
    // compares (so U+E000 ranks above the surrogate pair of an emoji, unlike UTF-8 byte order)
    expect(got.map((s) => s.features.text_last_clicked_items)).toEqual([
      ['\uE000x', '😀', 'é'],
      ['z', 'b', 'Z'],
    ]);
    expect(got.map((s) => s.features.text_last_click_itemId)).toEqual(['\uE000x', 'z']);
  });

  it('empty ranges and an empty store write nothing and fail nothing', async () => {
    await dropRawTables(store);
    await store.command('DROP TABLE IF EXISTS samples');
    const t = Date.UTC(2026, 0, 5);
    const none = await buildSamples({ offline: store }, { from: t, to: t + days(1) });
    expect(none).toMatchObject({ samples: 0, impressions: 0, completeThrough: null });
    await loadRawEvents(store, sampleStream(41, 50, { start: t, spanMs: hours(5) }));
    expect(await buildSamples({ offline: store }, { from: t + days(5), to: t + days(6) })).toMatchObject({ samples: 0, impressions: 0 });
    expect(await buildSamples({ offline: store }, { from: t, to: t })).toMatchObject({ samples: 0 });
    // everything immature: the input is complete only up to before any label window closes
    const r = await buildSamples({ offline: store }, { from: t, to: t + days(1), completeThrough: t + hours(5) + minutes(30) });
    expect(r.samples).toBe(0);
    expect(r.immature).toBe(r.impressions);
    expect(r.impressions).toBeGreaterThan(0);
    expect(await readAll(store, t, t + days(1), REFERENCE_GROUPS)).toEqual([]);
  });

  it('leaves no temporary table behind, and drops the ones a dead run left', async () => {
    const temps = async () => (await store.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, '${TEMP_TABLE_PREFIX}')`)).map((r) => r.name);
    expect(await temps()).toEqual([]);
    const now = Date.UTC(2026, 0, 5, 12);
    const dead = `${TEMP_TABLE_PREFIX}${now - hours(7)}_deadbeef_imp`;
    const live = `${TEMP_TABLE_PREFIX}${now - hours(1)}_0123abcd_f0`;
    for (const t of [dead, live]) await store.command(`CREATE TABLE ${t} (x UInt8) ENGINE = Memory`);
    expect(await dropStaleTempTables(store, now)).toBe(1);
    expect(await temps()).toEqual([live]);
    expect(await dropStaleTempTables(store, now + hours(6))).toBe(1);
    expect(await temps()).toEqual([]);
  });

  it('refuses a samples table of another feature spec, and a reversed range', async () => {
    await store.command('DROP TABLE IF EXISTS samples_spec');
    const t = Date.UTC(2026, 0, 5);
    await buildSamples({ offline: store }, { from: t, to: t + 1, table: 'samples_spec' });
    const err = await buildSamples({ offline: store }, { from: t, to: t + 1, table: 'samples_spec', groups: [ALL_OPS_GROUP] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatchError);
    expect(err).toMatchObject({ code: 'SAMPLES_SPEC_MISMATCH' });
    const read = await readAll(store, t, t + 1, [ALL_OPS_GROUP], 'samples_spec').catch((e: unknown) => e);
    expect(read).toMatchObject({ code: 'SAMPLES_SPEC_MISMATCH' });
    await expect(buildSamples({ offline: store }, { from: t + 1, to: t })).rejects.toMatchObject({ code: 'BATCH_INVALID_ARGUMENT' });
  });
});
