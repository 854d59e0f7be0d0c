/**
 * Importer for MovieLens (ml-latest-small layout): `ratings.csv`
 * (`userId,movieId,rating,timestamp`, CRLF line endings in the distributed files) and `movies.csv`
 * (`movieId,title,genres`, titles quoted when they hold commas or quotes, genres `|`-separated).
 *
 * Rules, exactly (t = timestamp * 1000, line = 1-based line of the rating in ratings.csv):
 * - every rating -> an impression at t in its own request `ml-r<line>`, position 0, itemId =
 *   movieId, categoryId = the movie's first genre;
 * - a rating >= 4 -> also a click at t + 1 s (same requestId and itemId, position 0): a positive
 *   inside the default click window. Lower ratings are the non-clicked impressions;
 * - an item_profile for every movie of movies.csv (then for every rated movie missing from it, in
 *   order of first rating line) at the earliest rating time of the file, before any other event:
 *   categoryId = first genre (`(no genres listed)` or empty -> null), price null, brand null. With
 *   no ratings there is no time to place them, and nothing is emitted;
 * - no user profiles (the set has none) and no orders; context all null (timezone null = UTC:
 *   MovieLens does not record the rater's zone).
 * - eventIds: `ml-<line>-i` (impression), `ml-<line>-c` (click), `ml-item-<movieId>` (profile).
 *
 * Output is sorted by eventTime (ties: profiles first, then a pending click before impressions,
 * impressions in rating-line order). Ratings are held in compact columns, which
 * suits files of up to a few million ratings (ml-latest-small has 100,836).
 */
import { join } from 'node:path';
import { UsageError } from '../../errors.js';
import { EMPTY_CONTEXT, type AnyEvent, type TypedEvent } from '../../events/event-types.js';
import { assertDirectory, readCsv, type BadRowPolicy } from './csv.js';

/** Options of {@link importMovielens}. */
export interface MovielensImportOptions {
  /** Directory holding ratings.csv and movies.csv. */
  dir: string;
  /** What to do with a malformed row. Default 'fail' (a UsageError naming file and line). */
  badRows?: BadRowPolicy;
  /** Called for every row skipped under `badRows: 'skip'`, so skipping is never silent. */
  onSkip?: (file: string, line: number, reason: string) => void;
}

/** Fixed parameters of the MovieLens import. */
export const MOVIELENS_DEFAULTS = Object.freeze({
  /** Ratings at or above this are clicks. */
  clickMinRating: 4,
  /** Delay of the click after its impression, ms. */
  clickDelayMs: 1_000,
  /** The genre MovieLens uses for "none"; mapped to a null category. */
  noGenre: '(no genres listed)',
});

const INTEGER = /^-?\d{1,15}$/;

/**
 * Streams a MovieLens directory as Tessera events, sorted by eventTime (see the module comment for
 * the rules). Both files are read at the first `next()`.
 *
 * @example
 * for await (const event of importMovielens({ dir: '../shared/data/movielens-latest-small' })) { ... }
 * @throws UsageError when the directory or one of its two files does not exist (naming the path),
 *   a header lacks a column, or a row is malformed under `badRows: 'fail'`
 */
