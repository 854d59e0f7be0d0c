import { hashString32 } from '../ingest/rng.js';

const TWO_POW_32 = 4294967296;
/** Seeds of the two 32-bit hashes an id is made of; part of the id's definition, never change them. */
const LOW_SEED = 0x7e55e1a;
const HIGH_SEED = 0x1d5eed;

/**
 * The id of one categorical value of one field: a 52-bit integer (exact in a double), so ids are
 * plain numbers in typed arrays, and a model's embedding table holds one row per id without
 * hashing ids into a fixed number of buckets.
 *
 * Definition (for a platform that loads the key-value export without Tessera): with
 * `h(text, seed)` = {@link hashString32} (FNV-1a over UTF-16 code units, salted by seed, then the
 * splitmix32 finaliser) and `text = field + "\u001f" + value`,
 * `featureId = (h(text, 0x1d5eed) & 0xfffff) * 2^32 + h(text, 0x7e55e1a)`.
 *
 * Two distinct (field, value) pairs get the same id with probability 2^-52 per pair: among n
 * distinct values about n^2 / 2^53 collide (0.0001 expected colliding pairs at 10^6 values,
 * 0.01 at 10^7). The benchmark counts collisions on its data.
 *
 * @example featureId('user', 'u42') // the same number on every run and machine
 */
export function featureId(field: string, value: string): number {
  const text = `${field}\u001f${value}`;
  return (hashString32(text, HIGH_SEED) & 0xfffff) * TWO_POW_32 + hashString32(text, LOW_SEED);
}

/** Whether x can be a feature id: an integer in [0, 2^53). */
export function isFeatureId(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}
