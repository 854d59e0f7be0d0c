import type { AnyEvent, Click, Impression, Order } from '../events/event-types.js';
import type { FeatureValue } from '../features/aggregators.js';
import type { CompiledGroup } from '../features/definitions.js';
import { entityKeyOf } from '../features/event-input.js';
import { clickLabels, isMature, orderLabels, type LabelRule } from '../samples/labels.js';
import { impressionContextFeatures, type FeatureSpec, type Sample } from '../samples/sample.js';
import { GroupFeatureState, type FieldChange } from './group-state.js';

/** What the joiner's state is configured with; fixed for the life of its checkpoints. */
export interface JoinConfig {
  /** Compiled feature groups, in spec order. */
  readonly groups: readonly CompiledGroup[];
  /** `featureSpec(groups)`. */
  readonly spec: FeatureSpec;
  readonly rule: LabelRule;
  /** Events later than this behind their partition's watermark are counted, not applied (as in `tessera stream`). */
  readonly latenessMs: number;
  /** Producer duplicates of an eventId within this event-time horizon are applied once; >= latenessMs. */
  readonly dedupeHorizonMs: number;
}

/** What happened to one offered record. */
export type OfferOutcome =
  /** buffered; applied once the completeness bound passes its event time */
  | 'accepted'
  /** same eventId already accepted on this partition within the dedupe horizon */
  | 'duplicate'
  /** later than the allowed lateness behind its partition's watermark (the stream's rule) */
  | 'late'
  /** before the joiner's applied bound: its time has been joined already (possible only after an idle partition woke up) */
  | 'behind'
  /** not decodable or not valid */
  | 'bad'
  /** an offset this state has consumed already */
  | 'replayed';

/** One consumed partition: the next offset to read, the watermark, the latest known log bounds. */
export interface PartitionProgress {
  readonly topic: string;
  readonly partition: number;
  next: number;
  /** Latest event time accepted (the stream's partition watermark); -Infinity before the first. */
  wm: number;
  /** Latest known log start and end offsets (null until observed). */
  start: number | null;
  end: number | null;
}

/** A buffered event with where it was read (a total order for ties). */
interface Buffered {
  readonly key: string;
  readonly event: AnyEvent;
}

/** An impression whose features are computed, waiting for its label windows to close. */
export interface PendingImpression {
  readonly impression: Impression;
  /** Feature values in spec order. */
  readonly features: readonly FeatureValue[];
  click: 0 | 1;
  order: 0 | 1;
}

/** Everything a checkpoint writes: the changes since the previous one. */
export interface StateChanges {
  bound: number;
  partitions: { tp: string; next: number; wm: number }[];
  buffer: FieldChange[];
  dedupeAdds: { tp: string; eventId: string; t: number }[];
  /** Per partition: forget eventIds with event time below this. */
  dedupeForget: { tp: string; below: number }[];
  pending: FieldChange[];
  features: { group: string; changes: FieldChange[] }[];
}

/** What a checkpoint holds, as read back. */
export interface StoredState {
  bound: number;
  partitions: { tp: string; next: number; wm: number }[];
  buffer: readonly string[];
  dedupe: { tp: string; entries: { eventId: string; t: number }[] }[];
  pending: readonly string[];
  features: { group: string; flat: readonly string[] }[];
}

const SWEEP_PERIOD_MS = 3_600_000;

