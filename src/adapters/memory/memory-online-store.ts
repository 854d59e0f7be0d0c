import { ServiceError } from '../../errors.js';
import type { ApplyResult, Fence, HpruneRule, OnlineStore, ReadQuery, ReadValue, StoreOp } from '../../ports/online-store.js';
import { estimateFromHistogram, HLL_MAX_RANK, HLL_REGISTERS, hllPositionOfBytes } from '../../features/hll.js';
import { formatDouble } from '../../util/format-double.js';
import {
  compareUtf8,
  conflictMessage,
  hpruneMatches,
  parseLatest,
  parseStoredNumber,
  validateReadQueries,
  validateStoreOps,
  type ConflictReason,
} from '../../util/store-op-rules.js';

/** Options of {@link MemoryOnlineStore}. */
export interface MemoryOnlineStoreOptions {
  /** Wall clock for `expire`, epoch ms. Default `Date.now`; tests inject a fake one. */
  now?: () => number;
}

type Entry =
  | { type: 'string'; value: string; expiresAt?: number }
  | { type: 'hash'; fields: Map<string, string>; expiresAt?: number }
  | { type: 'zset'; members: Map<string, number>; expiresAt?: number }
  /** A HyperLogLog (a string in Redis); see {@link Hll}. */
  | { type: 'hll'; hll: Hll; expiresAt?: number };

type KeyType = 'none' | Entry['type'];

/** What an earlier op of the same batch left in a field, for the conflict check. */
type FieldMark = string | false | typeof NUM | typeof LATEST;
const NUM = Symbol('number');
const LATEST = Symbol('latest');

/**
 * In-process {@link OnlineStore}: the embedded default and the unit-test double of
 * `RedisOnlineStore`, with the same observable behaviour, down to the bytes read back:
 * numbers are stored as `printf('%.17g')` text (see `formatDouble`), sorted-set ties are ordered
 * by the members' UTF-8 bytes, `expire` follows Redis (`set` and `del` clear a TTL, hash and
 * sorted-set writes keep it, a key emptied by `hdel`/trimming disappears), and an `apply` that
 * would hit a type conflict is refused before anything is written, with the same conflict rules
 * as the Lua script (see `apply-script.ts`). HyperLogLogs use Redis's hash, registers and
 * estimator, so `pfcount` returns Redis's very number; unlike Redis, a `set` value that happens
 * to be a HyperLogLog encoding is not one here, and `get` of a HyperLogLog key is refused.
 *
 * Every call runs synchronously inside its promise, so an `apply` or a `read` is atomic with
 * respect to every other call.
 *
 * @example
 * const store = new MemoryOnlineStore({ now: () => clock.ms });
 * await store.apply([{ op: 'hincr', key: 'u:1', field: 'clicks', by: 1 }], { key: 'off', field: 'p0', offset: 42 });
 */
export class MemoryOnlineStore implements OnlineStore {
  private readonly data = new Map<string, Entry>();
  private readonly now: () => number;
  private closed = false;

