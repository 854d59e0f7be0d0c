import { REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../../helpers/reference.js';
import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import type { AnyEvent, ReferenceEvent } from '../../../src/events/event-types.js';
import { topicSpecs, type Topics } from '../../../src/events/topics.js';
import { compileGroup, hours, minutes, type CompiledGroup } from '../../../src/features/definitions.js';
import { createEventProducer } from '../../../src/ingest/producer.js';
import { Rng } from '../../../src/ingest/rng.js';
import { JoinerCheckpoints, JoinerFencedError } from '../../../src/joiner/checkpoint.js';
import { readJoinedSamples } from '../../../src/joiner/joined-samples.js';
import { createJoinerKeys } from '../../../src/joiner/joiner-keys.js';
import { startJoiner, type JoinerOptions } from '../../../src/joiner/joiner.js';
import { JoinState, compareRelease } from '../../../src/joiner/join-state.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import type { OnlineStore } from '../../../src/ports/online-store.js';
import { labelRule, type LabelRule } from '../../../src/samples/labels.js';
import { featureSpec, type Sample } from '../../../src/samples/sample.js';
import { TEST_GROUPS } from '../../helpers/feature-streams.js';
import { compareSamples, joinStream, naiveSamples } from './join-streams.js';

const registry = referenceRegistry();
const GROUPS = REFERENCE_GROUPS;
const LATENESS = minutes(10);

const maxTime = (events: readonly AnyEvent[]) => Math.max(...events.map((e) => e.eventTime));

/** Feeds events to a bare JoinState as if from `parts` partitions keyed by user, advancing after random batches. */
function joinInMemory(events: readonly AnyEvent[], rule: LabelRule, seed: number, groups: readonly CompiledGroup[] = GROUPS, parts = 3) {
  const state = new JoinState({ groups, spec: featureSpec(groups), rule, latenessMs: LATENESS, dedupeHorizonMs: hours(24) });
  const rng = new Rng(seed, 'batches');
  const byPartition: AnyEvent[][] = Array.from({ length: parts }, () => []);
  for (const e of events) byPartition[(e as unknown as { userId: string }).userId.length % parts]!.push(e);
  for (let p = 0; p < parts; p++) state.observe('ev', p, { start: 0, end: byPartition[p]!.length });
  const out: Sample[] = [];
  const offsets = new Array<number>(parts).fill(0);
  while (offsets.some((o, p) => o < byPartition[p]!.length)) {
    const p = rng.int(0, parts);
    const take = rng.int(1, 40);
    for (let k = 0; k < take && offsets[p]! < byPartition[p]!.length; k++) {
      const off = offsets[p]!++;
      state.offer('ev', p, off, byPartition[p]![off]!);
    }
    out.push(...state.advance());
  }
  out.push(...state.advance());
  return { out, state };
}

async function produce(events: readonly AnyEvent[], partitions = 3) {
  const log = new MemoryEventLog();
  const topics = referenceTopics('jt');
  await log.ensureTopics(topicSpecs(topics, partitions));
  const report = await createEventProducer({ log, registry, topics, clock: Date.now }).send(events);
  expect(report.rejected).toEqual([]);
  return { log, topics };
}

async function runJoiner(log: MemoryEventLog, topics: Topics, store: OnlineStore, options: JoinerOptions = {}, groups = GROUPS) {
  const metrics = new Metrics();
  const sub = startJoiner(
    { log, store, registry, topics, keys: createJoinerKeys('jt', 'j'), groups, logger: SILENT_LOGGER, metrics, clock: Date.now },
    { untilIdle: true, idleMs: 30, pollIntervalMs: 20, maxBatchRecords: 37, checkpointIntervalMs: 0, ...options },
  );
  return { sub, metrics };
}

describe('JoinState: samples equal the naive join', () => {
  it.each([1, 2, 3])('random stream %i with the reference groups, any batching', (seed) => {
    const rule = labelRule({ orderWindowMs: hours(6) });
    const events = joinStream(seed, 260, { orderWindowMs: hours(6) });
    const { out, state } = joinInMemory(events, rule, seed);
    const want = naiveSamples(events, GROUPS, rule, maxTime(events) - LATENESS);
    expect(want.size).toBeGreaterThan(200);
    expect(compareSamples(out, want)).toBeNull();
    // released in (time, impressionId) order
    for (let i = 1; i < out.length; i++) expect(compareRelease({ eventTime: out[i - 1]!.eventTime, eventId: out[i - 1]!.impressionId }, { eventTime: out[i]!.eventTime, eventId: out[i]!.impressionId })).toBeLessThan(0);
    // another batching gives the very same samples in the same order
    expect(joinInMemory(events, rule, seed + 100).out).toEqual(out);
    expect(state.held).toBe(new Set(events.filter((e) => e.type === 'impression').map((e) => e.eventId)).size - want.size);
    expect(out.some((s) => s.clickLabel === 1) && out.some((s) => s.orderLabel === 1)).toBe(true);
  });

  it('every op of the aggregation core (lifetime, windowed, last_k, decayed) at the impression time', () => {
    const rule = labelRule({ clickWindowMs: minutes(5), orderWindowMs: hours(1) });
    const events = joinStream(7, 200, { clickWindowMs: minutes(5), orderWindowMs: hours(1), spanMs: hours(30) });
    const { out } = joinInMemory(events, rule, 7, TEST_GROUPS);
    const want = naiveSamples(events, TEST_GROUPS, rule, maxTime(events) - LATENESS);
    expect(compareSamples(out, want)).toBeNull();
  });

  it('label window edges, leakage, ties and cold start, value by value', () => {
    const t = Date.UTC(2026, 0, 5, 12);
    const ctx = { device: 'ios', os: 'ios', country: null, city: null, page: null, timezone: 'Asia/Shanghai' };
    const imp = (id: string, at: number, userId: string, itemId: string, requestId: string, categoryId: string | null = 'c1'): ReferenceEvent => ({ type: 'impression', eventId: id, eventTime: at, requestId, userId, itemId, categoryId, position: 0, context: ctx });
    const click = (id: string, at: number, userId: string, itemId: string, requestId: string): ReferenceEvent => ({ type: 'click', eventId: id, eventTime: at, requestId, userId, itemId, categoryId: 'c1', position: 0, context: ctx });
    const order = (id: string, at: number, userId: string, itemId: string): ReferenceEvent => ({ type: 'order', eventId: id, eventTime: at, orderId: id, requestId: null, userId, itemId, categoryId: 'c1', amount: 5, currency: 'USD', quantity: 1, context: ctx });
    const events: ReferenceEvent[] = [
      imp('a', t, 'u1', 'i1', 'r1'), click('ca', t, 'u1', 'i1', 'r1'), // click at exactly t: label yes, feature no
      imp('b', t, 'u1', 'i2', 'r1'), click('cb', t + minutes(30), 'u1', 'i2', 'r1'), // t + 30 min: included
      imp('c', t, 'u1', 'i3', 'r1'), click('cc', t + minutes(30) + 1, 'u1', 'i3', 'r1'), // + 1 ms: not
      imp('d', t, 'u2', 'i1', 'r2', null), order('od', t + hours(24), 'u2', 'i1'), // order at t + 24 h, no category
      imp('e', t, 'u3', 'i1', 'r3'), order('oe', t + hours(24) + 1, 'u3', 'i1'),
      click('cx', t - 1, 'u1', 'i9', 'rx'), // just before t: a feature of t
      imp('f', t + 1, 'u1', 'i1', 'r4'), // a ms later: sees the click at t
      imp('z', t + hours(30), 'u9', 'i9', 'rz'), // pushes the watermark: complete below B = t + 30 h - lateness
      imp('g', t + hours(30) - LATENESS - hours(24), 'u4', 'i4', 'rg'), // labels close exactly at B: not yet
      imp('h', t + hours(30) - LATENESS - hours(24) - 1, 'u4', 'i4', 'rh'), // one ms earlier: mature
    ];
    events.sort((x, y) => x.eventTime - y.eventTime); // in time order: none of them is late
    const rule = labelRule();
    const { out } = joinInMemory(events, rule, 1);
    const by = new Map(out.map((s) => [s.impressionId, s]));
    expect([...by.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'h']);
    expect([by.get('a')!.clickLabel, by.get('b')!.clickLabel, by.get('c')!.clickLabel]).toEqual([1, 1, 0]);
    expect([by.get('d')!.orderLabel, by.get('e')!.orderLabel]).toEqual([1, 0]);
    expect(by.get('a')!.features.user_click_count_1h).toBe(1); // cx only; ca is at t
    expect(by.get('f')!.features.user_click_count_1h).toBe(2);
    expect(by.get('a')!.features.user_impression_count_1h).toBe(0); // b, c at the same ms are not features of each other
    expect(by.get('f')!.features.user_impression_count_1h).toBe(3);
    expect(by.get('d')!.features.user_category_click_count_7d).toBe(0); // no category: cold start
    expect(by.get('d')!.features.item_impression_count_1h).toBe(0);
    expect(by.get('f')!.features.item_impression_count_1h).toBe(3); // a, d, e at t
    expect(by.get('e')!.features.user_last_click_time).toBeNull(); // unknown user
    expect(by.get('a')!.features.context_hour_of_day).toBe(20);
    expect(compareSamples(out, naiveSamples(events, GROUPS, rule, t + hours(30) - LATENESS))).toBeNull();
  });

  it('the completeness bound: the slowest active partition minus the lateness; idle partitions do not hold it; a woken one is behind', () => {
    const t = Date.UTC(2026, 0, 5);
    const state = new JoinState({ groups: GROUPS, spec: featureSpec(GROUPS), rule: labelRule(), latenessMs: LATENESS, dedupeHorizonMs: hours(24) });
    const imp = (id: string, at: number): ReferenceEvent => ({ type: 'impression', eventId: id, eventTime: at, requestId: id, userId: 'u', itemId: 'i', categoryId: null, position: 0, context: { device: null, os: null, country: null, city: null, page: null, timezone: null } });
    state.observe('a', 0, { start: 0, end: 10 });
    state.observe('b', 0, { start: 0, end: 3 });
    expect(state.offer('a', 0, 0, imp('a0', t + hours(2)))).toBe('accepted');
    expect(state.completenessBound()).toBe(-Infinity); // b has not been read yet
    expect(state.offer('b', 0, 0, imp('b0', t + hours(1)))).toBe('accepted');
    expect(state.completenessBound()).toBe(t + hours(1) - LATENESS);
    expect(state.offer('b', 0, 1, imp('b1', t + hours(1) - LATENESS - 1))).toBe('late'); // the stream's rule
    expect(state.offer('b', 0, 2, imp('b0', t + hours(1)))).toBe('duplicate');
    // b has now read up to its log end (3): idle
    expect(state.completenessBound()).toBe(t + hours(2) - LATENESS);
    state.advance();
    expect(state.appliedBound).toBe(t + hours(2) - LATENESS);
    expect(state.offer('b', 0, 3, imp('b3', t + hours(1) + 5))).toBe('behind'); // b woke up with an old event
    expect(state.offer('a', 0, 0, imp('a0', t + hours(2)))).toBe('replayed');
  });

  it('restores from a checkpoint at any point and continues to the same samples', async () => {
    const rule = labelRule({ orderWindowMs: hours(6) });
    const events = joinStream(11, 200, { orderWindowMs: hours(6) });
    const spec = featureSpec(GROUPS);
    const { out: clean } = joinInMemory(events, rule, 11);
    const rng = new Rng(5, 'cuts');
    for (let round = 0; round < 3; round++) {
      const store = new MemoryOnlineStore();
      const cps = new JoinerCheckpoints(store, createJoinerKeys('x', 'r'), 'cfg', GROUPS.map((g) => g.name));
      const make = () => new JoinState({ groups: GROUPS, spec, rule, latenessMs: LATENESS, dedupeHorizonMs: hours(24) });
      let state = make();
      state.observe('ev', 0, { start: 0, end: events.length });
      let seq: number | null = null;
      const out: Sample[] = [];
      let i = 0;
      const cut = rng.int(50, events.length - 50);
      let written = 0;
      while (i < events.length) {
        for (let k = 0; k < 17 && i < events.length; k++, i++) state.offer('ev', 0, i, events[i]!);
        out.push(...state.advance());
        if (rng.bernoulli(0.5)) {
          seq = await cps.write(seq, state.drainChanges());
          written = out.length;
        }
        if (i >= cut && round >= 0 && cut > 0) {
          // crash: drop the state, restore from the store, re-read from the checkpointed offset
          const restored = await cps.read();
          state = make();
          state.restore(restored.state);
          expect(restored.seq).toBe(seq);
          out.length = written; // what readers keep after dropping re-sends
          i = state.partitions.get('ev:0')?.next ?? 0;
          state.observe('ev', 0, { start: 0, end: events.length });
          break;
        }
      }
      while (i < events.length) {
        for (let k = 0; k < 23 && i < events.length; k++, i++) state.offer('ev', 0, i, events[i]!);
        out.push(...state.advance());
      }
      out.push(...state.advance());
      expect(out).toEqual(clean);
    }
  });
});

describe('startJoiner on the memory log: samples topic equals the naive join', () => {
  it('a clean run, read back through readJoinedSamples', async () => {
    const rule = labelRule({ orderWindowMs: hours(6) });
    const events = joinStream(21, 220, { orderWindowMs: hours(6) });
    const { log, topics } = await produce(events);
    const { sub, metrics } = await runJoiner(log, topics, new MemoryOnlineStore(), { rule });
    await sub.done;
    const read = await readJoinedSamples(log, topics.samples(), { specHash: featureSpec(GROUPS).hash });
    const want = naiveSamples(events, GROUPS, rule, maxTime(events) - LATENESS);
    expect(compareSamples(read.samples, want)).toBeNull();
    expect(read.duplicates).toBe(0);
    const unique = new Set(events.map((e) => e.eventId)).size;
    expect(metrics.total('tessera_join_events_accepted_total')).toBe(unique);
    expect(metrics.total('tessera_join_duplicates_total')).toBe(events.length - unique);
    expect(metrics.total('tessera_join_late_events_total')).toBe(0);
    expect(metrics.total('tessera_join_samples_emitted_total')).toBe(want.size);
    expect(metrics.value('tessera_join_held_impressions')).toBe(new Set(events.filter((e) => e.type === 'impression').map((e) => e.eventId)).size - want.size);
    await log.close();
  });

  it('crashes at random points and restarts: the samples read back equal the clean run', async () => {
    const rule = labelRule({ orderWindowMs: hours(4) });
    const events = joinStream(22, 200, { orderWindowMs: hours(4) });
    const { log, topics } = await produce(events);
    const store = new MemoryOnlineStore();
    const rng = new Rng(3, 'crash');
    let resent = 0;
    let crashed = 0;
    for (let round = 0; round < 4; round++) {
      const crashAfter = rng.int(2, 12);
      let batches = 0;
      const { sub, metrics } = await runJoiner(log, topics, store, {
        rule,
        checkpointIntervalMs: round % 2 === 0 ? 0 : 1e9,
        onBatchJoined: () => {
          if (++batches === crashAfter) throw new Error('simulated crash');
        },
      });
      const outcome = await sub.done.then(() => 'finished', (err: Error) => err.message);
      if (outcome === 'simulated crash') crashed++;
      else expect(outcome).toBe('finished');
      resent += metrics.total('tessera_join_samples_emitted_total');
    }
    const { sub } = await runJoiner(log, topics, store, { rule });
    await sub.done;
    const read = await readJoinedSamples(log, topics.samples());
    expect(compareSamples(read.samples, naiveSamples(events, GROUPS, rule, maxTime(events) - LATENESS))).toBeNull();
    expect(crashed).toBeGreaterThan(1);
    expect(resent).toBeGreaterThan(0);
    expect(read.duplicates).toBeGreaterThan(0); // re-sent after the rounds that never checkpointed
    await log.close();
  });

  it('a second instance takes over mid-run; the first stops fenced; samples equal the clean run', async () => {
    const rule = labelRule({ orderWindowMs: hours(4) });
    const events = joinStream(23, 200, { orderWindowMs: hours(4) });
    const { log, topics } = await produce(events);
    const store = new MemoryOnlineStore();
    let batchesA = 0;
    let started!: () => void;
    const underWay = new Promise<void>((r) => (started = r));
    const a = await runJoiner(log, topics, store, {
      rule,
      onBatchJoined: async () => {
        if (++batchesA === 5) started();
        await new Promise((r) => setTimeout(r, 5));
      },
    });
    await underWay;
    const b = await runJoiner(log, topics, store, { rule });
    await expect(a.sub.done).rejects.toBeInstanceOf(JoinerFencedError);
    await b.sub.done;
    const read = await readJoinedSamples(log, topics.samples());
    expect(compareSamples(read.samples, naiveSamples(events, GROUPS, rule, maxTime(events) - LATENESS))).toBeNull();
    await log.close();
  });

  it('undecodable and invalid records are skipped and counted, never stop the joiner', async () => {
    const rule = labelRule({ orderWindowMs: hours(2) });
    const events = joinStream(24, 80, { orderWindowMs: hours(2), spanMs: hours(12) });
    const { log, topics } = await produce(events, 2);
    const nanOrder = { ...(events.find((e) => e.type === 'order') as AnyEvent & { type: 'order' }), eventId: 'nan', amount: Number.NaN };
    await log.send([
      { topic: topics.events('click'), key: 'u1', value: Buffer.from('garbage') },
      { topic: topics.events('impression'), key: 'u1', value: Buffer.alloc(0) },
      { topic: topics.events('order'), key: 'u1', value: registry.encode(nanOrder) },
      { topic: topics.events('impression'), key: 'u1', value: registry.encode(events.find((e) => e.type === 'click')!) }, // a click on the impression topic
    ]);
    const { sub, metrics } = await runJoiner(log, topics, new MemoryOnlineStore(), { rule });
    await sub.done;
    expect(metrics.total('tessera_join_bad_records_total')).toBe(4);
    const read = await readJoinedSamples(log, topics.samples());
    expect(compareSamples(read.samples, naiveSamples(events, GROUPS, rule, maxTime(events) - LATENESS))).toBeNull();
    await log.close();
  });

  it('events later than the lateness are counted and left out; empty partitions do not hold samples back', async () => {
    const rule = labelRule({ orderWindowMs: hours(2) });
    const base = joinStream(25, 120, { orderWindowMs: hours(2), spanMs: hours(20), dupRate: 0 });
    const start = Date.UTC(2026, 0, 5);
    // stragglers hours behind, at the end of the log; one impression, one click
    const stragglers: AnyEvent[] = base.filter((e) => e.type === 'impression' || e.type === 'click').slice(0, 2).map((e, i) => ({ ...e, eventId: `late-${i}`, eventTime: start - hours(5) + i }));
    const { log, topics } = await produce([...base, ...stragglers], 8); // 8 partitions for a handful of users: some stay empty
    const empty = (await Promise.all((['impression', 'click', 'order'] as const).map((t) => log.endOffsets(topics.events(t))))).flat().filter((p) => p.offset === 0);
    expect(empty.length).toBeGreaterThan(0);
    const { sub, metrics } = await runJoiner(log, topics, new MemoryOnlineStore(), { rule });
    await sub.done;
    expect(metrics.total('tessera_join_late_events_total')).toBe(2);
    const read = await readJoinedSamples(log, topics.samples());
    const want = naiveSamples(base, GROUPS, rule, maxTime(base) - LATENESS);
    expect(want.size).toBeGreaterThan(50);
    expect(compareSamples(read.samples, want)).toBeNull();
    await log.close();
  });
});