/**
 * The streaming joiner's state and rules, free of I/O: records are offered in partition order,
 * `advance` joins everything the completeness bound allows and returns the samples that matured.
 *
 * Completeness. An event is late when it is more than `latenessMs` behind its partition's
 * watermark (the rule of `tessera stream`), so every event with `eventTime < wm_p - latenessMs`
 * that will ever be applied from partition p has arrived. The bound B is the minimum of that
 * over the partitions that still have records to read; partitions caught up with their log end
 * are idle and do not hold it back (otherwise a topic without orders would stop every sample),
 * and when all are idle B is the greatest watermark minus the lateness. Below B, input is complete.
 *
 * Joining in event time. Accepted events wait in a reorder buffer until B passes them, then are
 * applied in `(eventTime, eventId, partition, offset)` order. At each distinct time T, first every
 * impression at T gets its features from the state (which holds exactly the events before T:
 * an event at T is never a feature of T), then the events at T are applied: to the feature
 * states through the aggregation core, and clicks and orders to the labels of the held
 * impressions they match (`clickLabels` / `orderLabels`: a click at exactly t labels it).
 * An impression is released as a sample once `labelsCloseAt(t) < B`, i.e. every event that can
 * still change a label has been applied.
 *
 * Release order is `(eventTime, impressionId)` whatever the batching: an impression enters the
 * held set only when B reaches its time, after everything released before it. Readers rely on
 * it to drop re-sent samples (see `joined-samples.ts`).
 *
 * Held state, all bounded in event time: the reorder buffer (events not yet below B: the
 * lateness plus the skew between partitions), the eventIds of the dedupe horizon per partition,
 * the impressions of the last `max(windows)` with their features and label bits (no clicks or
 * orders are kept for labels: they are applied when their time comes), and per-entity tiles for
 * the longest window plus lifetime states (see `GroupFeatureState`).
 */
export class JoinState {
  readonly partitions = new Map<string, PartitionProgress>();
  private bound = -Infinity;
  private readonly heap: Buffered[] = [];
  private readonly buffer = new Map<string, Buffered>();
  private readonly dirtyBuffer = new Set<string>();
  private readonly seen = new Map<string, Map<string, number>>();
  private dedupeAdds: StateChanges['dedupeAdds'] = [];
  private readonly dedupeForget = new Map<string, number>();
  private readonly dirtyPartitions = new Set<string>();
  private readonly groupStates: GroupFeatureState[];
  private readonly pending = new Map<string, PendingImpression>();
  /** Held impression ids in release order (by time, then id), from `head` on. */
  private queue: string[] = [];
  private head = 0;
  private readonly dirtyPending = new Set<string>();
  private readonly byClickKey = new Map<string, string[]>();
  private readonly byOrderKey = new Map<string, string[]>();
  private sweptPeriod = -Infinity;

  constructor(readonly config: JoinConfig) {
    if (config.dedupeHorizonMs < config.latenessMs) {
      throw new RangeError(`dedupe horizon (${config.dedupeHorizonMs} ms) must be at least the lateness (${config.latenessMs} ms)`);
    }
    this.groupStates = config.groups.map((g) => new GroupFeatureState(g));
  }

  /** Everything with event time below this has been applied. */
  get appliedBound(): number {
    return this.bound;
  }

  /** Impressions held until their label windows close. */
  get held(): number {
    return this.pending.size;
  }

  /** Accepted events not yet applied. */
  get buffered(): number {
    return this.buffer.size;
  }

  /** Entities with feature state, over all groups. */
  get entities(): number {
    return this.groupStates.reduce((s, g) => s + g.size, 0);
  }

  /** Makes a partition known (with its log bounds when given), so it takes part in the bound. */
  observe(topic: string, partition: number, bounds: { start?: number; end?: number } = {}): PartitionProgress {
    const tp = `${topic}:${partition}`;
    let p = this.partitions.get(tp);
    if (p === undefined) {
      p = { topic, partition, next: 0, wm: -Infinity, start: null, end: null };
      this.partitions.set(tp, p);
    }
    if (bounds.start !== undefined) p.start = bounds.start;
    if (bounds.end !== undefined) p.end = Math.max(p.end ?? 0, bounds.end);
    return p;
  }

