import type { Fence, StoreOp } from '../../ports/online-store.js';
import { numberArg } from '../../util/store-op-rules.js';

/**
 * The `apply` batch as one Lua script call.
 *
 * Encoding. `KEYS` holds every distinct key of the batch once (the fence key included), so the
 * script only touches declared keys. `ARGV` is flat:
 *
 * ```
 * ARGV[1] fence key index into KEYS ("0": no fence)   ARGV[2] fence field   ARGV[3] fence offset
 * ARGV[4] expected stored offset ("": none given, "-": none may be stored)
 * then one record per op, an opcode followed by its fixed arguments (k = index into KEYS):
 *   S k value            set           H k field value      hset
 *   I k field by         hincr         X k field value      hmax        N k field value   hmin
 *   L k field at value   hlatest       D k n f1..fn         hdel
 *   T k n p1 b1..pn bn   hprune (n rules: prefix, below)     P k n m1..mn         pfadd
 *   Z k member score top zadd (top "" = no trim)            R k below   zremBelow
 *   K k                  del           E k ttlMs            expire
 * ```
 * Numbers travel as JS's shortest round-trip text (`-0` kept), which Lua's `tonumber` (strtod)
 * reads back to the identical double.
 *
 * The script runs in three steps so it is all-or-nothing even though Redis never rolls a script
 * back: (1) the fence: return `{0, stored}` if the stored offset is >= the given one;
 * (2) a check pass that writes nothing and walks the ops tracking each key's type and each touched
 * field's kind as the batch would leave them, refusing the batch on the first conflict (a hash op
 * on a non-hash key, `hincr`/`hmax`/`hmin` on a field that is not a number, `hlatest` on a field
 * that is not `<at>|<value>`, `pfadd` on a key that is not a HyperLogLog) with
 * `TESSERA_CONFLICT <op index, 0 = fence> <reason>`;
 * (3) the writes, which can no longer fail, then the fence offset, and `{1}`.
 * Numbers are written with `%.17g` (exact round trip); `hincr` reads, adds and writes in Lua
 * because HINCRBYFLOAT adds in long double and prints a rounded decimal (0.1 + 0.2 stores "0.3",
 * not the double sum 0.30000000000000004 that every other layer computes).
 * `hlatest` ties compare bytes, not `<` (which is strcoll, locale dependent, inside Redis).
 * `zadd` keeps the greater score with ZADD GT (Redis >= 6.2, like the reads' ZMSCORE) and trims with
 * ZREMRANGEBYRANK 0 -(top+1), i.e. it keeps the top entries of (score, member bytes).
 * Cost per batch, not per op: the check pass reads the pre-batch values of all the fields the
 * batch's `hincr`/`hmax`/`hmin`/`hlatest` ops need with ONE HMGET per key (after its TYPE),
 * simulates the batch on them (the same model that finds conflicts also computes each op's
 * result), and the write pass sends one HSET per key with all its field/value pairs (and one
 * ZADD GT per key for untrimmed sorted-set adds), flushed before any other op on that key so each
 * key still sees its operations in batch order. ARGV normally arrives packed in one string
 * (`packArgs`), which the client writes and Redis parses far faster than ~50,000 arguments.
 * `hprune` reads HKEYS once per op and deletes the matching fields with HDEL; the check pass
 * models it exactly (a pruned field counts as missing for later ops of the batch), like the
 * memory store. `pfadd` is PFADD; since PFADD fails on a string that is not a HyperLogLog, the
 * check pass first validates such a key the way Redis does (`HYLL` magic, a known encoding,
 * the dense size), so the writes cannot fail half-way. Variadic calls (HDEL, PFADD) go in
 * chunks of at most 7000 arguments, below Lua's `unpack` limit (LUAI_MAXCSTACK, 8000).
 *
 * Redis Cluster: all keys of one batch would have to share a hash slot (hash tags in the key
 * builder); the store does not arrange that and is single-node only for now.
 */
