import { formatDouble } from '../../util/format-double.js';
import { compareTimedValues, decodeTimedValue, identity, isNumberKind, isValueInput, newestValuesStatements } from './shared.js';
import type { Aggregator, OpModule, TimedValue } from './types.js';

function newer(a: TimedValue | null, b: TimedValue | null): TimedValue | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareTimedValues(b, a) > 0 ? b : a;
}

/** last: the value of the latest event (lifetime only), latest wins by {@link compareTimedValues}. */
const aggregator: Aggregator<TimedValue | null> = {
  op: 'last',
  init: () => null,
  update: (s, value, t) => (isValueInput(value) && Number.isFinite(t) ? newer(s, { t, v: value }) : s),
  merge: newer,
  finish: (s) => (s === null ? null : s.v),
  encode: identity,
  decode: (json) => (json === null ? null : decodeTimedValue('last', json)),
};

export const LAST: OpModule = {
  op: 'last',
  summary: 'value of the latest event',
  lifetimeOnly: true,
  field: 'scalar',
  param: null,
  mergeableLifetime: true,
  featureName: (p) => `${p.entity}_last_${p.source}_${p.field}${p.w}`,
  idSuffix: () => '',
  aggregator: () => aggregator as Aggregator<never>,
  // one field `<t>|<value>`, latest wins
  layout: {
    kind: 'hash',
    write: (value, t) => [{ op: 'hlatest', value: String(value), at: t }],
    read: (_part, text, _previous, typed) => {
      const bar = text.indexOf('|');
      return { t: Number(text.slice(0, bar)), v: typed(text.slice(bar + 1)) };
    },
    store: (state) => {
      const l = state as TimedValue | null;
      return l === null ? [] : [{ text: `${formatDouble(l.t)}|${String(l.v)}` }];
    },
    multiField: false,
    tileList: true,
  },
  capsText: true,
  recompute: { kind: 'own', statements: (ctx) => newestValuesStatements(ctx, 1) },
  samplePass: { kind: 'recent', list: false, k: () => 1 },
  sampleColumn: (kind) => (isNumberKind(kind) ? { type: 'Nullable(Float64)', read: 'nullableNumber' } : { type: 'Nullable(String)', read: 'nullableText' }),
  valueKind: 'nullableText',
  dense: 'log',
};
