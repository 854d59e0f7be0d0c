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
 * - time: a `number` is taken by ClickHouse as ticks of the column's precision, so epoch
 *   milliseconds go into `DateTime64(3, 'UTC')` columns exactly (the project-wide convention);
 *   a `Date` is sent as its ISO-8601 string (`toJSON`), which `best_effort` parsing reads into
 *   `DateTime` and `DateTime64` alike. Never send epoch ms into a plain `DateTime` column: it
 *   counts seconds.
 * - `bigint` is sent as a decimal string, which ClickHouse reads into (U)Int64/128/256 exactly;
 *   use it for 64-bit values above 2^53.
 * - `undefined` members are omitted, so the column takes its DEFAULT.
 * - `null` is NULL in a Nullable column; in any other ClickHouse stores the type's default
 *   (0, '') or, in a Float column, NaN. `NaN` and `Infinity` are sent as `null` (JSON cannot
 *   spell them), so NaN survives in a Float column and Infinity does not: keep Infinity out.
 *
 * Encoding yields to the event loop every few thousand rows, so a large batch does not starve
 * timers and sockets that share the loop (a Kafka consumer's heartbeats in the sink). The
 * payload is assembled from per-slice Buffers, so it is not bound by V8's maximum string length.
 *
 * @example
 * const payload = await encodeJsonEachRow([{ id: 'e1', event_time: 1704164645678, n: 7n }]);
 * // {"id":"e1","event_time":1704164645678,"n":"7"}\n
 */
export async function encodeJsonEachRow(rows: readonly Record<string, unknown>[]): Promise<Buffer> {
  const slices: Buffer[] = [];
  let bytes = 0;
  for (let start = 0; start < rows.length; start += ROWS_PER_SLICE) {
    if (start > 0) await yieldToEventLoop();
    const end = Math.min(start + ROWS_PER_SLICE, rows.length);
    let text = '';
    for (let i = start; i < end; i++) text += stringifyRow(rows[i]!, i) + '\n';
    const slice = Buffer.from(text, 'utf8');
    slices.push(slice);
    bytes += slice.length;
  }
  return slices.length === 1 ? slices[0]! : Buffer.concat(slices, bytes);
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
  return json;
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
