import { badState, identity, numberHash } from './shared.js';
import type { Aggregator, OpModule } from './types.js';

/** count: the number of events; no field (docs/project-reference.md, "Aggregations"). */
const aggregator: Aggregator<number> = {
  op: 'count',
  init: () => 0,
  update: (s, _value, t) => (Number.isFinite(t) ? s + 1 : s),
  merge: (a, b) => a + b,
  finish: (s) => s,
  encode: identity,
  decode: (json) => {
    if (typeof json === 'number' && Number.isSafeInteger(json) && json >= 0) return json;
    throw badState('count', 'a non-negative integer', json);
  },
};

export const COUNT: OpModule = {
  op: 'count',
  summary: 'number of events',
  lifetimeOnly: false,
  field: 'none',
  param: null,
  mergeableLifetime: false,
  featureName: (p) => `${p.entity}_${p.source}_count${p.w}`,
  idSuffix: () => '',
  aggregator: () => aggregator as Aggregator<never>,
  layout: numberHash(() => [{ op: 'hincr', by: 1 }]),
  capsText: false,
  recompute: { kind: 'plain', columns: (i) => [`count() AS a${i}`], state: (row, i) => Number(row[`a${i}`]) },
  samplePass: {
    kind: 'cumulative',
    windowed: true,
    sums: false,
    columns: (i) => [{ name: `c${i}`, type: 'UInt64', zero: '0', merge: 'sum', contribution: () => `CAST(1, 'UInt64')` }],
    feature: (i, diff) => `toUInt64(${diff(`c${i}`)})`,
  },
  sampleColumn: () => ({ type: 'UInt64', read: 'number' }),
  valueKind: 'number',
  dense: 'log',
};
