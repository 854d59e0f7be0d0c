/**
 * Importer for the Taobao user behaviour log (Tianchi "UserBehavior"): CSV rows
 * `userId,itemId,categoryId,behavior,unixSeconds` with behavior pv / cart / fav / buy, no header.
 *
 * The log has views but no impressions, so non-clicked impressions are sampled. The rules, exactly
 * (t = the pv's unixSeconds * 1000, W = 1 h):
 *
 * - **pv** -> one request `tb-r<line>` (line = 1-based line of the row in the file) at time t with
 *   `1 + k` impressions, all at eventTime t, and one click at t + 1 s on the viewed item (so the
 *   click is inside the default click window [t, t + 30 min]).
 *   - The k <= `negatives` non-clicked items are drawn from the pool of pv rows of ANY user whose
 *     time lies in [t - W, t + W] (inclusive), uniformly over rows, so an item is drawn in
 *     proportion to how often it was viewed around that time (popularity at that time). Excluded:
 *     every item this user viewed in [t - W, t + W] (the viewed item included), and items already
 *     drawn for this request (the k items are distinct).
 *   - Draws are rejection sampled (at most 8 * negatives + 16 tries); if that falls short, the
 *     remaining eligible rows are enumerated and drawn from exactly, so k = min(negatives, number
 *     of distinct eligible items in the window).
 *   - Positions: the viewed item gets a uniformly random position in 0..k; the negatives fill the
 *     other positions in draw order.
 * - **buy** -> an order at t: orderId `tb-o<line>`, quantity 1, amount = {@link taobaoPseudoPrice}
 *   of the item, currency CNY, requestId null (the log does not attribute buys to views).
 * - **cart**, **fav** -> with `behaviors: ['cart', 'fav']` (what `tessera replay taobao` asks for
 *   when the project declares event types `cart` and `fav`, as examples/taobao does) one event of
 *   that type at t: `{ eventId: tb-<line>-a | tb-<line>-f, eventTime, userId, itemId, categoryId }`;
 *   otherwise nothing (the reference project has no such types). They are parsed either way, so a
 *   malformed cart row is reported like any other.
 * - **item_profile** for every item that appears in an emitted event, at the time of its first
 *   appearance (emitted just before that event): categoryId from its earliest row, price the
 *   pseudo price, brand null. No user profiles: the log has no user attributes.
 * - Context: every field null except `timezone: 'Asia/Shanghai'`, the log's zone.
 * - Timestamps are NOT range-checked here: rows dated before 2000 or in the future are imported as
 *   they are, so the pipeline's validation routes them to its dead-letter path like any other bad
 *   event.
 * - Ids are the raw ids of the file (`userId`, `itemId`, `categoryId`); eventIds are
 *   `tb-<line>-p<position>` (impressions), `tb-<line>-c` (click), `tb-<line>-o` (order),
 *   `tb-item-<itemId>` (profile). The seed changes which items fill the negative impressions but
 *   not their eventIds: do not mix two imports with different seeds into one log (dedupe would
 *   keep one of two different events).
 *
 * Output is sorted by eventTime (ties: earlier rows first; a row's item profiles, then its
 * impressions by position). Same file and options, same output. The rows are held in compact
 * columns (about 40 bytes per pv or buy row), which suits samples of up to a few million rows.
 */
import { UsageError } from '../../errors.js';
import type { AnyEvent, Context, TypedEvent } from '../../events/event-types.js';
import { Rng, hashString32 } from '../rng.js';
import { readCsv, type BadRowPolicy } from './csv.js';

/** Options of {@link importTaobao}. */
export interface TaobaoImportOptions {
  /** Path of the UserBehavior CSV file. */
  path: string;
  /** Non-clicked impressions sampled per pv (fewer when the time window has too few items). Default 4. */
  negatives?: number;
  /** Seed of the negative sampling and the positions. Default 1. */
  seed?: number;
  /** What to do with a malformed row. Default 'fail' (a UsageError naming path and line). */
  badRows?: BadRowPolicy;
  /** Called for every row skipped under `badRows: 'skip'`, so skipping is never silent. */
  onSkip?: (line: number, reason: string) => void;
  /** Behaviours besides pv and buy to emit as events of their own type (`cart`, `fav`). Default none. */
  behaviors?: readonly TaobaoBehavior[];
}