  /**
   * Offers the record at `offset` of a partition (in offset order); `event` null for a record
   * that could not be decoded or validated. Only `accepted` records are ever applied.
   */
  offer(topic: string, partition: number, offset: number, event: AnyEvent | null): OfferOutcome {
    const p = this.observe(topic, partition);
    const tp = `${topic}:${partition}`;
    if (offset < p.next) return 'replayed';
    p.next = offset + 1;
    this.dirtyPartitions.add(tp);
    if (event === null) return 'bad';
    let seen = this.seen.get(tp);
    if (seen === undefined) {
      seen = new Map();
      this.seen.set(tp, seen);
    }
    if (seen.has(event.eventId)) return 'duplicate';
    if (event.eventTime < p.wm - this.config.latenessMs) return 'late';
    if (event.eventTime < this.bound) return 'behind';
    seen.set(event.eventId, event.eventTime);
    this.dedupeAdds.push({ tp, eventId: event.eventId, t: event.eventTime });
    p.wm = Math.max(p.wm, event.eventTime);
    this.push({ key: `${tp}@${offset}`, event });
    return 'accepted';
  }

  /** The completeness bound the partitions allow now (see the class comment); -Infinity when none. */
  completenessBound(): number {
    let anyActive = false;
    let minActive = Infinity;
    let maxAll = -Infinity;
    for (const p of this.partitions.values()) {
      maxAll = Math.max(maxAll, p.wm);
      const idle = p.end !== null && Math.max(p.next, p.start ?? 0) >= p.end;
      if (!idle) {
        anyActive = true;
        minActive = Math.min(minActive, p.wm);
      }
    }
    return (anyActive ? minActive : maxAll) - this.config.latenessMs;
  }

  /**
   * Applies every buffered event below `bound` (default: {@link completenessBound}) and returns
   * the samples that matured, in release order. The bound never moves back.
   */
  advance(bound = this.completenessBound()): Sample[] {
    if (!(bound > this.bound)) return [];
    while (this.heap.length > 0 && (this.heap[0] as Buffered).event.eventTime < bound) {
      const t = (this.heap[0] as Buffered).event.eventTime;
      const atT: Buffered[] = [];
      while (this.heap.length > 0 && (this.heap[0] as Buffered).event.eventTime === t) atT.push(this.pop());
      this.joinAt(t, atT);
    }
    this.bound = bound;
    const period = Math.floor(bound / SWEEP_PERIOD_MS);
    if (Number.isFinite(period) && period > this.sweptPeriod) {
      this.sweptPeriod = period;
      this.sweep(bound);
    }
    return this.release();
  }

  /** The changes since the previous call, for a checkpoint; clears the change tracking. */
  drainChanges(): StateChanges {
    const partitions = [...this.dirtyPartitions].map((tp) => {
      const p = this.partitions.get(tp) as PartitionProgress;
      return { tp, next: p.next, wm: p.wm };
    });
    this.dirtyPartitions.clear();
    const buffer = [...this.dirtyBuffer].map((key) => {
      const b = this.buffer.get(key);
      return { field: key, value: b === undefined ? null : JSON.stringify(b.event) };
    });
    this.dirtyBuffer.clear();
    const pending = [...this.dirtyPending].map((id) => {
      const p = this.pending.get(id);
      return { field: id, value: p === undefined ? null : JSON.stringify({ e: p.impression, f: p.features, c: p.click, o: p.order }) };
    });
    this.dirtyPending.clear();
    const dedupeAdds = this.dedupeAdds;
    this.dedupeAdds = [];
    const dedupeForget = [...this.dedupeForget].map(([tp, below]) => ({ tp, below }));
    this.dedupeForget.clear();
    return {
      bound: this.bound,
      partitions,
      buffer,
      dedupeAdds,
      dedupeForget,
      pending,
      features: this.groupStates.map((g) => ({ group: g.group.name, changes: g.drainChanges() })),
    };
  }

