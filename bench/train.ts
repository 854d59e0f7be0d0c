/**
 * Issue 14 benchmark: `tessera train` end to end beside its own kernel, in one run, on the same
 * samples.
 *
 * Data: the demo's chain on embedded defaults (`tessera demo --no-train`: the Taobao sample of
 * ../shared/data when present, else the seeded generator), then `tessera batch samples` into the
 * samples table of a chDB folder of its own.
 * End to end, per model kind: `tessera train --model <kind> --source clickhouse --until-idle`, a
 * child process timed from spawn to exit (reading the table, the transform, progressive
 * validation, checkpoints and four publications included), with its CPU time when GNU time is
 * installed.
 * Kernel: the same samples read once in this process and turned into mini-batches of 256 by the
 * same transform first; then `model.learn` alone over them (what the trainer calls per
 * mini-batch, progressive predictions included), with the models' default options.
 *
 *   bash bench/run.sh train [--models lr,fm,wide-deep] [--keep <dir>] [--publish-in worker,trainer]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createChdbOfflineStore } from '../src/adapters/chdb/chdb-offline-store.js';
import { readSamples } from '../src/batch/read-samples.js';
import { sliceBatch } from '../src/models/model-batch.js';
import type { ModelKind } from '../src/models/model.js';
import { createModel } from '../src/models/serialization.js';
import type { Sample } from '../src/samples/sample.js';
import { createFeatureTransform } from '../src/training/feature-transform.js';
import { GROUPS, PROJECT_DIR } from './project.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'lr,fm,wide-deep' },
    keep: { type: 'string' },
    data: { type: 'string', default: '../shared/data' },
    /** Where tessera train writes versions (--publish-in); several, comma separated, run in turn per model: an A/B. */
    'publish-in': { type: 'string', default: 'worker' },
  },
});
const kinds = (values.models as string).split(',') as ModelKind[];
const BIN = resolve('bin/tessera.js');
const taobao = existsSync(join(values.data as string, 'taobao', 'UserBehavior_head_84k.csv'));
// the samples' time range: the Taobao sample's days, or the generator's (it starts on 2026-01-05)
const [FROM, TO] = taobao ? ['2017-11-20T00:00:00Z', '2017-12-10T00:00:00Z'] : ['2026-01-01T00:00:00Z', '2026-03-01T00:00:00Z'];
const dir = (values.keep as string | undefined) ?? mkdtempSync(join(tmpdir(), 'tessera-bench-train-'));
mkdirSync(dir, { recursive: true }); // --keep may name a folder that does not exist yet
const env: NodeJS.ProcessEnv = { ...process.env, TESSERA_PROJECT: PROJECT_DIR, TESSERA_CHDB_PATH: join(dir, 'chdb'), TESSERA_MODEL_DIR: join(dir, 'models') };
delete env.TESSERA_KAFKA_BROKERS;
delete env.TESSERA_REDIS_URL;
delete env.TESSERA_CLICKHOUSE_URL;
const gnuTime = existsSync('/usr/bin/time');

function run(args: string[]): { seconds: number; cpuSeconds: number | null; out: string } {
  const started = performance.now();
  const cmd = gnuTime ? '/usr/bin/time' : process.execPath;
  const argv = gnuTime ? ['-f', 'TIME %U %S', process.execPath, BIN, ...args] : [BIN, ...args];
  const r = spawnSync(cmd, argv, { cwd: dir, env, encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = (performance.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`tessera ${args.join(' ')} exited ${r.status}${r.signal ? ` (${r.signal})` : ''}${r.error ? `: ${r.error.message}` : ''}:\n${r.stdout}\n${r.stderr}`);
  const m = /TIME ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { seconds, cpuSeconds: m ? Number(m[1]) + Number(m[2]) : null, out: r.stdout };
}

if (values.keep === undefined || !existsSync(join(dir, 'chdb'))) {
  console.error(`[train] demo --no-train (${taobao ? 'Taobao sample' : 'generator, 300,000 impressions'}) into ${dir}`);
  run(['demo', '--no-train', ...(taobao ? ['--source', 'taobao'] : ['--source', 'generator', '--events', '300000', '--users', '5000', '--items', '20000'])]);
  run(['batch', 'samples', '--from', FROM, '--to', TO]);
}

const publishIn = (values['publish-in'] as string).split(',');
type EndToEnd = { samples: number; seconds: number; cpuSeconds: number | null; samplesPerSecond: number; auc: number };
const endToEnd: Record<string, EndToEnd> = {};
/** Per model, each --publish-in mode, in the order run (the first mode is also `endToEnd`). */
const byPublishIn: Record<string, Record<string, EndToEnd>> = {};
for (const kind of kinds) {
  for (const mode of publishIn) {
    rmSync(join(dir, 'models'), { recursive: true, force: true });
    rmSync(join(dir, '.tessera', 'trainer'), { recursive: true, force: true });
    const r = run(['train', '--model', kind, '--source', 'clickhouse', '--from', FROM, '--to', TO, '--until-idle', '--publish-in', mode]);
    const m = /learned (\d+) samples.*progressive AUC ([\d.]+)/.exec(r.out);
    if (m === null) throw new Error(`tessera train --model ${kind}: no summary in\n${r.out}`);
    const samples = Number(m[1]);
    const e = { samples, seconds: r.seconds, cpuSeconds: r.cpuSeconds, samplesPerSecond: samples / r.seconds, auc: Number(m[2]) };
    (byPublishIn[kind] ??= {})[mode] = e;
    endToEnd[kind] ??= e;
    console.error(`[train] ${kind} end to end, publishing in ${mode}: ${samples} samples in ${r.seconds.toFixed(1)} s = ${Math.round(samples / r.seconds)}/s`);
  }
}

// the kernel: this process reads the same table once (after the children: chDB opens one folder per process)
const offline = await createChdbOfflineStore({ path: join(dir, 'chdb') });
const samples: Sample[] = [];
for await (const s of readSamples(offline, { groups: GROUPS, from: Date.parse(FROM), to: Date.parse(TO) })) samples.push(s);
await offline.close();
const transform = createFeatureTransform(GROUPS);
const all = transform.samplesBatch(samples);
const batches = [];
for (let i = 0; i < all.size; i += 256) batches.push(sliceBatch(all, i, Math.min(all.size, i + 256)));
const kernel: Record<string, { samplesPerSecond: number; ratio: number }> = {};
for (const kind of kinds) {
  const model = createModel(kind, transform.schema, {});
  const predictions = new Float64Array(256);
  const started = performance.now();
  for (const b of batches) model.learn(b, predictions.subarray(0, b.size));
  const seconds = (performance.now() - started) / 1000;
  const rate = all.size / seconds;
  kernel[kind] = { samplesPerSecond: rate, ratio: (endToEnd[kind]?.samplesPerSecond ?? 0) / rate };
  console.error(`[train] ${kind} kernel: ${Math.round(rate)}/s; end to end at ${(100 * (kernel[kind]?.ratio ?? 0)).toFixed(1)} % of it`);
}

const result = {
  benchmark: 'train',
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}`,
  node: process.version,
  data: taobao ? 'Taobao UserBehavior sample via tessera demo --no-train' : 'seeded generator, 300,000 impressions',
  range: [FROM, TO],
  samples: samples.length,
  endToEnd,
  endToEndByPublishIn: byPublishIn,
  kernel,
  target: 'end to end >= 50 % of the kernel',
};
console.log(JSON.stringify(result, null, 2));
writeFileSync('bench/results/train.json', JSON.stringify(result, null, 2) + '\n');
if (values.keep === undefined) rmSync(dir, { recursive: true, force: true });
