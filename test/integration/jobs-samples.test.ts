import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobTaskBindings } from '../../src/app/commands/jobs.js';
import { loadConfig } from '../../src/app/config.js';
import { Runtime } from '../../src/app/runtime.js';
import { buildSamples } from '../../src/batch/build-samples.js';
import { readSamples } from '../../src/batch/read-samples.js';
import type { JobDefinition } from '../../src/jobs/job-definition.js';
import { loadJobDefinitions } from '../../src/jobs/load-jobs.js';
import { OfflineStoreJobLedger } from '../../src/jobs/offline-job-ledger.js';
import { runJob, type RunJobOptions } from '../../src/jobs/runner.js';
import { builtinTaskResolver } from '../../src/jobs/tasks.js';
import type { OfflineStore } from '../../src/ports/offline-store.js';
import { SILENT_LOGGER } from '../../src/ports/logger.js';
import type { Sample } from '../../src/samples/sample.js';
import { tempDir } from '../helpers/pipeline.js';
import { REFERENCE_CATALOG, REFERENCE_GROUPS, REFERENCE_PROJECT } from '../helpers/reference.js';
import { loadRawEvents, sampleStream } from './batch-fixtures.js';

/**
 * The shipped hourly-samples job, bound to `buildSamples` the way `tessera jobs run` binds it, on
 * chDB: run hour by hour it writes exactly the samples one `buildSamples` over the whole range
 * writes, and rerunning (or forcing) it never duplicates a sample.
 */

const SHIPPED = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'jobs');
const H = 3_600_000;
const START = Date.UTC(2026, 0, 5, 0);
const RANGE = { from: START, to: START + 6 * H };

describe('hourly-samples job on chDB', () => {
  const dir = tempDir('tessera-jobs-samples-');
  const rt = new Runtime(loadConfig({ TESSERA_CHDB_PATH: join(dir, 'chdb') }), REFERENCE_PROJECT, { logger: SILENT_LOGGER });
  let store: OfflineStore;
  let def: JobDefinition;
  let opts: RunJobOptions;

  beforeAll(async () => {
    store = await rt.offline();
    await loadRawEvents(store, sampleStream(31, 160, { start: START, spanMs: 6 * H }));
    const defs = await loadJobDefinitions(SHIPPED, builtinTaskResolver(jobTaskBindings(rt)));
    def = defs.find((d) => d.name === 'hourly-samples') as JobDefinition;
    const ledger = new OfflineStoreJobLedger(store);
    await ledger.prepare();
    opts = { ledger, owner: 'test:1', clock: Date.now, ports: { offline: () => rt.offline(), online: () => rt.online() } };
  });
  afterAll(async () => {
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function read(table?: string): Promise<Sample[]> {
    const out: Sample[] = [];
    for await (const s of readSamples(store, { ...RANGE, groups: REFERENCE_GROUPS, ...(table ? { table } : {}) })) out.push(s);
    return out.sort((a, b) => (a.impressionId < b.impressionId ? -1 : 1));
  }

  it('hour by hour equals one buildSamples over the whole range; reruns never duplicate', async () => {
    const report = await runJob(def, RANGE, opts);
    expect(report.state, JSON.stringify(report.partitions)).toBe('succeeded');
    expect(report.counts).toMatchObject({ done: 6, skipped: 0 });
    const rows = report.partitions.reduce((n, p) => n + (p.outcome === 'done' ? (p.rows ?? 0) : 0), 0);

    await buildSamples({ offline: store }, { ...RANGE, catalog: REFERENCE_CATALOG, groups: REFERENCE_GROUPS, completeThrough: RANGE.to + 25 * H, table: 'samples_reference' });
    const reference = await read('samples_reference');
    const byJob = await read();
    expect(reference.length).toBeGreaterThan(100);
    expect(byJob).toEqual(reference);
    expect(rows).toBe(reference.length);

    const again = await runJob(def, RANGE, opts);
    expect(again.counts).toMatchObject({ done: 0, skipped: 6 });
    const forced = await runJob(def, RANGE, { ...opts, force: true });
    expect(forced.counts).toMatchObject({ done: 6 });
    expect(await read()).toEqual(reference);
  });

  it('refuses hours whose labels cannot have closed yet', async () => {
    const now = Date.now();
    const hour = Math.floor(now / H) * H - 2 * H;
    const report = await runJob(def, { from: hour, to: hour + H }, opts);
    expect(report.partitions[0]).toMatchObject({ outcome: 'unsettled', readyAt: hour + H + 25 * H });
  });
});
