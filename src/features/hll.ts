/**
 * HyperLogLog exactly as Redis computes it (hyperloglog.c), for the `approx_distinct` aggregation.
 *
 * Being Redis's sketch register for register is what lets every path agree: the streaming layer
 * adds values with `PFADD` into one Redis HyperLogLog per tile, the reader and the batch layer
 * merge those sketches (read back with {@link hllFromRedis}) or sketches they build themselves with
 * the same hash, and {@link hllEstimate} returns PFCOUNT's very number for any union of them.
 *
 * - 2^14 registers; a value is hashed with MurmurHash64A (seed 0xadc83b19) over its UTF-8 bytes;
 *   the low 14 bits pick the register, the rank is the position of the first 1 bit in the other
 *   50 bits (51 when they are all 0); a register keeps the largest rank (standard error
 *   1.04 / sqrt(16384) ~ 0.81 %).
 * - The estimate is Ertl's improved estimator (arXiv:1702.01284) in the same double operations,
 *   in the same order, as Redis's `hllCount`, rounded like `llroundl`.
 *
 * The hash is part of the stored format and must never change.
 */

/** Register-index bits (Redis's HLL_P). */
export const HLL_PRECISION = 14;
/** Number of registers (2^precision). */
export const HLL_REGISTERS = 1 << HLL_PRECISION;
/** Hash bits left for the rank (Redis's HLL_Q); ranks are 1..HLL_Q + 1. */
const HLL_Q = 64 - HLL_PRECISION;
const HLL_SEED = 0xadc83b19;
/** 1 / (2 ln 2), Redis's HLL_ALPHA_INF. */
const HLL_ALPHA_INF = 0.72134752044448170368;
/** Largest rank a register can hold. */
export const HLL_MAX_RANK = HLL_Q + 1;

const utf8 = new TextEncoder();

/** A fresh, empty register array. */
export function hllCreate(): Uint8Array {
  return new Uint8Array(HLL_REGISTERS);
}

/** Where a value lands: its register index and its rank (see the module comment). */
export function hllPosition(value: string): { index: number; rank: number } {
  return hllPositionOfBytes(utf8.encode(value));
}

/** {@link hllPosition} of raw bytes (what PFADD hashes). */
export function hllPositionOfBytes(bytes: Uint8Array): { index: number; rank: number } {
  const [hi, lo] = murmurHash64A(bytes, HLL_SEED);
  const rest = lo >>> HLL_PRECISION; // the 18 bits above the index; `hi` holds the other 32
  const rank = rest !== 0 ? ctz32(rest) + 1 : hi !== 0 ? 32 - HLL_PRECISION + ctz32(hi) + 1 : HLL_Q + 1;
  return { index: lo & (HLL_REGISTERS - 1), rank };
}

/**
 * The estimated number of distinct values of a register array: PFCOUNT's number for the same
 * registers.
 */
export function hllEstimate(registers: Uint8Array): number {
  const histo = new Array<number>(HLL_Q + 2).fill(0);
  for (let j = 0; j < HLL_REGISTERS; j++) {
    const r = registers[j] as number;
    histo[r] = (histo[r] ?? 0) + 1;
  }
  return estimateFromHistogram(histo);
}

/**
 * Ertl's estimator from the register histogram (`histo[r]` = registers holding rank r), evaluated
 * like Redis's `hllCount`.
 */
export function estimateFromHistogram(histo: readonly number[]): number {
  const m = HLL_REGISTERS;
  let z = m * hllTau((m - (histo[HLL_Q + 1] ?? 0)) / m);
  for (let j = HLL_Q; j >= 1; j--) {
    z += histo[j] ?? 0;
    z *= 0.5;
  }
  z += m * hllSigma((histo[0] ?? 0) / m);
  // llroundl: half away from zero, which Math.round matches on the non-negative values here
  return Math.round((HLL_ALPHA_INF * m * m) / z);
}

/** Ertl's sigma, evaluated like Redis's `hllSigma` (same operations, same order). */
function hllSigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let previous: number;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (previous !== z);
  return z;
}

/**
 * Ertl's tau, evaluated like Redis's `hllTau`. Redis writes `pow(1 - x, 2)`, which C compilers
 * turn into the product below (V8's Math.pow is not guaranteed to equal it).
 */
