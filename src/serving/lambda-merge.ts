import { aggregatorFor, type AggState } from '../features/aggregators.js';
import type { AggregationDef, CompiledGroup } from '../features/definitions.js';
import { opModule } from '../features/ops/index.js';
import type { EntityStates } from '../streaming/tile-decode.js';

/**
 * The lambda merge of one entity: `batch` decoded with only its tiles before the batch watermark
 * U, `stream` with only its tiles from U on (U aligned to every tile size, so no tile straddles
 * it). Tiles are disjoint and simply combined; lifetime states merge with the aggregation core
 * where that is exact (the op module's `mergeableLifetime`: a merge idempotent under repeated
 * events, as min, max, last, last_k, last_seen and approx_distinct have, or a state the store
 * keeps in hourly tiles that split cleanly at the aligned watermark, as the decayed ops'); lifetime count, sum and avg come from the
 * stream alone, which holds every event it applied (the batch's late events cannot be added to it
 * without counting the rest twice).
 */
export function mergeLambda(group: CompiledGroup, batch: EntityStates, stream: EntityStates): EntityStates {
  const defs = group.def.aggregations;
  const latest = batch.latest === null ? stream.latest : stream.latest === null ? batch.latest : Math.max(batch.latest, stream.latest);
  return {
    latest,
    tileMax: (hopMs, start) => batch.tileMax(hopMs, start) ?? stream.tileMax(hopMs, start),
    tiles: (agg, hopMs) => {
      const a = batch.tiles(agg, hopMs);
      const b = stream.tiles(agg, hopMs);
      if (a === undefined || a.size === 0) return b;
      if (b === undefined || b.size === 0) return a;
      return new Map<number, AggState>([...a, ...b]);
    },
    lifetime: (agg) => {
      const def = defs[agg] as AggregationDef | undefined;
      const s = stream.lifetime(agg);
      if (def === undefined || !opModule(def.op).mergeableLifetime) return s;
      const b = batch.lifetime(agg);
      if (b === undefined) return s;
      if (s === undefined) return b;
      return aggregatorFor(def).merge(b, s);
    },
  };
}
