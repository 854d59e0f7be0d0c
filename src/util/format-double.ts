/**
 * Formats a double exactly like C's `printf("%.17g", x)` (glibc: the exact binary value rounded
 * half-to-even to 17 significant digits, trailing zeros removed). This is what the Redis Lua
 * script writes with `string.format('%.17g', x)`, so the in-process store stores the very same
 * strings; 17 significant digits always round-trip a double exactly through `Number()`.
 *
 * `Number.prototype.toPrecision(17)` is not enough: on an exact tie it rounds away from zero
 * (e.g. 2^-25 = 2.98023223876953125e-8 gives ...313e-8, printf gives ...312e-08).
 *
 * @example
 * formatDouble(0.1 + 0.2) // '0.30000000000000004'
 * formatDouble(0.1)       // '0.10000000000000001'
 * formatDouble(1e21)      // '1e+21'
 */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan'; // glibc prints "-nan" for a negative NaN; JS cannot tell them apart
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  // Safe integers have at most 16 digits: %.17g prints them in full, like String() does.
  if (Number.isSafeInteger(x)) return String(x);

  const negative = x < 0;
  const { digits, exponent } = exactDecimal(Math.abs(x));
  const [d17, e10] = roundHalfEven(digits, exponent, PRECISION);
  const body = e10 < -4 || e10 >= PRECISION ? scientific(d17, e10) : fixed(d17, e10);
  return negative ? `-${body}` : body;
}

const PRECISION = 17;

/** The exact decimal expansion of a positive finite double: value = 0.d1d2... scaled so that d1 is at 10^exponent. */
function exactDecimal(x: number): { digits: string; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (biased === 0) {
    e2 = -1074; // subnormal
  } else {
    mantissa |= 1n << 52n;
    e2 = biased - 1075;
  }
  let digits: string;
  let scale: number; // value = digits * 10^scale
  if (e2 >= 0) {
    digits = (mantissa << BigInt(e2)).toString();
    scale = 0;
  } else {
    // m / 2^k = m * 5^k / 10^k
    digits = (mantissa * 5n ** BigInt(-e2)).toString();
    scale = e2;
  }
  // Strip trailing zeros so a tie test only looks at significant digits.
  const stripped = digits.replace(/0+$/, '');
  scale += digits.length - stripped.length;
  return { digits: stripped, exponent: stripped.length - 1 + scale };
}

/** Rounds a digit string to `precision` digits, half to even; returns the digits (padded) and the new exponent. */
function roundHalfEven(digits: string, exponent: number, precision: number): [string, number] {
  if (digits.length <= precision) return [digits.padEnd(precision, '0'), exponent];
  const kept = digits.slice(0, precision);
  const first = digits.charCodeAt(precision) - 48;
  const restNonZero = /[1-9]/.test(digits.slice(precision + 1));
  const lastOdd = (kept.charCodeAt(precision - 1) - 48) % 2 === 1;
  const up = first > 5 || (first === 5 && (restNonZero || lastOdd));
  if (!up) return [kept, exponent];
  const bumped = (BigInt(kept) + 1n).toString();
  if (bumped.length > precision) return [bumped.slice(0, precision), exponent + 1];
  return [bumped, exponent];
}

function scientific(d: string, e10: number): string {
  const frac = d.slice(1).replace(/0+$/, '');
  const mant = frac.length > 0 ? `${d[0]}.${frac}` : (d[0] ?? '0');
  const sign = e10 < 0 ? '-' : '+';
  return `${mant}e${sign}${String(Math.abs(e10)).padStart(2, '0')}`;
}

function fixed(d: string, e10: number): string {
  if (e10 < 0) {
    const frac = `${'0'.repeat(-e10 - 1)}${d}`.replace(/0+$/, '');
    return `0.${frac}`;
  }
  const int = d.slice(0, e10 + 1);
  const frac = d.slice(e10 + 1).replace(/0+$/, '');
  return frac.length > 0 ? `${int}.${frac}` : int;
}
