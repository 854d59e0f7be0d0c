import { describe, expect, it } from 'vitest';
import { aggregationInputSql, entityKeySql, fieldSql, floorDivSql, isNumericKind, sqlInstant, sqlInt, sqlString } from '../../../src/batch/sql.js';
import { USER, USER_CATEGORY } from '../../../src/features/reference.js';

describe('batch SQL fragments', () => {
  it('quotes any string as a ClickHouse literal: backslash, quote and control characters escaped', () => {
    expect(sqlString('plain')).toBe("'plain'");
    expect(sqlString("it's")).toBe("'it\\'s'");
    expect(sqlString('a\\b')).toBe("'a\\\\b'");
    expect(sqlString('line\nbreak\ttab\u0000nul\u007f')).toBe("'line\\x0abreak\\x09tab\\x00nul\\x7f'");
    expect(sqlString('é😀')).toBe("'é😀'");
    expect(sqlString("'; DROP TABLE x; --")).toBe("'\\'; DROP TABLE x; --'");
  });

  it('refuses numbers that are not safe integers', () => {
    expect(sqlInt(-5)).toBe('-5');
    expect(() => sqlInt(1.5)).toThrow(RangeError);
    expect(() => sqlInt(Number.NaN)).toThrow(RangeError);
    expect(() => sqlInt(2 ** 60)).toThrow(RangeError);
    expect(sqlInstant(1704067200000)).toBe("fromUnixTimestamp64Milli(toInt64(1704067200000), 'UTC')");
    expect(floorDivSql('t', 60000)).toBe('(intDiv(t, 60000) - (modulo(t, 60000) < 0))');
  });

  it('builds entity keys like entityKeyOf: fields joined with ":", null or empty fields mean no entity', () => {
    expect(entityKeySql(USER, 'click')).toEqual({ key: 'assumeNotNull(userId)', valid: "(userId IS NOT NULL AND userId != '')" });
    const uc = entityKeySql(USER_CATEGORY, 'impression');
    expect(uc?.key).toBe("concat(assumeNotNull(userId), ':', assumeNotNull(categoryId))");
    expect(uc?.valid).toContain("categoryId != ''");
    // item profiles carry no userId: they never belong to a user
    expect(entityKeySql(USER, 'item_profile')).toBeNull();
  });

  it('reads aggregation inputs like aggregationInput: finite numbers for numeric ops, any non-null value otherwise', () => {
    expect(aggregationInputSql({ source: 'click', op: 'count' })).toEqual({ value: null, notNull: null, valid: '1', kind: undefined });
    const amount = aggregationInputSql({ source: 'order', op: 'sum', field: 'amount' });
    expect(amount.valid).toBe('(amount IS NOT NULL AND isFinite(assumeNotNull(amount)))');
    expect(amount.kind).toBe('double');
    expect(aggregationInputSql({ source: 'click', op: 'last_k', field: 'itemId', k: 3 }).valid).toBe('(itemId IS NOT NULL)');
    expect(fieldSql('user_profile', 'signupTime')).toEqual({ expr: 'toUnixTimestamp64Milli(signupTime)', kind: 'nullableInstant' });
    expect(() => fieldSql('impression', 'context')).toThrow(RangeError);
    expect(isNumericKind('nullableInt')).toBe(true);
    expect(isNumericKind('id')).toBe(false);
  });
});
