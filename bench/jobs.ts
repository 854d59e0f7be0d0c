/**
 * Issue 4 (item 6) benchmark: what the jobs framework costs per partition, beside the floor of
 * the store it keeps its ledger in.
 *
 * - **run**: `runJob` over N hour partitions whose task does nothing, with the ledger in chDB
 *   (the CLI's ledger): lease claim, under-lease status read, `started` and `done` rows, final
 *   lease check and release per partition: partitions/s and ms per partition;
 * - **resume**: the same range again, everything already done: the cost of skipping (one ledger
 *   read for the whole range);
 * - **memory ledger**: the same run on the in-memory ledger: the framework's own cost;
 * - **floor**: one single-row chDB INSERT followed by one point SELECT, the round trip every
 *   ledger step is made of.
 *
 *   npx tsx bench/jobs.ts [--partitions 2000]
 *
 * Needs no service (chDB runs in process, in a temporary directory). Results: bench/results/jobs.json.
 */
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createChdbOfflineStore } from '../src/adapters/chdb/chdb-offline-store.js';
import { defineJob } from '../src/jobs/job-definition.js';
import type { JobLedger } from '../src/jobs/ledger.js';
import { MemoryJobLedger } from '../src/jobs/memory-job-ledger.js';
import { OfflineStoreJobLedger } from '../src/jobs/offline-job-ledger.js';
import { runJob } from '../src/jobs/runner.js';
import type { OnlineStore } from '../src/ports/online-store.js';

const { values } = parseArgs({ options: { partitions: { type: 'string', default: '2000' } } });
const n = Number(values.partitions);
if (!Number.isInteger(n) || n < 1) throw new Error('--partitions must be a whole number >= 1');

const H = 3_600_000;
const from = Date.UTC(2020, 0, 1);
const range = { from, to: from + n * H };
const store = await createChdbOfflineStore();
const ports = { offline: async () => store, online: (): OnlineStore => { throw new Error('unused'); } };
const def = defineJob(
  { name: 'bench-noop', description: 'does nothing, per hour', schedule: '0 * * * *', partition: 'hour', run: async () => ({ rows: 0 }) },
  { source: 'bench', resolveTask: () => ({ problems: ['none'] }) },
);

async function timeRun(ledger: JobLedger, force = false): Promise<{ seconds: number; done: number; skipped: number }> {
  const t0 = performance.now();
  const report = await runJob(def, range, { ledger, owner: 'bench:1', clock: Date.now, ports, force });
  const seconds = (performance.now() - t0) / 1000;
  if (report.state !== 'succeeded') throw new Error(`run ${report.state}`);
  return { seconds, done: report.counts.done, skipped: report.counts.skipped };
}

const chdbLedger = new OfflineStoreJobLedger(store);
await chdbLedger.prepare();
const run = await timeRun(chdbLedger);
const resume = await timeRun(chdbLedger);
const memory = await timeRun(new MemoryJobLedger());

await store.command('CREATE TABLE bench_floor (k String, v UInt64) ENGINE = MergeTree ORDER BY k');
const floorOps = Math.min(n, 1000);
const f0 = performance.now();
for (let i = 0; i < floorOps; i++) {
  await store.insert('bench_floor', [{ k: `k${i}`, v: i }]);
  await store.query('SELECT v FROM bench_floor WHERE k = {k:String}', { k: `k${i}` });
}
const floorMs = (performance.now() - f0) / floorOps;
await store.close();

const per = (r: { seconds: number }) => ({ partitionsPerSecond: Math.round(n / r.seconds), msPerPartition: Math.round((r.seconds * 1000 * 1000) / n) / 1000 });
const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown'}`,
  node: process.version,
  engine: store.engine,
  partitions: n,
  run: { ...per(run), seconds: Math.round(run.seconds * 1000) / 1000, ledgerRoundTripsPerPartition: 'about 11 (3 lease claim, 1 status, 2 attempt rows, 4 lease check, 1 release)' },
  resume: { ...per(resume), skipped: resume.skipped },
  memoryLedger: per(memory),
  floor: { what: 'one single-row chDB INSERT + one point SELECT', ms: Math.round(floorMs * 1000) / 1000, ops: floorOps },
};
writeFileSync(new URL('./results/jobs.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