/** A behaviour of the log that becomes an event of the same name when asked for. */
export type TaobaoBehavior = 'cart' | 'fav';

/** A `cart` or `fav` event (examples/taobao/events/Cart.avsc, Fav.avsc). */
export interface TaobaoBehaviorEvent {
  type: TaobaoBehavior;
  eventId: string;
  eventTime: number;
  userId: string;
  itemId: string;
  categoryId: string | null;
}

/** Defaults and fixed parameters of the Taobao import. */
export const TAOBAO_DEFAULTS = Object.freeze({
  negatives: 4,
  seed: 1,
  /** Half-width of the negative-sampling window around a pv, ms. */
  windowMs: 3_600_000,
  /** Delay of the click after its impression, ms. */
  clickDelayMs: 1_000,
  currency: 'CNY',
  timezone: 'Asia/Shanghai',
});

/** The context of every imported event: only the zone is known. */
export const TAOBAO_CONTEXT: Context = Object.freeze({
  device: null,
  os: null,
  country: null,
  city: null,
  page: null,
  timezone: TAOBAO_DEFAULTS.timezone,
});

/**
 * The deterministic stand-in price of a Taobao item (the log has none), in CNY:
 * `max(1, round2(exp(ln 60 + 0.8 z)))` with z a standard normal made by Box-Muller from two
 * independent 32-bit hashes of the itemId: `u1 = (hashString32(itemId, 1) + 0.5) / 2^32`,
 * `u2 = (hashString32(itemId, 2) + 0.5) / 2^32`, `z = sqrt(-2 ln u1) cos(2 pi u2)`.
 * Median 60 CNY, log-normal like real prices; a property of the item, independent of the seed.
 */
export function taobaoPseudoPrice(itemId: string): number {
  const u1 = (hashString32(itemId, 1) + 0.5) / 4294967296;
  const u2 = (hashString32(itemId, 2) + 0.5) / 4294967296;
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  return Math.max(1, Math.round(Math.exp(Math.log(60) + 0.8 * z) * 100) / 100);
}

const PV = 0;
const BUY = 1;
const CART = 2;
const FAV = 3;
const INTEGER = /^-?\d{1,15}$/;

/** Interns strings to dense indices so rows are stored as numbers. */
class Interner {
  readonly values: string[] = [];
  private readonly index = new Map<string, number>();

  of(value: string): number {
    let i = this.index.get(value);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(value);
      this.index.set(value, i);
    }
    return i;
  }
}

/**
 * Streams the Taobao log as Tessera events, sorted by eventTime (see the module comment for the
 * exact rules). The whole file is read at the first `next()`.
 *
 * @example
 * for await (const event of importTaobao({ path: '../shared/data/taobao/UserBehavior_head_84k.csv', negatives: 4, seed: 1 })) { ... }
 * @throws UsageError when the file does not exist (naming the path), an option is out of range, or
 *   a row is malformed under `badRows: 'fail'`
 */
