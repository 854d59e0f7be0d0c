import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AnyEvent } from '../../src/events/event-types.js';
import { generateEvents } from '../../src/ingest/generator.js';

export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
export const TESSERA_BIN = resolve(REPO_ROOT, 'bin', 'tessera.js');

/** A fresh temporary directory. */
export function tempDir(prefix = 'tessera-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The events of a small seeded generator run, in the generator's order. */
export function sampleEvents(impressions: number, seed = 11): AnyEvent[] {
  return [...generateEvents({ users: 200, items: 800, events: impressions, seed })].map((r) => r.event);
}

/** Runs the compiled `tessera` CLI as a child process (the suite builds dist/ first). */
export function spawnTessera(args: string[], env: Record<string, string>): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [TESSERA_BIN, ...args], {
    env: { ...process.env, TESSERA_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

/** Resolves with the exit code (or the signal name) once the child ends. */
export function exited(child: ChildProcess): Promise<number | string> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r(child.exitCode);
    if (child.signalCode !== null) return r(child.signalCode);
    child.once('exit', (code, signal) => r(code ?? signal ?? -1));
  });
}

/** Counts of each event kind in a list. */
export function countByType(events: readonly AnyEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) out[e.type] = (out[e.type] ?? 0) + 1;
  return out;
}