export const APPLY_LUA = `
local function num(s)
  if not s then return nil end
  if not string.find(s, '^[-+]?[%d.]+[eE]?[-+]?%d*$') then return nil end
  local n = tonumber(s)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil end
  return n
end
local function latest(s)
  local bar = string.find(s, '|', 1, true)
  if not bar then return nil end
  local at = num(string.sub(s, 1, bar - 1))
  if at == nil then return nil end
  return at, string.sub(s, bar + 1)
end
local function bytecmp(a, b)
  if a == b then return 0 end
  local la, lb = #a, #b
  for i = 1, math.min(la, lb) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then if x < y then return -1 else return 1 end end
  end
  if la < lb then return -1 else return 1 end
end
local function prunes(f, rules)
  for _, r in ipairs(rules) do
    local lp = #r.p
    if string.sub(f, 1, lp) == r.p then
      local bar = string.find(f, '|', lp + 1, true)
      local n = num(string.sub(f, lp + 1, bar and bar - 1 or -1))
      if n ~= nil and n < r.b then return true end
    end
  end
  return false
end
local function ishll(key)
  local len = redis.call('STRLEN', key)
  if len < 16 then return false end
  local head = redis.call('GETRANGE', key, 0, 4)
  if string.sub(head, 1, 4) ~= 'HYLL' then return false end
  local enc = string.byte(head, 5)
  return enc == 1 or (enc == 0 and len == 12304)
end
local CHUNK = 7000
local function chunked(cmd, k, list, flag)
  for j = 1, #list, CHUNK do
    if flag then redis.call(cmd, k, flag, unpack(list, j, math.min(j + CHUNK - 1, #list)))
    else redis.call(cmd, k, unpack(list, j, math.min(j + CHUNK - 1, #list))) end
  end
end
local function fmt(n) return string.format('%.17g', n) end
local function conflict(i, why) return redis.error_reply('TESSERA_CONFLICT ' .. i .. ' ' .. why) end

-- ARGV may come packed (see packArgs): ARGV[1] = '@', ARGV[2] = every argument followed by byte 31
local ARGV = ARGV
if ARGV[1] == '@' then
  local a, n = {}, 0
  for w in string.gmatch(ARGV[2], '([^\\31]*)\\31') do n = n + 1; a[n] = w end
  ARGV = a
end
local ops, i, nargv = {}, 5, #ARGV
while i <= nargv do
  local c, k = ARGV[i], tonumber(ARGV[i + 1])
  local op = { c = c, k = k }
  if c == 'S' then op.v = ARGV[i + 2]; i = i + 3
  elseif c == 'H' then op.f = ARGV[i + 2]; op.v = ARGV[i + 3]; i = i + 4
  elseif c == 'I' or c == 'X' or c == 'N' then op.f = ARGV[i + 2]; op.n = tonumber(ARGV[i + 3]); i = i + 4
  elseif c == 'L' then op.f = ARGV[i + 2]; op.n = tonumber(ARGV[i + 3]); op.v = ARGV[i + 4]; i = i + 5
  elseif c == 'D' then
    local n = tonumber(ARGV[i + 2]); op.fs = {}
    for j = 1, n do op.fs[j] = ARGV[i + 2 + j] end
    i = i + 3 + n
  elseif c == 'T' then
    local n = tonumber(ARGV[i + 2]); op.rules = {}
    for j = 1, n do op.rules[j] = { p = ARGV[i + 1 + 2 * j], b = tonumber(ARGV[i + 2 + 2 * j]) } end
    i = i + 3 + 2 * n
  elseif c == 'P' then
    local n = tonumber(ARGV[i + 2]); op.ms = {}
    for j = 1, n do op.ms[j] = ARGV[i + 2 + j] end
    i = i + 3 + n
  elseif c == 'Z' then op.m = ARGV[i + 2]; op.s = ARGV[i + 3]; op.n = tonumber(ARGV[i + 3]); op.top = tonumber(ARGV[i + 4]); i = i + 5
  elseif c == 'R' then op.s = ARGV[i + 2]; i = i + 3
  elseif c == 'K' then i = i + 2
  elseif c == 'E' then op.ttl = ARGV[i + 2]; i = i + 3
  else return redis.error_reply('TESSERA_BADARGS unknown opcode ' .. tostring(c)) end
  ops[#ops + 1] = op
end

-- 1. fence
local fk, ff, foff = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
if fk > 0 then
  local t = redis.call('TYPE', KEYS[fk])['ok']
  if t ~= 'none' and t ~= 'hash' then return conflict(0, 'wrongtype') end
  local stored = redis.call('HGET', KEYS[fk], ff)
  local s = nil
  if stored then
    s = num(stored)
    if s == nil then return conflict(0, 'notnumber') end
    if s >= foff then return { 0, stored } end
  end
  local exp = ARGV[4]
  if exp == '-' and s ~= nil then return { 0, stored } end
  if exp ~= '' and exp ~= '-' and (s == nil or s ~= tonumber(exp)) then return { 0, stored or '-1' } end
end

-- 2. check pass: no writes. It also decides every field op's outcome: the values the fields of
-- the batch's numeric and latest-wins ops hold before the batch are read with ONE HMGET per key,
-- the batch is simulated on them (values tracked as Lua numbers / {at, v}), and each op keeps the
-- text it will write (op.w; nil when the stored value wins).
local want, wantn = {}, {}
for _, op in ipairs(ops) do
  local c = op.c
  if c == 'I' or c == 'X' or c == 'N' or c == 'L' then
    local w = want[op.k]
    if not w then w = {}; want[op.k] = w; wantn[op.k] = {} end
    if not w[op.f] then w[op.f] = true; local l = wantn[op.k]; l[#l + 1] = op.f end
  end
end
local st = {}
local function state(k)
  local s = st[k]
  if not s then
    s = { t = redis.call('TYPE', KEYS[k])['ok'], fresh = false, f = {}, pr = {}, db = {} }
    local l = wantn[k]
    if s.t == 'hash' and l then
      for j = 1, #l, CHUNK do
        local got = redis.call('HMGET', KEYS[k], unpack(l, j, math.min(j + CHUNK - 1, #l)))
        for x = 1, #got do s.db[l[j + x - 1]] = got[x] end
      end
    end
    st[k] = s
  end
  return s
end
-- the field's value at this point of the batch: false (missing), a string (stored or hset), a
-- number (left by hincr/hmax/hmin) or a table {at, v} (left by hlatest)
local function field(s, f)
  local v = s.f[f]
  if v ~= nil then return v end
  if s.fresh or s.t ~= 'hash' then return false end
  for _, rules in ipairs(s.pr) do if prunes(f, rules) then return false end end
  v = s.db[f]
  if v == nil then return false end
  return v
end
for n, op in ipairs(ops) do
  local c, s = op.c, state(op.k)
  if c == 'S' then s.t = 'string'; s.fresh = true; s.f = {}; s.pr = {}; s.hll = false
  elseif c == 'K' then s.t = 'none'; s.fresh = true; s.f = {}; s.pr = {}; s.hll = nil
  elseif c == 'E' then
  elseif c == 'P' then
    if s.t == 'string' and s.hll == nil then s.hll = ishll(KEYS[op.k]) end
    if s.t ~= 'none' and not (s.t == 'string' and s.hll) then return conflict(n, 'wrongtype') end
    s.t = 'string'; s.hll = true
  elseif c == 'Z' or c == 'R' then
    if s.t ~= 'none' and s.t ~= 'zset' then return conflict(n, 'wrongtype') end
    if c == 'Z' then s.t = 'zset' end
  else
    if s.t ~= 'none' and s.t ~= 'hash' then return conflict(n, 'wrongtype') end
    if c == 'H' then s.t = 'hash'; s.f[op.f] = op.v
    elseif c == 'D' then for _, f in ipairs(op.fs) do s.f[f] = false end
    elseif c == 'T' then
      for f, _ in pairs(s.f) do if prunes(f, op.rules) then s.f[f] = false end end
      s.pr[#s.pr + 1] = op.rules
    elseif c == 'L' then
      local v = field(s, op.f)
      local at, val
      if type(v) == 'table' then at, val = v.at, v.v
      elseif type(v) == 'string' then
        at, val = latest(v)
        if at == nil then return conflict(n, 'notlatest') end
      elseif v ~= false then return conflict(n, 'notlatest') end
      if at == nil or op.n > at or (op.n == at and bytecmp(op.v, val) > 0) then
        at, val = op.n, op.v
        op.w = fmt(at) .. '|' .. val
      end
      s.t = 'hash'; s.f[op.f] = { at = at, v = val }
    else
      local v = field(s, op.f)
      local cur
      if type(v) == 'number' then cur = v
      elseif type(v) == 'string' then
        cur = num(v)
        if cur == nil then return conflict(n, 'notnumber') end
      elseif v ~= false then return conflict(n, 'notnumber') end
      if c == 'I' then
        cur = (cur or 0) + op.n
        op.w = fmt(cur)
      elseif cur == nil or (c == 'X' and op.n > cur) or (c == 'N' and op.n < cur) then
        cur = op.n
        op.w = fmt(cur)
      end
      s.t = 'hash'; s.f[op.f] = cur
    end
  end
end
if fk > 0 then
  local s = state(fk)
  if s.t ~= 'none' and s.t ~= 'hash' then return conflict(0, 'wrongtype') end
end

-- 3. writes. Field writes are gathered per key into one HSET (and sorted-set adds without a trim
-- into one ZADD GT), flushed before any other op on that key and at the end, so every key sees
-- its operations in batch order.
local pend, pendz = {}, {}
local function flush(k)
  local p = pend[k]
  if p then pend[k] = nil; chunked('HSET', KEYS[k], p) end
  p = pendz[k]
  if p then pendz[k] = nil; chunked('ZADD', KEYS[k], p, 'GT') end
end
local function hput(k, f, v)
  local p = pend[k]
  if not p then p = {}; pend[k] = p end
  p[#p + 1] = f; p[#p + 1] = v
end
for _, op in ipairs(ops) do
  local c, kk = op.c, op.k
  if c == 'H' then hput(kk, op.f, op.v)
  elseif c == 'I' or c == 'X' or c == 'N' or c == 'L' then if op.w then hput(kk, op.f, op.w) end
  elseif c == 'Z' and not op.top then
    local p = pendz[kk]
    if not p then p = {}; pendz[kk] = p end
    p[#p + 1] = op.s; p[#p + 1] = op.m
  else
    flush(kk)
    local k = KEYS[kk]
    if c == 'S' then redis.call('SET', k, op.v)
    elseif c == 'D' then chunked('HDEL', k, op.fs)
    elseif c == 'T' then
      local gone = {}
      for _, f in ipairs(redis.call('HKEYS', k)) do if prunes(f, op.rules) then gone[#gone + 1] = f end end
      chunked('HDEL', k, gone)
    elseif c == 'P' then chunked('PFADD', k, op.ms)
    elseif c == 'Z' then
      redis.call('ZADD', k, 'GT', op.s, op.m)
      redis.call('ZREMRANGEBYRANK', k, 0, -(op.top + 1))
    elseif c == 'R' then redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. op.s)
    elseif c == 'K' then redis.call('DEL', k)
    elseif c == 'E' then redis.call('PEXPIRE', k, op.ttl)
    end
  end
end
for k = 1, #KEYS do flush(k) end
if fk > 0 then redis.call('HSET', KEYS[fk], ff, fmt(foff)) end
return { 1 }
`;

