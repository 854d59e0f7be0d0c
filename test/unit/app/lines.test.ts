import { describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readLines, type ReadLine } from '../../../src/app/lines.js';

async function linesOf(content: string | Buffer, maxBytes?: number): Promise<ReadLine[]> {
  const file = join(tmpdir(), `tessera-lines-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(file, content);
  try {
    const out: ReadLine[] = [];
    for await (const l of readLines(file, { maxBytes })) out.push(l);
    return out;
  } finally {
    rmSync(file, { force: true });
  }
}

describe('readLines', () => {
  it('numbers lines from 1, takes \\r\\n as \\n, keeps blank lines and a last line without a newline', async () => {
    expect(await linesOf('a\r\nb\n\nc')).toEqual([
      { line: 'a', n: 1 },
      { line: 'b', n: 2 },
      { line: '', n: 3 },
      { line: 'c', n: 4 },
    ]);
    expect(await linesOf('a\n')).toEqual([{ line: 'a', n: 1 }]);
    expect(await linesOf('')).toEqual([]);
  });

  it('decodes a character split across read chunks', async () => {
    // The stream reads 64 KiB at a time: put a three-byte character across the boundary.
    const head = 'x'.repeat(65_535);
    const lines = await linesOf(`${head}€y\nz\n`);
    expect(lines.map((l) => l.line)).toEqual([`${head}€y`, 'z']);
  });

  it('gives a line over maxBytes as null with its length, without holding it, and goes on', async () => {
    const long = 'L'.repeat(200_000);
    expect(await linesOf(`ok\n${long}\r\nafter\n${long}`, 1000)).toEqual([
      { line: 'ok', n: 1 },
      { line: null, n: 2, bytes: 200_001 },
      { line: 'after', n: 3 },
      { line: null, n: 4, bytes: 200_000 },
    ]);
    // Exactly maxBytes is still a line.
    expect(await linesOf('abcd\nabcde\n', 4)).toEqual([
      { line: 'abcd', n: 1 },
      { line: null, n: 2, bytes: 5 },
    ]);
  });
});
