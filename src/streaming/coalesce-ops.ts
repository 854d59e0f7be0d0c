import type { StoreOp } from '../ports/online-store.js';

/**
 * Merges store operations of one batch that hit the same key and field into one, so the store
 * does each piece of work once per batch instead of once per event: additions are summed, max and
 * min taken, latest-wins values decided, sorted-set adds of one member kept at the greatest score,
 * prunes, trims and expiries deduplicated, HyperLogLog adds to one key joined. Valid because every
 * op the streaming layer plans for events is a commutative merge on its own field or key; the
 * deletes it adds (HyperLogLog tiles out of retention) come after all of them and are not merged.
 * The first occurrence's position is kept, so relative order across fields is unchanged.
 *
 * Only integer `hincr`s are merged: floating-point addition is not associative, and merging
 * fractional ones would make a sum's last bits depend on where batches happen to split.
 */
export function coalesceOps(ops: readonly StoreOp[]): StoreOp[] {
  const out: StoreOp[] = [];
  const at = new Map<string, number>();
  for (const op of ops) {
    const id = identity(op);
    const i = id === null ? undefined : at.get(id);
    if (i === undefined) {
      if (id !== null) at.set(id, out.length);
      out.push(op);
      continue;
    }
    out[i] = merge(out[i] as StoreOp, op);
  }
  return out;
}

function identity(op: StoreOp): string | null {
  switch (op.op) {
    case 'hincr':
      // integer additions (counts) are exact in any grouping; fractional ones (amounts) are left
      // as they are, so a partition's sums add in log order whatever the batch boundaries
      return Number.isInteger(op.by) ? `hincr\u0000${op.key}\u0000${op.field}` : null;
    case 'hmax':
    case 'hmin':
    case 'hlatest':
      return `${op.op}\u0000${op.key}\u0000${op.field}`;
    case 'zadd':
      return `zadd\u0000${op.key}\u0000${op.member}\u0000${op.keepTop ?? ''}`;
    case 'zremBelow':
    case 'expire':
    case 'hprune':
    case 'pfadd':
      return `${op.op}\u0000${op.key}`;
    default:
      return null; // set, hset, hdel, del: kept as they are
  }
}

function merge(a: StoreOp, b: StoreOp): StoreOp {
  if (a.op === 'hincr' && b.op === 'hincr') return { ...a, by: a.by + b.by };
  if (a.op === 'hmax' && b.op === 'hmax') return b.value > a.value ? b : a;
  if (a.op === 'hmin' && b.op === 'hmin') return b.value < a.value ? b : a;
  if (a.op === 'hlatest' && b.op === 'hlatest') {
    if (b.at !== a.at) return b.at > a.at ? b : a;
    return Buffer.compare(Buffer.from(b.value), Buffer.from(a.value)) > 0 ? b : a;
  }
  if (a.op === 'zadd' && b.op === 'zadd') return b.score > a.score ? b : a;
  if (a.op === 'zremBelow' && b.op === 'zremBelow') return b.below > a.below ? b : a;
  if (a.op === 'expire' && b.op === 'expire') return b;
  if (a.op === 'pfadd' && b.op === 'pfadd') return { ...a, members: [...a.members, ...b.members] };
  if (a.op === 'hprune' && b.op === 'hprune') {
    // the same rules, keep the later (higher) cutoffs
    const below = new Map(a.rules.map((r) => [r.prefix, r.below]));
    for (const r of b.rules) below.set(r.prefix, Math.max(below.get(r.prefix) ?? -Infinity, r.below));
    return { ...a, rules: [...below].map(([prefix, v]) => ({ prefix, below: v })) };
  }
  throw new Error(`coalesceOps: cannot merge ${a.op} with ${b.op}`);
}
