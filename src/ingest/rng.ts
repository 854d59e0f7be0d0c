/**
 * A small seeded pseudo-random number generator for the synthetic data generator and the
 * importers' sampling.
 *
 * Core: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state, passes
 * PractRand to terabytes), seeded through splitmix32 so that nearby seeds give unrelated streams.
 * The core uses only 32-bit integer operations (`Math.imul`, shifts, `| 0`), so the integer
 * stream, and everything derived from it by arithmetic alone (`uniform`, `int`, `choice`,
 * `bernoulli`, `AliasTable`), is bit-identical on every platform and every JS engine.
 * `normal` and `exponential` also call `Math.log`, `Math.sqrt` and `Math.cos`; V8 (Node) implements
 * these with its own fdlibm port rather than the C library, so they are identical on every
 * platform Node runs on (another engine could differ in the last bit).
 *
 * Not for cryptography.
 */

const TWO_POW_32 = 4294967296;

/** The splitmix32 finaliser: a bijective avalanche mix of a 32-bit integer. */
export function mix32(x: number): number {
  let z = x | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A 32-bit hash of a string (FNV-1a over UTF-16 code units, then the splitmix32 finaliser so that
 * short strings differing in one character still differ in every bit). Stable forever: the
 * importers derive values (e.g. Taobao's pseudo price) from it, so changing it changes data.
 *
 * @param text - the string to hash
 * @param seed - a salt; different seeds give independent hashes of the same string
 * @returns an unsigned 32-bit integer
 * @example hashString32('2268318') // the same number on every run and machine
 */
export function hashString32(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ mix32(seed)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** A seed for {@link Rng}: a safe integer (negative values and values above 2^32 are fine). */
export type Seed = number;

/**
 * Seeded generator with the distributions the generator needs.
 *
 * Two Rngs with the same `(seed, stream)` produce the same sequence. Independent streams of one
 * seed (`new Rng(seed, 'model')`, `new Rng(seed, 'activity')`) let one part of a simulation draw
 * more or fewer numbers without shifting the numbers another part sees: e.g. the click model's
 * parameters do not change when only the number of events changes.
 *
 * @example
 * const rng = new Rng(42);
 * rng.uniform();          // [0, 1)
 * rng.int(0, 10);         // 0..9
 * rng.normal(0, 1);       // standard normal
 * rng.exponential(20_000) // mean 20 s in ms
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Box-Muller yields two normals per pair of uniforms; the second is kept for the next call. */
  private spareNormal: number | null = null;

  /**
   * @param seed - any safe integer
   * @param stream - an optional stream name; different names give independent sequences
   */
  constructor(seed: Seed, stream = '') {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Rng seed must be a safe integer, got ${seed}`);
    // Split the 53-bit seed into two 32-bit halves; Math.floor keeps negatives distinct.
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) | 0;
    let s = (mix32(lo) ^ mix32(hi ^ 0x5bd1e995) ^ hashString32(stream, 0x9e3779b9)) | 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      return mix32(s);
    };
    this.a = next() | 0;
    this.b = next() | 0;
    this.c = next() | 0;
    this.d = 1;
    // The recommended warm-up: the first outputs of sfc32 are still correlated with the seed.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** The next raw output: an unsigned 32-bit integer, uniform over 0..2^32-1. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /**
   * A uniform number in [min, max) with 32-bit resolution (enough for simulation; a probability
   * as small as 1e-9 is still honoured to within 25 %).
   */
  uniform(min = 0, max = 1): number {
    return min + (max - min) * (this.nextUint32() / TWO_POW_32);
  }

  /** A uniform number in the open interval (0, 1): safe to take the logarithm of. */
  uniformOpen(): number {
    return (this.nextUint32() + 0.5) / TWO_POW_32;
  }

  /**
   * A uniform integer in [min, max). The modulo bias is below (max - min) / 2^32, negligible for
   * the ranges used here (at most millions).
   */
  int(min: number, max: number): number {
    if (!(max > min)) throw new RangeError(`Rng.int needs max > min, got [${min}, ${max})`);
    return min + Math.floor((this.nextUint32() / TWO_POW_32) * (max - min));
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.nextUint32() / TWO_POW_32 < p;
  }

  /** A normal variate (Box-Muller, trigonometric form; the second value of each pair is cached). */
  normal(mean = 0, sd = 1): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return mean + sd * z;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniformOpen()));
    const theta = 2 * Math.PI * this.uniform();
    this.spareNormal = r * Math.sin(theta);
    return mean + sd * r * Math.cos(theta);
  }

  /** A log-normal variate: exp(normal(mu, sigma)); `mu` and `sigma` are on the log scale. */
  logNormal(mu: number, sigma: number): number {
    return Math.exp(this.normal(mu, sigma));
  }

  /** An exponential variate with the given mean (not rate), e.g. a delay in ms. */
  exponential(mean: number): number {
    return -mean * Math.log(this.uniformOpen());
  }

  /** A uniformly chosen element of a non-empty array. */
  choice<T>(values: readonly T[]): T {
    if (values.length === 0) throw new RangeError('Rng.choice needs a non-empty array');
    return values[this.int(0, values.length)] as T;
  }

  /**
   * An index drawn with probability proportional to `weights[i]` (linear scan: for a handful of
   * categories; use {@link AliasTable} for many draws from a large distribution).
   */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i] as number;
    if (!(total > 0)) throw new RangeError('Rng.categorical needs a positive total weight');
    let x = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i] as number;
      if (x < 0) return i;
    }
    // Rounding can leave x at a hair above 0 after the last weight: return the last non-zero one.
    for (let i = weights.length - 1; i >= 0; i--) if ((weights[i] as number) > 0) return i;
    return weights.length - 1;
  }
}

/**
 * Walker/Vose alias table: O(n) to build, O(1) per draw from a fixed discrete distribution.
 * Used for Zipf popularity and activity over up to millions of items and users.
 *
 * @example
 * const table = new AliasTable(zipfWeights(1000, 1));
 * const item = table.sample(rng); // 0 is the most likely
 */
export class AliasTable {
  /** Number of outcomes. */
  readonly size: number;
  private readonly prob: Float64Array;
  private readonly alias: Int32Array;

  /** @param weights - non-negative weights with a positive sum */
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    if (n === 0) throw new RangeError('AliasTable needs at least one weight');
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[i] as number;
      if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`AliasTable weight ${i} is not a finite non-negative number: ${w}`);
      total += w;
    }
    if (!(total > 0)) throw new RangeError('AliasTable needs a positive total weight');
    this.size = n;
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    const scaled = new Float64Array(n);
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let ns = 0;
    let nl = 0;
    for (let i = 0; i < n; i++) {
      scaled[i] = ((weights[i] as number) * n) / total;
      if ((scaled[i] as number) < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns] as number;
      const l = large[--nl] as number;
      this.prob[s] = scaled[s] as number;
      this.alias[s] = l;
      scaled[l] = (scaled[l] as number) + (scaled[s] as number) - 1;
      if ((scaled[l] as number) < 1) small[ns++] = l;
      else large[nl++] = l;
    }
    // Leftovers are 1 up to rounding.
    while (nl > 0) {
      const l = large[--nl] as number;
      this.prob[l] = 1;
      this.alias[l] = l;
    }
    while (ns > 0) {
      const s = small[--ns] as number;
      this.prob[s] = 1;
      this.alias[s] = s;
    }
  }

  /** One outcome index in [0, size). Uses two 32-bit draws. */
  sample(rng: Rng): number {
    const i = rng.int(0, this.size);
    return rng.uniform() < (this.prob[i] as number) ? i : (this.alias[i] as number);
  }
}

/**
 * Zipf weights `1 / (rank + 1)^exponent` for ranks 0..n-1 (rank 0 is the most frequent).
 *
 * @param n - number of ranks
 * @param exponent - skew; 0 is uniform, ~1 is typical of item popularity
 */
export function zipfWeights(n: number, exponent: number): Float64Array {
  const w = new Float64Array(n);
  for (let k = 0; k < n; k++) w[k] = 1 / Math.pow(k + 1, exponent);
  return w;
}
