import { decodeNullableNumber, identity, numberHash } from './shared.js';
import type { Aggregator, OpModule } from './types.js';

/** last_seen: the latest event time (lifetime only). */
const aggregator: Aggregator<number | null> = {
  op: 'last_seen',
  init: () => null,
  update: (s, _value, t) => (!Number.isFinite(t) ? s : s === null || t > s ? t : s),
  merge: (a, b) => (a === null ? b : b === null ? a : Math.max(a, b)),
  finish: (s) => s,
  encode: identity,
  decode: (json) => decodeNullableNumber('last_seen', json),
};

export const LAST_SEEN: OpModule = {
  op: 'last_seen',
  summary: 'latest event time',
  lifetimeOnly: true,
  field: 'none',
  param: null,
  mergeableLifetime: true,
  featureName: (p) => `${p.entity}_last_${p.source}_time${p.w}`,
  idSuffix: () => '',
  aggregator: () => aggregator as Aggregator<never>,
  layout: numberHash((_value, t) => [{ op: 'hmax', value: t }]),
  capsText: false,
  recompute: { kind: 'plain', columns: (i) => [`max(t) AS a${i}`], state: (row, i) => (row[`a${i}`] === null ? undefined : Number(row[`a${i}`])) },
  samplePass: {
    kind: 'cumulative',
    windowed: false,
    sums: false,
    columns: (i) => [{ name: `m${i}`, type: 'Nullable(Int64)', zero: 'NULL', merge: 'max', contribution: (_input, time) => `CAST(${time}, 'Nullable(Int64)')` }],
    feature: (i, diff) => diff(`m${i}`),
  },
  sampleColumn: () => ({ type: 'Nullable(Int64)', read: 'nullableNumber' }),
  valueKind: 'nullableNumber',
  dense: 'age',
};
