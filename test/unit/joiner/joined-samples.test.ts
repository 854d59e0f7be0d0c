import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { parseDurationText as parseWindow } from '../../../src/app/command.js';
import { UsageError } from '../../../src/errors.js';
import { Rng } from '../../../src/ingest/rng.js';
import { readJoinedSamples, sampleRecord } from '../../../src/joiner/joined-samples.js';
import type { Sample } from '../../../src/samples/sample.js';

const ctx = { device: null, os: null, country: null, city: null, page: null, timezone: null };
const sample = (i: number): Sample => ({
  impressionId: `imp-${String(i).padStart(4, '0')}`,
  requestId: `r${i}`,
  userId: `u${i % 7}`,
  itemId: `i${i % 5}`,
  categoryId: null,
  position: 0,
  eventTime: 1_767_600_000_000 + Math.floor(i / 3) * 1000, // ties: three samples per ms
  context: ctx,
  clickLabel: (i % 4 === 0 ? 1 : 0) as 0 | 1,
  orderLabel: 0,
  features: { f: i },
});

describe('readJoinedSamples: the re-send rule', () => {
  it('writers that restart from earlier points, interleaved at random, are read back exactly once each, in order', async () => {
    const rng = new Rng(1, 'resend');
    const log = new MemoryEventLog();
    await log.ensureTopics([{ name: 'samples', partitions: 3 }]);
    const all = Array.from({ length: 300 }, (_, i) => sample(i));
    // three writers, each sending the release-ordered sequence from its restart point on: the first
    // crashes at 180; the second restarts from a checkpoint at 120, the third takes over from one at
    // 150. A checkpoint is written only after the sends it covers, so a writer starts once every
    // sample before its restart point is in the log.
    const starts = [0, 120, 150];
    const ends = [180, 300, 300];
    const cursors = [...starts];
    const written = new Set<number>();
    const ready = (w: number) => Array.from({ length: starts[w]! }, (_, i) => i).every((i) => written.has(i));
    while (cursors.some((c, w) => c < ends[w]!)) {
      const w = rng.int(0, 3);
      const n = Math.min(rng.int(1, 9), ends[w]! - cursors[w]!);
      if (n <= 0 || !ready(w)) continue;
      await log.send(all.slice(cursors[w]!, cursors[w]! + n).map((s) => sampleRecord('samples', s, 'spec1')));
      for (let i = cursors[w]!; i < cursors[w]! + n; i++) written.add(i);
      cursors[w]! += n;
    }
    await log.send([{ topic: 'samples', key: 'u1', value: Buffer.from('not a sample') }]);
    const first = await readJoinedSamples(log, 'samples', { specHash: 'spec1', maxRecordsPerPartition: 40 });
    const rest = await readJoinedSamples(log, 'samples', { from: first.cursor, specHash: 'spec1' });
    const got = [...first.samples, ...rest.samples];
    expect(got.map((s) => s.impressionId).sort()).toEqual(all.map((s) => s.impressionId));
    expect(first.duplicates + rest.duplicates).toBe(180 + 180 + 150 - 300);
    expect(first.skipped + rest.skipped).toBe(1);
    // a reader of another spec keeps nothing
    expect((await readJoinedSamples(log, 'samples', { specHash: 'other' })).samples).toEqual([]);
    await log.close();
  });

  it('parses label windows on the command line', () => {
    expect(parseWindow('w', '30m')).toBe(1_800_000);
    expect(parseWindow('w', '24h')).toBe(86_400_000);
    expect(parseWindow('w', '2d')).toBe(172_800_000);
    expect(parseWindow('w', '90s')).toBe(90_000);
    expect(parseWindow('w', '1500')).toBe(1500);
    expect(parseWindow('w', '1500ms')).toBe(1500);
    expect(() => parseWindow('click-window', '30 minutes')).toThrow(UsageError);
  });
});
