import type { CompiledGroup } from '../features/definitions.js';
import type { OfflineStore } from '../ports/offline-store.js';
import type { Sample } from '../samples/sample.js';
import { BatchError } from './batch-errors.js';
import { SAMPLE_BASE_COLUMNS, checkSamplesTable, samplesLayout, type FeatureColumn, type SamplesLayout } from './samples-table.js';
import { sqlInstant, sqlInt, sqlString } from './sql.js';

/**
 * Reading samples back for the trainer: an async iterator of `Sample` in (eventTime,
 * impressionId) order, the samples table's own order. Pages are time ranges cut from a
 * per-minute histogram of the table (one cheap aggregate per day of the range), so each page is a
 * primary-key range read in order with no LIMIT to re-scan; a minute holding more than a few pages
 * of rows is read in keyset-paged slices instead ((eventTime, impressionId) after the previous
 * slice). Rows come as JSONCompactEachRow: one JSON array per row, positional, parsed line by line.
 * The next page is requested while the current one is consumed, so the engine formats one page
 * while JavaScript decodes the other. Memory stays at about two pages whatever the range.
 */

/** Options of {@link readSamples}. */
export interface ReadSamplesOptions {
  /** First sample time included, epoch ms. */
  readonly from: number;
  /** First sample time excluded, epoch ms. */
  readonly to: number;
  /** The groups the samples were built with (the spec: the project's). */
  readonly groups: readonly CompiledGroup[];
  /** The samples table; default `samples`. */
  readonly table?: string;
  /** Rows per page, about. Default 50,000. */
  readonly pageSize?: number;
}

const DEFAULT_PAGE = 50_000;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** One read: a time range, and for an oversized minute a keyset slice within it. */
interface Page {
  readonly from: number;
  readonly to: number;
  readonly limit: number | null;
}

/**
 * The samples of [from, to), in (eventTime, impressionId) order. A missing table yields nothing.
 *
 * @example
 * for await (const s of readSamples(offline, { from, to })) model.learn(s.features, s.clickLabel);
 * @throws BatchError `SAMPLES_SPEC_MISMATCH` when the table holds samples of another spec.
 */