export async function* importMovielens(options: MovielensImportOptions): AsyncGenerator<AnyEvent, void, undefined> {
  const { dir } = options;
  const badRows = options.badRows ?? 'fail';
  await assertDirectory(dir, 'MovieLens directory');
  const moviesPath = join(dir, 'movies.csv');
  const ratingsPath = join(dir, 'ratings.csv');

  const reject = (file: string, line: number, reason: string): void => {
    if (badRows === 'fail') throw new UsageError(`${file}:${line}: ${reason} (pass badRows: 'skip' to skip such rows)`);
    options.onSkip?.(file, line, reason);
  };

  // movies.csv: movieId -> first genre, in file order.
  const genreOf = new Map<string, string | null>();
  let movieCols: { movieId: number; genres: number } | null = null;
  for await (const { fields, line } of readCsv(moviesPath, 'MovieLens movies.csv')) {
    if (movieCols === null) {
      movieCols = { movieId: columnOf(fields, 'movieId', moviesPath), genres: columnOf(fields, 'genres', moviesPath) };
      columnOf(fields, 'title', moviesPath);
      continue;
    }
    const movieId = (fields[movieCols.movieId] ?? '').trim();
    const genres = fields[movieCols.genres];
    if (movieId === '' || genres === undefined) {
      reject(moviesPath, line, `expected movieId,title,genres, got ${fields.length} fields`);
      continue;
    }
    const first = (genres.split('|')[0] ?? '').trim();
    genreOf.set(movieId, first === '' || first === MOVIELENS_DEFAULTS.noGenre ? null : first);
  }

  // ratings.csv, in compact columns.
  const rowLine: number[] = [];
  const rowUser: string[] = [];
  const rowMovie: string[] = [];
  const rowRating: number[] = [];
  const rowTime: number[] = [];
  let ratingCols: { userId: number; movieId: number; rating: number; timestamp: number } | null = null;
  for await (const { fields, line } of readCsv(ratingsPath, 'MovieLens ratings.csv')) {
    if (ratingCols === null) {
      ratingCols = {
        userId: columnOf(fields, 'userId', ratingsPath),
        movieId: columnOf(fields, 'movieId', ratingsPath),
        rating: columnOf(fields, 'rating', ratingsPath),
        timestamp: columnOf(fields, 'timestamp', ratingsPath),
      };
      continue;
    }
    const userId = (fields[ratingCols.userId] ?? '').trim();
    const movieId = (fields[ratingCols.movieId] ?? '').trim();
    const ratingText = (fields[ratingCols.rating] ?? '').trim();
    const seconds = (fields[ratingCols.timestamp] ?? '').trim();
    const rating = Number(ratingText);
    if (userId === '' || movieId === '') {
      reject(ratingsPath, line, 'empty userId or movieId');
      continue;
    }
    if (ratingText === '' || !Number.isFinite(rating)) {
      reject(ratingsPath, line, `rating is not a number: "${ratingText}"`);
      continue;
    }
    if (!INTEGER.test(seconds)) {
      reject(ratingsPath, line, `timestamp is not an integer number of seconds: "${seconds}"`);
      continue;
    }
    rowLine.push(line);
    rowUser.push(userId);
    rowMovie.push(movieId);
    rowRating.push(rating);
    rowTime.push(Number(seconds) * 1000);
  }

  const n = rowLine.length;
  if (n === 0) return;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (rowTime[a] as number) - (rowTime[b] as number) || a - b);
  const first = rowTime[order[0] as number] as number;

  const profile = (movieId: string): TypedEvent<'item_profile'> => ({
    type: 'item_profile',
    eventId: `ml-item-${movieId}`,
    eventTime: first,
    itemId: movieId,
    categoryId: genreOf.get(movieId) ?? null,
    price: null,
    brand: null,
  });
  for (const movieId of genreOf.keys()) yield profile(movieId);
  const unlisted = new Set<string>();
  for (const movieId of rowMovie) if (!genreOf.has(movieId)) unlisted.add(movieId);
  for (const movieId of unlisted) yield profile(movieId);

  // Clicks are t + a constant, queued in ascending t: the queue stays sorted.
  const pending: TypedEvent<'click'>[] = [];
  let head = 0;
  for (const r of order) {
    const t = rowTime[r] as number;
    while (head < pending.length && (pending[head] as TypedEvent<'click'>).eventTime <= t) yield pending[head++] as TypedEvent<'click'>;
    if (head > 1024 && head * 2 > pending.length) {
      pending.splice(0, head);
      head = 0;
    }
    const line = rowLine[r] as number;
    const requestId = `ml-r${line}`;
    const userId = rowUser[r] as string;
    const itemId = rowMovie[r] as string;
    const categoryId = genreOf.get(itemId) ?? null;
    const impression: TypedEvent<'impression'> = {
      type: 'impression',
      eventId: `ml-${line}-i`,
      eventTime: t,
      requestId,
      userId,
      itemId,
      categoryId,
      position: 0,
      context: EMPTY_CONTEXT,
    };
    yield impression;
    if ((rowRating[r] as number) >= MOVIELENS_DEFAULTS.clickMinRating) {
      pending.push({
        type: 'click',
        eventId: `ml-${line}-c`,
        eventTime: t + MOVIELENS_DEFAULTS.clickDelayMs,
        requestId,
        userId,
        itemId,
        categoryId,
        position: 0,
        context: EMPTY_CONTEXT,
      });
    }
  }
  while (head < pending.length) yield pending[head++] as TypedEvent<'click'>;
}

/** The index of a named column in a header row; a UsageError naming the file when it is missing. */
function columnOf(header: readonly string[], name: string, file: string): number {
  const i = header.findIndex((h) => h.trim() === name);
  if (i < 0) throw new UsageError(`${file}: the header has no column "${name}" (got: ${header.join(',')})`);
  return i;
}
