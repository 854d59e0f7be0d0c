import { UsageError } from '../errors.js';
import type { Fence, HpruneRule, ReadQuery, StoreOp } from '../ports/online-store.js';

/**
 * Rules both OnlineStore adapters share, so they accept, reject and report exactly alike.
 *
 * Invalid input (a malformed op, a non-finite number, a lone UTF-16 surrogate that UTF-8 cannot
 * carry) is rejected before anything is sent, with a {@link UsageError} naming the op; an `apply`
 * is all-or-nothing, so one bad op rejects the whole batch.
 *
 * @throws UsageError
 */
export function validateStoreOps(ops: readonly StoreOp[], fence?: Fence): void {
  if (!Array.isArray(ops)) throw new UsageError('OnlineStore.apply: ops must be an array');
  ops.forEach((op, i) => validateOp(op, i));
  if (fence !== undefined) {
    const where = 'OnlineStore.apply: fence';
    checkKey(fence.key, where);
    checkString(fence.field, `${where}.field`);
    if (!Number.isSafeInteger(fence.offset) || fence.offset < 0) {
      throw new UsageError(`${where}.offset must be a non-negative safe integer (got ${String(fence.offset)})`);
    }
    if (fence.expected !== undefined && fence.expected !== null && (!Number.isSafeInteger(fence.expected) || fence.expected < 0)) {
      throw new UsageError(`${where}.expected must be null or a non-negative safe integer (got ${String(fence.expected)})`);
    }
  }
}

/**
 * Validates read queries the same way for both adapters.
 *
 * @throws UsageError
 */
export function validateReadQueries(queries: readonly ReadQuery[]): void {
  if (!Array.isArray(queries)) throw new UsageError('OnlineStore.read: queries must be an array');
  queries.forEach((q, i) => {
    const where = `OnlineStore.read: query #${i}`;
    if (q === null || typeof q !== 'object') throw new UsageError(`${where} is not an object`);
    if (q.kind === 'pfcount') {
      if (!Array.isArray(q.keys)) throw new UsageError(`${where}: keys must be an array of non-empty strings`);
      q.keys.forEach((k: unknown) => checkKey(k, `${where}.keys`));
      return;
    }
    checkKey(q.key, where);
    switch (q.kind) {
      case 'get':
      case 'hgetall':
      case 'hgetallFlat':
      case 'hll':
        return;
      case 'hmget':
        if (!Array.isArray(q.fields)) throw new UsageError(`${where}: fields must be an array of strings`);
        q.fields.forEach((f: unknown) => checkString(f, `${where}.fields`));
        return;
      case 'ztop':
        if (!Number.isSafeInteger(q.limit) || q.limit < 0) {
          throw new UsageError(`${where}: limit must be a non-negative integer (got ${String(q.limit)})`);
        }
        return;
      case 'zscores':
        if (!Array.isArray(q.members)) throw new UsageError(`${where}: members must be an array of strings`);
        q.members.forEach((m: unknown) => checkString(m, `${where}.members`));
        return;
      default:
        throw new UsageError(`${where}: unknown kind ${JSON.stringify((q as { kind?: unknown }).kind)}`);
    }
  });
}

/** Why an op cannot run against the current state; checked for every op before any write. */
export type ConflictReason = 'wrongtype' | 'notnumber' | 'notlatest';

/**
 * The message both adapters use for a state conflict (a hash op on a sorted set, `hincr` on a
 * field that does not hold a number...). `opIndex` is the 0-based op index, or -1 for the fence.
 */
export function conflictMessage(ops: readonly StoreOp[], opIndex: number, reason: ConflictReason, fence?: Fence): string {
  const subject =
    opIndex < 0
      ? `fence (${fence?.key ?? '?'} ${fence?.field ?? '?'})`
      : `op #${opIndex} (${ops[opIndex]?.op ?? '?'} ${ops[opIndex]?.key ?? '?'})`;
  const why =
    reason === 'wrongtype'
      ? 'the key holds another type'
      : reason === 'notnumber'
        ? 'the field does not hold a number'
        : 'the field does not hold `<at>|<value>`';
  return `apply refused, nothing written: ${subject}: ${why}`;
}

/**
 * Parses a stored number exactly as the Lua script does: optional sign, digits and dots, an
 * optional exponent, then Lua's `tonumber` (strtod); infinities are refused. JS `Number()` and
 * strtod agree on every string this pattern admits.
 */
