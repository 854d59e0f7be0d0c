import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import { Rng } from '../../src/ingest/rng.js';
import { JOB_PARTITIONS_TABLE, JOB_RUNS_TABLE } from '../../src/jobs/offline-job-ledger.js';
import { TEST_PROJECT_ENV } from '../helpers/env.js';
import { TESSERA_BIN, tempDir } from '../helpers/pipeline.js';

/**
 * `tessera jobs run` (the compiled CLI) on chDB, killed with SIGKILL part-way several times and
 * rerun with the same arguments: the output table ends up equal to a clean run's, no partition
 * finished before a kill is run again, and the ledger's attempt counts say so.
 *
 * The job is defined here, as a job module in a test jobs directory (TESSERA_JOBS_DIR): each UTC
 * hour it writes 5 chunks of rows derived from the hour alone, delete-then-insert, printing a
 * marker after each chunk so the test can kill it at a chosen point.
 */

const FROM = '2026-01-05T00:00:00Z';
const TO = '2026-01-05T06:00:00Z';
const HOURS = 6;
const CHUNKS = 5;
const PER_CHUNK = 40;

function jobModule(name: string, table: string): string {
  return `
const TABLE = ${JSON.stringify(table)};
export default {
  name: ${JSON.stringify(name)},
  description: 'test job: ${CHUNKS} chunks of rows per UTC hour, derived from the hour alone',
  schedule: '0 0 1 1 *',
  partition: 'hour',
  lookback: 'PT6H',
  leaseTtl: 'PT30S',
  async run(p, ctx) {
    const store = await ctx.offline();
    await store.command('CREATE TABLE IF NOT EXISTS ' + TABLE + ' (p String, i UInt32, v UInt64) ENGINE = MergeTree ORDER BY (p, i)');
    // idempotent per partition: a rerun replaces what a killed attempt left
    await store.command('ALTER TABLE ' + TABLE + " DELETE WHERE p = '" + p.key + "' SETTINGS mutations_sync = 2");
    for (let c = 0; c < ${CHUNKS}; c++) {
      const rows = [];
      for (let j = 0; j < ${PER_CHUNK}; j++) {
        const i = c * ${PER_CHUNK} + j;
        rows.push({ p: p.key, i, v: (p.from / 1000 + i * 7919) % 1000003 });
      }
      await store.insert(TABLE, rows);
      process.stderr.write('MARK ' + p.key + ' ' + c + '\\n');
      ctx.progress(c + 1, ${CHUNKS});
      await new Promise((r) => setTimeout(r, 25));
    }
    return { rows: ${CHUNKS * PER_CHUNK}, summary: p.key + ' written' };
  },
};
`;
}

