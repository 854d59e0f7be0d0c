import { formatDouble } from '../../util/format-double.js';
import { badState, identity, isNumericInput, isObj, NULLABLE_NUMBER_COLUMN } from './shared.js';
import { sumColumn } from './sum.js';
import type { Aggregator, AvgState, OpModule } from './types.js';

/** avg: the mean of a numeric field, null without values. */
const aggregator: Aggregator<AvgState> = {
  op: 'avg',
  init: () => ({ sum: 0, count: 0 }),
  update: (s, value, t) => (isNumericInput(value) && Number.isFinite(t) ? { sum: s.sum + value, count: s.count + 1 } : s),
  merge: (a, b) => (b.count === 0 ? a : a.count === 0 ? b : { sum: a.sum + b.sum, count: a.count + b.count }),
  finish: (s) => (s.count === 0 ? null : s.sum / s.count),
  encode: identity,
  decode: (json) => {
    if (isObj(json) && isNumericInput(json.sum) && typeof json.count === 'number' && Number.isSafeInteger(json.count) && json.count >= 0) {
      return { sum: json.sum, count: json.count };
    }
    throw badState('avg', '{ sum: number, count: integer >= 0 }', json);
  },
};

export const AVG: OpModule = {
  op: 'avg',
  summary: 'mean of a numeric field',
  lifetimeOnly: false,
  field: 'numeric',
  param: null,
  mergeableLifetime: false,
  featureName: (p) => `${p.entity}_${p.source}_${p.field}_avg${p.w}`,
  idSuffix: () => '',
  aggregator: () => aggregator as Aggregator<never>,
  // two fields per state: `…|s` the sum, `…|n` the count
  layout: {
    kind: 'hash',
    write: (value) => [
      { op: 'hincr', part: 's', by: Number(value) },
      { op: 'hincr', part: 'n', by: 1 },
    ],
    read: (part, text, previous) => {
      const p = (previous as AvgState | undefined) ?? { sum: 0, count: 0 };
      return part === 's' ? { sum: Number(text), count: p.count } : { sum: p.sum, count: Number(text) };
    },
    store: (state) => {
      const a = state as AvgState;
      return a.count === 0 ? [] : [{ part: 's', text: formatDouble(a.sum) }, { part: 'n', text: formatDouble(a.count) }];
    },
    multiField: true,
    tileList: false,
  },
  capsText: false,
  recompute: {
    kind: 'plain',
    columns: (i) => [`sumIf(toFloat64(v${i}), ok${i}) AS a${i}_s`, `countIf(ok${i}) AS a${i}_n`],
    state: (row, i) => {
      const state = { sum: Number(row[`a${i}_s`]), count: Number(row[`a${i}_n`]) };
      return state.count === 0 ? undefined : state;
    },
  },
  samplePass: {
    kind: 'cumulative',
    windowed: true,
    sums: true,
    columns: (i, sumType) => [sumColumn(i, sumType), { name: `n${i}`, type: 'UInt64', zero: '0', merge: 'sum', contribution: (input) => `CAST(${input.valid}, 'UInt64')` }],
    feature: (i, diff) => {
      const n = diff(`n${i}`);
      return `if(${n} = 0, NULL, toFloat64(${diff(`s${i}`)}) / ${n})`;
    },
  },
  sampleColumn: () => NULLABLE_NUMBER_COLUMN,
  valueKind: 'nullableNumber',
  dense: 'log',
};
