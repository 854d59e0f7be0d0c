import { Redis, ReplyError } from 'ioredis';
import { hllFromRedis } from '../../features/hll.js';
import { ConfigError, ServiceError, TesseraError } from '../../errors.js';
import { SILENT_LOGGER, type Logger } from '../../ports/logger.js';
import type { ApplyResult, Fence, OnlineStore, ReadQuery, ReadValue, StoreOp } from '../../ports/online-store.js';
import { conflictMessage, validateReadQueries, validateStoreOps, type ConflictReason } from '../../util/store-op-rules.js';
import { APPLY_LUA, encodeApply, packArgs } from './apply-script.js';

/** Options of {@link RedisOnlineStore}. */
export interface RedisOnlineStoreOptions {
  /** `redis://[user:password@]host:port[/db]`, e.g. `redis://127.0.0.1:6379`. Required. */
  url: string;
  /**
   * Prepended to every key the store reads, writes, scans or deletes (a namespace: tests use a
   * random one, deployments may share a Redis). Default `''`.
   */
  keyPrefix?: string;
  /** Where connection problems are reported. Default: silent. */
  logger?: Logger;
  /** Connect timeout, ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** Reconnect attempts a command waits for before it fails (retriable). Default 3. */
  maxRetriesPerRequest?: number;
  /** SCAN page size for `deleteByPrefix`. Default 500. */
  scanCount?: number;
}

// ioredis flattens array arguments; passing arrays (not spreading them) keeps a batch of
// hundreds of thousands of arguments off the JavaScript call stack.
type ApplyCommand = (numKeys: number, keys: string[], args: string[]) => Promise<unknown>;

/** Retrying can help for these Redis reply errors (server busy or changing roles). */
const RETRIABLE_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS)\b/;

/**
 * `hgetallFlat` for many keys in one EVAL (inside the read's MULTI): each hash comes back as ONE
 * bulk string, its flat HGETALL joined by NUL, instead of one bulk string per field and value, so
 * the client parses a few hundred replies rather than tens of thousands. A hash whose fields or
 * values themselves hold a NUL byte comes back as the plain flat array (found by a plain search
 * of the unseparated concatenation, a memchr: a pattern count of the separators cost Redis about
 * a third of the script's time). An empty hash is the empty string.
 */
const HGETALL_FLAT_LUA = `local out = {}
for i, k in ipairs(KEYS) do
  local flat = redis.call('HGETALL', k)
  if #flat == 0 then
    out[i] = ''
  elseif string.find(table.concat(flat), '\\0', 1, true) then
    out[i] = flat
  else
    out[i] = table.concat(flat, '\\0')
  end
end
return out`;

/** Queries Redis would reject (no arguments) or answer with "everything" are answered locally. */
function answeredLocally(q: ReadQuery): ReadValue | undefined {
  if (q.kind === 'hmget' && q.fields.length === 0) return { kind: 'hmget', value: [] };
  if (q.kind === 'ztop' && q.limit === 0) return { kind: 'ztop', value: [] };
  if (q.kind === 'zscores' && q.members.length === 0) return { kind: 'zscores', value: [] };
  if (q.kind === 'pfcount' && q.keys.length === 0) return { kind: 'pfcount', value: 0 };
  return undefined;
}

/** What {@link sendRead} sent: EXEC's raw replies, `remote` of them for the plain queries, then the EVAL's when `packed`. */
export interface SentRead {
  replies: [Error | null, unknown][];
  remote: number;
  packed: boolean;
}

/**
 * Sends the Redis part of a read the way {@link RedisOnlineStore.read} does and stops there: one
 * MULTI/EXEC holding, in query order, a command per query Redis answers, then one EVAL of
 * HGETALL_FLAT_LUA over every `hgetallFlat` key; resolves to EXEC's raw replies, unpacked and
 * untranslated (null when no query goes to Redis). Exported for the serving benchmark's
 * round-trip floor, which sends the service's very reads without decoding them.
 */
export async function sendRead(redis: Redis, queries: readonly ReadQuery[], keyPrefix = ''): Promise<SentRead | null> {
  const tx = redis.multi();
  const flatKeys: string[] = [];
  let remote = 0;
  for (const q of queries) {
    if (q.kind === 'hgetallFlat') {
      flatKeys.push(keyPrefix + q.key);
      continue;
    }
    if (answeredLocally(q) !== undefined) continue;
    remote++;
    if (q.kind === 'pfcount') {
      // PFCOUNT may rewrite its key's cached estimate; inside MULTI that is still one snapshot
      tx.call('PFCOUNT', ...q.keys.map((k) => keyPrefix + k));
      continue;
    }
    const key = keyPrefix + q.key;
    if (q.kind === 'get') tx.get(key);
    else if (q.kind === 'hll') tx.getBuffer(key);
    else if (q.kind === 'hgetall') tx.call('HGETALL', key);
    else if (q.kind === 'hmget') tx.hmget(key, ...q.fields);
    else if (q.kind === 'zscores') tx.call('ZMSCORE', key, ...q.members); // Redis >= 6.2
    else if (q.kind === 'ztop') tx.zrevrange(key, 0, q.limit - 1, 'WITHSCORES');
  }
  if (remote === 0 && flatKeys.length === 0) return null; // a pipeline is sent only by exec
  // one EVAL for every hgetallFlat key, in the same MULTI (same snapshot); EVAL, not EVALSHA,
  // so a script cache flushed between calls cannot fail the transaction
  if (flatKeys.length > 0) tx.eval(HGETALL_FLAT_LUA, flatKeys.length, ...flatKeys);
  const replies = ((await tx.exec()) ?? []) as [Error | null, unknown][];
  return { replies, remote, packed: flatKeys.length > 0 };
}

