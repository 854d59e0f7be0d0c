import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { parseCsvRecord, readCsv } from '../../../src/ingest/importers/csv.js';
import { collect } from './event-checks.js';

describe('parseCsvRecord', () => {
  it('splits plain fields, keeping empty ones', () => {
    expect(parseCsvRecord('1,2268318,,pv,1511544070')).toEqual(['1', '2268318', '', 'pv', '1511544070']);
    expect(parseCsvRecord('')).toEqual(['']);
    expect(parseCsvRecord('a,')).toEqual(['a', '']);
  });

  it('unquotes quoted fields holding commas and doubled quotes', () => {
    expect(parseCsvRecord('11,"American President, The (1995)",Comedy|Drama')).toEqual(['11', 'American President, The (1995)', 'Comedy|Drama']);
    expect(parseCsvRecord('7789,"11\'09""01 - September 11 (2002)",Drama')).toEqual(['7789', '11\'09"01 - September 11 (2002)', 'Drama']);
    expect(parseCsvRecord('"",x')).toEqual(['', 'x']);
    expect(parseCsvRecord('"a,b"')).toEqual(['a,b']);
  });

  it('returns null while a quoted field is open, so the caller can join the next line', () => {
    expect(parseCsvRecord('1,"Line')).toBeNull();
    expect(parseCsvRecord('1,"Line\nBreak",Drama')).toEqual(['1', 'Line\nBreak', 'Drama']);
  });
});

describe('readCsv', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-csv-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads CRLF files with a BOM, blank lines and a multi-line quoted field, numbering lines', async () => {
    const path = join(dir, 'a.csv');
    await writeFile(path, '\ufeffid,title\r\n1,"a, b"\r\n\r\n2,"multi\r\nline"\r\n3,c');
    const rows = await collect(readCsv(path, 'test CSV'));
    expect(rows).toEqual([
      { fields: ['id', 'title'], line: 1 },
      { fields: ['1', 'a, b'], line: 2 },
      { fields: ['2', 'multi\nline'], line: 4 },
      { fields: ['3', 'c'], line: 6 },
    ]);
  });

  it('names the missing file in a UsageError', async () => {
    const path = join(dir, 'nope.csv');
    await expect(collect(readCsv(path, 'test CSV'))).rejects.toThrow(UsageError);
    await expect(collect(readCsv(path, 'test CSV'))).rejects.toThrow(path);
    await expect(collect(readCsv(dir, 'test CSV'))).rejects.toThrow(/not a file/);
  });

  it('fails on a quoted field that is never closed', async () => {
    const path = join(dir, 'open.csv');
    await writeFile(path, 'a\n"never closed\nb\n');
    await expect(collect(readCsv(path, 'test CSV'))).rejects.toThrow(/line 2 is never closed/);
  });
});