export function parseStoredNumber(s: string): number | undefined {
  if (!STORED_NUMBER.test(s)) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** Same pattern as the Lua script's `'^[-+]?[%d.]+[eE]?[-+]?%d*$'`. */
const STORED_NUMBER = /^[-+]?[0-9.]+[eE]?[-+]?[0-9]*$/;

/** Splits a stored `hlatest` value `<at>|<value>`; undefined when malformed. */
export function parseLatest(s: string): { at: number; value: string } | undefined {
  const bar = s.indexOf('|');
  if (bar < 0) return undefined;
  const at = parseStoredNumber(s.slice(0, bar));
  return at === undefined ? undefined : { at, value: s.slice(bar + 1) };
}

/**
 * Compares two strings in the order of their UTF-8 bytes (= code point order), the order Redis
 * uses for equal-score sorted-set members and the Lua script for `hlatest` ties. JS's own `<`
 * compares UTF-16 code units, which disagrees above U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(i) as number;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++; // skip the low surrogate of a pair (both strings have it at i + 1)
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/**
 * Whether `hprune` with these rules deletes the field: the field starts with a rule's prefix
 * and the text after it, up to the next `|` or the end, is a stored number (see
 * {@link parseStoredNumber}) below the rule's `below`. The Lua script's `prunes` mirrors it;
 * JS `startsWith` on well-formed strings agrees with Lua's byte prefix test (UTF-8 is prefix-free).
 */
export function hpruneMatches(field: string, rules: readonly HpruneRule[]): boolean {
  for (const { prefix, below } of rules) {
    if (!field.startsWith(prefix)) continue;
    const bar = field.indexOf('|', prefix.length);
    const n = parseStoredNumber(field.slice(prefix.length, bar < 0 ? undefined : bar));
    if (n !== undefined && n < below) return true;
  }
  return false;
}

/** A double as text for the wire: shortest round-trip form, keeping the sign of -0 (`String(-0)` is "0"). */
export function numberArg(x: number): string {
  return Object.is(x, -0) ? '-0' : String(x);
}

function validateOp(op: StoreOp, i: number): void {
  const where = `OnlineStore.apply: op #${i}`;
  if (op === null || typeof op !== 'object') throw new UsageError(`${where} is not an object`);
  const at = `${where} (${String((op as { op?: unknown }).op)})`;
  checkKey(op.key, at);
  switch (op.op) {
    case 'set':
      checkString(op.value, `${at}.value`);
      return;
    case 'hset':
      checkString(op.field, `${at}.field`);
      checkString(op.value, `${at}.value`);
      return;
    case 'hincr':
      checkString(op.field, `${at}.field`);
      checkFinite(op.by, `${at}.by`);
      return;
    case 'hmax':
    case 'hmin':
      checkString(op.field, `${at}.field`);
      checkFinite(op.value, `${at}.value`);
      return;
    case 'hlatest':
      checkString(op.field, `${at}.field`);
      checkString(op.value, `${at}.value`);
      checkFinite(op.at, `${at}.at`);
      return;
    case 'hdel':
      if (!Array.isArray(op.fields) || op.fields.length === 0) {
        throw new UsageError(`${at}.fields must be a non-empty array of strings`);
      }
      op.fields.forEach((f) => checkString(f, `${at}.fields`));
      return;
    case 'hprune':
      if (!Array.isArray(op.rules) || op.rules.length === 0) {
        throw new UsageError(`${at}.rules must be a non-empty array of { prefix, below }`);
      }
      op.rules.forEach((r: unknown, j) => {
        if (r === null || typeof r !== 'object') throw new UsageError(`${at}.rules[${j}] is not an object`);
        const { prefix, below } = r as { prefix?: unknown; below?: unknown };
        checkString(prefix, `${at}.rules[${j}].prefix`);
        checkFinite(below, `${at}.rules[${j}].below`);
      });
      return;
    case 'pfadd':
      if (!Array.isArray(op.members) || op.members.length === 0) {
        throw new UsageError(`${at}.members must be a non-empty array of strings`);
      }
      op.members.forEach((m) => checkString(m, `${at}.members`));
      return;
    case 'zadd':
      checkString(op.member, `${at}.member`);
      checkFinite(op.score, `${at}.score`);
      if (op.keepTop !== undefined && (!Number.isSafeInteger(op.keepTop) || op.keepTop < 1)) {
        throw new UsageError(`${at}.keepTop must be a positive integer (got ${String(op.keepTop)})`);
      }
      return;
    case 'zremBelow':
      checkFinite(op.below, `${at}.below`);
      return;
    case 'del':
      return;
    case 'expire':
      if (!Number.isSafeInteger(op.ttlMs) || op.ttlMs < 1) {
        throw new UsageError(`${at}.ttlMs must be a positive integer of milliseconds (got ${String(op.ttlMs)})`);
      }
      return;
    default:
      throw new UsageError(`${where}: unknown op ${JSON.stringify((op as { op?: unknown }).op)}`);
  }
}

function checkKey(key: unknown, where: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new UsageError(`${where}: key must be a non-empty string`);
  checkString(key, `${where}.key`);
}

function checkString(s: unknown, where: string): void {
  if (typeof s !== 'string') throw new UsageError(`${where} must be a string (got ${typeof s})`);
  if (LONE_SURROGATE.test(s)) throw new UsageError(`${where} contains a lone UTF-16 surrogate, which UTF-8 cannot carry`);
}

function checkFinite(n: unknown, where: string): void {
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new UsageError(`${where} must be a finite number (got ${String(n)})`);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
