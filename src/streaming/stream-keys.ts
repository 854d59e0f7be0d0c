/**
 * Every Redis key of the streaming feature layer is built here and nowhere else.
 *
 * All keys live under `<prefix>:<namespace>`; a namespace is one version of the online state (the
 * live one, or a kappa rebuild's new version before its alias flips).
 *
 * - `…:e:<group>:<entity>`            hash: the entity's time tiles and lifetime states (see tile-layout.ts)
 * - `…:z:<group>:<agg>:<entity>`      sorted set: last-k distinct values, scored by event time
 * - `…:h:<group>:<agg>:<tile>:<entity>` HyperLogLog: approximate distinct values of one tile
 * - `…:offsets:<consumer group>`      hash: next offset per `topic:partition` (the fence)
 * - `…:wm`                            hash: per `topic:partition`, the latest event time applied
 * - `…:dd:<topic>:<partition>`        sorted set: eventIds applied within the dedupe horizon
 */
export interface StreamKeys {
  readonly root: string;
  entity(group: string, entityKey: string): string;
  lastK(group: string, aggIndex: number, entityKey: string): string;
  hll(group: string, aggIndex: number, tile: string, entityKey: string): string;
  offsets(consumerGroup: string): string;
  watermarks(): string;
  dedupe(topic: string, partition: number): string;
}

export function createStreamKeys(prefix = 'tessera', namespace = 'live'): StreamKeys {
  const root = `${prefix}:${namespace}`;
  return {
    root,
    entity: (group, entityKey) => `${root}:e:${group}:${entityKey}`,
    lastK: (group, aggIndex, entityKey) => `${root}:z:${group}:${aggIndex}:${entityKey}`,
    hll: (group, aggIndex, tile, entityKey) => `${root}:h:${group}:${aggIndex}:${tile}:${entityKey}`,
    offsets: (consumerGroup) => `${root}:offsets:${consumerGroup}`,
    watermarks: () => `${root}:wm`,
    dedupe: (topic, partition) => `${root}:dd:${topic}:${partition}`,
  };
}
