import { TesseraError, UsageError } from '../errors.js';
import { EMPTY_CONTEXT, type Context } from '../events/event-types.js';
import type { FeatureValue } from '../features/aggregators.js';
import { contextFeatures } from '../features/context.js';
import type { CompiledGroup } from '../features/definitions.js';
import { assembleGroup, assembleTiles, coldStartFeatures, headIsExact, TileList } from '../features/window-assembly.js';
import { tileStart, windowRange } from '../features/windows.js';
import { hllTileLabel } from '../streaming/tile-layout.js';
import type { OnlineStore, ReadQuery, ReadValue } from '../ports/online-store.js';
import { createStreamKeys, type StreamKeys } from '../streaming/stream-keys.js';
import { catalogQuery, EMPTY_CATALOG, parseCatalog, versionHolding, type Catalog } from '../streaming/online-catalog.js';
import { servingGroup, type RegisteredProjects } from '../registry/registry.js';
import { mergeLambda } from './lambda-merge.js';
import { opModule } from '../features/ops/index.js';
import type { Metrics } from '../observability/metrics.js';
import { candidateEntityKey, REQUEST_KEY_FIELD, requestPlan, type Candidate, type CandidateFeatures, type EntityFeatures, type RequestFeatures, type RequestPlan } from './request-plan.js';
import { decodeEntity, decodeEntityTiles, lastKState, tileListDecodable } from '../streaming/tile-decode.js';

/** Reads repeated because the catalog moved between building the keys and the answer; the last one is decoded as read. */
const MAX_CATALOG_RETRIES = 3;

/** Buckets of the age of cached entities served, seconds. */
const CACHE_AGE_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

/** Entities of the cached groups by group and key, oldest first (a Map keeps insertion order): the oldest goes when full. */
class ItemCache {
  private readonly entries = new Map<string, { entity: EntityFeatures; readAt: number; rev: number }>();