function hllTau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let previous: number;
  do {
    x = Math.sqrt(x);
    previous = z;
    y *= 0.5;
    const d = 1 - x;
    z -= d * d * y;
  } while (previous !== z);
  return z / 3;
}

// ---------------------------------------------------------------------------------------------
// Stored forms

/** Sparse encodings are used while at most this many registers are set (3 bytes each). */
const SPARSE_LIMIT = 2048;

/**
 * The registers as text, the aggregation core's stored form: `s:` + base64 of (index u16 BE, rank u8)
 * triples while few registers are set, otherwise `d:` + base64 of all 16,384 register bytes.
 */
export function hllToBase64(registers: Uint8Array): string {
  let set = 0;
  for (let j = 0; j < HLL_REGISTERS; j++) if (registers[j] !== 0) set++;
  if (set > SPARSE_LIMIT) return `d:${Buffer.from(registers.buffer, registers.byteOffset, registers.byteLength).toString('base64')}`;
  const out = Buffer.alloc(set * 3);
  let o = 0;
  for (let j = 0; j < HLL_REGISTERS; j++) {
    const r = registers[j] as number;
    if (r === 0) continue;
    out.writeUInt16BE(j, o);
    out[o + 2] = r;
    o += 3;
  }
  return `s:${out.toString('base64')}`;
}

/**
 * Registers from {@link hllToBase64} text, or null when the text is not such a sketch (unknown
 * form, wrong length, an index out of range or a rank above {@link HLL_MAX_RANK}).
 */
export function hllFromBase64(text: string): Uint8Array | null {
  const form = text.slice(0, 2);
  const bytes = Buffer.from(text.slice(2), 'base64');
  const registers = new Uint8Array(HLL_REGISTERS);
  if (form === 'd:') {
    if (bytes.length !== HLL_REGISTERS) return null;
    for (let j = 0; j < HLL_REGISTERS; j++) {
      const r = bytes[j] as number;
      if (r > HLL_MAX_RANK) return null;
      registers[j] = r;
    }
    return registers;
  }
  if (form !== 's:' || bytes.length % 3 !== 0) return null;
  for (let o = 0; o < bytes.length; o += 3) {
    const j = bytes.readUInt16BE(o);
    const r = bytes[o + 2] as number;
    if (j >= HLL_REGISTERS || r === 0 || r > HLL_MAX_RANK) return null;
    registers[j] = Math.max(registers[j] as number, r);
  }
  return registers;
}

/** Redis's header: "HYLL", encoding byte, 3 unused bytes, 8 bytes of cached cardinality. */
const REDIS_HEADER = 16;
const REDIS_DENSE_BYTES = REDIS_HEADER + (HLL_REGISTERS * 6) / 8;

/**
 * The registers of a Redis HyperLogLog string (the bytes `GET` returns for a key written by
 * PFADD / PFMERGE), dense or sparse; null when the bytes are not a valid Redis HyperLogLog.
 */
export function hllFromRedis(bytes: Uint8Array): Uint8Array | null {
  if (bytes.length < REDIS_HEADER || bytes[0] !== 0x48 || bytes[1] !== 0x59 || bytes[2] !== 0x4c || bytes[3] !== 0x4c) return null;
  const registers = new Uint8Array(HLL_REGISTERS);
  const encoding = bytes[4];
  if (encoding === 0) {
    if (bytes.length !== REDIS_DENSE_BYTES) return null;
    for (let j = 0; j < HLL_REGISTERS; j++) {
      // register j: 6 bits starting at bit 6j, least significant bits first
      const bit = j * 6;
      const b = REDIS_HEADER + (bit >> 3);
      const fb = bit & 7;
      const lo = bytes[b] as number;
      const hi = (bytes[b + 1] ?? 0) as number;
      registers[j] = ((lo >> fb) | (hi << (8 - fb))) & 63;
    }
    return registers;
  }
  if (encoding !== 1) return null;
  let j = 0;
  for (let p = REDIS_HEADER; p < bytes.length; ) {
    const op = bytes[p] as number;
    if ((op & 0xc0) === 0) {
      j += (op & 0x3f) + 1; // ZERO: 00xxxxxx
      p += 1;
    } else if ((op & 0xc0) === 0x40) {
      if (p + 1 >= bytes.length) return null; // XZERO: 01xxxxxx yyyyyyyy
      j += (((op & 0x3f) << 8) | (bytes[p + 1] as number)) + 1;
      p += 2;
    } else {
      const rank = ((op >> 2) & 0x1f) + 1; // VAL: 1vvvvvxx
      const run = (op & 0x03) + 1;
      if (j + run > HLL_REGISTERS) return null;
      for (let x = 0; x < run; x++) registers[j + x] = rank;
      j += run;
      p += 1;
    }
    if (j > HLL_REGISTERS) return null;
  }
  return j === HLL_REGISTERS ? registers : null;
}

