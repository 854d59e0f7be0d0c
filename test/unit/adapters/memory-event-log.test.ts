import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { ServiceError, UsageError } from '../../../src/errors.js';
import { tpKey, type RecordBatch } from '../../../src/ports/event-log.js';
import { kafkaPartition } from '../../../src/util/murmur2.js';

const rec = (topic: string, key: string | null, value: string) => ({ topic, key, value: Buffer.from(value) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MemoryEventLog specifics', () => {
  it('places keyed records on the partition Kafka would choose', async () => {
    const log = new MemoryEventLog();
    await log.ensureTopics([{ name: 't', partitions: 7 }]);
    const keys = Array.from({ length: 50 }, (_, i) => `user-${i}`);
    await log.send(keys.map((k) => rec('t', k, k)));
    for (const p of [0, 1, 2, 3, 4, 5, 6]) {
      const got = await log.read('t', p, 0, 100);
      expect(got.map((r) => r.key)).toEqual(keys.filter((k) => kafkaPartition(k, 7) === p));
    }
    await log.close();
  });

  it('spreads records without a key round-robin', async () => {
    const log = new MemoryEventLog();
    await log.ensureTopics([{ name: 't', partitions: 3 }]);
    await log.send(Array.from({ length: 9 }, (_, i) => rec('t', null, `${i}`)));
    expect((await log.endOffsets('t')).map((p) => p.offset)).toEqual([3, 3, 3]);
    await log.close();
  });

  it('refuses a send with an unknown topic as a whole', async () => {
    const log = new MemoryEventLog();
    await log.ensureTopics([{ name: 't', partitions: 1 }]);
    await expect(log.send([rec('t', 'k', 'a'), rec('nope', 'k', 'b')])).rejects.toBeInstanceOf(ServiceError);
    expect(await log.endOffsets('t')).toEqual([{ partition: 0, offset: 0 }]);
    await expect(log.ensureTopics([{ name: 'bad', partitions: 0 }])).rejects.toBeInstanceOf(UsageError);
    await log.close();
  });

  it('consuming an unknown topic rejects done', async () => {
    const log = new MemoryEventLog();
    const sub = log.consume({ groupId: 'g', topics: ['nope'] }, async () => undefined);
    await expect(sub.done).rejects.toThrow(/does not exist/);
    await log.close();
  });

  it('a new owner waits for the previous owner to finish (and commit) its batch in flight', async () => {
    const log = new MemoryEventLog();
    await log.ensureTopics([{ name: 't', partitions: 2 }]);
    const keyFor = (p: number) => Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) => kafkaPartition(k, 2) === p) as string;
    await log.send(Array.from({ length: 6 }, (_, i) => rec('t', keyFor(1), `${i}`)));
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inFlight = new Promise<void>((r) => (entered = r));
    const a = log.consume({ groupId: 'g', topics: ['t'], maxBatchRecords: 3 }, async (b: RecordBatch) => {
      events.push(`a:${b.partition}:${b.records.map((r) => r.offset).join(',')}:start`);
      entered();
      await gate;
      events.push(`a:${b.partition}:end`);
    });
    await inFlight;
    // round-robin in join order: partition 1 goes to the second member
    const b = log.consume({ groupId: 'g', topics: ['t'], maxBatchRecords: 3, untilIdle: true, idleMs: 50 }, async (batch: RecordBatch) => {
      events.push(`b:${batch.partition}:${batch.records.map((r) => r.offset).join(',')}`);
    });
    await sleep(50);
    expect(events).toEqual(['a:1:0,1,2:start']);
    release();
    await b.done;
    await a.stop();
    expect(events).toEqual(['a:1:0,1,2:start', 'a:1:end', 'b:1:3,4,5']);
    expect(await log.committedOffsets('g', 't')).toEqual([
      { partition: 0, offset: -1 },
      { partition: 1, offset: 6 },
    ]);
    await log.close();
  });

  it('startOffsets: a negative offset means "none" (committed is used), a non-integer fails the subscription', async () => {
    const log = new MemoryEventLog();
    await log.ensureTopics([{ name: 't', partitions: 1 }]);
    await log.send(Array.from({ length: 4 }, (_, i) => rec('t', 'k', `${i}`)));
    const first = log.consume({ groupId: 'g', topics: ['t'], untilIdle: true, idleMs: 20, maxBatchRecords: 2 }, async (b) => {
      if (b.records[0]?.offset === 2) throw new Error('stop here');
    });
    await expect(first.done).rejects.toThrow('stop here');
    const seen: number[] = [];
    const second = log.consume(
      { groupId: 'g', topics: ['t'], untilIdle: true, idleMs: 20, startOffsets: async () => new Map([[tpKey('t', 0), -1]]) },
      async (b) => void seen.push(...b.records.map((r) => r.offset)),
    );
    await second.done;
    expect(seen).toEqual([2, 3]);
    const third = log.consume({ groupId: 'g', topics: ['t'], startOffsets: async () => new Map([[tpKey('t', 0), 1.5]]) }, async () => undefined);
    await expect(third.done).rejects.toBeInstanceOf(UsageError);
    await log.close();
  });

  it('hands partitions out fairly: a busy partition does not starve the others', async () => {
    const log = new MemoryEventLog();
    await log.ensureTopics([{ name: 't', partitions: 2 }]);
    const keyFor = (p: number) => Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) => kafkaPartition(k, 2) === p) as string;
    await log.send([...Array.from({ length: 50 }, (_, i) => rec('t', keyFor(0), `${i}`)), rec('t', keyFor(1), 'x')]);
    const order: number[] = [];
    const sub = log.consume({ groupId: 'g', topics: ['t'], maxBatchRecords: 5, untilIdle: true, idleMs: 20 }, async (b) => void order.push(b.partition));
    await sub.done;
    expect(order.indexOf(1)).toBeLessThan(3);
    await log.close();
  });
});