export async function* importTaobao(options: TaobaoImportOptions): AsyncGenerator<AnyEvent, void, undefined> {
  const wanted = new Set<string>(options.behaviors ?? []);
  const { path } = options;
  const negatives = options.negatives ?? TAOBAO_DEFAULTS.negatives;
  const seed = options.seed ?? TAOBAO_DEFAULTS.seed;
  const badRows = options.badRows ?? 'fail';
  if (!Number.isSafeInteger(negatives) || negatives < 0) throw new UsageError(`Taobao import: 'negatives' must be an integer >= 0, got ${negatives}`);
  if (!Number.isSafeInteger(seed)) throw new UsageError(`Taobao import: 'seed' must be a safe integer, got ${seed}`);

  // Columns of the pv and buy rows, in file order.
  const users = new Interner();
  const items = new Interner();
  const rowLine: number[] = [];
  const rowUser: number[] = [];
  const rowItem: number[] = [];
  const rowCategory: (string | null)[] = [];
  const rowTime: number[] = [];
  const rowKind: number[] = [];

  for await (const { fields, line } of readCsv(path, 'Taobao UserBehavior CSV')) {
    // The Tianchi file has no header; tolerate one (a first line whose last field is not a number).
    if (line === 1 && fields.length === 5 && !INTEGER.test((fields[4] ?? '').trim())) continue;
    const reject = (reason: string): void => {
      if (badRows === 'fail') throw new UsageError(`${path}:${line}: ${reason} (pass badRows: 'skip' to skip such rows)`);
      options.onSkip?.(line, reason);
    };
    if (fields.length !== 5) {
      reject(`expected 5 fields userId,itemId,categoryId,behavior,unixSeconds, got ${fields.length}`);
      continue;
    }
    const [userId, itemId, categoryId, behavior, seconds] = fields.map((f) => f.trim()) as [string, string, string, string, string];
    if (userId === '' || itemId === '') {
      reject('empty userId or itemId');
      continue;
    }
    if (!INTEGER.test(seconds)) {
      reject(`timestamp is not an integer number of seconds: "${seconds}"`);
      continue;
    }
    let kind: number;
    if (behavior === 'pv') kind = PV;
    else if (behavior === 'buy') kind = BUY;
    else if (behavior === 'cart' || behavior === 'fav') {
      if (!wanted.has(behavior)) continue;
      kind = behavior === 'cart' ? CART : FAV;
    }
    else {
      reject(`unknown behavior "${behavior}" (expected pv, cart, fav or buy)`);
      continue;
    }
    rowLine.push(line);
    rowUser.push(users.of(userId));
    rowItem.push(items.of(itemId));
    rowCategory.push(categoryId === '' ? null : categoryId);
    rowTime.push(Number(seconds) * 1000);
    rowKind.push(kind);
  }

  const n = rowLine.length;
  // Row indices in (eventTime, file order); file order equals line order.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (rowTime[a] as number) - (rowTime[b] as number) || a - b);

  // The pv rows in time order: the sampling pool, and each user's own views for the exclusion.
  const pvIndex: number[] = [];
  for (const r of order) if (rowKind[r] === PV) pvIndex.push(r);
  const P = pvIndex.length;
  const pvTime = new Float64Array(P);
  const pvItem = new Int32Array(P);
  const userViews: number[][] = users.values.map(() => []);
  for (let k = 0; k < P; k++) {
    const r = pvIndex[k] as number;
    pvTime[k] = rowTime[r] as number;
    pvItem[k] = rowItem[r] as number;
    (userViews[rowUser[r] as number] as number[]).push(k);
  }

  // An item's category: that of its earliest row.
  const itemCategory: (string | null | undefined)[] = new Array<string | null | undefined>(items.values.length);
  for (const r of order) {
    const it = rowItem[r] as number;
    if (itemCategory[it] === undefined) itemCategory[it] = rowCategory[r] ?? null;
  }

  const rng = new Rng(seed, 'taobao');
  const W = TAOBAO_DEFAULTS.windowMs;
  // Stamps instead of sets: excluded[item] === k means "excluded for pv k", picked likewise.
  const excluded = new Int32Array(items.values.length).fill(-1);
  const picked = new Int32Array(items.values.length).fill(-1);
  const profiled = new Uint8Array(items.values.length);
  const slate: number[] = [];
  const pendingClicks: TypedEvent<'click'>[] = [];
  let pendingHead = 0;
  let lo = 0;
  let hi = 0;
  let k = -1;

  const profileOf = (item: number, time: number): TypedEvent<'item_profile'> => {
    const itemId = items.values[item] as string;
    return {
      type: 'item_profile',
      eventId: `tb-item-${itemId}`,
      eventTime: time,
      itemId,
      categoryId: itemCategory[item] ?? null,
      price: taobaoPseudoPrice(itemId),
      brand: null,
    };
  };

  for (const r of order) {
    const t = rowTime[r] as number;
    const line = rowLine[r] as number;
    const item = rowItem[r] as number;
    const userId = users.values[rowUser[r] as number] as string;
    const itemId = items.values[item] as string;

    // Clicks of earlier rows are due first: their eventTime is at most t.
    while (pendingHead < pendingClicks.length && (pendingClicks[pendingHead] as TypedEvent<'click'>).eventTime <= t) {
      yield pendingClicks[pendingHead++] as TypedEvent<'click'>;
    }
    if (pendingHead > 1024 && pendingHead * 2 > pendingClicks.length) {
      pendingClicks.splice(0, pendingHead);
      pendingHead = 0;
    }

    if (rowKind[r] === CART || rowKind[r] === FAV) {
      if (!profiled[item]) {
        profiled[item] = 1;
        yield profileOf(item, t);
      }
      const cart = rowKind[r] === CART;
      const behaviour: TaobaoBehaviorEvent = {
        type: cart ? 'cart' : 'fav',
        eventId: `tb-${line}-${cart ? 'a' : 'f'}`,
        eventTime: t,
        userId,
        itemId,
        categoryId: rowCategory[r] ?? null,
      };
      yield behaviour;
      continue;
    }

    if (rowKind[r] === BUY) {
      if (!profiled[item]) {
        profiled[item] = 1;
        yield profileOf(item, t);
      }
      const order: TypedEvent<'order'> = {
        type: 'order',
        eventId: `tb-${line}-o`,
        eventTime: t,
        orderId: `tb-o${line}`,
        requestId: null,
        userId,
        itemId,
        categoryId: rowCategory[r] ?? null,
        amount: taobaoPseudoPrice(itemId),
        currency: TAOBAO_DEFAULTS.currency,
        quantity: 1,
        context: TAOBAO_CONTEXT,
      };
      yield order;
      continue;
    }

    k++;
    while ((pvTime[lo] as number) < t - W) lo++;
    while (hi < P && (pvTime[hi] as number) <= t + W) hi++;
    const views = userViews[rowUser[r] as number] as number[];
    for (let v = lowerBound(views, pvTime, t - W); v < views.length && (pvTime[views[v] as number] as number) <= t + W; v++) {
      excluded[pvItem[views[v] as number] as number] = k;
    }

    slate.length = 0;
    const maxTries = 8 * negatives + 16;
    for (let tries = 0; slate.length < negatives && tries < maxTries; tries++) {
      const candidate = pvItem[rng.int(lo, hi)] as number;
      if (excluded[candidate] === k || picked[candidate] === k) continue;
      picked[candidate] = k;
      slate.push(candidate);
    }
    if (slate.length < negatives) {
      // Exact fallback: draw row-weighted among what is left, so k = min(negatives, eligible items).
      let eligible: number[] = [];
      for (let j = lo; j < hi; j++) {
        const c = pvItem[j] as number;
        if (excluded[c] !== k && picked[c] !== k) eligible.push(c);
      }
      while (slate.length < negatives && eligible.length > 0) {
        const c = eligible[rng.int(0, eligible.length)] as number;
        picked[c] = k;
        slate.push(c);
        eligible = eligible.filter((x) => x !== c);
      }
    }

    const clickPosition = rng.int(0, slate.length + 1);
    slate.splice(clickPosition, 0, item);
    for (const it of slate) {
      if (!profiled[it]) {
        profiled[it] = 1;
        yield profileOf(it, t);
      }
    }
    const requestId = `tb-r${line}`;
    for (let position = 0; position < slate.length; position++) {
      const it = slate[position] as number;
      const impression: TypedEvent<'impression'> = {
        type: 'impression',
        eventId: `tb-${line}-p${position}`,
        eventTime: t,
        requestId,
        userId,
        itemId: items.values[it] as string,
        categoryId: position === clickPosition ? (rowCategory[r] ?? null) : (itemCategory[it] ?? null),
        position,
        context: TAOBAO_CONTEXT,
      };
      yield impression;
    }
    pendingClicks.push({
      type: 'click',
      eventId: `tb-${line}-c`,
      eventTime: t + TAOBAO_DEFAULTS.clickDelayMs,
      requestId,
      userId,
      itemId,
      categoryId: rowCategory[r] ?? null,
      position: clickPosition,
      context: TAOBAO_CONTEXT,
    });
  }
  // Clicks are queued in ascending eventTime (t + a constant), so the queue is already sorted.
  while (pendingHead < pendingClicks.length) yield pendingClicks[pendingHead++] as TypedEvent<'click'>;
}

/** First index v in `views` (indices into `times`, ascending by time) with times[views[v]] >= t. */
function lowerBound(views: readonly number[], times: Float64Array, t: number): number {
  let a = 0;
  let b = views.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if ((times[views[mid] as number] as number) < t) a = mid + 1;
    else b = mid;
  }
  return a;
}
