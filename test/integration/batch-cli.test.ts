import { rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import { main } from '../../src/app/cli.js';
import { TEST_PROJECT_ENV } from '../helpers/env.js';
import { sampleEvents, tempDir } from '../helpers/pipeline.js';
import { loadRawEvents } from './batch-fixtures.js';

/** `tessera batch samples` in-process on a chDB directory (the command opens and closes its own store). */
describe('tessera batch samples (chDB)', () => {
  const path = tempDir('tessera-batch-cli-');
  const saved = { ...process.env };
  const events = sampleEvents(3000, 5);
  const start = Math.min(...events.map((e) => e.eventTime));

  beforeAll(async () => {
    const store = await createChdbOfflineStore({ path });
    try {
      await loadRawEvents(store, events);
    } finally {
      await store.close();
    }
    Object.assign(process.env, TEST_PROJECT_ENV);
    process.env.TESSERA_CHDB_PATH = path;
    delete process.env.TESSERA_CLICKHOUSE_URL;
    process.env.TESSERA_LOG_LEVEL = 'error';
  });
  afterAll(() => {
    process.env = saved;
    rmSync(path, { recursive: true, force: true });
  });

  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await main(args, { stdout, stderr } as unknown as { stdout: typeof process.stdout; stderr: typeof process.stderr });
    return { code, out, err };
  }

  it('writes the samples of a range and prints the summary; --json gives the same counts; a rerun replaces them', async () => {
    const from = new Date(start).toISOString();
    const to = new Date(start + 2 * 86_400_000).toISOString();
    const first = await run(['batch', 'samples', '--from', from, '--to', to]);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(first.out, first.out).toMatch(/samples \[.*\) -> samples/);
    const samples = Number(/^ +samples +([\d,]+)/m.exec(first.out)?.[1]?.replaceAll(',', ''));
    expect(samples, first.out).toBeGreaterThan(100);
    const again = await run(['batch', 'samples', '--from', from, '--to', to, '--click-window', '30m', '--order-window', '24h', '--json']);
    expect(again.code).toBe(0);
    const json = JSON.parse(again.out) as { samples: number; clickPositives: number; from: string };
    expect(json.samples).toBe(samples);
    expect(json.clickPositives).toBeGreaterThan(0);
    expect(json.from).toBe(from);
    const store = await createChdbOfflineStore({ path });
    try {
      expect(await store.query('SELECT count() AS n, uniqExact(impressionId) AS u FROM samples')).toEqual([{ n: samples, u: samples }]);
    } finally {
      await store.close();
    }
  });

  it('refuses bad usage with exit code 2 and a message', async () => {
    expect((await run(['batch'])).code).toBe(2);
    const unknown = await run(['batch', 'nope', '--from', '0', '--to', '1']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown batch job "nope"');
    const missing = await run(['batch', 'samples', '--to', '2026-01-01T00:00:00Z']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('--from is required');
    const zoneless = await run(['batch', 'samples', '--from', '2026-01-01T00:00:00', '--to', '2026-01-02T00:00:00Z']);
    expect(zoneless.code).toBe(2);
    expect(zoneless.err).toContain('zone');
    expect((await run(['batch', 'samples', '--from', '2026-01-02T00:00:00Z', '--to', '2026-01-01T00:00:00Z'])).code).toBe(2);
    expect((await run(['batch', 'samples', '--from', '0', '--to', '1', '--click-window', 'soon'])).code).toBe(2);
    const help = await run(['batch', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('tessera batch samples --from <ISO> --to <ISO>');
  });
});