  constructor(
    readonly groups: ReadonlySet<string>,
    private readonly maxAgeMs: number,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(group: string, key: string, now: number, rev: number): { entity: EntityFeatures; readAt: number } | undefined {
    const id = `${group}\u0000${key}`;
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    if (e.rev !== rev || now - e.readAt > this.maxAgeMs || now < e.readAt) {
      this.entries.delete(id);
      return undefined;
    }
    return e;
  }

  put(group: string, key: string, entity: EntityFeatures, now: number, rev: number): void {
    const id = `${group}\u0000${key}`;
    this.entries.delete(id);
    this.entries.set(id, { entity, readAt: now, rev });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}

/** The online state cannot answer this query time exactly; the message says what can. */
export class InexactQueryError extends TesseraError {
  constructor(message: string) {
    super('QUERY_NOT_EXACT', message);
  }
}

/** When to evaluate features: epoch ms, `now` (the injected clock) or `watermark` (latest applied event time + 1 ms). */
export type QueryTime = number | 'now' | 'watermark';

/** One entity of one feature group, e.g. `{ group: 'user', key: 'u42' }`. */
export interface EntityRef {
  group: string;
  key: string;
}

export interface FeatureReaderDeps {
  store: OnlineStore;
  keys: StreamKeys;
  groups: readonly CompiledGroup[];
  clock: () => number;
  /** The stream's allowed lateness (tiles are kept that far behind an entity's latest event). Default 10 min. */
  latenessMs?: number;
  /**
   * Read exactly `keys`' namespace, ignoring the catalog's aliases and batch views (inspecting one
   * version). Default false: each group is read from the namespace its alias names (`keys`'
   * namespace when none), merged with its batch view when it has one.
   */
  pinNamespace?: boolean;
  /**
   * The registry's compiled versions: with them, each group is decoded with the definition of the
   * version that serves it in the catalog read (docs/architecture.md, The registry), and a group
   * registered but not served yet reads as cold start. Without them, or with nothing registered,
   * `groups` are the definitions.
   */
  definitions?: RegisteredProjects;
  /**
   * The in-process cache of candidate features (docs/architecture.md, Reading): reads at `now` of
   * the cached groups' entities are answered from memory while the entry is younger than
   * `maxAgeMs` (wall clock) and the catalog has not moved. A cached value is the entity's exact
   * value at a query time at most `maxAgeMs` earlier: events of the last `maxAgeMs` may be
   * missing and windows have not slid that far. Cached entities are shared between reads (read
   * them, do not change them). Off unless given with `maxAgeMs > 0`.
   */
  cache?: {
    maxAgeMs: number;
    /** Entities kept at most (least recently read dropped first). Default 100,000. */
    maxEntries?: number;
    /** The groups cached. Default: the candidate groups not keyed by the user (item features: every request reads them). */
    groups?: readonly string[];
    /** Where hits, misses, size and the age of what is served are counted. */
    metrics?: Metrics;
  };
}

export type { Candidate, CandidateFeatures, EntityFeatures, RequestFeatures } from './request-plan.js';

/**
 * The serving read path. Reads any number of entities in ONE store round trip (their hashes, their
 * last-k sets and the stream's watermarks), then assembles every feature at the query time q with
 * the shared aggregation core.
 *
 * Exactness. For q after an entity's latest applied event (serving: q = now; a replay: q =
 * `watermark`) every value is exact per the window semantics. For an earlier q the reader answers
 * only when the stored state still allows it: every window's head tile (the one containing q) has
 * no event at or after q, no lifetime value is asked for, and q is no further before the entity's
 * latest event than the allowed lateness (tiles are pruned behind it); otherwise it throws
 * {@link InexactQueryError} naming what cannot be answered: ask the batch layer instead.
 *
 * Versions (online-catalog.ts). The catalog is read in the same round trip as the features; the
 * keys are built from the last catalog seen, and when the answer shows the catalog changed in the
 * meantime (a kappa flip, a new batch view) the read is repeated with the new one, so an answer
 * never mixes versions. Lambda: for a group with a batch view as of watermark U, tiles before U
 * come from the view (every event, late ones included) and tiles from U on from the stream;
 * lifetime states that are idempotent under merge (min, max, last, last_k, last_seen,
 * approx_distinct) and decayed_count (kept in hourly tiles) merge both; lifetime count, sum and
 * avg cannot be split at U and come from the stream alone.
 */
export class FeatureReader {
  private readonly groups: Map<string, CompiledGroup>;
  private readonly latenessMs: number;
  private readonly lastKByGroup = new Map<CompiledGroup, CompiledGroup['aggregations']>();
  private readonly hllByGroup = new Map<CompiledGroup, CompiledGroup['aggregations']>();
  private catalog: Catalog = EMPTY_CATALOG;
  private readonly keysByNamespace = new Map<string, StreamKeys>();
  /** Per group: whether its hashes decode into {@link tiles}, and its cold-start values. */
  private readonly fastByGroup = new Map<CompiledGroup, boolean>();
  private readonly coldByGroup = new Map<CompiledGroup, Record<string, FeatureValue>>();
  /** Where each entity is decoded in turn on the common path (decoding is synchronous). */
  private readonly tiles = new TileList();
  private readonly cache: ItemCache | null;

  /** Which entities a ranking request reads (request groups, candidate groups). */
  readonly plan: RequestPlan;

  /** The groups this reader reads, in the project's order. */
  get groupList(): readonly CompiledGroup[] {
    return this.deps.groups;
  }

  constructor(private readonly deps: FeatureReaderDeps) {
    this.groups = new Map(deps.groups.map((g) => [g.name, g]));
    this.plan = requestPlan(deps.groups);
    this.latenessMs = deps.latenessMs ?? 10 * 60_000;
    const c = deps.cache;
    if (c !== undefined && c.maxAgeMs > 0) {
      const names = c.groups ?? this.plan.candidateGroups.filter((g) => !g.entity.keyFields.includes(REQUEST_KEY_FIELD)).map((g) => g.name);
      for (const n of names) if (!this.groups.has(n)) throw new UsageError(`cache: unknown feature group "${n}" (known: ${[...this.groups.keys()].join(', ')})`);
      this.cache = new ItemCache(new Set(names), c.maxAgeMs, c.maxEntries ?? 100_000);
    } else this.cache = null;
  }

  /**
   * Feature values of the given entities at `at`, in one round trip. Groups with approx_distinct
   * read one HyperLogLog key per tile of the query's windows, which needs q before the read: with
   * `at = 'watermark'` such groups cost one more round trip (the watermark first). A ref given more
   * than once is read once, and its entries are the same object.
   */
  async read(refs: readonly EntityRef[], at: QueryTime = 'now'): Promise<{ q: number; entities: EntityFeatures[] }> {
    const groups = refs.map((ref) => {
      const group = this.groups.get(ref.group);
      if (!group) throw new UsageError(`unknown feature group "${ref.group}" (known: ${[...this.groups.keys()].join(', ')})`);
      return group;
    });
    // a ref that repeats (e.g. user x category for candidates of one category) is read once
    let unique: readonly EntityRef[] = refs;
    let uniqueGroups: readonly CompiledGroup[] = groups;
    let slots: Int32Array | null = null;
    const seen = new Map<string, Map<string, number>>();
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i] as EntityRef;
      let byKey = seen.get(ref.group);
      if (byKey === undefined) seen.set(ref.group, (byKey = new Map()));
      const first = byKey.get(ref.key);
      if (first === undefined) {
        byKey.set(ref.key, slots === null ? i : (unique as EntityRef[]).length);
        if (slots !== null) {
          slots[i] = (unique as EntityRef[]).length;
          (unique as EntityRef[]).push(ref);
          (uniqueGroups as CompiledGroup[]).push(groups[i] as CompiledGroup);
        }
        continue;
      }
      if (slots === null) {
        // the first repeat: from here on, refs map to their first occurrence
        slots = new Int32Array(refs.length);
        for (let j = 0; j < i; j++) slots[j] = j;
        unique = refs.slice(0, i);
        uniqueGroups = groups.slice(0, i);
      }
      slots[i] = first;
    }
    const answer = this.cache !== null && at === 'now' ? await this.readCached(unique, uniqueGroups) : await this.readUnique(unique, uniqueGroups, at);
    if (slots === null) return answer;
    const entities: EntityFeatures[] = new Array(slots.length);
    for (let i = 0; i < slots.length; i++) entities[i] = answer.entities[slots[i] as number] as EntityFeatures;
    return { q: answer.q, entities };
  }

