import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createChdbOfflineStore, type ChdbOfflineStore } from '../../../src/adapters/chdb/chdb-offline-store.js';
import { encodeJsonEachRow } from '../../../src/adapters/clickhouse/json-each-row.js';
import { ServiceError } from '../../../src/errors.js';

// chDB binds one data directory per process, so every case closes what it opens (afterEach
// closes leftovers) and the cases run one after another (vitest's default within a file).
const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const opened: ChdbOfflineStore[] = [];
const dirs: string[] = [];
const children: ChildProcess[] = [];

async function open(path?: string): Promise<ChdbOfflineStore> {
  const store = await createChdbOfflineStore(path === undefined ? {} : { path });
  opened.push(store);
  return store;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-chdb-test-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill();
  for (const store of opened.splice(0).reverse()) await store.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function openFailure(path?: string): Promise<ServiceError> {
  const err = await open(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ServiceError);
  return err as ServiceError;
}

describe('ChdbOfflineStore: data directories', () => {
  it('keeps a persistent directory across close and reopen, creating it if missing', async () => {
    const dir = join(await tempDir(), 'nested', 'chdb');
    const first = await open(dir);
    expect(first.engine).toMatch(/^chdb \d+\.\d+\.\d+/);
    expect(first.temporary).toBe(false);
    await first.command('CREATE TABLE kept (id UInt32) ENGINE = MergeTree ORDER BY id');
    await first.insert('kept', [{ id: 7 }, { id: 8 }]);
    await first.close();
    expect(existsSync(dir)).toBe(true);

    const second = await open(dir);
    expect(await second.query('SELECT sum(id) AS s FROM kept')).toEqual([{ s: 15 }]);
  });

  it('removes a temporary directory at close', async () => {
    const store = await open();
    expect(store.temporary).toBe(true);
    expect(existsSync(store.path)).toBe(true);
    await store.close();
    expect(existsSync(store.path)).toBe(false);
  });

  it('lets two stores of one process share a directory; closing one leaves the other working', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    const b = await open(dir);
    await a.command('CREATE TABLE shared (id UInt32) ENGINE = MergeTree ORDER BY id');
    await b.insert('shared', [{ id: 1 }]);
    await b.close();
    expect(await a.query('SELECT count() AS n FROM shared')).toEqual([{ n: 1 }]);
  });

  it('refuses a second directory in the same process, naming both, then opens it once the first is closed', async () => {
    const [one, two] = [await tempDir(), await tempDir()];
    const first = await open(one);
    const err = await openFailure(two);
    expect(err.code).toBe('CHDB_ERROR');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain(one);
    expect(err.message).toContain(two);
    expect(err.message).toContain('TESSERA_CLICKHOUSE_URL');

    // A second temporary store is a second directory too.
    expect((await openFailure()).message).toMatch(new RegExp(`a new temporary data directory: this process already has chDB open on ${one}`));

    await first.close();
    const second = await open(two);
    expect(second.path).toBe(two);
  });

  it('explains a directory locked by another process: which path, which PID, and TESSERA_CLICKHOUSE_URL', { timeout: 30_000 }, async () => {
    const dir = await tempDir();
    const holder = await holdInAnotherProcess(dir);

    const err = await openFailure(dir);
    expect(err.code).toBe('CHDB_ERROR');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain(`data directory ${dir} is locked by another process (PID ${holder.pid}`);
    expect(err.message).toContain('chDB is single-process');
    expect(err.message).toContain('TESSERA_CLICKHOUSE_URL');

    // The lock goes with the holder.
    await release(holder);
    const store = await open(dir);
    expect(await store.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});

describe('ChdbOfflineStore: asynchronous use', () => {
  it('keeps the event loop turning while a statement runs', async () => {
    const store = await open();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    try {
      await store.query('SELECT count() AS n FROM numbers(40000000) WHERE sipHash64(number) % 7 = 0');
    } finally {
      clearInterval(timer);
    }
    const elapsedMs = performance.now() - started;
    // A synchronous call would leave 0 ticks; allow a wide margin for a loaded machine.
    expect(elapsedMs).toBeGreaterThan(50);
    expect(ticks).toBeGreaterThan(elapsedMs / 5 / 4);
  });

  it('close lets running calls finish (an insert still encoding its rows included), then refuses new ones', async () => {
    const dir = await tempDir();
    const store = await open(dir);
    await store.command('CREATE TABLE pending (id UInt32) ENGINE = MergeTree ORDER BY id');
    const rows = Array.from({ length: 50_000 }, (_, id) => ({ id }));
    const inserting = store.insert('pending', rows);
    const querying = store.query<{ n: number }>('SELECT count() AS n FROM numbers(10000000) WHERE sipHash64(number) % 2 = 0');
    await store.close();
    await expect(inserting).resolves.toBeUndefined();
    await expect(querying).resolves.toEqual([{ n: expect.any(Number) }]);
    const err = await store.command('SELECT 1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).message).toContain('closed');

    const reopened = await open(dir);
    expect(await reopened.query('SELECT count() AS n FROM pending')).toEqual([{ n: 50_000 }]);
  });

  it('encodes a large batch in slices, yielding to the event loop between them', async () => {
    const rows = Array.from({ length: 50_000 }, (_, i) => ({ id: i, s: `row ${i}`, big: BigInt(i) * 10n ** 15n }));
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      if (!spinning) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const payload = await encodeJsonEachRow(rows);
    spinning = false;
    expect(turns).toBeGreaterThanOrEqual(5);
    const lines = payload.toString('utf8').split('\n');
    expect(lines).toHaveLength(50_001); // trailing newline
    expect(lines[49_999]).toBe('{"id":49999,"s":"row 49999","big":"49999000000000000000"}');
  });

  it('encodes exactly what JSON.stringify gives, when later rows outgrow the size estimate from the first ones', async () => {
    // Short ASCII rows first, then long multi-byte ones: the payload has to grow past its estimate.
    const rows = Array.from({ length: 20_000 }, (_, i) => (i < 5_000 ? { i } : { i, s: `é€😀 "${'x'.repeat(i % 300)}"\n`, a: [i, null] }));
    const payload = await encodeJsonEachRow(rows);
    expect(payload.equals(Buffer.from(rows.map((r) => JSON.stringify(r) + '\n').join(''), 'utf8'))).toBe(true);
    expect((await encodeJsonEachRow([])).length).toBe(0);
  });

  it('refuses a row that is not a plain object, naming it', async () => {
    const rows = [{ ok: 1 }, [1, 2] as unknown as Record<string, unknown>];
    await expect(encodeJsonEachRow(rows)).rejects.toThrow(/row 1 is not a plain object/);
  });

  it('refuses NaN and Infinity (JSON would send null, stored as NULL or 0), naming row and key; null itself passes', async () => {
    await expect(encodeJsonEachRow([{ a: 1 }, { a: null, f: NaN }])).rejects.toThrow(/row 1: f = NaN/);
    await expect(encodeJsonEachRow([{ xs: [1, -Infinity] }])).rejects.toThrow(/row 0: xs\.1 = -Infinity/);
    expect((await encodeJsonEachRow([{ a: null, s: 'null', xs: [null] }])).toString()).toBe('{"a":null,"s":"null","xs":[null]}\n');
  });
});

interface Holder {
  child: ChildProcess;
  pid: number;
}

/** Opens `dir` with chdb in a child process and resolves once it holds the directory. */
function holdInAnotherProcess(dir: string): Promise<Holder> {
  const script = [
    "import { Session } from 'chdb';",
    'const s = new Session(process.env.HOLD_DIR);',
    "await s.queryAsync('SELECT 1');",
    "process.stdout.write('ready\\n');",
    "process.stdin.on('end', () => { s.close(); process.exit(0); });",
    'process.stdin.resume();',
  ].join('\n');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO,
    env: { ...process.env, HOLD_DIR: dir },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready') && child.pid !== undefined) resolve({ child, pid: child.pid });
    });
    child.on('exit', (code) => reject(new Error(`holder exited early (${code}): ${err}`)));
  });
}

async function release(holder: Holder): Promise<void> {
  const exited = new Promise((resolve) => holder.child.once('exit', resolve));
  holder.child.stdin?.end();
  await exited;
}
