import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { compareUtf8, hpruneMatches, numberArg, parseLatest, parseStoredNumber, validateReadQueries, validateStoreOps } from '../../../src/util/store-op-rules.js';
import { encodeApply } from '../../../src/adapters/redis/apply-script.js';

describe('compareUtf8', () => {
  it('orders strings like their UTF-8 bytes (Redis), not like UTF-16 code units (JS <)', () => {
    const pool = ['', 'a', 'b', 'ab', 'é', '\uFFFF', '😀', '😁', 'a😀', 'a\uFFFF', '\u0000', 'z', 'Z', '中文', '\uE000'];
    for (const x of pool) {
      for (const y of pool) {
        expect(Math.sign(compareUtf8(x, y)), `${JSON.stringify(x)} vs ${JSON.stringify(y)}`).toBe(Math.sign(Buffer.compare(Buffer.from(x), Buffer.from(y))));
      }
    }
    expect('\uFFFF' > '😀').toBe(true); // the reason this function exists
    expect(compareUtf8('\uFFFF', '😀')).toBe(-1);
  });
});

describe('stored numbers', () => {
  it('accepts what the Lua pattern and tonumber accept, and nothing else', () => {
    expect(['5', '-0', '+.5', '1.', '1e3', '1E-3', '0.30000000000000004', '007'].map(parseStoredNumber)).toEqual([5, -0, 0.5, 1, 1000, 0.001, 0.30000000000000004, 7]);
    for (const bad of ['', ' 5', '5 ', '0x10', 'inf', 'Infinity', 'nan', '1e', '1-2', '.', '1.2.3', '1e400', 'abc', '1|2']) {
      expect(parseStoredNumber(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });

  it('splits `<at>|<value>` at the first bar', () => {
    expect(parseLatest('1700000000000|a|b')).toEqual({ at: 1_700_000_000_000, value: 'a|b' });
    expect(parseLatest('x|a')).toBeUndefined();
    expect(parseLatest('12')).toBeUndefined();
  });

  it('keeps the sign of -0 on the wire', () => {
    expect([numberArg(-0), numberArg(0), numberArg(1e21), numberArg(0.1)]).toEqual(['-0', '0', '1e+21', '0.1']);
  });
});

describe('hpruneMatches', () => {
  it('matches a prefix followed by a stored number below the bound, up to the next bar', () => {
    const rules = [{ prefix: '3|60000|', below: 1_767_600_000_000 }];
    const cases: [string, boolean][] = [
      ['3|60000|1767599999999', true],
      ['3|60000|1767600000000', false],
      ['3|60000|1767500000000|sum', true],
      ['3|60000|-1', true],
      ['3|60000|1.5e12', true],
      ['3|60000|', false],
      ['3|60000||1', false],
      ['3|60000|x1', false],
      ['3|60000|1e400', false], // infinite: not a stored number
      ['3|600000|1', false],
      ['03|60000|1', false],
      ['3|60000', false],
    ];
    for (const [field, expected] of cases) expect(hpruneMatches(field, rules), field).toBe(expected);
  });

  it('tries every rule; an empty prefix looks at the first segment', () => {
    const rules = [
      { prefix: 'a|', below: 10 },
      { prefix: '', below: 0 },
    ];
    expect(['a|5', 'a|50', '-1|x', '1|x', 'b|1'].map((f) => hpruneMatches(f, rules))).toEqual([true, false, true, false, false]);
  });
});

describe('validation', () => {
  it('names the op and what is wrong', () => {
    expect(() => validateStoreOps([{ op: 'set', key: 'k', value: 'v' }, { op: 'hincr', key: 'k', field: 'f', by: Number.NaN }])).toThrow(
      /op #1 \(hincr\)\.by must be a finite number/,
    );
    expect(() => validateStoreOps([], { key: 'k', field: 'f', offset: 2 ** 53 })).toThrow(UsageError);
    expect(() => validateReadQueries([{ kind: 'hmget', key: 'k', fields: ['a', 1 as unknown as string] }])).toThrow(/query #0/);
    expect(() => validateStoreOps([{ op: 'zadd', key: 'z', member: 'm', score: 1, keepTop: 1.5 }])).toThrow(/keepTop/);
    expect(() => validateStoreOps([{ op: 'hprune', key: 'h', rules: [{ prefix: 'p', below: 1 }, { prefix: 'q', below: Number.NaN }] }])).toThrow(
      /op #0 \(hprune\)\.rules\[1\]\.below must be a finite number/,
    );
    expect(() => validateStoreOps([{ op: 'pfadd', key: 'p', members: [] }])).toThrow(/op #0 \(pfadd\)\.members must be a non-empty array/);
  });

  it('pfcount takes keys (possibly none) instead of a key', () => {
    expect(() => validateReadQueries([{ kind: 'pfcount', keys: [] }, { kind: 'pfcount', keys: ['a', 'b'] }])).not.toThrow();
    expect(() => validateReadQueries([{ kind: 'pfcount', keys: ['a', ''] }])).toThrow(/query #0\.keys: key must be a non-empty string/);
    expect(() => validateReadQueries([{ kind: 'zscores', key: 'z', members: [] }])).not.toThrow();
    expect(() => validateReadQueries([{ kind: 'zscores', key: '', members: [] }])).toThrow(UsageError);
  });
});

describe('encodeApply (the Lua script arguments)', () => {
  it('lists each key once, prefixed, and refers to keys by 1-based index', () => {
    const { keys, args } = encodeApply(
      [
        { op: 'hincr', key: 'u:1', field: 'n', by: -0 },
        { op: 'zadd', key: 'top', member: 'm', score: 1e21 },
        { op: 'zadd', key: 'top', member: 'x', score: 0.1, keepTop: 3 },
        { op: 'hdel', key: 'u:1', fields: ['a', 'b'] },
        { op: 'hlatest', key: 'u:2', field: 'f', value: 'v|w', at: 5 },
        { op: 'expire', key: 'offs', ttlMs: 1000 },
      ],
      { key: 'offs', field: 'events:3', offset: 42 },
      'ns:',
    );
    expect(keys).toEqual(['ns:offs', 'ns:u:1', 'ns:top', 'ns:u:2']);
    expect(args).toEqual([
      '1', 'events:3', '42', '',
      'I', '2', 'n', '-0',
      'Z', '3', 'm', '1e+21', '',
      'Z', '3', 'x', '0.1', '3',
      'D', '2', '2', 'a', 'b',
      'L', '4', 'f', '5', 'v|w',
      'E', '1', '1000',
    ]);
    expect(encodeApply([{ op: 'del', key: 'k' }], undefined, '').args).toEqual(['0', '', '0', '', 'K', '1']);
    expect(
      encodeApply(
        [
          { op: 'hprune', key: 't', rules: [{ prefix: '3|60000|', below: 1.5 }, { prefix: '', below: -0 }] },
          { op: 'pfadd', key: 'p', members: ['a', '', 'é'] },
        ],
        undefined,
        '',
      ).args,
    ).toEqual(['0', '', '0', '', 'T', '1', '2', '3|60000|', '1.5', '', '-0', 'P', '2', '3', 'a', '', 'é']);
  });
});

describe('encodeApply: the compare-and-set fence', () => {
  it('sends the expected offset, "-" for none stored, and "" when not given', () => {
    const at = (expected?: number | null) => encodeApply([], { key: 'o', field: 'p', offset: 9, ...(expected === undefined ? {} : { expected }) }, '').args.slice(0, 4);
    expect(at()).toEqual(['1', 'p', '9', '']);
    expect(at(null)).toEqual(['1', 'p', '9', '-']);
    expect(at(7)).toEqual(['1', 'p', '9', '7']);
  });
});
