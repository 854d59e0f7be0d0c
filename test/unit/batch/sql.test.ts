import { describe, expect, it } from 'vitest';
import { aggregationInputSql, entityKeySql, fieldKindOf, fieldSql, floorDivSql, isNumericKind, sqlInstant, sqlInt, sqlString } from '../../../src/batch/sql.js';
import type { AggregationDef, CompiledAggregation } from '../../../src/features/definitions.js';
import { compileRef, REFERENCE_KINDS, USER_CATEGORY_GROUP, USER_GROUP } from '../../helpers/reference.js';

const USER = USER_GROUP.entity;
const USER_CATEGORY = USER_CATEGORY_GROUP.entity;

/** An aggregation compiled in a user group, so its field kind comes from the reference events. */
const compiled = (def: AggregationDef): CompiledAggregation => compileRef({ name: 'g', entity: USER, aggregations: [def] }).aggregations[0] as CompiledAggregation;

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
    expect(entityKeySql(REFERENCE_KINDS, USER, 'click')).toEqual({ key: 'assumeNotNull(userId)', valid: "(userId IS NOT NULL AND userId != '')" });
    const uc = entityKeySql(REFERENCE_KINDS, USER_CATEGORY, 'impression');
    expect(uc?.key).toBe("concat(assumeNotNull(userId), ':', assumeNotNull(categoryId))");
    expect(uc?.valid).toContain("categoryId != ''");
    // item profiles carry no userId: they never belong to a user
    expect(entityKeySql(REFERENCE_KINDS, USER, 'item_profile')).toBeNull();
  });

  it('reads aggregation inputs like aggregationInput: finite numbers for numeric ops, any non-null value otherwise', () => {
    expect(aggregationInputSql(compiled({ source: 'click', op: 'count' }))).toEqual({ value: null, notNull: null, valid: '1', kind: undefined });
    const amount = aggregationInputSql(compiled({ source: 'order', op: 'sum', field: 'amount' }));
    expect(amount.valid).toBe('(amount IS NOT NULL AND isFinite(assumeNotNull(amount)))');
    expect(amount.kind).toBe('double');
    expect(aggregationInputSql(compiled({ source: 'click', op: 'last_k', field: 'itemId', k: 3 })).valid).toBe('(itemId IS NOT NULL)');
    // the kind travels with the compiled aggregation: instants read as epoch ms
    expect(aggregationInputSql({ def: { source: 'user_profile', op: 'last', field: 'signupTime' }, fieldKind: 'nullableInstant' })).toMatchObject({
      value: 'toUnixTimestamp64Milli(signupTime)',
      valid: '(toUnixTimestamp64Milli(signupTime) IS NOT NULL)',
      kind: 'nullableInstant',
    });
    expect(() => aggregationInputSql({ def: { source: 'impression', op: 'last', field: 'context' }, fieldKind: 'context' })).toThrow(RangeError);
    expect(() => aggregationInputSql({ def: { source: 'click', op: 'last', field: 'amount' }, fieldKind: undefined })).toThrow(RangeError);
    expect(fieldSql(REFERENCE_KINDS, 'user_profile', 'signupTime')).toEqual({ expr: 'toUnixTimestamp64Milli(signupTime)', kind: 'nullableInstant' });
    expect(() => fieldSql(REFERENCE_KINDS, 'impression', 'context')).toThrow(RangeError);
    expect(() => fieldSql(REFERENCE_KINDS, 'click', 'amount')).toThrow(RangeError);
    expect(fieldKindOf(REFERENCE_KINDS, 'order', 'amount')).toBe('double');
    expect(fieldKindOf(REFERENCE_KINDS, 'click', 'amount')).toBeUndefined();
    expect(fieldKindOf(REFERENCE_KINDS, 'view', 'itemId')).toBeUndefined();
    expect(isNumericKind('nullableInt')).toBe(true);
    expect(isNumericKind('id')).toBe(false);
  });
});
