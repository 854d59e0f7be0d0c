import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { EMPTY_CONTEXT, type AnyEvent, type ReferenceEventType, type TypedEvent } from '../../../src/events/event-types.js';
import { importMovielens } from '../../../src/ingest/importers/movielens.js';
import { collect, eventProblems, sharedData } from './event-checks.js';

// Synthetic files in the ml-latest-small layout (CRLF, quoted titles), not taken from the set.
const MOVIES = [
  'movieId,title,genres',
  '1,Toy Story (1995),Adventure|Animation|Children',
  '11,"American President, The (1995)",Comedy|Drama|Romance',
  '7789,"11\'09""01 - September 11 (2002)",Drama',
  '99,"Line\r\nBreak, A (2000)",Horror|Thriller',
  '5,Nothing (2001),(no genres listed)',
].join('\r\n');
const RATINGS = [
  'userId,movieId,rating,timestamp',
  '1,11,4.0,964982703', // line 2: click
  '1,1,3.5,964981247', // line 3: no click
  '2,7789,5.0,964981247', // line 4: click, same second as line 3
  '2,5,0.5,964982000', // line 5
  '3,424242,4.5,964981000', // line 6: a movie missing from movies.csv; the earliest rating
  '3,1,4,964981246', // line 7: its click lands on the second of lines 3 and 4
].join('\r\n');

const ofType = <T extends ReferenceEventType>(events: AnyEvent[], type: T): TypedEvent<T>[] =>
  events.filter((e): e is TypedEvent<T> => e.type === type);

describe('importMovielens on synthetic files', () => {
  let dir = '';
  let events: AnyEvent[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-movielens-'));
    await writeFile(join(dir, 'movies.csv'), MOVIES + '\r\n');
    await writeFile(join(dir, 'ratings.csv'), RATINGS + '\r\n');
    events = await collect(importMovielens({ dir }));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('emits a profile per movie first, at the earliest rating, with the first genre as category', () => {
    const profiles = events.slice(0, 6);
    expect(profiles.map((p) => [p.type, (p as TypedEvent<'item_profile'>).itemId, (p as TypedEvent<'item_profile'>).categoryId])).toEqual([
      ['item_profile', '1', 'Adventure'],
      ['item_profile', '11', 'Comedy'],
      ['item_profile', '7789', 'Drama'],
      ['item_profile', '99', 'Horror'],
      ['item_profile', '5', null],
      ['item_profile', '424242', null],
    ]);
    expect(profiles.every((p) => p.eventTime === 964981000 * 1000)).toBe(true);
    expect(profiles[0]).toEqual({ type: 'item_profile', eventId: 'ml-item-1', eventTime: 964981000000, itemId: '1', categoryId: 'Adventure', price: null, brand: null });
    expect(ofType(events, 'item_profile').length).toBe(6);
  });

  it('emits an impression per rating and a click 1 s later for ratings >= 4, in eventTime order', () => {
    expect(events.slice(6).map((e) => [e.eventId, e.eventTime])).toEqual([
      ['ml-6-i', 964981000000],
      ['ml-6-c', 964981001000],
      ['ml-7-i', 964981246000],
      ['ml-7-c', 964981247000],
      ['ml-3-i', 964981247000],
      ['ml-4-i', 964981247000],
      ['ml-4-c', 964981248000],
      ['ml-5-i', 964982000000],
      ['ml-2-i', 964982703000],
      ['ml-2-c', 964982704000],
    ]);
  });

  it('fills impression and click fields from the rating and the movie', () => {
    const impression = events.find((e) => e.eventId === 'ml-2-i');
    expect(impression).toEqual({
      type: 'impression',
      eventId: 'ml-2-i',
      eventTime: 964982703000,
      requestId: 'ml-r2',
      userId: '1',
      itemId: '11',
      categoryId: 'Comedy',
      position: 0,
      context: EMPTY_CONTEXT,
    });
    expect(events.find((e) => e.eventId === 'ml-2-c')).toEqual({ ...impression, type: 'click', eventId: 'ml-2-c', eventTime: 964982704000 });
    expect(events.map(eventProblems).filter((p) => p.length > 0)).toEqual([]);
  });

  it('names a missing directory or file, and a header without a needed column', async () => {
    const missing = join(dir, 'absent');
    await expect(collect(importMovielens({ dir: missing }))).rejects.toThrow(UsageError);
    await expect(collect(importMovielens({ dir: missing }))).rejects.toThrow(missing);
    const noRatings = join(dir, 'no-ratings');
    await mkdir(noRatings);
    await writeFile(join(noRatings, 'movies.csv'), MOVIES);
    await expect(collect(importMovielens({ dir: noRatings }))).rejects.toThrow(join(noRatings, 'ratings.csv'));
    await writeFile(join(noRatings, 'ratings.csv'), 'userId,movieId,stars,timestamp\r\n1,1,4,1\r\n');
    await expect(collect(importMovielens({ dir: noRatings }))).rejects.toThrow(/no column "rating"/);
  });

  it('reports or skips malformed ratings by policy', async () => {
    const bad = join(dir, 'bad');
    await mkdir(bad);
    await writeFile(join(bad, 'movies.csv'), MOVIES);
    await writeFile(join(bad, 'ratings.csv'), 'userId,movieId,rating,timestamp\r\n1,1,4,964981000\r\n1,11,great,964981000\r\n1,5,3,soon\r\n');
    await expect(collect(importMovielens({ dir: bad }))).rejects.toThrow(`${join(bad, 'ratings.csv')}:3`);
    const skipped: number[] = [];
    const events = await collect(importMovielens({ dir: bad, badRows: 'skip', onSkip: (_file, line) => skipped.push(line) }));
    expect(skipped).toEqual([3, 4]);
    expect(ofType(events, 'impression').length).toBe(1);
  });
});

describe('importMovielens on the real ml-latest-small', () => {
  const data = sharedData('movielens-latest-small');

  it('imports every rating, a click per rating >= 4 and a profile per movie, in eventTime order', async (ctx) => {
    ctx.skip(!data.present, data.reason);
    const lines = (await readFile(join(data.path, 'ratings.csv'), 'utf8')).split('\r\n').slice(1).filter((l) => l.length > 0);
    const positives = lines.filter((l) => Number(l.split(',')[2]) >= 4).length;
    const movies = (await readFile(join(data.path, 'movies.csv'), 'utf8')).split('\r\n').slice(1).filter((l) => l.length > 0).length;

    const events = await collect(importMovielens({ dir: data.path }));
    expect(ofType(events, 'impression').length).toBe(lines.length);
    expect(ofType(events, 'click').length).toBe(positives);
    expect(ofType(events, 'item_profile').length).toBeGreaterThanOrEqual(movies);
    expect(ofType(events, 'item_profile').filter((p) => p.categoryId === null).length).toBeLessThan(100);
    for (let i = 1; i < events.length; i++) if (events[i]!.eventTime < events[i - 1]!.eventTime) expect.fail(`unsorted at ${i}`);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    expect(events.slice(0, 20_000).flatMap(eventProblems)).toEqual([]);
  });
});