  /** Replaces the whole state with a checkpoint's. */
  restore(stored: StoredState): void {
    this.bound = stored.bound;
    this.partitions.clear();
    for (const { tp, next, wm } of stored.partitions) {
      const i = tp.lastIndexOf(':');
      this.partitions.set(tp, { topic: tp.slice(0, i), partition: Number(tp.slice(i + 1)), next, wm, start: null, end: null });
    }
    this.heap.length = 0;
    this.buffer.clear();
    for (let i = 0; i + 1 < stored.buffer.length; i += 2) {
      this.push({ key: stored.buffer[i] as string, event: JSON.parse(stored.buffer[i + 1] as string) as AnyEvent });
    }
    this.seen.clear();
    for (const { tp, entries } of stored.dedupe) this.seen.set(tp, new Map(entries.map((e) => [e.eventId, e.t])));
    this.pending.clear();
    this.byClickKey.clear();
    this.byOrderKey.clear();
    const held: PendingImpression[] = [];
    for (let i = 0; i + 1 < stored.pending.length; i += 2) {
      const raw = JSON.parse(stored.pending[i + 1] as string) as { e: Impression; f: FeatureValue[]; c: 0 | 1; o: 0 | 1 };
      held.push({ impression: raw.e, features: raw.f, click: raw.c, order: raw.o });
    }
    held.sort((a, b) => compareRelease(a.impression, b.impression));
    this.queue = [];
    this.head = 0;
    for (const p of held) this.hold(p);
    for (const g of this.groupStates) g.restore(stored.features.find((f) => f.group === g.group.name)?.flat ?? []);
    this.sweptPeriod = -Infinity;
    this.dirtyPartitions.clear();
    this.dirtyBuffer.clear();
    this.dirtyPending.clear();
    this.dedupeAdds = [];
    this.dedupeForget.clear();
    for (const g of this.groupStates) g.drainChanges();
  }

  // -------------------------------------------------------------------------------------------

  private joinAt(t: number, atT: readonly Buffered[]): void {
    // 1. features of the impressions at t, from exactly the events before t
    const cache = new Map<string, Record<string, FeatureValue>>();
    for (const { event } of atT) {
      if (event.type !== this.config.rule.exposure || this.pending.has(event.eventId)) continue;
      // the project loader checked that the exposure type carries the Impression fields
      const { type: _type, ...impression } = event as unknown as Impression & { type: string };
      const values: Record<string, FeatureValue> = {};
      this.groupStates.forEach((g, i) => {
        const key = entityKeyOf(g.group.entity, event);
        const cacheKey = `${i}\u0000${key ?? ''}`;
        let features = cache.get(cacheKey);
        if (features === undefined) {
          features = g.featuresAt(key, t);
          cache.set(cacheKey, features);
        }
        Object.assign(values, features);
      });
      Object.assign(values, impressionContextFeatures(impression));
      this.hold({ impression, features: this.config.spec.entries.map((e) => values[e.name] ?? null), click: 0, order: 0 });
      this.dirtyPending.add(event.eventId);
    }
    // 2. the events at t: features and labels
    for (const { key, event } of atT) {
      for (const g of this.groupStates) g.apply(event);
      // a type may play both roles; the loader checked each role's fields
      if (event.type === this.config.rule.click) this.labelClick(event as unknown as Click);
      if (event.type === this.config.rule.conversion) this.labelOrder(event as unknown as Order);
      this.buffer.delete(key);
      this.dirtyBuffer.add(key);
    }
  }

  private labelClick(click: Click): void {
    for (const id of this.byClickKey.get(clickKey(click.requestId, click.itemId)) ?? []) {
      const p = this.pending.get(id);
      if (p !== undefined && p.click === 0 && clickLabels(p.impression, click, this.config.rule)) {
        p.click = 1;
        this.dirtyPending.add(id);
      }
    }
  }

  private labelOrder(order: Order): void {
    for (const id of this.byOrderKey.get(orderKey(order.userId, order.itemId)) ?? []) {
      const p = this.pending.get(id);
      if (p !== undefined && p.order === 0 && orderLabels(p.impression, order, this.config.rule)) {
        p.order = 1;
        this.dirtyPending.add(id);
      }
    }
  }

