import { tpKey, type Subscription } from '../ports/event-log.js';
import type { CompiledGroup } from '../features/definitions.js';
import { versionEdit } from '../registry/registry.js';
import { aliasEdit, checkNamespace, servingNamespace, readCatalog, updateCatalog, versionHolding, type CatalogEdit } from './online-catalog.js';
import { createStreamKeys } from './stream-keys.js';
import { startStream, STREAM_DEFAULTS, type StreamDeps, type StreamOptions } from './stream-processor.js';

/**
 * The kappa rebuild: replay the event log through the streaming code into a new namespace, then
 * point the group's alias at it in one step (the reader follows it at its next read); the version
 * it replaces stays for rollback until the grace period ends (`tessera versions gc` drops it).
 *
 * The rebuild is an ordinary stream deployment of its own (namespace, consumer group
 * `tessera-rebuild-<namespace>`, offsets fenced in its namespace), so the replay is exactly once in
 * effect like the live stream, and after the flip the same deployment keeps the new version live:
 * {@link RebuildResult.live} continues from its fences (or, after an exit, `tessera stream
 * --namespace <ns> --group tessera-rebuild-<ns> --groups <group>` does). The old deployment keeps
 * writing the previous version, which is what makes a rollback instant.
 *
 * `fromTime`: only events with eventTime >= fromTime are applied. Records appended before
 * `fromTime - maxFutureMs` are not even read: the producer and the stream refuse events more than
 * `maxFutureMs` ahead of the clock, so such records can only hold older events.
 */
export interface RebuildOptions {
  /** The new version's namespace. Default `<group>-r<wall clock ms>`. */
  namespace?: string;
  fromTime?: number;
  /** How long the replaced version stays for rollback, ms. */
  graceMs: number;
  latenessMs?: number;
  maxFutureMs?: number;
  maxBatchRecords?: number;
  /** Keep streaming into the new version after the flip (until stopped). Default true. */
  continueLive?: boolean;
  /** How long the log must stay caught up before the flip, ms. Default 1000. */
  idleMs?: number;
  /**
   * The flip, when it is not the plain alias flip (a registry backfill flips alias and batch view
   * together). Default: the alias; for a registered group the new namespace is recorded on the
   * version that serves, in the same step.
   */
  flip?: () => Promise<void>;
}

export interface RebuildResult {
  namespace: string;
  consumerGroup: string;
  /** The namespace the alias pointed at before. */
  previous: string;
  /** Events the catch-up applied. */
  applied: number;
  /** The live continuation when `continueLive`; stop it to end. */
  live: Subscription | null;
}

export async function rebuildGroup(deps: StreamDeps & { prefix: string }, group: CompiledGroup, options: RebuildOptions): Promise<RebuildResult> {
  const namespace = checkNamespace(options.namespace ?? `${group.name}-r${deps.clock()}`);
  const consumerGroup = `tessera-rebuild-${namespace}`;
  const keys = createStreamKeys(deps.prefix, namespace);
  const maxFutureMs = options.maxFutureMs ?? 86_400_000;
  let initialOffsets: Map<string, number> | undefined;
  if (options.fromTime !== undefined) {
    initialOffsets = new Map();
    for (const type of group.sources) {
      const topic = deps.topics.events(type);
      for (const p of await deps.log.offsetsForTimestamp(topic, options.fromTime - maxFutureMs)) initialOffsets.set(tpKey(topic, p.partition), p.offset);
    }
  }
  const streamOptions: StreamOptions = {
    groupId: consumerGroup,
    latenessMs: options.latenessMs ?? STREAM_DEFAULTS.latenessMs,
    maxFutureMs,
    maxBatchRecords: options.maxBatchRecords ?? STREAM_DEFAULTS.maxBatchRecords,
    ...(initialOffsets ? { initialOffsets } : {}),
    ...(options.fromTime !== undefined ? { minEventTime: options.fromTime } : {}),
  };
  const streamDeps: StreamDeps = { ...deps, keys, groups: [group] };
  const before = deps.metrics.total('tessera_stream_events_applied_total');
  deps.logger.info('rebuild.started', { group: group.name, namespace, from: options.fromTime ?? null });
  await startStream(streamDeps, { ...streamOptions, untilIdle: true, idleMs: options.idleMs ?? 1000 }).done;
  const applied = deps.metrics.total('tessera_stream_events_applied_total') - before;
  const previous = servingNamespace(await readCatalog(deps.store, deps.prefix), group.name);
  if (options.flip) await options.flip();
  else {
    const now = deps.clock();
    await updateCatalog(deps.store, deps.prefix, (c) => {
      const serving = versionHolding(c, group.name, servingNamespace(c, group.name));
      const edits: CatalogEdit[] = [aliasEdit(c, group.name, namespace, options.graceMs, now)];
      if (serving !== null) edits.push(versionEdit(c, group.name, serving, (v) => ({ ...v, namespaces: v.namespaces.includes(namespace) ? v.namespaces : [...v.namespaces, namespace] })));
      return edits;
    });
  }
  deps.logger.info('rebuild.flipped', { group: group.name, namespace, previous, applied });
  const live = options.continueLive === false ? null : startStream(streamDeps, { ...streamOptions, untilIdle: false });
  return { namespace, consumerGroup, previous, applied, live };
}
