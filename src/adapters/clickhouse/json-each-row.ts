/**
 * JSONEachRow encoding shared by both OfflineStore adapters (the ClickHouse server and chDB, which
 * is ClickHouse's engine in-process), so a row means the same thing whichever engine receives it.
 * No vendor client is imported here.
 */

/** Rows encoded per slice before yielding to the event loop. */
const ROWS_PER_SLICE = 4096;

/**
 * Encodes rows as one JSONEachRow payload (`{...}\n` per row) in a single Buffer.
 *
 * Value conventions (the engines parse them with {@link OFFLINE_STORE_SETTINGS}.insert):
 * - time: an epoch-ms `number` into a `DateTime64(3, 'UTC')` column (the project-wide
 *   convention): ClickHouse reads a bare JSON number as ticks of the column's precision, so it
 *   is exact, 1970 and before included. A plain `DateTime` column counts seconds instead. A
 *   string is parsed as text: decimal epoch seconds (`"1704164645.678"`; note `"1704164645"` is
 *   seconds where the number 1704164645 is ms) or `YYYY-MM-DD hh:mm:ss.fff`. A `Date` becomes
 *   its ISO-8601 text, which both engines refuse (date_time_input_format = basic): pass
 *   `date.getTime()`.
 * - `bigint` is sent as a decimal string, which ClickHouse reads into (U)Int64/128/256 exactly;
 *   use it for 64-bit values above 2^53.
 * - `undefined` members are omitted, so the column takes its DEFAULT.
 * - `null` is NULL in a Nullable column and the type's default (0, '') in any other.
 * - `NaN` and `±Infinity` are refused (TypeError naming the row and key): JSON cannot spell
 *   them, and the `null` JSON.stringify would put in their place is stored as NULL or 0.
 *
 * Encoding yields to the event loop every few thousand rows, so a large batch does not starve
 * timers and sockets that share the loop (a Kafka consumer's heartbeats in the sink). Each slice
 * is written straight into the payload Buffer, so the payload is not bound by V8's maximum
 * string length.
 *
 * @example
 * const payload = await encodeJsonEachRow([{ id: 'e1', event_time: 1704164645678, n: 7n }]);
 * // {"id":"e1","event_time":1704164645678,"n":"7"}\n
 */
export async function encodeJsonEachRow(rows: readonly Record<string, unknown>[]): Promise<Buffer> {
  let payload: Buffer | undefined;
  let used = 0;
  for (let start = 0; start < rows.length; start += ROWS_PER_SLICE) {
    if (start > 0) await yieldToEventLoop();
    const end = Math.min(start + ROWS_PER_SLICE, rows.length);
    let text = '';
    for (let i = start; i < end; i++) text += stringifyRow(rows[i]!, i) + '\n';
    const bytes = Buffer.byteLength(text, 'utf8');
    if (payload === undefined || used + bytes > payload.length) {
      // Sized from the rows seen so far (+12.5%), so the payload is written in place rather than
      // assembled from slices and copied again: the peak stays near one payload, not two.
      const estimate = Math.ceil(((used + bytes) / end) * rows.length * 1.125);
      const grown = Buffer.allocUnsafe(Math.max(estimate, used + bytes));
      if (payload !== undefined) payload.copy(grown, 0, 0, used);
      payload = grown;
    }
    used += payload.write(text, used, 'utf8');
  }
  return payload === undefined ? Buffer.alloc(0) : payload.subarray(0, used);
}

function stringifyRow(row: Record<string, unknown>, index: number): string {
  let json: string | undefined;
  try {
    // The plain call is the fast path; a replacer costs a callback per value.
    json = JSON.stringify(row);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    // BigInt is the one value JSON.stringify refuses that we can spell; anything else
    // (a cycle) is the caller's bug and keeps its TypeError, with the row number added.
    try {
      json = JSON.stringify(row, bigintAsString);
    } catch (again) {
      throw new TypeError(`row ${index} cannot be encoded as JSON: ${(again as Error).message}`, { cause: again });
    }
  }
  if (json === undefined || json[0] !== '{') {
    throw new TypeError(`row ${index} is not a plain object (got ${row === null ? 'null' : typeof row})`);
  }
  // JSON.stringify writes NaN and Infinity as null; only a row whose text has a null can hide one.
  if (json.includes('null')) {
    const path = findNonFinite(row, '');
    if (path !== undefined) throw new TypeError(`row ${index}: ${path} is not a finite number, which JSON cannot carry`);
  }
  return json;
}

function findNonFinite(value: unknown, path: string): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} = ${value}`;
  if (value === null || typeof value !== 'object' || value instanceof Date) return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const found = findNonFinite(inner, path === '' ? key : `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
