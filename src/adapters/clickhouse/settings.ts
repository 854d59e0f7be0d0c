/**
 * The ClickHouse settings both OfflineStore adapters apply, in one place so the server and chDB
 * read and write rows the same way. Each one pins a default that differs between ClickHouse
 * versions or between the server and chDB, or that would otherwise lose data in silence.
 */
export const OFFLINE_STORE_SETTINGS = {
  /** Applied to `query` (result rows). */
  query: {
    /**
     * (U)Int64 come back as JSON numbers instead of strings (the server's default is 1, chDB's
     * 0). Values above 2^53 (9007199254740992) lose precision in a JS number: select
     * `toString(col)` when exact 64-bit values matter (hashes, ids).
     */
    output_format_json_quote_64bit_integers: 0,
  },
  /** Applied to `insert` (JSONEachRow payloads from `encodeJsonEachRow`). */
  insert: {
    /**
     * Pinned because the defaults differ (server `basic`, chDB `best_effort`), which would let chDB
     * accept rows a server rejects. `basic` reads a bare JSON number as ticks (epoch ms for
     * DateTime64(3)), a string as decimal epoch seconds (`"1704164645.678"`, `"-1.000"`) or as
     * `YYYY-MM-DD hh:mm:ss[.fff]` in the column's zone, and refuses ISO-8601 with `T`/`Z`;
     * `best_effort` takes ISO-8601 but misreads small and negative decimal seconds.
     */
    date_time_input_format: 'basic',
    /** A key that names no column (a typo) is an error, not dropped in silence (recent ClickHouse, chDB included, drops it by default). */
    input_format_skip_unknown_fields: 0,
  },
} as const;
