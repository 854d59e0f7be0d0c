import { formatWindow } from '../windows.js';
import { NUMBER_COLUMN, identity, isNumericInput, isObj, badState } from './shared.js';
import type { AggValue, Aggregator, DecayState, NameParts, OpDef, OpModule } from './types.js';

/**
 * What the exponentially decayed ops (decayed_count, decayed_sum) share: the state
 * `{ ref, s }` ({@link DecayState}), its merge by rebasing to the later reference, the online
 * layout in hourly tiles (`decay`), and the batch statement computing the core's own state.
 * Each op says what one event weighs: 1 for a count, the field's value for a sum.
 */
export interface DecayedOpSpec {
  readonly op: string;
  readonly summary: string;
  readonly field: 'none' | 'numeric';
  /** What an event with `value` adds before decay; null when it does not contribute. */
  weight(value: AggValue): number | null;
  featureName(parts: NameParts, def: OpDef): string;
  /** Whether a stored `s` may be negative (a sum of negative values). */
  readonly signed: boolean;
}

function decayAggregator(spec: DecayedOpSpec, halfLifeMs: number): Aggregator<DecayState | null> {
  // Moving the reference to the later time keeps every stored weight <= 1: no overflow ever.
  const rebase = (s: DecayState, ref: number): number => (s.ref === ref ? s.s : s.s * 2 ** ((s.ref - ref) / halfLifeMs));
  const merge = (a: DecayState | null, b: DecayState | null): DecayState | null => {
    if (a === null) return b;
    if (b === null) return a;
    const ref = Math.max(a.ref, b.ref);
    return { ref, s: rebase(a, ref) + rebase(b, ref) };
  };
  const expected = spec.signed ? '{ ref: number, s: number } or null' : '{ ref: number, s: number >= 0 } or null';
  return {
    op: spec.op,
    init: () => null,
    update: (s, value, t) => {
      if (!Number.isFinite(t)) return s;
      const w = spec.weight(value);
      return w === null ? s : merge(s, { ref: t, s: w });
    },
    merge,
    finish: (s, q) => (s === null ? 0 : s.s * 2 ** ((s.ref - q) / halfLifeMs)),
    encode: identity,
    decode: (json) => {
      if (json === null) return null;
      if (isObj(json) && isNumericInput(json.ref) && isNumericInput(json.s) && (spec.signed || json.s >= 0)) return { ref: json.ref, s: json.s };
      throw badState(spec.op, expected, json);
    },
  };
}

/** An exponentially decayed op module (lifetime only, with a half-life). */
export function decayedOp(spec: DecayedOpSpec): OpModule {
  return {
    op: spec.op,
    summary: spec.summary,
    lifetimeOnly: true,
    field: spec.field,
    param: 'halfLife',
    // the store keeps the state in hourly tiles, which split cleanly at an aligned batch watermark
    mergeableLifetime: true,
    featureName: spec.featureName,
    idSuffix: (def) => `.hl${formatWindow(def.halfLifeMs ?? 0)}`,
    aggregator: (def) => {
      if (def.halfLifeMs === undefined || !(def.halfLifeMs > 0)) throw new RangeError(`${spec.op} needs halfLifeMs > 0`);
      return decayAggregator(spec, def.halfLifeMs) as Aggregator<never>;
    },
    layout: {
      kind: 'decay',
      weight: (value, t, tileStart, halfLifeMs) => {
        const w = spec.weight(value);
        return w === null ? null : spec.field === 'none' ? Math.pow(2, (t - tileStart) / halfLifeMs) : w * Math.pow(2, (t - tileStart) / halfLifeMs);
      },
    },
    capsText: false,
    recompute: {
      kind: 'own',
      // the core's own state: ref the latest time, s = Σ w · 2^((t - ref) / H)
      statements: (ctx) => {
        const h = ctx.sqlInt(ctx.agg.def.halfLifeMs as number);
        const sql =
          spec.field === 'none'
            ? `SELECT key, any(r) AS ref, sum(exp2((t - r) / ${h})) AS s FROM ` + `(SELECT key, t, max(t) OVER (PARTITION BY key) AS r FROM (${ctx.scan([])})) GROUP BY key`
            : `SELECT key, any(r) AS ref, sum(v * exp2((t - r) / ${h})) AS s FROM ` +
              `(SELECT key, t, v, max(t) OVER (PARTITION BY key) AS r FROM (${ctx.scan([`toFloat64(${ctx.input.value as string}) AS v`], ctx.input.valid)})) GROUP BY key`;
        return [
          {
            sql,
            apply: (row) => ({ hopMs: null, tileStart: 0, state: ctx.core.decode({ ref: Number(row.ref), s: Number(row.s) }) as never, latest: Number(row.ref) }),
          },
        ];
      },
    },
    samplePass: null,
    sampleColumn: () => NUMBER_COLUMN,
    valueKind: 'number',
    dense: 'log',
  };
}
