import { describe, expect, it } from 'vitest';
import { BatchError } from '../../../src/batch/batch-errors.js';
import { SAMPLE_BASE_COLUMNS, samplesLayout, samplesTableDdl } from '../../../src/batch/samples-table.js';
import { CONTEXT_FEATURE_NAMES } from '../../../src/features/context.js';
import { compileRef, REFERENCE_GROUPS, USER_GROUP } from '../../helpers/reference.js';
import { featureSpec } from '../../../src/samples/sample.js';
import { ALL_OPS_GROUP } from '../../helpers/feature-streams.js';

describe('samples table layout', () => {
  it('has one typed column per feature of the spec, in the spec order, marked with the spec hash', () => {
    const layout = samplesLayout(REFERENCE_GROUPS);
    expect(layout.table).toBe('samples');
    const spec = featureSpec(REFERENCE_GROUPS);
    expect(layout.features.map((f) => f.name)).toEqual(spec.entries.map((e) => e.name));
    expect(layout.comment).toBe(`tessera samples v1 spec ${spec.hash}`);
    const type = Object.fromEntries(layout.features.map((f) => [f.name, f.type]));
    expect(type.user_impression_count_1h).toBe('UInt64');
    expect(type.user_order_amount_sum_30d).toBe('Float64');
    expect(type.user_last_clicked_items).toBe('Array(String)');
    expect(type.user_last_click_time).toBe('Nullable(Int64)');
    expect(type.user_ctr_7d).toBe('Float64');
    expect(type.context_hour_of_day).toBe('UInt8');
    expect(type.context_device).toBe('LowCardinality(String)');
    expect(layout.features.slice(-CONTEXT_FEATURE_NAMES.length).map((f) => f.name)).toEqual([...CONTEXT_FEATURE_NAMES]);
  });

  it('types every op by its values: integer sums stay integers, numeric last values stay numbers', () => {
    const type = Object.fromEntries(samplesLayout([compileRef(ALL_OPS_GROUP)]).features.map((f) => [f.name, f.type]));
    expect(type.probe_order_quantity_sum).toBe('Int64');
    expect(type.probe_order_amount_avg_2h).toBe('Nullable(Float64)');
    expect(type.probe_order_amount_min_2d).toBe('Nullable(Float64)');
    expect(type.probe_last_click_itemId).toBe('Nullable(String)');
    expect(type.probe_click_decayed_count_3h).toBe('Float64');
    const numericLast = samplesLayout([compileRef({ name: 'p', entity: { name: 'p', keyFields: ['userId'] }, aggregations: [{ source: 'click', op: 'last', field: 'position' }, { source: 'click', op: 'last_k', field: 'position', k: 2 }] })]);
    expect(numericLast.features.slice(0, 2).map((f) => f.type)).toEqual(['Nullable(Float64)', 'Array(Float64)']);
  });

  it('writes a MergeTree ordered by (eventTime, impressionId) with the comment', () => {
    const ddl = samplesTableDdl(samplesLayout(REFERENCE_GROUPS, 'my_samples'));
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS my_samples');
    expect(ddl).toContain('ORDER BY (eventTime, impressionId)');
    expect(ddl).toContain("COMMENT 'tessera samples v1 spec");
    for (const c of SAMPLE_BASE_COLUMNS) expect(ddl).toContain(`${c.name} ${c.type}`);
  });

  it('refuses two groups whose features share names, and table names that are not plain', () => {
    expect(() => samplesLayout([USER_GROUP, USER_GROUP])).toThrow(BatchError);
    expect(() => samplesLayout([USER_GROUP], 'samples; DROP TABLE x')).toThrow(BatchError);
  });
});