  /** Distinct refs in one round trip (repeated while the catalog moves under the read). */
  private async readUnique(unique: readonly EntityRef[], uniqueGroups: readonly CompiledGroup[], at: QueryTime): Promise<{ q: number; entities: EntityFeatures[]; rev: number }> {
    for (let attempt = 0; ; attempt++) {
      const catalog = this.catalog;
      const last = attempt >= MAX_CATALOG_RETRIES;
      const answer = await this.readWith(catalog, unique, uniqueGroups, this.served(catalog, uniqueGroups), at, last);
      if (answer.catalog.rev === catalog.rev || last) {
        if (answer.catalog.rev !== catalog.rev) {
          // answered from the version read; the next read starts from the newer catalog
          await this.deps.definitions?.prepare(answer.catalog);
          this.catalog = answer.catalog;
        }
        return { ...answer.result, rev: catalog.rev };
      }
      // changed since the keys were built: read again with the new versions (and their definitions)
      await this.deps.definitions?.prepare(answer.catalog);
      this.catalog = answer.catalog;
    }
  }

  /**
   * A read at `now` with the item cache: entities of cached groups read less than `maxAgeMs` ago
   * (wall clock) under the same catalog revision are answered from memory, the rest in one round
   * trip, and those of cached groups remembered.
   */
  private async readCached(unique: readonly EntityRef[], uniqueGroups: readonly CompiledGroup[]): Promise<{ q: number; entities: EntityFeatures[] }> {
    const cache = this.cache as ItemCache;
    const now = this.deps.clock();
    const entities: EntityFeatures[] = new Array(unique.length);
    const missRefs: EntityRef[] = [];
    const missGroups: CompiledGroup[] = [];
    const missAt: number[] = [];
    let hits = 0;
    let oldest = 0;
    for (let i = 0; i < unique.length; i++) {
      const ref = unique[i] as EntityRef;
      const cached = cache.groups.has(ref.group) ? cache.get(ref.group, ref.key, now, this.catalog.rev) : undefined;
      if (cached !== undefined) {
        entities[i] = cached.entity;
        oldest = Math.max(oldest, now - cached.readAt);
        hits++;
        continue;
      }
      missRefs.push(ref);
      missGroups.push(uniqueGroups[i] as CompiledGroup);
      missAt.push(i);
    }
    const metrics = this.deps.cache?.metrics;
    if (metrics) {
      metrics.inc('tessera_reader_cache_hits_total', {}, hits, 'Entities of cached groups answered from the in-process cache');
      metrics.inc('tessera_reader_cache_misses_total', {}, missRefs.filter((r) => cache.groups.has(r.group)).length, 'Entities of cached groups read from the store');
      metrics.set('tessera_reader_cache_entries', cache.size, {}, 'Entities in the in-process cache');
      if (hits > 0) metrics.observe('tessera_reader_cache_age_seconds', oldest / 1000, {}, 'Age of the oldest cached entity served, per read', CACHE_AGE_BUCKETS_S);
    }
    if (missRefs.length === 0) return { q: now, entities };
    const read = await this.readUnique(missRefs, missGroups, 'now');
    for (let j = 0; j < missRefs.length; j++) {
      const e = read.entities[j] as EntityFeatures;
      entities[missAt[j] as number] = e;
      const ref = missRefs[j] as EntityRef;
      // remembered under the revision it was decoded with: a newer catalog drops it at its next use
      if (cache.groups.has(ref.group)) cache.put(ref.group, ref.key, e, now, read.rev);
    }
    return { q: read.q, entities };
  }

