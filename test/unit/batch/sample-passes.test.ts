import { describe, expect, it } from 'vitest';
import { fastCandidate, fitsDecimal, groupLo, isRecent, planGroup, recentLookback } from '../../../src/batch/sample-passes.js';
import { entityKeySql } from '../../../src/batch/sql.js';
import { days, hours, minutes } from '../../../src/features/definitions.js';
import { tileStart } from '../../../src/features/windows.js';
import { compileRef, ITEM_GROUP, REFERENCE_KINDS, USER_GROUP } from '../../helpers/reference.js';
import { ALL_OPS_GROUP } from '../../helpers/feature-streams.js';

describe('sample job planning', () => {
  it('sends counts, sums, averages, lifetime extrema, last_seen and text last/last_k to SQL, the rest to the core', () => {
    const probe = compileRef(ALL_OPS_GROUP);
    const plan = planGroup(probe, 0, Date.UTC(2026, 0, 5), () => true, 'impression');
    const ops = (aggs: readonly { def: { op: string; windowsMs?: readonly number[]; field?: string } }[]) => aggs.map((a) => `${a.def.op}${(a.def.windowsMs ?? []).length > 0 ? '/w' : ''}${a.def.field === undefined ? '' : `:${a.def.field}`}`);
    expect(ops(plan.fast)).toEqual(['sum/w:amount', 'avg/w:amount', 'count', 'sum:quantity', 'last:itemId', 'last_k:categoryId', 'last_seen']);
    expect(ops(plan.general)).toEqual(['min/w:amount', 'max/w:amount', 'decayed_count', 'approx_distinct/w:itemId', 'approx_distinct:categoryId']);
    // fractional sums outside the decimal range go to the core
    const narrow = planGroup(probe, 0, Date.UTC(2026, 0, 5), () => false, 'impression');
    expect(ops(narrow.general)).toContain('sum/w:amount');
    expect(ops(narrow.fast)).toContain('sum:quantity');
  });

  it('keys the samples by the exposure event type of the label rule', () => {
    const from = Date.UTC(2026, 0, 5);
    const plan = planGroup(USER_GROUP, 2, from, () => true, 'impression');
    expect(plan).toMatchObject({ index: 2, group: USER_GROUP, exposure: 'impression', lo: groupLo(USER_GROUP, from) });
    expect(plan.impressionKey).toEqual({ key: 'assumeNotNull(userId)', valid: "(userId IS NOT NULL AND userId != '')" });
    expect(plan.impressionKey).toEqual(entityKeySql(REFERENCE_KINDS, USER_GROUP.entity, 'impression'));
    // another exposure type: its key columns; one without the key fields: every sample cold-starts
    expect(planGroup(ITEM_GROUP, 0, from, () => true, 'click')).toMatchObject({ exposure: 'click', impressionKey: entityKeySql(REFERENCE_KINDS, ITEM_GROUP.entity, 'click') });
    expect(planGroup(USER_GROUP, 0, from, () => true, 'item_profile').impressionKey).toBeNull();
  });

  it('classifies last / last_k of numeric fields as core work (their text order is JavaScript String order)', () => {
    const g = compileRef({ name: 'p', entity: { name: 'p', keyFields: ['userId'] }, aggregations: [{ source: 'click', op: 'last_k', field: 'position', k: 2 }, { source: 'click', op: 'last', field: 'itemId' }] });
    expect(g.aggregations.map((a) => [fastCandidate(a), isRecent(a)])).toEqual([
      [false, false],
      [true, true],
    ]);
    expect(recentLookback(g.aggregations[1] as never)).toBe(5);
    expect(recentLookback(USER_GROUP.aggregations[4] as never)).toBe(30);
  });

  it('reads events from the start of the oldest window any query in the range can see', () => {
    const from = Date.UTC(2026, 0, 5, 10, 17, 3);
    expect(groupLo(ITEM_GROUP, from)).toBe(tileStart(from, hours(1)) - days(7));
    expect(groupLo(compileRef({ name: 'l', entity: { name: 'l', keyFields: ['userId'] }, aggregations: [{ source: 'click', op: 'count' }] }), from)).toBe(from);
    expect(groupLo(compileRef({ name: 'w', entity: { name: 'w', keyFields: ['userId'] }, aggregations: [{ source: 'click', op: 'count', windowsMs: [minutes(10)] }] }), from)).toBe(tileStart(from, minutes(1)) - minutes(10));
  });

  it('keeps fractional sums in decimals only when every value and total fits', () => {
    expect(fitsDecimal(500, 0.01, 1_000_000)).toBe(true);
    expect(fitsDecimal(0, 0, 0)).toBe(true);
    expect(fitsDecimal(1e300, 1, 1)).toBe(false);
    expect(fitsDecimal(1e40, 1, 1e5)).toBe(false);
    expect(fitsDecimal(1, 1e-25, 10)).toBe(false);
    expect(fitsDecimal(Number.NaN, 1, 1)).toBe(false);
  });
});
