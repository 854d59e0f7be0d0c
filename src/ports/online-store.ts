/**
 * OnlineStore: the low-latency key-value store the streaming layer writes and the serving path
 * reads (Redis in production, an in-process store for the demo and unit tests).
 *
 * Contract (checked by `test/contract/online-store.contract.ts` against both adapters):
 * - `apply` runs its operations atomically: all of them or none, never interleaved with another
 *   `apply`; with a fence it runs only when the fence's stored offset is below the given offset,
 *   and then stores that offset in the same atomic step. This is what makes a redelivered
 *   batch a no-op (exactly-once in effect);
 * - `read` answers all its queries from one consistent snapshot in one round trip;
 * - numbers round-trip as IEEE doubles; strings as UTF-8.
 */
export interface OnlineStore {
  apply(ops: readonly StoreOp[], fence?: Fence): Promise<ApplyResult>;
  read(queries: readonly ReadQuery[]): Promise<ReadValue[]>;
  /** Deletes every key starting with the prefix (namespace drops, tests); returns how many. */
  deleteByPrefix(prefix: string): Promise<number>;
  close(): Promise<void>;
}

export type StoreOp =
  /** Plain string value. */
  | { op: 'set'; key: string; value: string }
  | { op: 'hset'; key: string; field: string; value: string }
  /** Adds `by` (a double) to a hash field, which starts at 0. */
  | { op: 'hincr'; key: string; field: string; by: number }
  /** Keeps the larger of the stored and the given number. */
  | { op: 'hmax'; key: string; field: string; value: number }
  /** Keeps the smaller of the stored and the given number. */
  | { op: 'hmin'; key: string; field: string; value: number }
  /**
   * Keeps the value with the greatest `at`; on a tie the lexicographically greater value wins,
   * so the outcome does not depend on arrival order. Read back as `<at>|<value>`.
   */
  | { op: 'hlatest'; key: string; field: string; value: string; at: number }
  | { op: 'hdel'; key: string; fields: readonly string[] }
  /**
   * Deletes every field of the hash whose name starts with one of the rules' `prefix` and whose
   * remainder (the text right after that prefix, up to the next `|` or the end) is a number
   * (the stored-number syntax of `hincr`) strictly below the rule's `below`. Drops time tiles
   * older than a window in event time: with rule `{ prefix: '3|60000|', below: t }` the field
   * `3|60000|1767600000000` goes when 1767600000000 < t; `3|600000|1`, `3|60000|x` and
   * `3|60000|` stay. A missing key is a no-op; a hash left empty disappears.
   */
  | { op: 'hprune'; key: string; rules: readonly HpruneRule[] }
  /**
   * Adds members (UTF-8 bytes) to a HyperLogLog (Redis PFADD: p = 14, 16 384 registers,
   * MurmurHash64A); read the estimate with the `pfcount` query. The key holds a HyperLogLog and
   * nothing else: another type, or a plain string written by `set`, is a conflict. Reading
   * such a key with `get` is outside the contract (Redis returns its binary encoding).
   */
  | { op: 'pfadd'; key: string; members: readonly string[] }
  /**
   * Sorted set: adds the member with the score, keeping the greater score if present; then, with
   * `keepTop`, trims to the `keepTop` highest scores (ties broken by member, greater first).
   */
  | { op: 'zadd'; key: string; member: string; score: number; keepTop?: number }
  /** Removes sorted-set members with score < `below`. */
  | { op: 'zremBelow'; key: string; below: number }
  | { op: 'del'; key: string }
  /** Sets a time-to-live in ms on an existing key (wall clock: a memory bound, not a semantic). */
  | { op: 'expire'; key: string; ttlMs: number };

/** One rule of an `hprune` op; `below` is compared as a double. */
export interface HpruneRule {
  prefix: string;
  below: number;
}

/** Offset fence: apply only if the offset stored at (key, field) is below `offset`, then store it. */
export interface Fence {
  key: string;
  field: string;
  offset: number;
  /**
   * Compare-and-set: when given, apply only if the stored offset equals `expected` exactly
   * (`null`: only if none is stored). A consumer that read the stored offset before planning its
   * batch passes it here, so a stale owner of the partition racing a new one can never apply the
   * same records twice. A refused apply reports the stored offset (-1 when none).
   */
  expected?: number | null;
}

export type ApplyResult = { applied: true } | { applied: false; storedOffset: number };

export type ReadQuery =
  | { kind: 'get'; key: string }
  | { kind: 'hgetall'; key: string }
  /**
   * The whole hash as one flat array `[field1, value1, field2, value2, ...]` (order unspecified;
   * `[]` for a missing key). Same content as `hgetall`, without building an object: the fast form
   * for reading many hashes (the feature reader).
   */
  | { kind: 'hgetallFlat'; key: string }
  | { kind: 'hmget'; key: string; fields: readonly string[] }
  /** Highest scores first (ties: greater member first), at most `limit`. */
  | { kind: 'ztop'; key: string; limit: number }
  /** Sorted-set scores of the members, in order; null for a missing member or key (Redis ZMSCORE). */
  | { kind: 'zscores'; key: string; members: readonly string[] }
  /**
   * The estimated number of distinct members added to the union of the HyperLogLogs at `keys`
   * (Redis PFCOUNT k1 k2 ...): missing keys count as empty, no keys gives 0. Both adapters
   * compute Redis's estimate exactly (Ertl's estimator over the same registers).
   */
  | { kind: 'pfcount'; keys: readonly string[] }
  /**
   * The registers of the HyperLogLog at `key` (2^14 bytes, one rank each; see features/hll.ts),
   * null for a missing key: what a caller merges itself, e.g. the tiles of a window.
   */
  | { kind: 'hll'; key: string };

export type ReadValue =
  | { kind: 'get'; value: string | null }
  | { kind: 'hgetall'; value: Record<string, string> }
  | { kind: 'hgetallFlat'; value: readonly string[] }
  | { kind: 'hmget'; value: (string | null)[] }
  | { kind: 'ztop'; value: { member: string; score: number }[] }
  | { kind: 'zscores'; value: (number | null)[] }
  | { kind: 'pfcount'; value: number }
  | { kind: 'hll'; value: Uint8Array | null };
