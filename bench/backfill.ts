/**
 * A changed group brought into service on the demo's data (issue 11): the Taobao sample replayed
 * into Kafka (the generator's demo defaults when ../shared/data/taobao is absent), sunk into chDB,
 * streamed into Redis, registered; then the reference project's `user` group gets one more window
 * and `tessera backfill user` runs: the batch part (recompute from the raw tables into a fresh
 * namespace), the stream catch-up from the batch watermark, the flip. Times each step as the
 * command reports it, and the whole command from the outside, on the real services.
 *
 *   bash bench/run.sh backfill [--out bench/results/backfill.json]
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_DATA_DIR as DATA_DIR } from '../src/app/paths.js';

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'tessera-bench-backfill-'));
const project = join(work, 'project');
cpSync(join(root, 'examples', 'reference'), project, { recursive: true });
const prefix = `bf${Date.now().toString(36)}`;
const env = {
  ...process.env,
  TESSERA_KAFKA_BROKERS: process.env.TESSERA_KAFKA_BROKERS ?? process.env.TESSERA_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092',
  TESSERA_REDIS_URL: process.env.TESSERA_REDIS_URL ?? process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:16379',
  TESSERA_PROJECT: project,
  TESSERA_TOPIC_PREFIX: prefix,
  TESSERA_CHDB_PATH: join(work, 'chdb'),
  TESSERA_MODEL_DIR: join(work, 'models'),
  TESSERA_PARTITIONS: '4',
  TESSERA_LOG_LEVEL: 'warn',
};

async function tessera(args: string[]): Promise<{ out: string; seconds: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [join(root, 'bin', 'tessera.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`tessera ${args.join(' ')} exited ${code}:\n${out}`);
  return { out, seconds: (performance.now() - started) / 1000 };
}

const taobao = join(DATA_DIR, 'taobao', 'UserBehavior_head_84k.csv');
const steps: Record<string, number> = {};
let events = 0;
const sent = (out: string) => Number(/sent (\d+) events/.exec(out)?.[1] ?? NaN);
try {
  if (existsSync(taobao)) {
    const r = await tessera(['replay', 'taobao', '--path', taobao]);
    steps.replay = r.seconds;
    events = sent(r.out);
  } else {
    process.stderr.write(`${taobao} is absent: the generator's demo defaults instead\n`);
    const file = join(work, 'events.jsonl');
    await tessera(['generate', '--events', '20000', '--users', '500', '--items', '2000', '--seed', '7', '--output', file]);
    const r = await tessera(['produce', '--input', file]);
    steps.produce = r.seconds;
    events = sent(r.out);
  }
  steps.sink = (await tessera(['sink', '--until-idle', '--idle-ms', '1000'])).seconds;
  steps.apply1 = (await tessera(['apply'])).seconds;
  steps.stream = (await tessera(['stream', '--until-idle', '--idle-ms', '1000'])).seconds;

  // the change: the user group counts clicks over 30 days too
  const file = join(project, 'tessera.project.ts');
  const text = readFileSync(file, 'utf8');
  const changed = text.replace("count('click', ['1h', '24h', '7d'])", "count('click', ['1h', '24h', '7d', '30d'])");
  if (changed === text) throw new Error('the reference project changed: update the edit this benchmark makes');
  writeFileSync(file, changed);
  const plan = await tessera(['plan']);
  steps.apply2 = (await tessera(['apply'])).seconds;
  const backfill = await tessera(['backfill', 'user', '--until-idle', '--idle-ms', '1000', '--json']);
  const result = JSON.parse(backfill.out.slice(backfill.out.indexOf('{'))) as { entities: number; applied: number; until: string; seconds: { backfill: number; catchUp: number; flip: number } };
  const report = {
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown' },
    data: existsSync(taobao) ? 'Taobao sample (tessera replay taobao, 4 negatives per click)' : 'generator, demo defaults',
    events,
    setup: steps,
    plan: plan.out.trim().split('\n'),
    backfill: { ...result, command: backfill.seconds },
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 2) + '\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}
