/**
 * Streaming CSV reading shared by the importers: RFC 4180 fields (quoted fields may hold commas,
 * doubled quotes and line breaks), LF or CRLF line endings, an optional UTF-8 byte-order mark.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { UsageError } from '../../errors.js';

/** What an importer does with a row it cannot parse: stop with an error naming the line, or skip it. */
export type BadRowPolicy = 'fail' | 'skip';

/** One parsed record and the 1-based line it starts on. */
export interface CsvRow {
  fields: string[];
  line: number;
}

/**
 * Parses one CSV record. Returns null when a quoted field is still open at the end of the text:
 * the record continues on the next line, and the caller retries with both lines joined by `\n`.
 * Lenient where RFC 4180 is undefined: a quote inside an unquoted field, or text after a closing
 * quote, is kept as text.
 *
 * @example parseCsvRecord('11,"American President, The (1995)",Comedy') // ['11', 'American President, The (1995)', 'Comedy']
 */
export function parseCsvRecord(text: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  const n = text.length;
  for (;;) {
    if (i < n && text.charCodeAt(i) === 34 /* " */) {
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return null;
        value += text.slice(i, q);
        if (text.charCodeAt(q + 1) === 34) {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      const comma = text.indexOf(',', i);
      const end = comma < 0 ? n : comma;
      value += text.slice(i, end);
      fields.push(value);
      if (comma < 0) return fields;
      i = comma + 1;
    } else {
      const comma = text.indexOf(',', i);
      if (comma < 0) {
        fields.push(text.slice(i));
        return fields;
      }
      fields.push(text.slice(i, comma));
      i = comma + 1;
    }
  }
}

/**
 * Fails with a UsageError naming the path when it does not exist or is not a regular file, so a
 * wrong `--path` says what was looked for instead of an ENOENT stack.
 *
 * @param what - what the file is, for the message (e.g. `Taobao UserBehavior CSV`)
 */
export async function assertFile(path: string, what: string): Promise<void> {
  const s = await stat(path).catch((err: unknown) => {
    throw new UsageError(`${what} not found: ${path} (${err instanceof Error ? err.message : String(err)})`);
  });
  if (!s.isFile()) throw new UsageError(`${what} is not a file: ${path}`);
}

/** Like {@link assertFile}, for a directory. */
export async function assertDirectory(path: string, what: string): Promise<void> {
  const s = await stat(path).catch((err: unknown) => {
    throw new UsageError(`${what} not found: ${path} (${err instanceof Error ? err.message : String(err)})`);
  });
  if (!s.isDirectory()) throw new UsageError(`${what} is not a directory: ${path}`);
}

/**
 * Streams the records of a CSV file, header included (the caller knows whether there is one).
 * Blank lines are skipped. Memory is one record at a time.
 *
 * @throws UsageError when the file does not exist (naming it) or ends inside a quoted field
 */
export async function* readCsv(path: string, what: string): AsyncGenerator<CsvRow> {
  await assertFile(path, what);
  const input = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let pending: string | null = null;
  let pendingLine = 0;
  try {
    for await (const raw of lines) {
      lineNo++;
      const line = lineNo === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      const text: string = pending === null ? line : `${pending}\n${line}`;
      const start = pending === null ? lineNo : pendingLine;
      if (pending === null && text.length === 0) continue;
      const fields = parseCsvRecord(text);
      if (fields === null) {
        pending = text;
        pendingLine = start;
        continue;
      }
      pending = null;
      yield { fields, line: start };
    }
  } finally {
    // A consumer that stops early must not leave the file descriptor open.
    lines.close();
    input.destroy();
  }
  if (pending !== null) throw new UsageError(`${what} ${path}: the quoted field opened on line ${pendingLine} is never closed`);
}
