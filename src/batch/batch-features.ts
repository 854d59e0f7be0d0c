import type { CompiledGroup } from '../features/definitions.js';
import type { OfflineStore } from '../ports/offline-store.js';
import type { OnlineStore } from '../ports/online-store.js';
import { batchAlignmentMs, writeBatchView } from '../streaming/batch-view.js';
import { BatchError } from './batch-errors.js';
import { recomputeStates } from './recompute.js';

/** One group's batch view as written. */
export interface BatchFeaturesResult {
  group: string;
  namespace: string;
  entities: number;
  seconds: number;
}

/**
 * The lambda batch job (`tessera batch features --until`): for each group, every state as of
 * `until` recomputed from the raw tables (late events included) and written into the online store
 * as the group's new batch view (src/streaming/batch-view.ts); the reader then merges it with the
 * streaming tiles after `until`.
 *
 * @throws BatchError when `until` is not aligned to a group's largest tile (the message names the
 *   nearest aligned instant).
 */
export async function writeBatchFeatures(
  deps: { offline: OfflineStore; store: OnlineStore; prefix: string; now: () => number },
  options: {
    until: number;
    groups: readonly CompiledGroup[];
    graceMs: number;
    latenessMs: number;
    /** Per registered group, the version the definitions are (recorded on the view: the reader merges a view into its own version only). */
    versions?: ReadonlyMap<string, number>;
    onProgress?: (group: string, entities: number) => void;
  },
): Promise<BatchFeaturesResult[]> {
  for (const g of options.groups) {
    const align = batchAlignmentMs(g);
    if (options.until % align !== 0) {
      const floor = options.until - (((options.until % align) + align) % align);
      throw new BatchError('BATCH_INVALID_ARGUMENT', `--until ${new Date(options.until).toISOString()} must be a multiple of group ${g.name}'s largest tile (${align} ms), e.g. ${new Date(floor).toISOString()}`);
    }
  }
  const out: BatchFeaturesResult[] = [];
  for (const group of options.groups) {
    const started = performance.now();
    const { namespace, entities } = await writeBatchView(deps.store, group, recomputeStates(deps.offline, [group], { until: options.until }), {
      prefix: deps.prefix,
      until: options.until,
      now: deps.now(),
      graceMs: options.graceMs,
      latenessMs: options.latenessMs,
      ...(options.versions?.has(group.name) ? { version: options.versions.get(group.name) as number } : {}),
      onProgress: (n) => options.onProgress?.(group.name, n),
    });
    out.push({ group: group.name, namespace, entities, seconds: (performance.now() - started) / 1000 });
  }
  return out;
}