  constructor(options: MemoryOnlineStoreOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** See {@link OnlineStore.apply}. */
  async apply(ops: readonly StoreOp[], fence?: Fence): Promise<ApplyResult> {
    validateStoreOps(ops, fence);
    this.ensureOpen();
    if (fence !== undefined) {
      const entry = this.entry(fence.key);
      if (entry !== undefined && entry.type !== 'hash') this.conflict(ops, -1, 'wrongtype', fence);
      const stored = entry?.type === 'hash' ? entry.fields.get(fence.field) : undefined;
      let storedOffset: number | undefined;
      if (stored !== undefined) {
        storedOffset = parseStoredNumber(stored);
        if (storedOffset === undefined) this.conflict(ops, -1, 'notnumber', fence);
        if (storedOffset >= fence.offset) return { applied: false, storedOffset };
      }
      if (fence.expected !== undefined && (storedOffset ?? null) !== fence.expected) {
        return { applied: false, storedOffset: storedOffset ?? -1 };
      }
    }
    this.check(ops, fence);
    ops.forEach((op) => this.applyOp(op));
    if (fence !== undefined) this.hash(fence.key).fields.set(fence.field, formatDouble(fence.offset));
    return { applied: true };
  }

  /** See {@link OnlineStore.read}. */
  async read(queries: readonly ReadQuery[]): Promise<ReadValue[]> {
    validateReadQueries(queries);
    this.ensureOpen();
    return queries.map((q): ReadValue => {
      const wrongType = (key: string, type: Entry['type']) =>
        new ServiceError('memory', `read: WRONGTYPE ${q.kind} on key ${key} holding a ${type}`, { retriable: false });
      if (q.kind === 'pfcount') {
        const union = new Hll();
        for (const key of q.keys) {
          const e = this.entry(key);
          if (e === undefined) continue;
          if (e.type !== 'hll') throw wrongType(key, e.type);
          union.merge(e.hll);
        }
        return { kind: 'pfcount', value: union.count() };
      }
      const entry = this.entry(q.key);
      const expect = (type: Entry['type']): void => {
        if (entry !== undefined && entry.type !== type) throw wrongType(q.key, entry.type);
      };
      switch (q.kind) {
        case 'hll':
          expect('hll');
          return { kind: 'hll', value: entry?.type === 'hll' ? entry.hll.registers() : null };
        case 'get':
          expect('string');
          return { kind: 'get', value: entry?.type === 'string' ? entry.value : null };
        case 'hgetall':
          expect('hash');
          return { kind: 'hgetall', value: entry?.type === 'hash' ? Object.fromEntries(entry.fields) : {} };
        case 'hgetallFlat':
          expect('hash');
          return { kind: 'hgetallFlat', value: entry?.type === 'hash' ? [...entry.fields].flat() : [] };
        case 'hmget':
          expect('hash');
          return {
            kind: 'hmget',
            value: q.fields.map((f) => (entry?.type === 'hash' ? (entry.fields.get(f) ?? null) : null)),
          };
        case 'ztop': {
          expect('zset');
          if (entry?.type !== 'zset' || q.limit === 0) return { kind: 'ztop', value: [] };
          const top = sortedMembers(entry.members).reverse().slice(0, q.limit);
          return { kind: 'ztop', value: top.map(([member, score]) => ({ member, score })) };
        }
        case 'zscores':
          expect('zset');
          return {
            kind: 'zscores',
            value: q.members.map((m) => (entry?.type === 'zset' ? (entry.members.get(m) ?? null) : null)),
          };
      }
    });
  }

  /** See {@link OnlineStore.deleteByPrefix}. */
  async deleteByPrefix(prefix: string): Promise<number> {
    this.ensureOpen();
    let n = 0;
    for (const key of [...this.data.keys()]) {
      if (key.startsWith(prefix) && this.entry(key) !== undefined) {
        this.data.delete(key);
        n++;
      }
    }
    return n;
  }

  /** The live keys starting with `prefix`, sorted (inspection for tests and the demo; not a port method). */
  keysWithPrefix(prefix: string): string[] {
    this.ensureOpen();
    return [...this.data.keys()].filter((k) => k.startsWith(prefix) && this.entry(k) !== undefined).sort();
  }

  /** Drops all data; later calls reject. */
  async close(): Promise<void> {
    this.closed = true;
    this.data.clear();
  }

  /** The live entry of a key, dropping it when its TTL has passed (Redis: expired when now > when). */
  private entry(key: string): Entry | undefined {
    const e = this.data.get(key);
    if (e?.expiresAt !== undefined && this.now() > e.expiresAt) {
      this.data.delete(key);
      return undefined;
    }
    return e;
  }

  /**
   * Mirrors the Lua script's check pass: walks the ops, tracking what each key's type and each
   * touched field will be at that point of the batch, and refuses the batch on the first
   * conflict. Deliberately the same conservative rules (an `hdel` or a trim never turns a key
   * back into "none") so both adapters refuse exactly the same batches.
   */
  private check(ops: readonly StoreOp[], fence?: Fence): void {
    interface KeyState {
      type: KeyType;
      fresh: boolean;
      fields: Map<string, FieldMark>;
      /** The rules of the batch's `hprune`s so far: a stored field they match is gone. */
      prunes: (readonly HpruneRule[])[];
    }
    const states = new Map<string, KeyState>();
    const state = (key: string): KeyState => {
      let s = states.get(key);
      if (s === undefined) {
        s = { type: this.entry(key)?.type ?? 'none', fresh: false, fields: new Map(), prunes: [] };
        states.set(key, s);
      }
      return s;
    };
    const field = (key: string, s: KeyState, f: string): FieldMark => {
      const mark = s.fields.get(f);
      if (mark !== undefined) return mark;
      if (s.fresh) return false;
      if (s.prunes.some((rules) => hpruneMatches(f, rules))) return false;
      const e = this.entry(key);
      return e?.type === 'hash' ? (e.fields.get(f) ?? false) : false;
    };
    const needs = (i: number, s: { type: KeyType }, type: Entry['type']) => {
      if (s.type !== 'none' && s.type !== type) this.conflict(ops, i, 'wrongtype');
    };
    ops.forEach((op, i) => {
      const s = state(op.key);
      switch (op.op) {
        case 'set':
          s.type = 'string';
          s.fresh = true;
          s.fields.clear();
          s.prunes = [];
          return;
        case 'del':
          s.type = 'none';
          s.fresh = true;
          s.fields.clear();
          s.prunes = [];
          return;
        case 'expire':
          return;
        case 'hset':
          needs(i, s, 'hash');
          s.type = 'hash';
          s.fields.set(op.field, op.value);
          return;
        case 'hincr':
        case 'hmax':
        case 'hmin': {
          needs(i, s, 'hash');
          const v = field(op.key, s, op.field);
          if (v === LATEST || (typeof v === 'string' && parseStoredNumber(v) === undefined)) {
            this.conflict(ops, i, 'notnumber');
          }
          s.type = 'hash';
          s.fields.set(op.field, NUM);
          return;
        }
        case 'hlatest': {
          needs(i, s, 'hash');
          const v = field(op.key, s, op.field);
          if (v === NUM || (typeof v === 'string' && parseLatest(v) === undefined)) {
            this.conflict(ops, i, 'notlatest');
          }
          s.type = 'hash';
          s.fields.set(op.field, LATEST);
          return;
        }
        case 'hdel':
          needs(i, s, 'hash');
          op.fields.forEach((f) => s.fields.set(f, false));
          return;
        case 'hprune':
          needs(i, s, 'hash');
          for (const f of s.fields.keys()) if (hpruneMatches(f, op.rules)) s.fields.set(f, false);
          s.prunes.push(op.rules);
          return;
        case 'pfadd':
          needs(i, s, 'hll');
          s.type = 'hll';
          return;
        case 'zadd':
          needs(i, s, 'zset');
          s.type = 'zset';
          return;
        case 'zremBelow':
          needs(i, s, 'zset');
          return;
      }
    });
    if (fence !== undefined) {
      const s = state(fence.key);
      if (s.type !== 'none' && s.type !== 'hash') this.conflict(ops, -1, 'wrongtype', fence);
    }
  }

  private applyOp(op: StoreOp): void {
    switch (op.op) {
      case 'set':
        this.data.set(op.key, { type: 'string', value: op.value }); // SET drops any TTL
        return;
      case 'del':
        this.data.delete(op.key);
        return;
      case 'expire': {
        const e = this.entry(op.key);
        if (e !== undefined) e.expiresAt = this.now() + op.ttlMs;
        return;
      }
      case 'hset':
        this.hash(op.key).fields.set(op.field, op.value);
        return;
      case 'hincr': {
        const h = this.hash(op.key);
        const cur = h.fields.get(op.field);
        h.fields.set(op.field, formatDouble((cur === undefined ? 0 : (parseStoredNumber(cur) as number)) + op.by));
        return;
      }
      case 'hmax':
      case 'hmin': {
        const h = this.hash(op.key);
        const cur = h.fields.get(op.field);
        const stored = cur === undefined ? undefined : (parseStoredNumber(cur) as number);
        if (stored === undefined || (op.op === 'hmax' ? op.value > stored : op.value < stored)) {
          h.fields.set(op.field, formatDouble(op.value));
        }
        return;
      }
      case 'hlatest': {
        const h = this.hash(op.key);
        const cur = h.fields.get(op.field);
        const stored = cur === undefined ? undefined : parseLatest(cur);
        if (
          stored === undefined ||
          op.at > stored.at ||
          (op.at === stored.at && compareUtf8(op.value, stored.value) > 0)
        ) {
          h.fields.set(op.field, `${formatDouble(op.at)}|${op.value}`);
        }
        return;
      }
      case 'hdel': {
        const e = this.entry(op.key);
        if (e?.type !== 'hash') return;
        op.fields.forEach((f) => e.fields.delete(f));
        if (e.fields.size === 0) this.data.delete(op.key);
        return;
      }
      case 'hprune': {
        const e = this.entry(op.key);
        if (e?.type !== 'hash') return;
        for (const f of [...e.fields.keys()]) if (hpruneMatches(f, op.rules)) e.fields.delete(f);
        if (e.fields.size === 0) this.data.delete(op.key);
        return;
      }
      case 'pfadd': {
        const e = this.entry(op.key);
        let hll: Hll;
        if (e?.type === 'hll') {
          hll = e.hll;
        } else {
          hll = new Hll();
          this.data.set(op.key, { type: 'hll', hll });
        }
        for (const m of op.members) hll.add(Buffer.from(m, 'utf8'));
        return;
      }
      case 'zadd': {
        const z = this.zset(op.key);
        const cur = z.members.get(op.member);
        if (cur === undefined || op.score > cur) z.members.set(op.member, op.score);
        if (op.keepTop !== undefined && z.members.size > op.keepTop) {
          // Redis: ZREMRANGEBYRANK key 0 -(keepTop+1) over (score, member bytes) ascending.
          for (const [member] of sortedMembers(z.members).slice(0, z.members.size - op.keepTop)) {
            z.members.delete(member);
          }
        }
        if (z.members.size === 0) this.data.delete(op.key);
        return;
      }
      case 'zremBelow': {
        const e = this.entry(op.key);
        if (e?.type !== 'zset') return;
        for (const [member, score] of [...e.members]) if (score < op.below) e.members.delete(member);
        if (e.members.size === 0) this.data.delete(op.key);
        return;
      }
    }
  }

  private hash(key: string): Extract<Entry, { type: 'hash' }> {
    const e = this.entry(key);
    if (e?.type === 'hash') return e;
    const created: Extract<Entry, { type: 'hash' }> = { type: 'hash', fields: new Map() };
    this.data.set(key, created);
    return created;
  }

  private zset(key: string): Extract<Entry, { type: 'zset' }> {
    const e = this.entry(key);
    if (e?.type === 'zset') return e;
    const created: Extract<Entry, { type: 'zset' }> = { type: 'zset', members: new Map() };
    this.data.set(key, created);
    return created;
  }

  private conflict(ops: readonly StoreOp[], opIndex: number, reason: ConflictReason, fence?: Fence): never {
    throw new ServiceError('memory', conflictMessage(ops, opIndex, reason, fence), { retriable: false });
  }

  private ensureOpen(): void {
    if (this.closed) throw new ServiceError('memory', 'the online store is closed', { retriable: false });
  }
}

/** Members in Redis's ascending order: score, then member bytes. */
function sortedMembers(members: Map<string, number>): [string, number][] {
  return [...members].sort(([ma, sa], [mb, sb]) => (sa < sb ? -1 : sa > sb ? 1 : compareUtf8(ma, mb)));
}

/** Registers kept in a Map up to this many non-zero ones (a Map entry costs far more than a byte). */
const HLL_SPARSE_MAX = 256;

/**
 * A HyperLogLog with Redis's exact behaviour (the hash, ranks and estimator of
 * `features/hll.ts`), so `pfcount` returns PFCOUNT's very number. Redis's sparse and dense
 * encodings only change how registers are stored; here a Map holds the few non-zero registers
 * of a small HyperLogLog, and a byte array replaces it once it grows.
 */
class Hll {
  private sparse: Map<number, number> | undefined = new Map();
  private dense: Uint8Array | undefined;

