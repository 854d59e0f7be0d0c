import { ModelConfigError } from './model-errors.js';

/**
 * Seeded parameter initialisers, counter-based: the initial value of parameter j of row r of
 * table t is a pure function of (seed, t, r, j). A row admitted late gets the same values as it
 * would have got admitted early, the order of admissions never shifts anyone's values, and no
 * generator state has to be saved for a checkpoint to continue exactly.
 */

/** How parameters start. `he` and `glorot` scale by the layer's fan-in / fan-out (dense layers). */
export type InitializerSpec =
  | { readonly kind: 'zeros' }
  | { readonly kind: 'normal'; readonly sd: number }
  | { readonly kind: 'uniform'; readonly scale: number }
  | { readonly kind: 'he' }
  | { readonly kind: 'glorot' };

/** Checks an initialiser spec; the message says how to fix it. */
export function checkInitializer(spec: InitializerSpec, where: string): void {
  switch (spec.kind) {
    case 'zeros':
    case 'he':
    case 'glorot':
      return;
    case 'normal':
      if (!(spec.sd >= 0 && Number.isFinite(spec.sd))) throw new ModelConfigError(`${where}: normal initialiser needs a finite sd >= 0, got ${spec.sd}`);
      return;
    case 'uniform':
      if (!(spec.scale >= 0 && Number.isFinite(spec.scale))) throw new ModelConfigError(`${where}: uniform initialiser needs a finite scale >= 0, got ${spec.scale}`);
      return;
    default:
      throw new ModelConfigError(`${where}: unknown initialiser ${JSON.stringify(spec)}; use zeros, normal, uniform, he or glorot`);
  }
}

function mix32(x: number): number {
  let z = x | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const TWO_POW_32 = 4294967296;

/** A uniform number in (0, 1) from (seed, table, row, j, lane); 32-bit resolution. */
function counterUniform(seed: number, table: number, row: number, j: number, lane: number): number {
  const lo = row >>> 0;
  const hi = Math.floor(row / TWO_POW_32) | 0;
  let h = mix32(seed ^ mix32(table + 0x632be5ab));
  h = mix32(h ^ lo);
  h = mix32(h ^ hi ^ 0x27d4eb2f);
  h = mix32(h ^ Math.imul(j + 1, 0x9e3779b9));
  h = mix32(h ^ Math.imul(lane + 1, 0x85ebca77));
  return (h + 0.5) / TWO_POW_32;
}

/** A standard normal variate from the counter (Box-Muller on two counter uniforms). */
function counterNormal(seed: number, table: number, row: number, j: number): number {
  const u1 = counterUniform(seed, table, row, j, 0);
  const u2 = counterUniform(seed, table, row, j, 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * The initial value of parameter `j` of row `row` (a feature id or a dense row index) of the table
 * whose salt is `table`.
 */
export function initialValue(spec: InitializerSpec, seed: number, table: number, row: number, j: number, fanIn: number, fanOut: number): number {
  switch (spec.kind) {
    case 'zeros':
      return 0;
    case 'normal':
      return spec.sd === 0 ? 0 : spec.sd * counterNormal(seed, table, row, j);
    case 'uniform':
      return spec.scale * (2 * counterUniform(seed, table, row, j, 2) - 1);
    case 'he':
      return Math.sqrt(2 / Math.max(1, fanIn)) * counterNormal(seed, table, row, j);
    case 'glorot': {
      const limit = Math.sqrt(6 / Math.max(1, fanIn + fanOut));
      return limit * (2 * counterUniform(seed, table, row, j, 2) - 1);
    }
  }
}

/** A 32-bit salt of a table name, so tables of one model draw independent values. */
export function tableSalt(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}
