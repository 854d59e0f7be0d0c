import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { sampleRecord } from '../../../src/joiner/joined-samples.js';
import { Rng } from '../../../src/ingest/rng.js';
import type { Sample } from '../../../src/samples/sample.js';
import { topicSampleSource, type SourceCursor } from '../../../src/training/sample-sources.js';

const sample = (i: number, user: string, t: number): Sample => ({
  impressionId: `imp${String(i).padStart(4, '0')}`, requestId: 'r', userId: user, itemId: 'i', categoryId: null, position: 0, eventTime: t,
  context: { device: null, os: null, country: null, city: null, page: null, timezone: null }, clickLabel: 0, orderLabel: 0, features: {},
});

describe('samples topic source', () => {
  it('merges partitions in release order, drops re-sends and other specs, and resumes after any sample', async () => {
    const log = new MemoryEventLog();
    await log.ensureTopics([{ name: 's', partitions: 3 }]);
    const rng = new Rng(7, 'sources');
    const all: Sample[] = [];
    for (let i = 0; i < 300; i++) all.push(sample(i, `u${rng.int(0, 9)}`, 1000 + Math.floor(i / 3))); // ties of eventTime across users
    // the joiner releases in (eventTime, impressionId) order; a restart re-sends a stretch
    const records = all.map((s) => sampleRecord('s', s, 'spec'));
    const resend = all.slice(100, 140).map((s) => sampleRecord('s', s, 'spec'));
    const foreign = sampleRecord('s', sample(999, 'u1', 5000), 'other-spec');
    await log.send(records.slice(0, 150));
    await log.send([...resend, foreign]);
    await log.send(records.slice(150));
    const want = [...all].sort((a, b) => a.eventTime - b.eventTime || (a.impressionId < b.impressionId ? -1 : 1)).map((s) => s.impressionId);

    const source = topicSampleSource(log, 's', { specHash: 'spec', readChunk: 7 });
    const got: string[] = [];
    const cursors: SourceCursor[] = [];
    let cursor: SourceCursor | null = null;
    for (;;) {
      const r = await source.next(cursor, 23);
      got.push(...r.samples.map((s) => s.impressionId));
      cursors.push(...r.cursors);
      if (r.samples.length > 0) cursor = r.cursors.at(-1)!;
      if (r.exhausted && r.samples.length === 0) break;
    }
    expect(got).toEqual(want);
    // resuming after sample k gives exactly the samples after it
    for (const k of [0, 57, 149, 298]) {
      const rest: string[] = [];
      let c: SourceCursor | null = cursors[k]!;
      for (;;) {
        const r = await source.next(c, 1000);
        rest.push(...r.samples.map((s) => s.impressionId));
        if (r.samples.length > 0) c = r.cursors.at(-1)!;
        if (r.exhausted && r.samples.length === 0) break;
      }
      expect(rest).toEqual(want.slice(k + 1));
    }
  });
});
