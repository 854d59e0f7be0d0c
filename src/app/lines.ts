import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

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

/** Reads a text file (or stdin for `-`) line by line, numbering from 1. */
export async function* readLines(path: string): AsyncGenerator<{ line: string; n: number }> {
  const input = path === '-' ? process.stdin : createReadStream(path);
  const rl = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    yield { line, n };
  }
}