  /** Per group, the definition its serving version has under `catalog` (null: registered, not served yet). */
  private served(catalog: Catalog, groups: readonly CompiledGroup[]): readonly (CompiledGroup | null)[] {
    const defs = this.deps.definitions;
    if (defs === undefined || catalog.registry === null || this.deps.pinNamespace === true) return groups;
    return groups.map((g) => servingGroup(catalog, defs, this.deps.groups, g.name) ?? null);
  }

  private async readWith(
    catalog: Catalog,
    refs: readonly EntityRef[],
    declared: readonly CompiledGroup[],
    served: readonly (CompiledGroup | null)[],
    at: QueryTime,
    /**
     * Decode even when the catalog moved meanwhile: the answer is then the version the keys were
     * built from, read whole in one round trip (a replaced version stays for its grace period).
     */
    decodeStale = false,
  ): Promise<{ catalog: Catalog; result: { q: number; entities: EntityFeatures[] } }> {
    const { keys, store } = this.deps;
    const follow = this.deps.pinNamespace !== true;
    const streamKeys = (group: CompiledGroup): StreamKeys => {
      const ns = follow ? (catalog.aliases.get(group.name)?.namespace ?? keys.namespace) : keys.namespace;
      return ns === keys.namespace ? keys : this.keysFor(ns);
    };
    const groups = served.filter((g): g is CompiledGroup => g !== null);
    // the watermark of a read covers the namespaces of its groups (of every group for an empty read)
    const namespaces = [...new Set((groups.length > 0 ? groups : this.deps.groups).map((g) => streamKeys(g).namespace))];
    const wmQueries = (): ReadQuery[] => namespaces.map((ns) => ({ kind: 'hgetall', key: this.keysFor(ns).watermarks() }));
    let q: number | undefined = at === 'now' ? this.deps.clock() : at === 'watermark' ? undefined : at;
    if (q === undefined && groups.some((g) => this.hllOf(g).length > 0)) q = watermarkTime(maxWatermark(await store.read(wmQueries())));
    const queries: ReadQuery[] = [catalogQuery(keys.prefix), ...wmQueries()];
    const entityQueries = (k: StreamKeys, group: CompiledGroup, key: string, withHll: boolean) => {
      const first = queries.length;
      queries.push({ kind: 'hgetallFlat', key: k.entity(group.name, key) });
      const lastK = this.lastKOf(group);
      for (const a of lastK) queries.push({ kind: 'ztop', key: k.lastK(group.name, a.index, key), limit: a.def.k ?? 1 });
      const hlls: { aggregation: number; label: string; at: number }[] = [];
      if (withHll) {
        for (const { aggregation, label } of hllTilesToRead(this.hllOf(group), q as number)) {
          hlls.push({ aggregation, label, at: queries.length });
          queries.push({ kind: 'hll', key: k.hll(group.name, aggregation, label, key) });
        }
      }
      return { first, lastK, hlls };
    };
    const plan = refs.map((ref, i) => {
      const group = served[i];
      if (group === null || group === undefined) return { ref, group: declared[i] as CompiledGroup, stream: null, batch: null };
      const stream = entityQueries(streamKeys(group), group, ref.key, true);
      let view = follow ? catalog.batchViews.get(group.name) : undefined;
      // a registered group's batch view belongs to the version it was computed with
      if (view !== undefined && catalog.registry !== null && view.version !== versionHolding(catalog, group.name, streamKeys(group).namespace)) view = undefined;
      const batch = view ? { until: view.until, ...entityQueries(this.keysFor(view.namespace), group, ref.key, false) } : null;
      return { ref, group, stream, batch };
    });
    const results = await store.read(queries);
    const fresh = follow ? parseCatalog(results[0]) : catalog;
    if (fresh.rev !== catalog.rev && !decodeStale) return { catalog: fresh, result: { q: 0, entities: [] } };
    q ??= watermarkTime(maxWatermark(results.slice(1, 1 + namespaces.length)));
    const decode = (group: CompiledGroup, part: ReturnType<typeof entityQueries>, keep?: (hopMs: number, start: number) => boolean) => {
      const hash = flatOf(results[part.first]);
      const sets = part.lastK.length === 0 ? NO_SETS : new Map(part.lastK.map((a, j) => [a.index, ztopOf(results[part.first + 1 + j])]));
      const sketches = new Map<number, Map<string, Uint8Array>>();
      for (const h of part.hlls) {
        const v = results[h.at];
        if (v?.kind !== 'hll' || v.value === null) continue;
        let m = sketches.get(h.aggregation);
        if (m === undefined) sketches.set(h.aggregation, (m = new Map()));
        m.set(h.label, v.value);
      }
      return decodeEntity(group, hash, sets, sketches, keep);
    };
    const at_ = q;
    const tiles = this.tiles;
    const entities = plan.map(({ ref, group, stream, batch }): EntityFeatures => {
      if (stream === null) return { group: group.name, key: ref.key, values: this.coldStart(group), known: false, latestEventTime: null, ageMs: null };
      // the common case (stream tiles only, fields as the stream writes them, q after the entity's
      // latest event) decodes into the reused tile list; anything else takes the general path below
      if (batch === null && stream.hlls.length === 0 && this.tileListDecodable(group) && decodeEntityTiles(group, flatOf(results[stream.first]), tiles)) {
        const latest = tiles.latest;
        if (latest === null) return { group: group.name, key: ref.key, values: this.coldStart(group), known: false, latestEventTime: null, ageMs: null };
        if (!(latest >= at_)) {
          for (let j = 0; j < stream.lastK.length; j++) {
            const a = stream.lastK[j] as CompiledGroup['aggregations'][number];
            tiles.lifetime[a.index] = lastKState(group.events, a.def, ztopOf(results[stream.first + 1 + j]));
          }
          return { group: group.name, key: ref.key, values: assembleTiles(group, tiles, at_), known: true, latestEventTime: latest, ageMs: at_ - latest };
        }
      }
      const states =
        batch === null
          ? decode(group, stream)
          : mergeLambda(
              group,
              decode(group, batch, (_h, start) => start < batch.until),
              decode(group, stream, (_h, start) => start >= batch.until),
            );
      if (states.latest === null) {
        return { group: group.name, key: ref.key, values: this.coldStart(group), known: false, latestEventTime: null, ageMs: null };
      }
      if (states.latest >= at_) this.checkExact(group, ref, states, at_);
      return { group: group.name, key: ref.key, values: assembleGroup(group, states, at_), known: true, latestEventTime: states.latest, ageMs: at_ - states.latest };
    });
    return { catalog: fresh, result: { q, entities } };
  }