/**
 * {@link OnlineStore} on one Redis node, via ioredis.
 *
 * - `apply` is a single Lua script call (EVALSHA, falling back to EVAL on NOSCRIPT, through
 *   ioredis `defineCommand`): fence check, conflict check, writes and fence update in one atomic
 *   step. The encoding and the all-or-nothing design are documented in `apply-script.ts`.
 * - `read` sends its queries as one MULTI/EXEC: one round trip and one consistent snapshot.
 *   `zscores` is ZMSCORE (Redis >= 6.2); `pfcount` is PFCOUNT, whose estimate
 *   `MemoryOnlineStore` reproduces exactly.
 * - `deleteByPrefix` walks SCAN MATCH and UNLINKs page by page (not atomic against writers).
 * - Numbers are stored as `%.17g` text and read back identically to `MemoryOnlineStore`.
 *
 * Limitation: single node. Under Redis Cluster the keys of one `apply` (and of one `read`) would
 * have to share a hash slot via hash tags, and SCAN would have to visit every master.
 *
 * Errors: invalid input throws `UsageError` before anything is sent; a state conflict (e.g.
 * `hincr` on a field holding text) and other Redis reply errors are `ServiceError`s with
 * `retriable: false` (except LOADING/BUSY/TRYAGAIN-style replies); connection failures and
 * timeouts are retriable `ServiceError`s.
 *
 * @example
 * const store = createRedisOnlineStore({ url: 'redis://127.0.0.1:6379', keyPrefix: 'tessera:' });
 * await store.connect(); // optional: fail fast
 * await store.apply([{ op: 'hincr', key: 'u:1', field: 'clicks', by: 1 }], { key: 'offsets', field: 'events:0', offset: 42 });
 */
export class RedisOnlineStore implements OnlineStore {
  private readonly redis: Redis;
  private readonly keyPrefix: string;
  private readonly scanCount: number;
  private readonly logger: Logger;
  private readonly url: string;
  private closed = false;