  add(member: Buffer): void {
    const { index, rank } = hllPositionOfBytes(member);
    this.raise(index, rank);
  }

  /** Register-wise max with `other` (what PFCOUNT does for several keys). */
  merge(other: Hll): void {
    other.forEachNonZero((index, rank) => this.raise(index, rank));
  }

  count(): number {
    const histo = new Array<number>(HLL_MAX_RANK + 1).fill(0);
    let nonZero = 0;
    this.forEachNonZero((_, rank) => {
      histo[rank] = (histo[rank] ?? 0) + 1;
      nonZero++;
    });
    histo[0] = HLL_REGISTERS - nonZero;
    return estimateFromHistogram(histo);
  }

  /** A copy of all registers. */
  registers(): Uint8Array {
    const out = new Uint8Array(HLL_REGISTERS);
    this.forEachNonZero((index, rank) => {
      out[index] = rank;
    });
    return out;
  }

  private raise(index: number, rank: number): void {
    if (this.dense !== undefined) {
      if (rank > (this.dense[index] ?? 0)) this.dense[index] = rank;
      return;
    }
    const sparse = this.sparse as Map<number, number>;
    if (rank <= (sparse.get(index) ?? 0)) return;
    sparse.set(index, rank);
    if (sparse.size > HLL_SPARSE_MAX) {
      this.dense = new Uint8Array(HLL_REGISTERS);
      for (const [i, r] of sparse) this.dense[i] = r;
      this.sparse = undefined;
    }
  }

  private forEachNonZero(fn: (index: number, rank: number) => void): void {
    if (this.dense === undefined) {
      for (const [i, r] of this.sparse as Map<number, number>) fn(i, r);
      return;
    }
    this.dense.forEach((r, i) => {
      if (r !== 0) fn(i, r);
    });
  }
}
