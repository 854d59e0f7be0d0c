/**
 * Every Redis key of the streaming feature layer is built here and nowhere else.
 *
 * All keys live under `<prefix>:<namespace>`; a namespace is one version of the online state (the
 * live one, a kappa rebuild's new version, or a batch view), and `<prefix>:catalog` says which
 * version serves each group (online-catalog.ts).
 *
 * - `…:e:<group>:<entity>`            hash: the entity's time tiles and lifetime states (see tile-layout.ts)
 * - `…:z:<group>:<agg>:<entity>`      sorted set: last-k distinct values, scored by event time
 * - `…:h:<group>:<agg>:<tile>:<entity>` HyperLogLog: approximate distinct values of one tile
 * - `…:offsets:<consumer group>`      hash: next offset per `topic:partition` (the fence)
 * - `…:wm`                            hash: per `topic:partition`, the latest event time applied
 * - `…:dd:<topic>:<partition>`        sorted set: eventIds applied within the dedupe horizon
 */
/** The namespace the stream writes and the reader reads when the catalog names no other (see online-catalog.ts). */
export const DEFAULT_NAMESPACE = 'live';

export interface StreamKeys {
  readonly root: string;
  readonly prefix: string;
  readonly namespace: string;
  entity(group: string, entityKey: string): string;
  lastK(group: string, aggIndex: number, entityKey: string): string;
  hll(group: string, aggIndex: number, tile: string, entityKey: string): string;
  offsets(consumerGroup: string): string;
  watermarks(): string;
  dedupe(topic: string, partition: number): string;
  /** The key prefixes holding one group's state in this namespace (to drop a version of a group). */
  groupPrefixes(group: string): string[];
}

export function createStreamKeys(prefix = 'tessera', namespace = DEFAULT_NAMESPACE): StreamKeys {
  const root = `${prefix}:${namespace}`;
  return {
    root,
    prefix,
    namespace,
    entity: (group, entityKey) => `${root}:e:${group}:${entityKey}`,
    lastK: (group, aggIndex, entityKey) => `${root}:z:${group}:${aggIndex}:${entityKey}`,
    hll: (group, aggIndex, tile, entityKey) => `${root}:h:${group}:${aggIndex}:${tile}:${entityKey}`,
    offsets: (consumerGroup) => `${root}:offsets:${consumerGroup}`,
    watermarks: () => `${root}:wm`,
    dedupe: (topic, partition) => `${root}:dd:${topic}:${partition}`,
    groupPrefixes: (group) => [`${root}:e:${group}:`, `${root}:z:${group}:`, `${root}:h:${group}:`],
  };
}
