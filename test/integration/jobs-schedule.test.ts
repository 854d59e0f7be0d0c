import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import { JOB_PARTITIONS_TABLE } from '../../src/jobs/offline-job-ledger.js';
import { TEST_PROJECT_ENV } from '../helpers/env.js';
import { TESSERA_BIN, tempDir } from '../helpers/pipeline.js';

/**
 * `tessera jobs schedule` (the compiled CLI) on chDB: a yearly job whose latest firing never ran
 * is caught up at start; SIGTERM stops the scheduler after the partition in flight (exit 0);
 * the next start fires that window again and finishes what was left; once it has gone through,
 * a restart fires nothing. No wall-clock waiting for a cron time: the catch-up does the firing.
 */

const MODULE = `
export default {
  name: 'yearly',
  description: 'test job: 3 chunks of rows per UTC hour',
  schedule: '0 0 1 1 *',
  partition: 'hour',
  lookback: 'PT4H',
  async run(p, ctx) {
    const store = await ctx.offline();
    await store.command('CREATE TABLE IF NOT EXISTS out_yearly (p String, i UInt32) ENGINE = MergeTree ORDER BY (p, i)');
    await store.command("ALTER TABLE out_yearly DELETE WHERE p = '" + p.key + "' SETTINGS mutations_sync = 2");
    for (let c = 0; c < 3; c++) {
      await store.insert('out_yearly', Array.from({ length: 10 }, (_, j) => ({ p: p.key, i: c * 10 + j })));
      process.stderr.write('MARK ' + p.key + ' ' + c + '\\n');
      await new Promise((r) => setTimeout(r, 60));
    }
    return { rows: 30 };
  },
};
`;

function schedule(env: Record<string, string>) {
  const child = spawn(process.execPath, [TESSERA_BIN, 'jobs', 'schedule'], { env: { ...process.env, TESSERA_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const listeners: (() => void)[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    listeners.forEach((l) => l());
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    listeners.forEach((l) => l());
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const until = (test: () => boolean) =>
    Promise.race([
      new Promise<void>((resolve) => {
        const check = () => test() && resolve();
        listeners.push(check);
        check();
      }),
      exited.then((code) => Promise.reject(new Error(`scheduler exited (${String(code)}) early:\n${out}\n${err}`))),
    ]);
  return { child, exited, until, out: () => out, err: () => err };
}

describe('tessera jobs schedule', () => {
  const dir = tempDir('tessera-jobs-schedule-');
  const jobsDir = join(dir, 'jobs');
  mkdirSync(jobsDir);
  writeFileSync(join(jobsDir, 'yearly.mjs'), MODULE);
  const env = { ...TEST_PROJECT_ENV, TESSERA_CHDB_PATH: join(dir, 'chdb'), TESSERA_JOBS_DIR: jobsDir, TESSERA_CLICKHOUSE_URL: '' };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('catches up the missed firing, stops gracefully on SIGTERM, resumes on the next start', async () => {
    const year = new Date().getUTCFullYear();
    const fired = `${year}-01-01T00:00Z`;

    const first = schedule(env);
    await first.until(() => first.out().includes('scheduling yearly "0 0 1 1 *" UTC') && /MARK \S+ 0/.test(first.err()));
    first.child.kill('SIGTERM');
    expect(await first.exited, first.err()).toBe(0);
    // the partition in flight was finished, the rest left: the run is incomplete
    expect(first.out()).toContain(`yearly (fired for ${fired}): incomplete, 1 done, 0 already done, 0 failed, 3 left`);
    expect(first.out()).toContain('scheduler stopped after 1 firing');
    expect(first.err().match(/MARK \S+ 2/g)).toHaveLength(1);

    const second = schedule(env);
    await second.until(() => /yearly \(fired for .*\): \w+/.test(second.out()));
    expect(second.out()).toContain(`yearly (fired for ${fired}): succeeded, 3 done, 1 already done, 0 failed, 0 left`);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const third = schedule(env);
    await third.until(() => third.out().includes('scheduling yearly'));
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
    expect(third.out()).toContain('scheduler stopped after 0 firings');
    expect(third.err()).not.toContain('MARK');

    const store = await createChdbOfflineStore({ path: env.TESSERA_CHDB_PATH });
    try {
      const perPartition = await store.query<{ p: string; n: number }>('SELECT p, count() AS n FROM out_yearly GROUP BY p ORDER BY p');
      expect(perPartition.map((r) => Number(r.n))).toEqual([30, 30, 30, 30]);
      expect(perPartition[3]?.p).toBe(`${year - 1}-12-31T23:00Z`);
      const attempts = await store.query<{ a: number }>(`SELECT max(attempt) AS a FROM ${JOB_PARTITIONS_TABLE} WHERE job = 'yearly' GROUP BY partition`);
      expect(attempts.map((r) => Number(r.a))).toEqual([1, 1, 1, 1]);
    } finally {
      await store.close();
    }
  });
});
