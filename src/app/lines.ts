import { createReadStream } from 'node:fs';
import { once } from 'node:events';

/** Writes lines to a stream, respecting backpressure; closes it when `end` is true. */
export async function writeLines(out: NodeJS.WritableStream, lines: Iterable<string>, end: boolean): Promise<void> {
  for (const line of lines) {
    if (!out.write(line + '\n')) await once(out, 'drain');
  }
  if (end) await new Promise<void>((r) => out.end(r));
}

/** Like `writeLines` for an async source; always closes the stream. */
export async function writeLinesAsync(out: NodeJS.WritableStream, lines: AsyncIterable<string>): Promise<void> {
  for await (const line of lines) {
    if (!out.write(line + '\n')) await once(out, 'drain');
  }
  await new Promise<void>((r) => out.end(r));
}

/** A line of {@link readLines}, numbered from 1; `line` is null when it held more than `maxBytes`. */
export type ReadLine = { line: string; n: number } | { line: null; n: number; bytes: number };

/**
 * Reads a text file (or stdin for `-`) line by line, numbering from 1; `\r\n` ends a line as `\n`
 * does. A line longer than `maxBytes` (UTF-8) is never held in memory: it comes as `line: null`
 * with its length, and reading goes on with the next line.
 */
export async function* readLines(path: string, options: { maxBytes?: number } = {}): AsyncGenerator<ReadLine> {
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  const input: AsyncIterable<Buffer | string> = path === '-' ? process.stdin : createReadStream(path);
  let parts: Buffer[] = [];
  let held = 0;
  let dropped = -1; // bytes of an overlong line seen so far; -1 while the line is within bounds
  let n = 0;
  const take = (piece: Buffer) => {
    if (dropped >= 0) dropped += piece.length;
    else if (held + piece.length > maxBytes) {
      dropped = held + piece.length;
      parts = [];
      held = 0;
    } else if (piece.length > 0) {
      parts.push(piece);
      held += piece.length;
    }
  };
  const finish = (): ReadLine => {
    n++;
    let out: ReadLine;
    if (dropped >= 0) out = { line: null, n, bytes: dropped };
    else {
      const text = (parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, held)).toString('utf8');
      out = { line: text.endsWith('\r') ? text.slice(0, -1) : text, n };
    }
    parts = [];
    held = 0;
    dropped = -1;
    return out;
  };
  for await (const data of input) {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    let pos = 0;
    for (let nl = chunk.indexOf(10, pos); nl !== -1; nl = chunk.indexOf(10, pos)) {
      take(chunk.subarray(pos, nl));
      yield finish();
      pos = nl + 1;
    }
    take(chunk.subarray(pos));
  }
  if (held > 0 || dropped >= 0) yield finish();
}