/** The encoded call: `KEYS` (already prefixed) and `ARGV`, see {@link APPLY_LUA}. */
export interface EncodedApply {
  keys: string[];
  args: string[];
}

/**
 * Encodes validated ops and fence for {@link APPLY_LUA}; `keyPrefix` is prepended to every key.
 */
export function encodeApply(ops: readonly StoreOp[], fence: Fence | undefined, keyPrefix: string): EncodedApply {
  const keys: string[] = [];
  const index = new Map<string, number>();
  const k = (key: string): string => {
    let i = index.get(key);
    if (i === undefined) {
      keys.push(keyPrefix + key);
      i = keys.length;
      index.set(key, i);
    }
    return String(i);
  };
  const expected = fence?.expected === undefined ? '' : fence.expected === null ? '-' : numberArg(fence.expected);
  const args: string[] = fence === undefined ? ['0', '', '0', ''] : [k(fence.key), fence.field, numberArg(fence.offset), expected];
  for (const op of ops) {
    switch (op.op) {
      case 'set':
        args.push('S', k(op.key), op.value);
        break;
      case 'hset':
        args.push('H', k(op.key), op.field, op.value);
        break;
      case 'hincr':
        args.push('I', k(op.key), op.field, numberArg(op.by));
        break;
      case 'hmax':
        args.push('X', k(op.key), op.field, numberArg(op.value));
        break;
      case 'hmin':
        args.push('N', k(op.key), op.field, numberArg(op.value));
        break;
      case 'hlatest':
        args.push('L', k(op.key), op.field, numberArg(op.at), op.value);
        break;
      case 'hdel':
        args.push('D', k(op.key), String(op.fields.length), ...op.fields);
        break;
      case 'hprune':
        args.push('T', k(op.key), String(op.rules.length));
        for (const r of op.rules) args.push(r.prefix, numberArg(r.below));
        break;
      case 'pfadd':
        args.push('P', k(op.key), String(op.members.length));
        for (const m of op.members) args.push(m); // no spread: batches may carry more members than a call's argument limit
        break;
      case 'zadd':
        args.push('Z', k(op.key), op.member, numberArg(op.score), op.keepTop === undefined ? '' : String(op.keepTop));
        break;
      case 'zremBelow':
        args.push('R', k(op.key), numberArg(op.below));
        break;
      case 'del':
        args.push('K', k(op.key));
        break;
      case 'expire':
        args.push('E', k(op.key), String(op.ttlMs));
        break;
    }
  }
  return { keys, args };
}

/** The separator of packed arguments: byte 31 (US), which UTF-8 carries only as U+001F itself. */
const SEP = '\x1f';

/**
 * The arguments as the script's packed form when no argument contains the separator:
 * `['@', a1 SEP a2 SEP ... an SEP]`. One string instead of tens of thousands of arguments: the
 * client writes and Redis parses one bulk string, and the script splits it with one `gmatch`
 * (measured on a 13,000-op batch: ~18 ms of argument handling down to ~6 ms). Otherwise the
 * arguments unchanged (exact for every string).
 */
export function packArgs(args: readonly string[]): string[] {
  for (const a of args) if (a.includes(SEP)) return args as string[];
  return ['@', args.join(SEP) + SEP];
}
