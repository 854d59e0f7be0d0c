import { TesseraError, UsageError } from '../errors.js';
import type { OnlineStore, StoreOp } from '../ports/online-store.js';
import type { JoinerKeys } from './joiner-keys.js';
import type { StateChanges, StoredState } from './join-state.js';

/** Another joiner instance wrote a checkpoint since this one read or wrote its last: it owns the joiner now. */
export class JoinerFencedError extends TesseraError {
  constructor(message: string) {
    super('JOINER_FENCED', message);
  }
}

/** A restored checkpoint and the fence value it was read at (null: no checkpoint yet). */
export interface RestoredCheckpoint {
  readonly seq: number | null;
  readonly state: StoredState;
}

const FENCE_FIELD = 'seq';
const ALL = 2 ** 31;

/**
 * The joiner's checkpoints in the online store (Redis in production): incremental, atomic and
 * fenced. Each checkpoint is one `apply` that writes the state changes since the previous one
 * (partition offsets and watermarks, the applied bound, buffer, dedupe, held impressions and
 * feature-state fields) together with a compare-and-set of the checkpoint sequence number: the
 * offsets consumed and the state they produced can never be stored apart, and a checkpoint based
 * on a sequence number someone else has moved is refused (`JoinerFencedError`).
 *
 * Ownership: a starting joiner restores and at once writes an empty checkpoint ("claim"); a still
 * running older instance then fails its next checkpoint and stops. The newest instance wins.
 */
export class JoinerCheckpoints {
  constructor(
    private readonly store: OnlineStore,
    private readonly keys: JoinerKeys,
    /** Identifies the configuration; a checkpoint written with another one is refused. */
    private readonly fingerprint: string,
    /** The groups whose feature states are stored. */
    private readonly groupNames: readonly string[],
  ) {}

  /**
   * Reads the latest checkpoint (an empty state when there is none).
   *
   * @throws UsageError when the checkpoint was written with another configuration.
   */
  async read(): Promise<RestoredCheckpoint> {
    const k = this.keys;
    const [fence, meta, parts, buffer, pending, ...features] = await this.store.read([
      { kind: 'hmget', key: k.fence(), fields: [FENCE_FIELD] },
      { kind: 'hmget', key: k.meta(), fields: ['bound', 'config'] },
      { kind: 'hgetallFlat', key: k.partitions() },
      { kind: 'hgetallFlat', key: k.buffer() },
      { kind: 'hgetallFlat', key: k.pending() },
      ...this.groupNames.map((g) => ({ kind: 'hgetallFlat' as const, key: k.features(g) })),
    ]);
    const seqRaw = fence?.kind === 'hmget' ? fence.value[0] : null;
    const [boundRaw, config] = meta?.kind === 'hmget' ? meta.value : [null, null];
    if (config != null && config !== this.fingerprint) {
      throw new UsageError(
        `the joiner state under ${k.root} was written with another configuration (${config}); this run uses ${this.fingerprint}. Use another --name, or delete the keys under ${k.root}`,
      );
    }
    const partitions: StoredState['partitions'] = [];
    const flatParts = parts?.kind === 'hgetallFlat' ? parts.value : [];
    for (let i = 0; i + 1 < flatParts.length; i += 2) {
      const v = JSON.parse(flatParts[i + 1] as string) as { next: number; wm: number | null };
      partitions.push({ tp: flatParts[i] as string, next: v.next, wm: v.wm ?? -Infinity });
    }
    const dedupeReads = partitions.length === 0 ? [] : await this.store.read(partitions.map((p) => ({ kind: 'ztop' as const, key: k.dedupe(p.tp), limit: ALL })));
    return {
      seq: seqRaw == null ? null : Number(seqRaw),
      state: {
        bound: boundRaw == null ? -Infinity : Number(boundRaw),
        partitions,
        buffer: buffer?.kind === 'hgetallFlat' ? buffer.value : [],
        pending: pending?.kind === 'hgetallFlat' ? pending.value : [],
        dedupe: partitions.map((p, i) => {
          const r = dedupeReads[i];
          return { tp: p.tp, entries: r?.kind === 'ztop' ? r.value.map((m) => ({ eventId: m.member, t: m.score })) : [] };
        }),
        features: this.groupNames.map((group, i) => {
          const r = features[i];
          return { group, flat: r?.kind === 'hgetallFlat' ? r.value : [] };
        }),
      },
    };
  }

  /**
   * Writes the changes as checkpoint `expected + 1` (the first is 0 when `expected` is null).
   * Returns the new sequence number.
   *
   * @throws JoinerFencedError when the stored sequence number is not `expected`.
   */
  async write(expected: number | null, changes: StateChanges | null): Promise<number> {
    const k = this.keys;
    const ops: StoreOp[] = [{ op: 'hset', key: k.meta(), field: 'config', value: this.fingerprint }];
    if (changes !== null) {
      if (Number.isFinite(changes.bound)) ops.push({ op: 'hset', key: k.meta(), field: 'bound', value: String(changes.bound) });
      for (const p of changes.partitions) {
        ops.push({ op: 'hset', key: k.partitions(), field: p.tp, value: JSON.stringify({ next: p.next, wm: Number.isFinite(p.wm) ? p.wm : null }) });
      }
      pushFields(ops, k.buffer(), changes.buffer);
      for (const d of changes.dedupeAdds) ops.push({ op: 'zadd', key: k.dedupe(d.tp), member: d.eventId, score: d.t });
      for (const d of changes.dedupeForget) ops.push({ op: 'zremBelow', key: k.dedupe(d.tp), below: d.below });
      pushFields(ops, k.pending(), changes.pending);
      for (const f of changes.features) pushFields(ops, k.features(f.group), f.changes);
    }
    const next = expected === null ? 0 : expected + 1;
    const result = await this.store.apply(ops, { key: k.fence(), field: FENCE_FIELD, offset: next, expected });
    if (!result.applied) {
      throw new JoinerFencedError(
        `another joiner instance took over ${k.root} (checkpoint ${result.storedOffset} stored, this instance expected ${String(expected)}); this one stops`,
      );
    }
    return next;
  }
}

function pushFields(ops: StoreOp[], key: string, changes: readonly { field: string; value: string | null }[]): void {
  const deleted: string[] = [];
  for (const c of changes) {
    if (c.value === null) deleted.push(c.field);
    else ops.push({ op: 'hset', key, field: c.field, value: c.value });
  }
  if (deleted.length > 0) ops.push({ op: 'hdel', key, fields: deleted });
}
