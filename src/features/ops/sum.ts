import { badState, identity, isNumericInput, numberHash } from './shared.js';
import type { Aggregator, InputSqlView, OpModule, PassColumn } from './types.js';

/** sum: the sum of a numeric field; null and non-finite values are skipped. */
const aggregator: Aggregator<number> = {
  op: 'sum',
  init: () => 0,
  update: (s, value, t) => (isNumericInput(value) && Number.isFinite(t) ? s + value : s),
  merge: (a, b) => a + b,
  finish: (s) => s,
  encode: identity,
  decode: (json) => {
    if (isNumericInput(json)) return json;
    throw badState('sum', 'a finite number', json);
  },
};

/**
 * The sample pass's running-sum column of a numeric field (sum, avg): Int64 for an int field,
 * a decimal accumulator otherwise (src/batch/sample-passes.ts).
 */
export function sumColumn(i: number, sumType: string): PassColumn {
  return {
    name: `s${i}`,
    type: sumType,
    zero: '0',
    merge: 'sum',
    contribution: (input: InputSqlView) => {
      const v = input.notNull as string;
      return sumType === 'Int64' ? `if(${input.valid}, toInt64(${v}), toInt64(0))` : `if(${input.valid}, toDecimal256(${v}, 30), toDecimal256(0, 30))`;
    },
  };
}

export const SUM: OpModule = {
  op: 'sum',
  summary: 'sum of a numeric field',
  lifetimeOnly: false,
  field: 'numeric',
  param: null,
  mergeableLifetime: false,
  featureName: (p) => `${p.entity}_${p.source}_${p.field}_sum${p.w}`,
  idSuffix: () => '',
  aggregator: () => aggregator as Aggregator<never>,
  layout: numberHash((value) => [{ op: 'hincr', by: Number(value) }]),
  capsText: false,
  recompute: { kind: 'plain', columns: (i) => [`sumIf(v${i}, ok${i}) AS a${i}`], state: (row, i) => Number(row[`a${i}`]) },
  samplePass: {
    kind: 'cumulative',
    windowed: true,
    sums: true,
    columns: (i, sumType) => [sumColumn(i, sumType)],
    feature: (i, diff, integral) => (integral ? `toInt64(${diff(`s${i}`)})` : `toFloat64(${diff(`s${i}`)})`),
  },
  sampleColumn: (kind) => ({ type: kind === 'int' || kind === 'nullableInt' ? 'Int64' : 'Float64', read: 'number' }),
  valueKind: 'number',
  dense: 'log',
};