  private keysFor(namespace: string): StreamKeys {
    let k = this.keysByNamespace.get(namespace);
    if (k === undefined) this.keysByNamespace.set(namespace, (k = createStreamKeys(this.deps.keys.prefix, namespace)));
    return k;
  }

  /**
   * The features a ranking request needs, in one round trip: its request groups' entities (the
   * user's), each candidate's entities in the candidate groups (those it has key values for; see
   * {@link RequestPlan}), plus the request-time context.
   */
  async readRequest(request: { userId: string; items: readonly Candidate[]; context?: Context; at?: QueryTime }): Promise<RequestFeatures> {
    const plan = this.plan;
    const refs: EntityRef[] = [];
    for (const g of plan.requestGroups) refs.push({ group: g.name, key: request.userId });
    // per candidate and candidate group: the index of its ref, or -1 (no entity)
    const slots = new Int32Array(request.items.length * plan.candidateGroups.length);
    let s = 0;
    for (const c of request.items) {
      for (const g of plan.candidateGroups) {
        const key = candidateEntityKey(g, request.userId, c);
        if (key === null) slots[s++] = -1;
        else {
          slots[s++] = refs.length;
          refs.push({ group: g.name, key });
        }
      }
    }
    const { q, entities } = await this.read(refs, request.at ?? 'now');
    s = 0;
    const items = request.items.map((c): CandidateFeatures => {
      const own: (EntityFeatures | null)[] = new Array(plan.candidateGroups.length);
      for (let j = 0; j < own.length; j++) {
        const at = slots[s++] as number;
        own[j] = at < 0 ? null : (entities[at] as EntityFeatures);
      }
      return { itemId: c.itemId, categoryId: c.categoryId ?? null, entities: own };
    });
    const ctx = request.context ?? EMPTY_CONTEXT;
    return { q, userId: request.userId, shared: entities.slice(0, plan.requestGroups.length), candidateGroups: plan.candidateGroupNames, items, context: contextFeatures(ctx, q), rawContext: ctx };
  }

