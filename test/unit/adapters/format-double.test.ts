import { describe, expect, it } from 'vitest';
import { formatDouble } from '../../../src/util/format-double.js';

// Each expected string is what Redis 7's Lua `string.format('%.17g', x)` (glibc printf) returned.
const GOLDEN: [number, string][] = [
  [0.1, '0.10000000000000001'],
  [0.2, '0.20000000000000001'],
  [0.1 + 0.2, '0.30000000000000004'],
  [2 ** -25, '2.9802322387695312e-08'], // an exact tie at the 18th digit: half to even
  [1e21, '1e+21'],
  [1e17, '1e+17'],
  [1e16, '10000000000000000'],
  [123456789012345678, '1.2345678901234568e+17'],
  [2 ** 53, '9007199254740992'],
  [2 ** 53 + 2, '9007199254740994'],
  [2 ** 60, '1.152921504606847e+18'],
  [-(2 ** 60), '-1.152921504606847e+18'],
  [5e-324, '4.9406564584124654e-324'],
  [1.7976931348623157e308, '1.7976931348623157e+308'],
  [1e-5, '1.0000000000000001e-05'],
  [1e-4, '0.0001'],
  [0.0001234, '0.00012339999999999999'],
  [1 / 3, '0.33333333333333331'],
  [-1 / 3, '-0.33333333333333331'],
  [100, '100'],
  [0, '0'],
  [-0, '-0'],
  [12345.678, '12345.678'],
  [1e-300, '1e-300'],
  [2 ** -1074 * 3, '1.4821969375237396e-323'],
  [0.5, '0.5'],
  [1.5, '1.5'],
  [2.5e-8, '2.4999999999999999e-08'],
  [1e23, '9.9999999999999992e+22'],
];

describe('formatDouble (printf %.17g)', () => {
  it.each(GOLDEN)('%s -> %s', (x, expected) => {
    expect(formatDouble(x)).toBe(expected);
  });

  it('always reads back to the same double', () => {
    const view = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 5000; i++) {
      view.setUint32(0, (i * 2654435761) >>> 0);
      view.setUint32(4, (i * 40503 + 12345) >>> 0);
      const x = view.getFloat64(0);
      if (!Number.isFinite(x)) continue;
      expect(Object.is(Number(formatDouble(x)), x), String(x)).toBe(true);
    }
  });

  it('prints non-finite values like glibc', () => {
    expect([formatDouble(Infinity), formatDouble(-Infinity), formatDouble(Number.NaN)]).toEqual(['inf', '-inf', 'nan']);
  });
});
