import { hllCreate, hllEstimate, hllFromBase64, hllPosition, hllToBase64 } from '../hll.js';
import { fieldNoun } from './naming.js';
import { badState, isValueInput, slotsOf } from './shared.js';
import type { AggValue, Aggregator, OpModule } from './types.js';

/** approx_distinct: a HyperLogLog of 2^14 registers, Redis's own sketch (features/hll.ts). */
const aggregator: Aggregator<Uint8Array> = {
  op: 'approx_distinct',
  init: hllCreate,
  update: (s, value, t) => {
    if (!isValueInput(value) || !Number.isFinite(t)) return s;
    const { index, rank } = hllPosition(String(value));
    if ((s[index] as number) >= rank) return s;
    const next = s.slice();
    next[index] = rank;
    return next;
  },
  merge: (a, b) => {
    const out = a.slice();
    for (let j = 0; j < out.length; j++) if ((b[j] as number) > (out[j] as number)) out[j] = b[j] as number;
    return out;
  },
  finish: (s) => hllEstimate(s),
  encode: (s) => hllToBase64(s),
  decode: (json) => {
    const registers = typeof json === 'string' ? hllFromBase64(json) : null;
    if (registers === null) throw badState('approx_distinct', 'HyperLogLog registers as hllToBase64 text', json);
    return registers;
  },
};

export const APPROX_DISTINCT: OpModule = {
  op: 'approx_distinct',
  summary: 'approximate number of distinct values (HyperLogLog)',
  lifetimeOnly: false,
  field: 'scalar',
  param: null,
  mergeableLifetime: true,
  featureName: (p) => `${p.entity}_${p.source}_${fieldNoun(p.field)}_distinct${p.w}`,
  idSuffix: () => '',
  aggregator: () => aggregator as Aggregator<never>,
  // one Redis HyperLogLog per tile, written with PFADD; a batch view stores the core's text in the hash
  layout: { kind: 'hll' },
  capsText: false,
  recompute: {
    kind: 'own',
    // the distinct values of each tile; the core hashes them into its sketch, register for register
    statements: (ctx) =>
      slotsOf(ctx.agg).map(({ hopMs, longestMs }) => {
        const from = hopMs === null ? null : ctx.retentionStart(hopMs, longestMs);
        const ts = hopMs === null ? '0' : ctx.tileStartSql('t', hopMs);
        const sql = `SELECT key, ${ts} AS ts, max(t) AS tmax, groupUniqArray(v) AS dv FROM (${ctx.scan([`${ctx.input.value as string} AS v`], ctx.input.valid, from)}) GROUP BY key, ts`;
        return {
          sql,
          apply(row: Record<string, unknown>) {
            const tmax = Number(row.tmax);
            let state = aggregator.init();
            for (const v of row.dv as AggValue[]) state = aggregator.update(state, v, tmax);
            return { hopMs, tileStart: hopMs === null ? 0 : Number(row.ts), state, latest: tmax };
          },
        };
      }),
  },
  samplePass: null,
  sampleColumn: () => ({ type: 'UInt64', read: 'number' }),
  valueKind: 'number',
  dense: 'log',
};