  private tileListDecodable(group: CompiledGroup): boolean {
    let fast = this.fastByGroup.get(group);
    if (fast === undefined) this.fastByGroup.set(group, (fast = tileListDecodable(group)));
    return fast;
  }

  /** A fresh copy of the group's cold-start values (computed once; callers may keep or change what they get). */
  private coldStart(group: CompiledGroup): Record<string, FeatureValue> {
    let template = this.coldByGroup.get(group);
    if (template === undefined) this.coldByGroup.set(group, (template = coldStartFeatures(group)));
    const out: Record<string, FeatureValue> = {};
    for (const name in template) {
      const v = template[name] as FeatureValue;
      out[name] = Array.isArray(v) ? v.slice() : v;
    }
    return out;
  }

  private hllOf(group: CompiledGroup): CompiledGroup['aggregations'] {
    let found = this.hllByGroup.get(group);
    if (found === undefined) this.hllByGroup.set(group, (found = group.aggregations.filter((a) => opModule(a.def.op).layout.kind === 'hll')));
    return found;
  }

  private lastKOf(group: CompiledGroup): CompiledGroup['aggregations'] {
    let found = this.lastKByGroup.get(group);
    if (found === undefined) this.lastKByGroup.set(group, (found = group.aggregations.filter((a) => opModule(a.def.op).layout.kind === 'zset')));
    return found;
  }