  private hold(p: PendingImpression): void {
    const id = p.impression.eventId;
    this.pending.set(id, p);
    this.queue.push(id);
    addTo(this.byClickKey, clickKey(p.impression.requestId, p.impression.itemId), id);
    addTo(this.byOrderKey, orderKey(p.impression.userId, p.impression.itemId), id);
  }

  private release(): Sample[] {
    const out: Sample[] = [];
    const completeThrough = this.bound - 1;
    while (this.head < this.queue.length) {
      const id = this.queue[this.head] as string;
      const p = this.pending.get(id);
      if (p !== undefined && !isMature(p.impression.eventTime, completeThrough, this.config.rule)) break;
      this.head++;
      if (p === undefined) continue;
      this.pending.delete(id);
      this.dirtyPending.add(id);
      removeFrom(this.byClickKey, clickKey(p.impression.requestId, p.impression.itemId), id);
      removeFrom(this.byOrderKey, orderKey(p.impression.userId, p.impression.itemId), id);
      out.push(toSample(p, this.config.spec));
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  private sweep(bound: number): void {
    for (const g of this.groupStates) g.sweep(bound);
    for (const [tp, seen] of this.seen) {
      const wm = this.partitions.get(tp)?.wm ?? -Infinity;
      const below = wm - this.config.dedupeHorizonMs;
      if (!Number.isFinite(below)) continue;
      for (const [id, t] of seen) if (t < below) seen.delete(id);
      this.dedupeForget.set(tp, below);
    }
  }

  private push(b: Buffered): void {
    this.buffer.set(b.key, b);
    this.dirtyBuffer.add(b.key);
    const heap = this.heap;
    heap.push(b);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (compareBuffered(heap[parent] as Buffered, b) <= 0) break;
      heap[i] = heap[parent] as Buffered;
      i = parent;
    }
    heap[i] = b;
  }

  private pop(): Buffered {
    const heap = this.heap;
    const top = heap[0] as Buffered;
    const last = heap.pop() as Buffered;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const r = l + 1;
        const c = r < heap.length && compareBuffered(heap[r] as Buffered, heap[l] as Buffered) < 0 ? r : l;
        if (compareBuffered(heap[c] as Buffered, last) >= 0) break;
        heap[i] = heap[c] as Buffered;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }
}

/** Release order of held impressions: by time, then impressionId. */
export function compareRelease(a: Pick<Impression, 'eventTime' | 'eventId'>, b: Pick<Impression, 'eventTime' | 'eventId'>): number {
  if (a.eventTime !== b.eventTime) return a.eventTime - b.eventTime;
  return a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
}

function compareBuffered(a: Buffered, b: Buffered): number {
  if (a.event.eventTime !== b.event.eventTime) return a.event.eventTime - b.event.eventTime;
  if (a.event.eventId !== b.event.eventId) return a.event.eventId < b.event.eventId ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function clickKey(requestId: string, itemId: string): string {
  return `${requestId}\u0000${itemId}`;
}

function orderKey(userId: string, itemId: string): string {
  return `${userId}\u0000${itemId}`;
}

function addTo(index: Map<string, string[]>, key: string, id: string): void {
  const list = index.get(key);
  if (list === undefined) index.set(key, [id]);
  else list.push(id);
}

function removeFrom(index: Map<string, string[]>, key: string, id: string): void {
  const list = index.get(key);
  if (list === undefined) return;
  const i = list.indexOf(id);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) index.delete(key);
}

function toSample(p: PendingImpression, spec: FeatureSpec): Sample {
  const i = p.impression;
  const features: Record<string, FeatureValue> = {};
  spec.entries.forEach((e, k) => (features[e.name] = p.features[k] ?? null));
  return {
    impressionId: i.eventId,
    requestId: i.requestId,
    userId: i.userId,
    itemId: i.itemId,
    categoryId: i.categoryId,
    position: i.position,
    eventTime: i.eventTime,
    context: i.context,
    clickLabel: p.click,
    orderLabel: p.order,
    features,
  };
}
