import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecordTooLargeError, ServiceError, TesseraError } from '../../src/errors.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  RECORD_BATCH_HEADER_BYTES,
  recordBytes,
  tpKey,
  type ConsumeOptions,
  type ConsumedRecord,
  type EventLog,
  type OutgoingRecord,
  type RecordBatch,
  type Subscription,
  type TopicPartition,
} from '../../src/ports/event-log.js';
import { randomName } from '../helpers/env.js';

/** What a contract run needs from an adapter. */
export interface EventLogHarness {
  log: EventLog;
  /** Deletes the topics the case created and closes the log (the case may have closed it already). */
  cleanup: () => Promise<void>;
}

/** Caught-up time before `untilIdle` ends a subscription, in every case. */
const IDLE_MS = 300;

/**
 * The EventLog contract (see `src/ports/event-log.ts`), run against every adapter. Each case gets
 * a fresh log and creates randomly named topics and groups, so cases never see each other.
 * Timing is never asserted; waits poll a condition with a generous deadline.
 */
export function eventLogContract(name: string, makeLog: () => Promise<EventLogHarness>): void {
  describe(`EventLog contract: ${name}`, () => {
    let h: EventLogHarness;
    let log: EventLog;
    beforeEach(async () => {
      h = await makeLog();
      log = h.log;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    const newTopic = async (partitions: number): Promise<string> => {
      const topic = randomName('contract-');
      await log.ensureTopics([{ name: topic, partitions }]);
      return topic;
    };

    /** Consumes with `untilIdle` and collects every batch handed over. */
    const drain = async (options: Omit<ConsumeOptions, 'untilIdle'>) => {
      const batches: RecordBatch[] = [];
      const sub = log.consume({ idleMs: IDLE_MS, ...options, untilIdle: true }, async (b) => {
        batches.push(b);
      });
      await sub.done;
      return { batches, records: batches.flatMap((b) => b.records) };
    };

    const endTotal = async (topic: string) => (await log.endOffsets(topic)).reduce((n, p) => n + p.offset, 0);

    it('keeps send order per key within one partition, and a key always maps to the same partition', async () => {
      const topic = await newTopic(4);
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'user-42', 'ключ'];
      const sent = Array.from({ length: 80 }, (_, i) => record(topic, keys[i % keys.length] as string, `${i}`));
      await log.send(sent.slice(0, 30));
      await log.send(sent.slice(30, 31));
      await log.send(sent.slice(31));
      const group = randomName('g-');
      const { records, batches } = await drain({ groupId: group, topics: [topic] });
      expect(records).toHaveLength(80);
      for (const b of batches) {
        expect(b.records.length).toBeGreaterThan(0);
        expect(b.records.every((r) => r.topic === b.topic && r.partition === b.partition)).toBe(true);
        expect(b.records.map((r) => r.offset)).toEqual(b.records.map((_, i) => (b.records[0]?.offset ?? 0) + i));
        expect(b.highWatermark).toBeGreaterThan(b.records[b.records.length - 1]?.offset ?? Infinity);
      }
      const partitionOf = new Map<string, number>();
      for (const key of keys) {
        const mine = records.filter((r) => r.key === key);
        expect(new Set(mine.map((r) => r.partition)).size, key).toBe(1);
        // offsets increase in send order
        const sorted = [...mine].sort((a, b) => a.offset - b.offset);
        expect(sorted.map((r) => r.value.toString())).toEqual(sent.filter((r) => r.key === key).map((r) => r.value.toString()));
        partitionOf.set(key, mine[0]?.partition ?? -1);
      }
      expect(new Set(partitionOf.values()).size).toBeGreaterThan(1); // 8 keys over 4 partitions: not all on one
      // later sends of the same keys land on the same partitions
      await log.send(keys.map((k) => record(topic, k, `again-${k}`)));
      const later = await drain({ groupId: group, topics: [topic] });
      expect(later.records.map((r) => [r.key, r.partition]).sort()).toEqual(keys.map((k) => [k, partitionOf.get(k)]).sort());
      // per partition, the counts add up to the end offsets
      const perPartition = new Map<number, number>();
      for (const r of [...records, ...later.records]) perPartition.set(r.partition, (perPartition.get(r.partition) ?? 0) + 1);
      expect(await log.endOffsets(topic)).toEqual([0, 1, 2, 3].map((p) => ({ partition: p, offset: perPartition.get(p) ?? 0 })));
    });

    it('offsetsForTimestamp finds the first record appended at or after a time, per partition', async () => {
      const topic = await newTopic(2);
      await log.send(['a', 'b', 'c', 'd'].map((k) => record(topic, k, `early-${k}`)));
      const afterEarly = await log.endOffsets(topic);
      await new Promise((r) => setTimeout(r, 50));
      const between = Date.now();
      await new Promise((r) => setTimeout(r, 50));
      await log.send(['a', 'b', 'c', 'd'].map((k) => record(topic, k, `late-${k}`)));
      expect(await log.offsetsForTimestamp(topic, between)).toEqual(afterEarly);
      expect(await log.offsetsForTimestamp(topic, 0)).toEqual(await log.startOffsets(topic));
      expect(await log.offsetsForTimestamp(topic, Date.now() + 3_600_000)).toEqual(await log.endOffsets(topic));
    });

    it('round-trips binary values, empty values, null and unicode keys, and headers exactly', async () => {
      const topic = await newTopic(2);
      const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const big = Buffer.alloc(200_000);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
      const before = Date.now();
      const sent: OutgoingRecord[] = [
        { topic, key: 'bin', value: allBytes, headers: { 'trace-id': 'abc-123', 'ünï': 'çødé ✓ 😀', empty: '' } },
        { topic, key: 'bin', value: Buffer.alloc(0) },
        { topic, key: 'bin', value: big, headers: { h: '1' } },
        { topic, key: null, value: Buffer.from('no key') },
        { topic, key: '키-🔑', value: Buffer.from([0, 0, 0]) },
      ];
      await log.send(sent);
      const { records } = await drain({ groupId: randomName('g-'), topics: [topic] });
      expect(records).toHaveLength(sent.length);
      for (const s of sent) {
        const got = records.find((r) => r.key === s.key && r.value.equals(s.value));
        expect(got, `${String(s.key)} / ${s.value.length} bytes`).toBeDefined();
        expect(Buffer.isBuffer(got?.value)).toBe(true);
        expect(got?.headers).toEqual(s.headers ?? {});
        expect(got?.timestamp).toBeGreaterThanOrEqual(before - 60_000);
        expect(got?.timestamp).toBeLessThanOrEqual(Date.now() + 60_000);
      }
      // read() sees the same bytes
      const bin = records.find((r) => r.key === 'bin');
      const viaRead = await log.read(topic, bin?.partition ?? 0, 0, 100);
      expect(viaRead.filter((r) => r.key === 'bin').map((r) => [r.value.length, r.value.equals(allBytes) || r.value.equals(big) || r.value.length === 0])).toEqual([
        [256, true],
        [0, true],
        [200_000, true],
      ]);
    });

    it('with commit, a new member of the same group sees nothing already handled, then only what came later', async () => {
      const topic = await newTopic(2);
      await log.send(Array.from({ length: 20 }, (_, i) => record(topic, `k${i}`, `a${i}`)));
      const group = randomName('g-');
      expect(await log.committedOffsets(group, topic)).toEqual([
        { partition: 0, offset: -1 },
        { partition: 1, offset: -1 },
      ]);
      const first = await drain({ groupId: group, topics: [topic] });
      expect(first.records).toHaveLength(20);
      expect(await log.committedOffsets(group, topic)).toEqual(await log.endOffsets(topic));
      const second = await drain({ groupId: group, topics: [topic] });
      expect(second.batches).toEqual([]);
      await log.send(Array.from({ length: 5 }, (_, i) => record(topic, `k${i}`, `b${i}`)));
      const third = await drain({ groupId: group, topics: [topic] });
      expect(third.records.map((r) => r.value.toString()).sort()).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
      // another group is independent
      expect((await drain({ groupId: randomName('g-'), topics: [topic] })).records).toHaveLength(25);
    });

    it('a handler error rejects done and commits nothing of that batch; the next member gets it again', async () => {
      const topic = await newTopic(1);
      await log.send(Array.from({ length: 10 }, (_, i) => record(topic, 'k', `${i}`)));
      const group = randomName('g-');
      const calls: ConsumedRecord[][] = [];
      const sub = log.consume({ groupId: group, topics: [topic], maxBatchRecords: 3 }, async (b) => {
        calls.push(b.records);
        if (calls.length === 3) throw new Error('boom: handler failed');
      });
      await expect(sub.done).rejects.toThrow('boom: handler failed');
      expect(calls).toHaveLength(3);
      expect(calls.every((c) => c.length >= 1 && c.length <= 3)).toBe(true);
      const ok = calls.slice(0, 2).flat();
      const failed = calls[2] ?? [];
      const [committed] = await log.committedOffsets(group, topic);
      expect(committed?.offset).toBe((ok[ok.length - 1]?.offset ?? -2) + 1);
      const again = await drain({ groupId: group, topics: [topic] });
      expect(again.records[0]?.offset).toBe(failed[0]?.offset);
      expect([...ok, ...again.records].map((r) => r.value.toString())).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      expect(await log.committedOffsets(group, topic)).toEqual([{ partition: 0, offset: 10 }]);
    });

    it('without commit, stopping leaves the offsets alone and the next member gets everything again', async () => {
      const topic = await newTopic(2);
      await log.send(Array.from({ length: 12 }, (_, i) => record(topic, `k${i}`, `${i}`)));
      const group = randomName('g-');
      const first = await drain({ groupId: group, topics: [topic], commit: false });
      expect(first.records).toHaveLength(12);
      expect((await log.committedOffsets(group, topic)).map((p) => p.offset)).toEqual([-1, -1]);
      const second = await drain({ groupId: group, topics: [topic] });
      expect(second.records.map((r) => r.value.toString()).sort()).toEqual(first.records.map((r) => r.value.toString()).sort());
    });

    it('stop() ends the subscription after the batch in flight and resolves done', async () => {
      const topic = await newTopic(1);
      await log.send(Array.from({ length: 50 }, (_, i) => record(topic, 'k', `${i}`)));
      let calls = 0;
      let inFlight = false;
      let started!: () => void;
      const firstCall = new Promise<void>((r) => (started = r));
      const sub = log.consume({ groupId: randomName('g-'), topics: [topic], maxBatchRecords: 5 }, async () => {
        calls++;
        inFlight = true;
        started();
        await sleep(150);
        inFlight = false;
      });
      await firstCall;
      await sub.stop();
      expect(inFlight).toBe(false); // stop waited for the batch in flight
      await sub.done;
      const after = calls;
      await sleep(400);
      expect(calls).toBe(after);
      expect(calls).toBeLessThan(10);
    });

    it('startOffsets replaces the committed offsets at assignment, and gets the assigned partitions', async () => {
      const topic = await newTopic(2);
      await log.send(Array.from({ length: 24 }, (_, i) => record(topic, `key-${i}`, `${i}`)));
      const group = randomName('g-');
      await drain({ groupId: group, topics: [topic] });
      const ends = await log.endOffsets(topic);
      const target = ends.find((p) => p.offset >= 3);
      expect(target).toBeDefined();
      const p = target?.partition ?? 0;
      const calls: TopicPartition[][] = [];
      const replay = await drain({
        groupId: group,
        topics: [topic],
        startOffsets: async (assigned) => {
          calls.push([...assigned]);
          return new Map([[tpKey(topic, p), 1]]);
        },
      });
      expect(calls.length).toBeGreaterThanOrEqual(1);
      expect([...(calls[0] ?? [])].sort((a, b) => a.partition - b.partition)).toEqual([
        { topic, partition: 0 },
        { topic, partition: 1 },
      ]);
      expect(replay.records.every((r) => r.partition === p)).toBe(true);
      expect(replay.records.map((r) => r.offset)).toEqual(Array.from({ length: (target?.offset ?? 0) - 1 }, (_, i) => i + 1));
      // an offset beyond what was handled: those records are skipped for this member
      const fresh = randomName('g-');
      const skipping = await drain({ groupId: fresh, topics: [topic], startOffsets: async () => new Map([[tpKey(topic, p), target?.offset ?? 0]]) });
      expect(skipping.records.every((r) => r.partition !== p)).toBe(true);
      expect(skipping.records).toHaveLength(24 - (target?.offset ?? 0));
    });

    it('untilIdle ends on an empty topic, and fromBeginning: false starts at the log end', async () => {
      const empty = await newTopic(2);
      expect((await drain({ groupId: randomName('g-'), topics: [empty] })).batches).toEqual([]);
      const topic = await newTopic(1);
      await log.send(Array.from({ length: 5 }, (_, i) => record(topic, 'k', `${i}`)));
      const latest = await drain({ groupId: randomName('g-'), topics: [topic], fromBeginning: false });
      expect(latest.batches).toEqual([]);
      const earliest = await drain({ groupId: randomName('g-'), topics: [topic, empty] });
      expect(earliest.records).toHaveLength(5);
    });

    it('two members of a group split the partitions and together see every record exactly once', async () => {
      const topic = await newTopic(4);
      const group = randomName('g-');
      const seen = new Map<string, string[]>(); // tp:offset -> members that got it
      const partitionsOf = { a: new Set<number>(), b: new Set<number>() };
      let phase: 'warmup' | 'main' = 'warmup';
      const member = (id: 'a' | 'b'): Subscription =>
        log.consume({ groupId: group, topics: [topic] }, async (b) => {
          for (const r of b.records) {
            const at = `${r.partition}@${r.offset}`;
            seen.set(at, [...(seen.get(at) ?? []), id]);
          }
          if (phase === 'main') partitionsOf[id].add(b.partition);
        });
      const a = member('a');
      const b = member('b');
      try {
        // warm up until both members have records, i.e. the group has settled on two members
        let round = 0;
        await waitFor(async () => {
          const members = new Set([...seen.values()].flat());
          if (members.has('a') && members.has('b')) return true;
          if (round++ % 5 === 0) await log.send(Array.from({ length: 8 }, (_, i) => record(topic, `warm-${round}-${i}`, 'warm')));
          return false;
        }, 'both members to receive records');
        phase = 'main';
        await log.send(Array.from({ length: 200 }, (_, i) => record(topic, `main-${i}`, `${i}`)));
        const total = await endTotal(topic);
        await waitFor(async () => seen.size >= total, `all ${total} records to arrive`);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
      await Promise.all([a.done, b.done]);
      const twice = [...seen].filter(([, who]) => who.length !== 1);
      expect(twice).toEqual([]);
      expect(seen.size).toBe(await endTotal(topic));
      expect(partitionsOf.a.size).toBeGreaterThan(0);
      expect(partitionsOf.b.size).toBeGreaterThan(0);
      expect([...partitionsOf.a].filter((p) => partitionsOf.b.has(p))).toEqual([]);
      expect([...partitionsOf.a, ...partitionsOf.b].sort()).toEqual([0, 1, 2, 3]);
      expect(await log.committedOffsets(group, topic)).toEqual(await log.endOffsets(topic));
    });

    it('a member joining mid-stream takes partitions over; nothing is lost and no partition is handled by two members at once', async () => {
      const topic = await newTopic(2);
      const group = randomName('g-');
      await log.send(Array.from({ length: 200 }, (_, i) => record(topic, `k${i}`, `${i}`)));
      const seen = new Map<string, number>();
      const busy = new Set<number>();
      const overlaps: number[] = [];
      const batchesOf = { a: 0, b: 0 };
      let b: Subscription | undefined;
      const handler = (id: 'a' | 'b') => async (batch: RecordBatch) => {
        if (busy.has(batch.partition)) overlaps.push(batch.partition);
        busy.add(batch.partition);
        batchesOf[id]++;
        // the second member joins while this one is in the middle of a batch of partition 1
        // (the partition round-robin hands to the second member of a two-member group)
        if (id === 'a' && b === undefined && batchesOf.a >= 2 && batch.partition === 1) {
          b = log.consume({ groupId: group, topics: [topic], maxBatchRecords: 8 }, handler('b'));
        }
        await sleep(15);
        for (const r of batch.records) seen.set(`${r.partition}@${r.offset}`, (seen.get(`${r.partition}@${r.offset}`) ?? 0) + 1);
        busy.delete(batch.partition);
      };
      const a = log.consume({ groupId: group, topics: [topic], maxBatchRecords: 8 }, handler('a'));
      try {
        await waitFor(async () => b !== undefined, 'the second member to start');
        // keep producing while the group rebalances
        for (let i = 0; i < 6; i++) {
          await log.send(Array.from({ length: 10 }, (_, j) => record(topic, `late-${i}-${j}`, `late-${i}-${j}`)));
          await sleep(100);
        }
        const total = await endTotal(topic);
        await waitFor(async () => seen.size >= total && batchesOf.b > 0, `all ${total} records to arrive`);
      } finally {
        await Promise.all([a.stop(), b?.stop()]);
      }
      expect(seen.size).toBe(await endTotal(topic));
      expect(batchesOf.b).toBeGreaterThan(0);
      expect(overlaps).toEqual([]);
      expect([...seen.values()].filter((n) => n > 1)).toEqual([]); // nobody failed, so nothing twice either
      expect(await log.committedOffsets(group, topic)).toEqual(await log.endOffsets(topic));
    });

    it('reports start, end and committed offsets per partition', async () => {
      const topic = await newTopic(3);
      expect(await log.startOffsets(topic)).toEqual([0, 1, 2].map((partition) => ({ partition, offset: 0 })));
      expect(await log.endOffsets(topic)).toEqual([0, 1, 2].map((partition) => ({ partition, offset: 0 })));
      await log.send(Array.from({ length: 30 }, (_, i) => record(topic, `k${i}`, `${i}`)));
      const group = randomName('g-');
      expect(await log.committedOffsets(group, topic)).toEqual([0, 1, 2].map((partition) => ({ partition, offset: -1 })));
      const { records } = await drain({ groupId: group, topics: [topic], maxBatchRecords: 4 });
      const ends = await log.endOffsets(topic);
      expect(ends.map((p) => p.offset)).toEqual([0, 1, 2].map((p) => records.filter((r) => r.partition === p).length));
      expect(ends.reduce((n, p) => n + p.offset, 0)).toBe(30);
      expect(await log.committedOffsets(group, topic)).toEqual(ends.map((p) => ({ partition: p.partition, offset: p.offset === 0 ? -1 : p.offset })));
      expect(await log.startOffsets(topic)).toEqual([0, 1, 2].map((partition) => ({ partition, offset: 0 })));
    });

    it('read returns a partition range in offset order, without a group', async () => {
      const topic = await newTopic(2);
      await log.send(Array.from({ length: 30 }, (_, i) => record(topic, 'same-key', `${i}`)));
      const p = (await log.endOffsets(topic)).find((o) => o.offset === 30)?.partition;
      expect(p).toBeDefined();
      const other = p === 0 ? 1 : 0;
      const range = await log.read(topic, p ?? 0, 5, 10);
      expect(range.map((r) => [r.offset, r.value.toString(), r.partition, r.topic])).toEqual(
        Array.from({ length: 10 }, (_, i) => [5 + i, `${5 + i}`, p, topic]),
      );
      expect((await log.read(topic, p ?? 0, 25, 10)).map((r) => r.offset)).toEqual([25, 26, 27, 28, 29]);
      expect(await log.read(topic, p ?? 0, 30, 10)).toEqual([]);
      expect(await log.read(topic, other, 0, 10)).toEqual([]);
    });

    it('send to a missing topic fails at once, not retriable; ensureTopics leaves existing topics alone; deleteTopics ignores missing ones', async () => {
      const missing = randomName('missing-');
      const err = await log.send([record(missing, 'k', 'v')]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ServiceError);
      expect((err as TesseraError).retriable).toBe(false);
      const topic = await newTopic(3);
      await log.ensureTopics([{ name: topic, partitions: 5 }]);
      expect(await log.endOffsets(topic)).toHaveLength(3);
      await log.deleteTopics([missing]);
    });

    it("a record over its topic's max.message.bytes fails the whole send at once, not retriable, and nothing is appended; records under it are chunked to fit", async () => {
      const plain = await newTopic(1);
      expect(await log.maxRecordBytes(plain)).toBe(DEFAULT_MAX_MESSAGE_BYTES - RECORD_BATCH_HEADER_BYTES);
      // Far over the limit: a broker drops the connection on such a request; the call must fail, not hang.
      const huge = { topic: plain, key: 'k', value: Buffer.alloc(5 * 1024 * 1024, 1) };
      const hugeErr = await log.send([record(plain, 'k', 'a'), huge]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(hugeErr).toBeInstanceOf(RecordTooLargeError);
      expect((hugeErr as RecordTooLargeError).index).toBe(1);
      expect((hugeErr as TesseraError).retriable).toBe(false);

      const small = randomName('contract-');
      await log.ensureTopics([{ name: small, partitions: 1, config: { 'max.message.bytes': '20000' } }]);
      const limit = await log.maxRecordBytes(small);
      expect(limit).toBe(20000 - RECORD_BATCH_HEADER_BYTES);
      const fits = { topic: small, key: 'k', value: Buffer.alloc(0) };
      fits.value = Buffer.alloc(limit - recordBytes(fits), 2);
      expect(recordBytes(fits)).toBe(limit);
      const over = { topic: small, key: 'k', value: Buffer.alloc(fits.value.length + 1, 3) };
      const err = await log.send([record(small, 'k', 'first'), over, record(small, 'k', 'last')]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RecordTooLargeError);
      expect(err).toMatchObject({ topic: small, index: 1, bytes: limit + 1, limit });
      expect(await endTotal(small)).toBe(0);
      expect(await endTotal(plain)).toBe(0);

      // At the limit it is accepted; so are twenty 5 kB records to one partition, 100 kB in all,
      // which the log must split into requests the topic accepts.
      const many = Array.from({ length: 20 }, (_, i) => ({ topic: small, key: 'k', value: Buffer.alloc(5000, i) }));
      await log.send([fits, ...many]);
      const stored = await log.read(small, 0, 0, 100);
      expect(stored.map((r) => r.value.length)).toEqual([fits.value.length, ...many.map((r) => r.value.length)]);
      expect(stored.slice(1).map((r) => r.value[0])).toEqual(many.map((_, i) => i));
    });

    it('close stops running subscriptions and resolves their done', async () => {
      const topic = await newTopic(1);
      await log.send([record(topic, 'k', 'v')]);
      let got = 0;
      const sub = log.consume({ groupId: randomName('g-'), topics: [topic] }, async (b) => {
        got += b.records.length;
      });
      await waitFor(async () => got === 1, 'the record');
      await log.close();
      await expect(sub.done).resolves.toBeUndefined();
    });
  });
}

function record(topic: string, key: string | null, value: string): OutgoingRecord {
  return { topic, key, value: Buffer.from(value) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` every 50 ms until it holds; fails the case after `timeoutMs`. */
async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
