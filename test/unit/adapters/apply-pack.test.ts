import { describe, expect, it } from 'vitest';
import { encodeApply, packArgs } from '../../../src/adapters/redis/apply-script.js';

describe('packArgs', () => {
  it('packs the arguments into one string, each followed by byte 31, empty ones kept', () => {
    const { args } = encodeApply([{ op: 'hset', key: 'k', field: '', value: 'v' }], undefined, '');
    expect(packArgs(args)).toEqual(['@', `${args.join('\x1f')}\x1f`]);
    expect(packArgs(args)[1]?.split('\x1f').slice(0, -1)).toEqual(args);
  });

  it('leaves the arguments unpacked when one contains the separator', () => {
    const { args } = encodeApply([{ op: 'hset', key: 'k', field: 'a\x1fb', value: 'v' }], undefined, '');
    expect(packArgs(args)).toEqual(args);
  });
});