  constructor(options: RedisOnlineStoreOptions) {
    this.url = options.url;
    this.keyPrefix = options.keyPrefix ?? '';
    this.scanCount = options.scanCount ?? 500;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      maxRetriesPerRequest: options.maxRetriesPerRequest ?? 3,
    });
    // Without a listener ioredis prints "Unhandled error event" itself; commands still fail on their own.
    this.redis.on('error', (err: Error) => this.logger.warn('redis.connection_error', { message: err.message }));
    this.redis.defineCommand('tesseraApply', { lua: APPLY_LUA });
  }

  /** Connects now (otherwise the first command does); rejects with a retriable ServiceError when Redis is unreachable. */
  async connect(): Promise<void> {
    try {
      if (this.redis.status === 'wait') await this.redis.connect();
      await this.redis.ping();
    } catch (err) {
      throw this.translate(err, `cannot reach ${redactUrl(this.url)}`);
    }
  }

  /** See {@link OnlineStore.apply} and `apply-script.ts`. */
  async apply(ops: readonly StoreOp[], fence?: Fence): Promise<ApplyResult> {
    validateStoreOps(ops, fence);
    this.ensureOpen();
    if (ops.length === 0 && fence === undefined) return { applied: true };
    const { keys, args } = encodeApply(ops, fence, this.keyPrefix);
    let reply: unknown;
    try {
      const run = (this.redis as unknown as { tesseraApply: ApplyCommand }).tesseraApply;
      reply = await run.call(this.redis, keys.length, keys, packArgs(args));
    } catch (err) {
      const conflict = err instanceof Error ? /^TESSERA_CONFLICT (\d+) (\w+)/.exec(err.message) : null;
      if (conflict !== null) {
        const message = conflictMessage(ops, Number(conflict[1]) - 1, conflict[2] as ConflictReason, fence);
        throw new ServiceError('redis', message, { retriable: false, cause: err });
      }
      throw this.translate(err, 'apply');
    }
    if (!Array.isArray(reply) || (reply[0] !== 1 && reply[0] !== 0)) {
      throw new ServiceError('redis', `apply: unexpected script reply ${JSON.stringify(reply)}`, { retriable: false });
    }
    return reply[0] === 1 ? { applied: true } : { applied: false, storedOffset: Number(reply[1]) };
  }

  /** See {@link OnlineStore.read}: one MULTI/EXEC, i.e. one round trip and one snapshot. */
  async read(queries: readonly ReadQuery[]): Promise<ReadValue[]> {
    validateReadQueries(queries);
    this.ensureOpen();
    let results: [Error | null, unknown][] = [];
    let flat: [Error | null, unknown] = [null, []];
    let sent: SentRead | null;
    try {
      sent = await sendRead(this.redis, queries, this.keyPrefix);
    } catch (err) {
      throw this.translate(err, 'read');
    }
    if (sent !== null) {
      const { replies, remote, packed } = sent;
      if (replies.length !== remote + (packed ? 1 : 0)) {
        throw new ServiceError('redis', 'read: the transaction was aborted', { retriable: true });
      }
      results = replies;
      if (packed) flat = replies[remote] as [Error | null, unknown];
    }
    let next = 0;
    let nextFlat = 0;
    return queries.map((q): ReadValue => {
      if (q.kind === 'hgetallFlat') {
        if (flat[0]) throw this.translate(flat[0], `read hgetallFlat ${q.key}`);
        const packed = (flat[1] as (string | string[])[])[nextFlat++];
        return { kind: 'hgetallFlat', value: typeof packed === 'string' ? (packed === '' ? [] : packed.split('\0')) : (packed ?? []) };
      }
      const answered = answeredLocally(q);
      if (answered !== undefined) return answered;
      const [err, raw] = results[next++] ?? [null, null];
      if (err) throw this.translate(err, `read ${q.kind} ${q.kind === 'pfcount' ? q.keys.join(' ') : q.key}`);
      switch (q.kind) {
        case 'get':
          return { kind: 'get', value: raw === null ? null : String(raw) };
        case 'hgetall': {
          const flat = raw as string[];
          const value: Record<string, string> = {};
          for (let i = 0; i + 1 < flat.length; i += 2) {
            Object.defineProperty(value, flat[i] as string, { value: flat[i + 1], enumerable: true, writable: true, configurable: true });
          }
          return { kind: 'hgetall', value };
        }
        case 'hmget':
          return { kind: 'hmget', value: raw as (string | null)[] };
        case 'ztop': {
          const flat = raw as string[];
          const value: { member: string; score: number }[] = [];
          for (let i = 0; i + 1 < flat.length; i += 2) value.push({ member: flat[i] as string, score: Number(flat[i + 1]) });
          return { kind: 'ztop', value };
        }
        case 'zscores':
          return { kind: 'zscores', value: (raw as (string | null)[]).map((s) => (s === null ? null : Number(s))) };
        case 'pfcount':
          return { kind: 'pfcount', value: Number(raw) };
        case 'hll': {
          if (raw === null) return { kind: 'hll', value: null };
          const registers = hllFromRedis(raw as Buffer);
          if (registers === null) throw new ServiceError('redis', `read hll ${q.key}: the key holds a string that is not a HyperLogLog`, { retriable: false });
          return { kind: 'hll', value: registers };
        }
      }
    });
  }

  /** See {@link OnlineStore.deleteByPrefix}; the prefix is matched literally (glob characters are escaped). */
  async deleteByPrefix(prefix: string): Promise<number> {
    this.ensureOpen();
    const match = `${escapeGlob(this.keyPrefix + prefix)}*`;
    let cursor = '0';
    let deleted = 0;
    try {
      do {
        const [nextCursor, keys] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', this.scanCount);
        cursor = nextCursor;
        if (keys.length > 0) deleted += await this.redis.unlink(...keys);
      } while (cursor !== '0');
    } catch (err) {
      throw this.translate(err, 'deleteByPrefix');
    }
    return deleted;
  }

  /** Closes the connection after pending replies (QUIT); later calls reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.redis.status === 'wait' || this.redis.status === 'end') {
      this.redis.disconnect();
      return;
    }
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect(); // QUIT failed because the connection is already gone: nothing left to flush
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new ServiceError('redis', 'the online store is closed', { retriable: false });
  }

  private translate(err: unknown, what: string): TesseraError {
    if (err instanceof TesseraError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ReplyError) {
      return new ServiceError('redis', `${what}: ${message}`, { retriable: RETRIABLE_REPLY.test(message), cause: err });
    }
    // Connection lost, timeouts, too many reconnect attempts: trying again later can help.
    return new ServiceError('redis', `${what}: ${message}`, { retriable: true, cause: err });
  }
}

/**
 * Creates a {@link RedisOnlineStore}. The connection opens lazily with the first call; call
 * `connect()` to fail fast at start-up.
 *
 * @throws ConfigError when the URL is not a `redis://` or `rediss://` URL.
 */
export function createRedisOnlineStore(options: RedisOnlineStoreOptions): RedisOnlineStore {
  let protocol = '';
  try {
    protocol = new URL(options.url).protocol;
  } catch {
    // reported below
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new ConfigError(`Redis URL ${JSON.stringify(redactUrl(options.url))} is not valid: use redis://host:port[/db], e.g. redis://127.0.0.1:6379`);
  }
  return new RedisOnlineStore(options);
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
