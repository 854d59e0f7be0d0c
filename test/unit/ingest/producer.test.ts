import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import type { AnyEvent } from '../../../src/events/event-types.js';
import { topicSpecs } from '../../../src/events/topics.js';
import { createEventProducer } from '../../../src/ingest/producer.js';
import { NOW, SAMPLES } from '../events/samples.js';
import { referenceRegistry, referenceTopics } from '../../helpers/reference.js';

describe('the event producer', () => {
  it("rejects an event whose record is over its topic's limit as RECORD_TOO_LARGE and sends the others", async () => {
    const log = new MemoryEventLog();
    const topics = referenceTopics('t');
    const registry = referenceRegistry();
    const profiles = topics.events('item_profile');
    await log.ensureTopics(topicSpecs(topics, 2).map((s) => (s.name === profiles ? { ...s, config: { 'max.message.bytes': '600' } } : s)));
    const producer = createEventProducer({ log, registry, topics, clock: () => NOW });
    const events: AnyEvent[] = [
      SAMPLES.click,
      { ...SAMPLES.item_profile, brand: 'b'.repeat(1000) },
      { ...SAMPLES.item_profile, eventId: 'p-2' },
      { ...SAMPLES.item_profile, itemId: 'i'.repeat(300) },
    ];
    const report = await producer.send(events);
    expect(report.sent).toBe(2);
    expect(report.rejected.map((r) => [r.index, r.error.reason])).toEqual([
      [1, 'RECORD_TOO_LARGE'],
      [3, 'FIELD_TOO_LONG'],
    ]);
    expect(report.rejected[0]?.error.message).toMatch(/^the encoded event takes \d+ bytes; t\.events\.item_profile accepts at most 539 /);
    const stored = (await log.endOffsets(profiles)).reduce((n, p) => n + p.offset, 0);
    expect(stored).toBe(1);
    await log.close();
  });
});
