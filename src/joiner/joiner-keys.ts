/**
 * Every online-store key of the streaming joiner is built here and nowhere else.
 *
 * All keys live under `<prefix>:join:<name>`; `name` identifies one logical joiner (its state,
 * checkpoint and fence), so two joiners with different label rules or feature sets never share
 * state.
 *
 * - `…:fence`              hash, field `seq`: the checkpoint sequence number (compare-and-set fence)
 * - `…:meta`               hash: the applied bound, the configuration fingerprint
 * - `…:parts`              hash: per `topic:partition`, `{ next, wm }` (next offset, watermark)
 * - `…:buf`                hash: accepted events not yet applied (the reorder buffer)
 * - `…:dd:<topic:partition>` sorted set: eventIds accepted within the dedupe horizon, scored by event time
 * - `…:pending`            hash: impressions with their features, waiting for their label windows
 * - `…:f:<group>`          hash: one field per tile or lifetime state of every entity of the group
 */
export interface JoinerKeys {
  readonly root: string;
  fence(): string;
  meta(): string;
  partitions(): string;
  buffer(): string;
  dedupe(tp: string): string;
  pending(): string;
  features(group: string): string;
}

/** The keys of the joiner `name` under `prefix` (the topic prefix, so deployments sharing a Redis stay apart). */
export function createJoinerKeys(prefix = 'tessera', name = 'join'): JoinerKeys {
  const root = `${prefix}:join:${name}`;
  return {
    root,
    fence: () => `${root}:fence`,
    meta: () => `${root}:meta`,
    partitions: () => `${root}:parts`,
    buffer: () => `${root}:buf`,
    dedupe: (tp) => `${root}:dd:${tp}`,
    pending: () => `${root}:pending`,
    features: (group) => `${root}:f:${group}`,
  };
}