/**
 * The registers as a Redis dense HyperLogLog string (cached cardinality marked invalid, so Redis
 * recomputes it): what a batch view writes so that PFCOUNT / PFMERGE and {@link hllFromRedis}
 * read it like a sketch built by PFADD.
 */
export function hllToRedis(registers: Uint8Array): Buffer {
  const out = Buffer.alloc(REDIS_DENSE_BYTES);
  out.write('HYLL', 0, 'latin1');
  out[4] = 0; // dense
  out[15] = 0x80; // the cached cardinality's "invalid" bit (card[7] & 0x80)
  for (let j = 0; j < HLL_REGISTERS; j++) {
    const r = (registers[j] as number) & 63;
    const bit = j * 6;
    const b = REDIS_HEADER + (bit >> 3);
    const fb = bit & 7;
    out[b] = (out[b] as number) | ((r << fb) & 0xff);
    if (fb > 2) out[b + 1] = (out[b + 1] as number) | (r >> (8 - fb));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// MurmurHash64A

const MURMUR_M_HI = 0xc6a4a793; // m = 0xc6a4a7935bd1e995
const MURMUR_M_LO = 0x5bd1e995;

/**
 * MurmurHash64A (Austin Appleby; the variant Redis hashes HyperLogLog members with, reading
 * 8-byte blocks little-endian) as `[high 32 bits, low 32 bits]`, in 32-bit halves since JS has no
 * 64-bit integer arithmetic short of BigInt.
 */
export function murmurHash64A(data: Uint8Array, seed: number): [number, number] {
  const len = data.length;
  let [hHi, hLo] = mul64(0, len, MURMUR_M_HI, MURMUR_M_LO);
  hLo = (hLo ^ seed) >>> 0;
  const end = len - (len & 7);
  const u32 = (i: number): number => ((data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24)) >>> 0;
  for (let i = 0; i < end; i += 8) {
    let [kHi, kLo] = mul64(u32(i + 4), u32(i), MURMUR_M_HI, MURMUR_M_LO);
    kLo = (kLo ^ (kHi >>> 15)) >>> 0; // k ^= k >> 47
    [kHi, kLo] = mul64(kHi, kLo, MURMUR_M_HI, MURMUR_M_LO);
    [hHi, hLo] = mul64((hHi ^ kHi) >>> 0, (hLo ^ kLo) >>> 0, MURMUR_M_HI, MURMUR_M_LO);
  }
  if ((len & 7) !== 0) {
    for (let j = 0; j < (len & 7); j++) {
      const byte = data[end + j] as number;
      if (j < 4) hLo ^= byte << (8 * j);
      else hHi ^= byte << (8 * (j - 4));
    }
    [hHi, hLo] = mul64(hHi >>> 0, hLo >>> 0, MURMUR_M_HI, MURMUR_M_LO);
  }
  hLo = (hLo ^ (hHi >>> 15)) >>> 0;
  [hHi, hLo] = mul64(hHi, hLo, MURMUR_M_HI, MURMUR_M_LO);
  hLo = (hLo ^ (hHi >>> 15)) >>> 0;
  return [hHi, hLo];
}

/** The low 64 bits of (aHi:aLo) * (bHi:bLo), all unsigned 32-bit halves; every step stays below 2^53. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): [number, number] {
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const mid = a1 * b0 + a0 * b1; // < 2^33
  const low = a0 * b0 + (mid % 0x10000) * 0x10000; // < 2^33
  const hi = a1 * b1 + Math.floor(mid / 0x10000) + Math.floor(low / 0x1_0000_0000) + Math.imul(aHi, bLo) + Math.imul(aLo, bHi);
  return [hi >>> 0, low >>> 0];
}

/** Count of trailing zero bits of a non-zero 32-bit value. */
function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}