  private checkExact(group: CompiledGroup, ref: EntityRef, states: ReturnType<typeof decodeEntity>, q: number): void {
    const problems: string[] = [];
    const latest = states.latest as number;
    if (q < latest - this.latenessMs) {
      problems.push(`q is more than the allowed lateness (${this.latenessMs} ms) before the entity's latest event, so tiles it needs may be pruned`);
    }
    for (const f of group.features) {
      if (f.kind === 'lifetime') problems.push(`${f.name} is a lifetime value holding events at or after q`);
      // a tile starting exactly at q is not read for q, so only a head tile starting before q matters
      else if (f.kind === 'windowed' && tileStart(q, f.hopMs) < q && !headIsExact(states.tileMax(f.hopMs, tileStart(q, f.hopMs)), q)) {
        problems.push(`${f.name}: its tile [${iso(tileStart(q, f.hopMs))}, +${f.hopMs} ms) holds events at or after q`);
      }
    }
    if (problems.length > 0) {
      throw new InexactQueryError(
        `${ref.group}:${ref.key} at ${iso(q)} is before its latest applied event (${iso(states.latest as number)}); the online state cannot answer exactly: ${problems.slice(0, 4).join('; ')}${problems.length > 4 ? `; and ${problems.length - 4} more` : ''}. Ask the batch layer for past times, or use a q after ${iso(states.latest as number)}.`,
      );
    }
  }
}

/**
 * The HyperLogLog tiles a read at q needs for approx_distinct aggregations: per tile size, every
 * tile from the longest window's start to the one holding q (the head, for the exactness check's
 * sake read like any tile), or the lifetime sketch.
 */
export function hllTilesToRead(aggregations: CompiledGroup['aggregations'], q: number): { aggregation: number; label: string }[] {
  const out: { aggregation: number; label: string }[] = [];
  for (const agg of aggregations) {
    if (agg.lifetime) {
      out.push({ aggregation: agg.index, label: hllTileLabel(null, 0) });
      continue;
    }
    for (const tile of agg.tiles) {
      const from = windowRange(q, Math.max(...tile.windowsMs)).from;
      for (let s = from; s <= tileStart(q, tile.hopMs); s += tile.hopMs) out.push({ aggregation: agg.index, label: hllTileLabel(tile.hopMs, s) });
    }
  }
  return out;
}

function maxWatermark(answers: readonly (ReadValue | undefined)[]): number {
  let max = -Infinity;
  for (const a of answers) for (const v of Object.values(hashOf(a))) max = Math.max(max, Number(v));
  return max;
}

/** The query time `watermark` stands for: just after the latest applied event, so it is a feature. */
export function watermarkTime(maxWatermark: number): number {
  if (!Number.isFinite(maxWatermark)) throw new InexactQueryError('the stream has applied no event yet, so there is no watermark to read at');
  return maxWatermark + 1;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

function hashOf(v: ReadValue | undefined): Record<string, string> {
  return v?.kind === 'hgetall' ? v.value : {};
}

const NO_SETS: ReadonlyMap<number, { member: string; score: number }[]> = new Map();

function flatOf(v: ReadValue | undefined): readonly string[] {
  return v?.kind === 'hgetallFlat' ? v.value : [];
}

function ztopOf(v: ReadValue | undefined): { member: string; score: number }[] {
  return v?.kind === 'ztop' ? v.value : [];
}