/** A CLI child whose stderr is read line by line, with a way to wait for a line. */
function start(args: string[], env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [TESSERA_BIN, ...args], { env: { ...process.env, TESSERA_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stdout = '';
  let partial = '';
  const waiters: { test: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    lines,
    stdout: () => stdout,
    exited,
    /** Resolves with the first line (from now on, or already seen when `past`) that passes `test`; rejects if the child exits first. */
    waitFor(test: (l: string) => boolean): Promise<string> {
      return Promise.race([
        new Promise<string>((resolve) => waiters.push({ test, resolve })),
        exited.then((code) => Promise.reject(new Error(`exited (${String(code)}) before the awaited line; output:\n${lines.join('\n')}\n${stdout}`))),
      ]);
    },
  };
}

const markers = (lines: readonly string[]) => lines.filter((l) => l.startsWith('MARK ')).map((l) => l.split(' ')[1] as string);
const doneLines = (lines: readonly string[]) => lines.map((l) => /^ {2}(\S+) done \(attempt/.exec(l)?.[1]).filter((k): k is string => k !== undefined);

describe('tessera jobs run: killed part-way and rerun', () => {
  const dir = tempDir('tessera-jobs-crash-');
  const jobsDir = join(dir, 'jobs');
  mkdirSync(jobsDir);
  writeFileSync(join(jobsDir, 'crashy.mjs'), jobModule('crashy', 'out_crashy'));
  writeFileSync(join(jobsDir, 'clean.mjs'), jobModule('clean', 'out_clean'));
  const env = { ...TEST_PROJECT_ENV, TESSERA_CHDB_PATH: join(dir, 'chdb'), TESSERA_JOBS_DIR: jobsDir, TESSERA_CLICKHOUSE_URL: '' };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ends with the output of a clean run, without redoing finished partitions', async () => {
    const clean = start(['jobs', 'run', 'clean', '--from', FROM, '--to', TO], env);
    expect(await clean.exited, clean.lines.join('\n')).toBe(0);
    expect(markers(clean.lines)).toHaveLength(HOURS * CHUNKS);

    const rng = new Rng(4242, 'jobs-crash');
    const runs: { lines: string[]; killed: boolean }[] = [];
    // kill 1: mid-partition, at a random chunk; kill 2: right after a partition was recorded done;
    // kill 3: mid-partition again; then run to the end
    const killAt: ((r: ReturnType<typeof start>) => Promise<unknown>)[] = [
      (r) => {
        const k = rng.int(2, 9);
        let seen = 0;
        return r.waitFor((l) => l.startsWith('MARK ') && ++seen === k);
      },
      (r) => r.waitFor((l) => / done \(attempt/.test(l)),
      (r) => {
        const k = rng.int(1, 4);
        let seen = 0;
        return r.waitFor((l) => l.startsWith('MARK ') && ++seen === k);
      },
    ];
    for (const point of killAt) {
      const r = start(['jobs', 'run', 'crashy', '--from', FROM, '--to', TO], env);
      await point(r);
      r.child.kill('SIGKILL');
      expect(await r.exited).toBe('SIGKILL');
      runs.push({ lines: r.lines, killed: true });
    }
    const last = start(['jobs', 'run', 'crashy', '--from', FROM, '--to', TO], env);
    expect(await last.exited, last.lines.join('\n')).toBe(0);
    expect(last.stdout()).toMatch(/crashy \S+: succeeded/);
    runs.push({ lines: last.lines, killed: false });

    // no partition reported done by one run shows up (as work) in a later run
    const doneSoFar = new Set<string>();
    for (const r of runs) {
      for (const key of markers(r.lines)) expect(doneSoFar.has(key), `${key} redone after it was done`).toBe(false);
      for (const key of doneLines(r.lines)) doneSoFar.add(key);
    }
    expect(doneSoFar.size).toBe(HOURS);
    // the later runs said how many were already done
    expect(last.lines.find((l) => /crashy run \S+: 6 partitions, [1-6] already done/.test(l)), last.lines.join('\n')).toBeDefined();

    const status = start(['jobs', 'status', 'crashy', '--json'], env);
    expect(await status.exited).toBe(0);
    const reported = JSON.parse(status.stdout()) as { partitions: { key: string; state: string; attempts: number }[]; runs: { state: string }[] };

    const store = await createChdbOfflineStore({ path: env.TESSERA_CHDB_PATH });
    try {
      const rows = (table: string) => store.query<{ p: string; i: number; v: number }>(`SELECT p, i, v FROM ${table} ORDER BY p, i`);
      const want = await rows('out_clean');
      const got = await rows('out_crashy');
      expect(want).toHaveLength(HOURS * CHUNKS * PER_CHUNK);
      expect(got).toEqual(want);
      const attempts = await store.query<{ partition: string; attempts: number; done: number }>(
        `SELECT partition, max(attempt) AS attempts, countIf(state = 'done') AS done FROM ${JOB_PARTITIONS_TABLE} WHERE job = 'crashy' GROUP BY partition ORDER BY partition`,
      );
      expect(attempts).toHaveLength(HOURS);
      for (const a of attempts) {
        expect(a.done, a.partition).toBe(1); // marked done exactly once
        const worked = runs.filter((r) => markers(r.lines).includes(a.partition)).length;
        // one attempt per run that worked on it, plus at most one a kill cut off before its first chunk
        expect(a.attempts, a.partition).toBeGreaterThanOrEqual(worked);
        expect(a.attempts, a.partition).toBeLessThanOrEqual(worked + 1);
      }
      // the partitions the first run finished were attempted once
      for (const key of doneLines(runs[0]!.lines)) expect(attempts.find((a) => a.partition === key)?.attempts).toBe(1);
      expect(reported.partitions.map((p) => [p.key, p.state, p.attempts])).toEqual(attempts.map((a) => [a.partition, 'done', Number(a.attempts)]));
      const runStates = await store.query<{ state: string; n: number }>(`SELECT toString(state) AS state, count() AS n FROM ${JOB_RUNS_TABLE} FINAL WHERE job = 'crashy' GROUP BY state ORDER BY state`);
      // the killed runs never finished: they stay "running" in the ledger
      expect(runStates).toEqual([
        { state: 'running', n: 3 },
        { state: 'succeeded', n: 1 },
      ]);
    } finally {
      await store.close();
    }

    // a rerun now does nothing; --force redoes everything and still leaves the same table
    const again = start(['jobs', 'run', 'crashy', '--from', FROM, '--to', TO], env);
    expect(await again.exited).toBe(0);
    expect(markers(again.lines)).toEqual([]);
    const forced = start(['jobs', 'run', 'crashy', '--from', FROM, '--to', TO, '--force', '--json'], env);
    expect(await forced.exited).toBe(0);
    expect(JSON.parse(forced.stdout())).toMatchObject({ state: 'succeeded', counts: { done: HOURS, skipped: 0 } });
    const store2 = await createChdbOfflineStore({ path: env.TESSERA_CHDB_PATH });
    try {
      const [n] = await store2.query<{ n: number }>('SELECT count() AS n FROM out_crashy');
      expect(Number(n?.n)).toBe(HOURS * CHUNKS * PER_CHUNK);
    } finally {
      await store2.close();
    }
  });
});