export function readSamples(offline: OfflineStore, options: ReadSamplesOptions): AsyncIterableIterator<Sample> {
  // A hand-written iterator over the batches: an async generator's `yield*` costs several promise
  // hops per sample, a third of the read time at a million samples when measured.
  const batches = readSampleBatches(offline, options);
  let batch: Sample[] = [];
  let i = 0;
  const iterator: AsyncIterableIterator<Sample> = {
    next(): Promise<IteratorResult<Sample>> {
      if (i < batch.length) return Promise.resolve({ value: batch[i++] as Sample, done: false });
      return batches.next().then((r) => {
        if (r.done === true) return { value: undefined, done: true };
        batch = r.value;
        i = 0;
        return iterator.next();
      });
    },
    async return(): Promise<IteratorResult<Sample>> {
      await batches.return(undefined);
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/**
 * The same samples as {@link readSamples}, a page at a time (about `pageSize` samples per array,
 * in order): what a trainer that learns in mini-batches should use, since it skips the per-sample
 * cost of an async iterator.
 *
 * @throws BatchError `SAMPLES_SPEC_MISMATCH` when the table holds samples of another spec.
 */
export async function* readSampleBatches(offline: OfflineStore, options: ReadSamplesOptions): AsyncGenerator<Sample[], void, undefined> {
  const { from, to } = options;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) throw new BatchError('BATCH_INVALID_ARGUMENT', `the range must be integer epoch ms, got [${String(from)}, ${String(to)})`);
  const pageSize = options.pageSize ?? DEFAULT_PAGE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new BatchError('BATCH_INVALID_ARGUMENT', `pageSize must be a whole number >= 1, got ${String(pageSize)}`);
  const layout = samplesLayout(options.groups, options.table);
  if (from >= to || !(await checkSamplesTable(offline, layout))) return;
  const decode = rowDecoder(layout);
  const fetch = (page: Page, after: { t: number; id: string } | null): Promise<string> => {
    const text = offline.queryText(pageSql(layout, page, after), 'JSONCompactEachRow');
    // a prefetched page may be dropped (the consumer stopped early): its failure must not go unhandled
    text.catch(() => undefined);
    return text;
  };
  let pending: { page: Page; text: Promise<string> } | null = null;
  for await (const page of pages(offline, layout, from, to, pageSize)) {
    const next = { page, text: fetch(page, null) };
    if (pending !== null) yield* drain(pending, fetch, decode);
    pending = next;
  }
  if (pending !== null) yield* drain(pending, fetch, decode);
}

/** Yields one page's rows as one batch; a keyset-sliced page yields a batch per slice, fetching the next slice first. */
async function* drain(
  first: { page: Page; text: Promise<string> },
  fetch: (page: Page, after: { t: number; id: string } | null) => Promise<string>,
  decode: (row: unknown[]) => Sample,
): AsyncGenerator<Sample[]> {
  let text: Promise<string> | null = first.text;
  while (text !== null) {
    const rows = parseLines(await text);
    text = null;
    const last = rows[rows.length - 1];
    if (first.page.limit !== null && rows.length === first.page.limit && last !== undefined) text = fetch(first.page, { t: last[6] as number, id: last[0] as string });
    if (rows.length > 0) yield rows.map(decode);
  }
}

/** Time ranges of about `pageSize` rows each, from per-minute counts, one day of histogram at a time. */
async function* pages(offline: OfflineStore, layout: SamplesLayout, from: number, to: number, pageSize: number): AsyncGenerator<Page> {
  for (let dayFrom = from; dayFrom < to; dayFrom += DAY_MS) {
    const dayTo = Math.min(to, dayFrom + DAY_MS);
    const minutes = await offline.query<{ m: number; n: number }>(
      `SELECT intDiv(toUnixTimestamp64Milli(eventTime), ${MINUTE_MS}) AS m, count() AS n FROM ${layout.table} ` +
        `WHERE eventTime >= ${sqlInstant(dayFrom)} AND eventTime < ${sqlInstant(dayTo)} GROUP BY m ORDER BY m`,
    );
    let start: number | null = null;
    let rows = 0;
    let end = dayFrom;
    for (const { m, n } of minutes) {
      const lo = Math.max(dayFrom, Number(m) * MINUTE_MS);
      const hi = Math.min(dayTo, (Number(m) + 1) * MINUTE_MS);
      if (Number(n) > 2 * pageSize) {
        // an oversized minute: flush what came before, then read it in keyset slices
        if (start !== null) yield { from: start, to: lo, limit: null };
        yield { from: lo, to: hi, limit: pageSize };
        start = null;
        rows = 0;
        continue;
      }
      if (start === null) start = lo;
      rows += Number(n);
      end = hi;
      if (rows >= pageSize) {
        yield { from: start, to: end, limit: null };
        start = null;
        rows = 0;
      }
    }
    if (start !== null) yield { from: start, to: end, limit: null };
  }
}

function pageSql(layout: SamplesLayout, page: Page, after: { t: number; id: string } | null): string {
  const cols = SAMPLE_BASE_COLUMNS.map((c) => (c.name === 'eventTime' ? 'toUnixTimestamp64Milli(eventTime)' : c.name));
  const where = [`eventTime >= ${sqlInstant(page.from)}`, `eventTime < ${sqlInstant(page.to)}`];
  if (after !== null) {
    const t = sqlInstant(after.t);
    where.push(`eventTime >= ${t}`, `(eventTime > ${t} OR impressionId > ${sqlString(after.id)})`);
  }
  const limit = page.limit === null ? '' : ` LIMIT ${sqlInt(page.limit)}`;
  return `SELECT ${[...cols, ...layout.features.map((f) => f.name)].join(', ')} FROM ${layout.table} WHERE ${where.join(' AND ')} ORDER BY eventTime, impressionId${limit}`;
}

function parseLines(text: string): unknown[][] {
  const rows: unknown[][] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end > start) rows.push(JSON.parse(text.slice(start, end)) as unknown[]);
    start = end + 1;
  }
  return rows;
}

/**
 * From a positional row (base columns, then features in layout order) to a Sample. The decoder is
 * generated once per layout with the feature names as literal keys, so every `features` object is
 * built by one object literal of a fixed shape: filling a record key by key costs several times
 * more per row, and decoding, not the engine, bounds the read rate. Names are checked to be plain
 * identifiers before they are written into the code (definitions already guarantee it), and are
 * written as JSON string literals.
 */
function rowDecoder(layout: SamplesLayout): (row: unknown[]) => Sample {
  const base = SAMPLE_BASE_COLUMNS.length;
  const entries = layout.features.map((f: FeatureColumn, j) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f.name)) throw new BatchError('SAMPLES_SPEC_INVALID', `feature name ${JSON.stringify(f.name)} is not an identifier`);
    return `${JSON.stringify(f.name)}: row[${base + j}]`;
  });
  return new Function(
    'row',
    `return { impressionId: row[0], requestId: row[1], userId: row[2], itemId: row[3], categoryId: row[4], position: row[5], eventTime: row[6], ` +
      `context: { device: row[7], os: row[8], country: row[9], city: row[10], page: row[11], timezone: row[12] }, ` +
      `clickLabel: row[13] === 1 ? 1 : 0, orderLabel: row[14] === 1 ? 1 : 0, features: { ${entries.join(', ')} } };`,
  ) as (row: unknown[]) => Sample;
}
