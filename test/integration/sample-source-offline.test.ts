import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbOfflineStore, type ChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import { buildSamples } from '../../src/batch/build-samples.js';
import { readSamples } from '../../src/batch/read-samples.js';
import { days, hours } from '../../src/features/definitions.js';
import type { Sample } from '../../src/samples/sample.js';
import { offlineSampleSource, type SampleSource, type SourceCursor } from '../../src/training/sample-sources.js';
import { REFERENCE_CATALOG, REFERENCE_GROUPS } from '../helpers/reference.js';
import { dropRawTables, loadRawEvents, sampleStream } from './batch-fixtures.js';

/** Calls next() until the source says it is exhausted; every call's samples and the cursor after each. */
async function drain(source: SampleSource, cursor: SourceCursor | null, max: number, calls = Number.POSITIVE_INFINITY) {
  const got: Sample[] = [];
  const cursors: SourceCursor[] = [];
  let exhausted = false;
  for (let c = 0; c < calls && !exhausted; c++) {
    const r = await source.next(cursor, max);
    got.push(...r.samples);
    cursors.push(...r.cursors);
    cursor = r.cursors[r.cursors.length - 1] ?? cursor;
    exhausted = r.exhausted;
    // a call short of max only at the end
    if (!exhausted) expect(r.samples).toHaveLength(max);
  }
  return { got, cursors, cursor, exhausted };
}

describe('the ClickHouse sample source (chDB): one reader kept across calls, any cursor honoured', () => {
  let store: ChdbOfflineStore;
  const start = Date.UTC(2026, 2, 27, 12);
  const from = start + hours(1);
  const to = start + days(2);
  const all: Sample[] = [];

  beforeAll(async () => {
    store = await createChdbOfflineStore();
    await dropRawTables(store);
    await store.command('DROP TABLE IF EXISTS samples');
    const events = sampleStream(21, 900, { start, maxSlate: 6 });
    await loadRawEvents(store, events);
    await buildSamples({ offline: store }, { catalog: REFERENCE_CATALOG, groups: REFERENCE_GROUPS, from, to });
    for await (const s of readSamples(store, { from, to, groups: REFERENCE_GROUPS })) all.push(s);
    expect(all.length).toBeGreaterThan(300);
  });
  afterAll(async () => {
    await store?.close();
  });

  const ids = (samples: readonly Sample[]) => samples.map((s) => s.impressionId);

  it('sequential calls give every sample once, in table order, exhausted on the last call only', async () => {
    const { got, cursors } = await drain(offlineSampleSource(store, { from, to, groups: REFERENCE_GROUPS }), null, 37);
    expect(ids(got)).toEqual(ids(all));
    expect(got).toEqual(all);
    expect(cursors.map((c) => c.id)).toEqual(ids(all));
  });

  it('a cursor from elsewhere (a checkpoint read back, an earlier point, a new epoch) restarts the read right after it', async () => {
    const source = offlineSampleSource(store, { from, to, groups: REFERENCE_GROUPS });
    const first = await drain(source, null, 50, 4); // the reader is now 200 samples in
    expect(ids(first.got)).toEqual(ids(all.slice(0, 200)));
    // back to sample 73's cursor, as a checkpoint written to JSON and read back
    const back = JSON.parse(JSON.stringify(first.cursors[72])) as SourceCursor;
    const rest = await drain(source, back, 64);
    expect(ids(rest.got)).toEqual(ids(all.slice(73)));
    // a new epoch: from the start again
    const again = await drain(source, null, 1000);
    expect(ids(again.got)).toEqual(ids(all));
    // the same cursor twice gives the same samples
    const mid = first.cursors[149] as SourceCursor;
    const a = await source.next(mid, 10);
    const b = await source.next(mid, 10);
    expect(ids(b.samples)).toEqual(ids(a.samples));
    expect(ids(a.samples)).toEqual(ids(all.slice(150, 160)));
  });

  it('a cursor at the last sample is exhausted with nothing; an empty range is exhausted at once', async () => {
    const source = offlineSampleSource(store, { from, to, groups: REFERENCE_GROUPS });
    const last = all[all.length - 1] as Sample;
    expect(await source.next({ t: last.eventTime, id: last.impressionId }, 10)).toEqual({ samples: [], cursors: [], exhausted: true });
    const empty = offlineSampleSource(store, { from: to + days(10), to: to + days(11), groups: REFERENCE_GROUPS });
    expect(await empty.next(null, 10)).toEqual({ samples: [], cursors: [], exhausted: true });
  });
});
