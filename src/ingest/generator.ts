/**
 * Seeded synthetic event log with a KNOWN click model, for tests, benchmarks and the demo.
 *
 * The generator first builds a "world" (users, items, their latent factors and attributes) from
 * the seed alone, then simulates requests over `days` days and streams the resulting impression,
 * click and order events. Every impression carries the true click probability that was used to
 * draw its click, so a trainer's predictions can be compared with the truth.
 *
 * Memory is O(users + items) for the world plus a reorder buffer whose size depends on the event
 * rate and the longest delays (clicks, orders), not on the number of events: millions of events
 * stream in flat memory.
 */
import { DateTime } from 'luxon';
import { UsageError } from '../errors.js';
import type { AnyEvent, Context, ReferenceEvent, TypedEvent } from '../events/event-types.js';
import { AliasTable, Rng, zipfWeights } from './rng.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Devices a request can come from; the click model has one effect per device. */
export const DEVICES = ['ios', 'android', 'web'] as const;
/** One of {@link DEVICES}. */
export type Device = (typeof DEVICES)[number];

/** Pages a request can come from (context only: the click model does not use the page). */
export const PAGES = ['home', 'search', 'detail', 'cart'] as const;

/**
 * Where users live. `timezone` is the IANA zone the hour-of-day effect and the diurnal activity
 * are computed in; the last entry is a user whose location is unknown (null country and city)
 * and whose zone is UTC, so that null context fields occur.
 */
export const LOCATIONS: readonly { country: string | null; city: string | null; timezone: string; weight: number }[] = Object.freeze([
  { country: 'CN', city: 'Shanghai', timezone: 'Asia/Shanghai', weight: 0.25 },
  { country: 'CN', city: 'Beijing', timezone: 'Asia/Shanghai', weight: 0.15 },
  { country: 'DE', city: 'Berlin', timezone: 'Europe/Berlin', weight: 0.12 },
  { country: 'GB', city: 'London', timezone: 'Europe/London', weight: 0.08 },
  { country: 'US', city: 'New York', timezone: 'America/New_York', weight: 0.18 },
  { country: 'US', city: 'Los Angeles', timezone: 'America/Los_Angeles', weight: 0.15 },
  { country: null, city: null, timezone: 'UTC', weight: 0.07 },
]);

/**
 * Relative request rate by local hour of day (0..23): quiet at night, a lunch bump, an evening
 * peak at 20-21 h. Only ratios matter.
 */
export const DIURNAL_RATE: readonly number[] = Object.freeze([
  0.45, 0.3, 0.2, 0.15, 0.12, 0.15, 0.3, 0.55, 0.75, 0.85, 0.9, 0.95, 1.0, 0.95, 0.85, 0.85, 0.9, 0.95, 1.0, 1.15, 1.3, 1.35,
  1.1, 0.75,
]);

/**
 * Every constant of the simulation, in one place so that the README and a trainer's evaluation
 * can quote them. Times are in ms.
 */
export const SYNTHETIC_MODEL = Object.freeze({
  /** Intercept of the click logit; gives an overall click-through rate of about 5 %. */
  globalBias: -2.9,
  /** Standard deviation of the per-user logit bias. */
  userBiasSd: 0.3,
  /** Standard deviation of the per-item logit bias. */
  itemBiasSd: 0.5,
  /** Standard deviation of the interaction term <u, v>; each factor component has sd (dotSd^2 / latentDim)^(1/4). */
  dotSd: 0.8,
  /** Share of an item factor's variance that comes from its category's centroid (so categories carry signal). */
  categoryShare: 0.6,
  /** Zipf exponent of item popularity (candidate sampling); item i<k> has rank k. */
  itemZipf: 0.9,
  /** Zipf exponent of user activity (who makes requests); user u<k> has rank k. */
  userZipf: 0.7,
  /** Zipf exponent of category sizes (how many items a category has). */
  categoryZipf: 0.6,
  /** Position effect coefficient: positionEffect[pos] = positionCoef * log2(1 + pos). */
  positionCoef: -0.25,
  /** Logit effect per device. */
  deviceEffect: Object.freeze({ ios: 0.1, android: 0, web: -0.15 }) as Readonly<Record<Device, number>>,
  /** hourEffect(h) = hourAmplitude * cos(2 pi (h - hourPeak) / 24), h = local hour in the user's zone. */
  hourAmplitude: 0.2,
  hourPeak: 21,
  /** Primary device mix of users, in DEVICES order. */
  deviceMix: Object.freeze([0.4, 0.45, 0.15]) as readonly number[],
  /** Probability that a request comes from the user's primary device (else a uniform device). */
  primaryDeviceProb: 0.8,
  /** Page mix of requests, in PAGES order. */
  pageMix: Object.freeze([0.55, 0.2, 0.2, 0.05]) as readonly number[],
  /** Click delay after its impression: exponential with this mean, capped, at least 1 ms. */
  clickDelayMeanMs: 20_000,
  clickDelayCapMs: 10 * MINUTE_MS,
  /** Share of clicks that arrive late, uniformly in (30 min, 2 h] after the impression: outside the default click window. */
  lateClickProb: 0.005,
  lateClickMinMs: 30 * MINUTE_MS + 1_000,
  lateClickMaxMs: 2 * HOUR_MS,
  /** Probability that a click is followed by an order. */
  orderProb: 0.03,
  /** Order delay after its click: with prob 1 - orderLateProb exponential(mean) capped at 24 h, else uniform in [20 h, 36 h]. */
  orderDelayMeanMs: 2 * HOUR_MS,
  orderDelayCapMs: 24 * HOUR_MS,
  orderLateProb: 0.15,
  orderLateMinMs: 20 * HOUR_MS,
  orderLateMaxMs: 36 * HOUR_MS,
  /** Order quantities 1, 2, 3 with these probabilities. */
  quantityMix: Object.freeze([0.9, 0.08, 0.02]) as readonly number[],
  currency: 'USD',
  /** Item price: lognormal with log-mean ln(priceMedian) and log-sd priceLogSd, rounded to cents. */
  priceMedian: 25,
  priceLogSd: 0.9,
  /** Brands b0..b<brands-1> drawn by Zipf(1); a share of items has no brand. */
  brands: 500,
  noBrandProb: 0.15,
  ageBuckets: Object.freeze(['18-24', '25-34', '35-44', '45-54', '55+']) as readonly string[],
  ageMix: Object.freeze([0.2, 0.35, 0.22, 0.13, 0.1]) as readonly number[],
  /** Share of users with an unknown age bucket, and gender mix female / male / unknown. */
  unknownAgeProb: 0.08,
  genderMix: Object.freeze([0.48, 0.44, 0.08]) as readonly number[],
  /** Signup: start - 1 day - exponential(mean), capped at 10 years before start. */
  signupMeanMs: 400 * DAY_MS,
  signupCapMs: 3650 * DAY_MS,
});

/** Options of {@link generateEvents} and {@link createSyntheticWorld}. */
export interface GeneratorOptions {
  /** Number of users u0..u<users-1>. */
  users: number;
  /** Number of items i0..i<items-1>; at least `slate`. */
  items: number;
  /** Number of impressions to generate (exactly); clicks and orders come on top. */
  events: number;
  /** Seed: any safe integer. Same options, same output, byte for byte. */
  seed: number;
  /** Start of the simulated period, epoch ms UTC. Default 2026-01-05T00:00:00Z (a Monday). */
  start?: number;
  /** Length of the simulated period in days (requests fall in [start, start + days)). Default 7. */
  days?: number;
  /** Number of categories c0..c<categories-1>. Default 50. */
  categories?: number;
  /** Impressions per request (the last request may be shorter). Default 10. */
  slate?: number;
  /** Dimension of the latent factors. Default 8. */
  latentDim?: number;
  /**
   * Bound of the deliberate out-of-orderness, ms. Default 5000. Every yielded event satisfies
   * `eventTime >= (max eventTime yielded before it) - maxDisorderMs`. 0 gives a log sorted by
   * eventTime.
   */
  maxDisorderMs?: number;
}

/** {@link GeneratorOptions} with every default filled in. */
export type ResolvedGeneratorOptions = Required<GeneratorOptions>;

/** The defaults of the optional {@link GeneratorOptions}. */
export const GENERATOR_DEFAULTS = Object.freeze({
  start: Date.UTC(2026, 0, 5),
  days: 7,
  categories: 50,
  slate: 10,
  latentDim: 8,
  maxDisorderMs: 5_000,
});

/** The ground truth of one impression. */
export interface ImpressionTruth {
  requestId: string;
  itemId: string;
  userId: string;
  /** The true click probability the click was drawn with, in (0, 1). */
  pClick: number;
}

/** One yielded record: an event, plus the truth when it is an impression. */
export interface GeneratedRecord {
  event: ReferenceEvent;
  truth?: ImpressionTruth;
}

/**
 * The known click model:
 *
 * `pClick = sigmoid(globalBias + userBias[u] + itemBias[i] + <userFactors[u], itemFactors[i]>
 *   + positionEffect[pos] + deviceEffect[device] + hourEffect[localHour])`
 *
 * with `positionEffect[pos] = -0.25 * log2(1 + pos)` and
 * `hourEffect[h] = 0.2 * cos(2 pi (h - 21) / 24)` (see {@link SYNTHETIC_MODEL}).
 */
export interface ClickModel {
  readonly latentDim: number;
  readonly globalBias: number;
  /** Per user, indexed by k of `u<k>`. */
  readonly userBias: Float64Array;
  /** Per item, indexed by k of `i<k>`. */
  readonly itemBias: Float64Array;
  /** Row-major `users x latentDim`. */
  readonly userFactors: Float64Array;
  /** Row-major `items x latentDim`. */
  readonly itemFactors: Float64Array;
  /** Indexed by position 0..slate-1. */
  readonly positionEffect: Float64Array;
  readonly deviceEffect: Readonly<Record<Device, number>>;
  /** Indexed by local hour 0..23. */
  readonly hourEffect: Float64Array;
  /** The logit for user index `user`, item index `item`, at `position`, on `device`, at local hour `localHour`. */
  logit(user: number, item: number, position: number, device: Device, localHour: number): number;
  /** sigmoid(logit(...)): the probability the generator draws the click with. */
  pClick(user: number, item: number, position: number, device: Device, localHour: number): number;
}

/** Everything the seed determines before any request is simulated. */
export interface SyntheticWorld {
  readonly options: ResolvedGeneratorOptions;
  readonly model: ClickModel;
  /** Category index per item (`c<k>`). */
  readonly itemCategory: Int32Array;
  /** Price per item, in SYNTHETIC_MODEL.currency. */
  readonly itemPrice: Float64Array;
  /** Brand index per item, -1 for none. */
  readonly itemBrand: Int32Array;
  /** Index into LOCATIONS per user. */
  readonly userLocation: Int32Array;
  /** Index into DEVICES per user. */
  readonly userPrimaryDevice: Int32Array;
  /** The OS a user's web requests report. */
  readonly userDesktopOs: readonly string[];
  readonly userAgeBucket: readonly (string | null)[];
  readonly userGender: readonly (string | null)[];
  readonly userSignupTime: Float64Array;
}

/**
 * Checks options and fills in defaults.
 *
 * @throws UsageError naming the bad option and the accepted range
 */
export function resolveGeneratorOptions(options: GeneratorOptions): ResolvedGeneratorOptions {
  const o: ResolvedGeneratorOptions = {
    users: options.users,
    items: options.items,
    events: options.events,
    seed: options.seed,
    start: options.start ?? GENERATOR_DEFAULTS.start,
    days: options.days ?? GENERATOR_DEFAULTS.days,
    categories: options.categories ?? GENERATOR_DEFAULTS.categories,
    slate: options.slate ?? GENERATOR_DEFAULTS.slate,
    latentDim: options.latentDim ?? GENERATOR_DEFAULTS.latentDim,
    maxDisorderMs: options.maxDisorderMs ?? GENERATOR_DEFAULTS.maxDisorderMs,
  };
  const intAtLeast = (name: keyof ResolvedGeneratorOptions, min: number): void => {
    const v = o[name];
    if (!Number.isSafeInteger(v) || v < min) throw new UsageError(`generator option '${name}' must be an integer >= ${min}, got ${v}`);
  };
  intAtLeast('users', 1);
  intAtLeast('items', 1);
  intAtLeast('events', 0);
  if (!Number.isSafeInteger(o.seed)) throw new UsageError(`generator option 'seed' must be a safe integer, got ${o.seed}`);
  intAtLeast('start', 0);
  intAtLeast('categories', 1);
  intAtLeast('slate', 1);
  intAtLeast('latentDim', 1);
  if (!(Number.isFinite(o.days) && o.days > 0)) throw new UsageError(`generator option 'days' must be a positive number, got ${o.days}`);
  if (!(Number.isFinite(o.maxDisorderMs) && o.maxDisorderMs >= 0)) {
    throw new UsageError(`generator option 'maxDisorderMs' must be a number >= 0, got ${o.maxDisorderMs}`);
  }
  if (o.items < o.slate) throw new UsageError(`generator option 'items' (${o.items}) must be at least 'slate' (${o.slate}): a slate shows distinct items`);
  return o;
}

/**
 * Builds the world (click model parameters and user/item attributes) from the seed. Depends only
 * on seed, users, items, categories, latentDim and slate, not on `events` or `days`, so a longer
 * run simulates the same population.
 *
 * @example
 * const world = createSyntheticWorld({ users: 100, items: 500, events: 0, seed: 1 });
 * world.model.pClick(0, 3, 0, 'ios', 21);
 */
export function createSyntheticWorld(options: GeneratorOptions): SyntheticWorld {
  const o = resolveGeneratorOptions(options);
  const m = SYNTHETIC_MODEL;
  const rng = new Rng(o.seed, 'world');
  const d = o.latentDim;

  // Factor components with sd s give <u, v> a variance of d * s^4 = dotSd^2.
  const s = Math.pow((m.dotSd * m.dotSd) / d, 0.25);
  const centroids = new Float64Array(o.categories * d);
  for (let j = 0; j < centroids.length; j++) centroids[j] = rng.normal(0, s);

  const categoryTable = new AliasTable(zipfWeights(o.categories, m.categoryZipf));
  const brandTable = new AliasTable(zipfWeights(m.brands, 1));
  const itemCategory = new Int32Array(o.items);
  const itemBias = new Float64Array(o.items);
  const itemFactors = new Float64Array(o.items * d);
  const itemPrice = new Float64Array(o.items);
  const itemBrand = new Int32Array(o.items);
  const fromCentroid = Math.sqrt(m.categoryShare);
  const own = Math.sqrt(1 - m.categoryShare);
  for (let i = 0; i < o.items; i++) {
    const c = categoryTable.sample(rng);
    itemCategory[i] = c;
    itemBias[i] = rng.normal(0, m.itemBiasSd);
    for (let j = 0; j < d; j++) itemFactors[i * d + j] = fromCentroid * (centroids[c * d + j] as number) + own * rng.normal(0, s);
    itemPrice[i] = Math.max(0.5, Math.round(rng.logNormal(Math.log(m.priceMedian), m.priceLogSd) * 100) / 100);
    itemBrand[i] = rng.bernoulli(m.noBrandProb) ? -1 : brandTable.sample(rng);
  }

  const GENDERS: readonly (string | null)[] = ['female', 'male', null];
  const locationWeights = LOCATIONS.map((l) => l.weight);
  const desktopOses = ['Windows', 'macOS', 'Linux'];
  const userBias = new Float64Array(o.users);
  const userFactors = new Float64Array(o.users * d);
  const userLocation = new Int32Array(o.users);
  const userPrimaryDevice = new Int32Array(o.users);
  const userDesktopOs: string[] = [];
  const userAgeBucket: (string | null)[] = [];
  const userGender: (string | null)[] = [];
  const userSignupTime = new Float64Array(o.users);
  for (let u = 0; u < o.users; u++) {
    userBias[u] = rng.normal(0, m.userBiasSd);
    for (let j = 0; j < d; j++) userFactors[u * d + j] = rng.normal(0, s);
    userLocation[u] = rng.categorical(locationWeights);
    userPrimaryDevice[u] = rng.categorical(m.deviceMix);
    userDesktopOs.push(desktopOses[rng.categorical([0.7, 0.25, 0.05])] as string);
    userAgeBucket.push(rng.bernoulli(m.unknownAgeProb) ? null : (m.ageBuckets[rng.categorical(m.ageMix)] as string));
    userGender.push(GENDERS[rng.categorical(m.genderMix)] ?? null);
    userSignupTime[u] = o.start - DAY_MS - Math.floor(Math.min(rng.exponential(m.signupMeanMs), m.signupCapMs));
  }

  const positionEffect = new Float64Array(o.slate);
  for (let p = 0; p < o.slate; p++) positionEffect[p] = m.positionCoef * Math.log2(1 + p);
  const hourEffect = new Float64Array(24);
  for (let h = 0; h < 24; h++) hourEffect[h] = m.hourAmplitude * Math.cos((2 * Math.PI * (h - m.hourPeak)) / 24);

  const model: ClickModel = {
    latentDim: d,
    globalBias: m.globalBias,
    userBias,
    itemBias,
    userFactors,
    itemFactors,
    positionEffect,
    deviceEffect: m.deviceEffect,
    hourEffect,
    logit(user, item, position, device, localHour) {
      let dot = 0;
      const uo = user * d;
      const io = item * d;
      for (let j = 0; j < d; j++) dot += (userFactors[uo + j] as number) * (itemFactors[io + j] as number);
      return (
        m.globalBias +
        (userBias[user] as number) +
        (itemBias[item] as number) +
        dot +
        (positionEffect[position] as number) +
        m.deviceEffect[device] +
        (hourEffect[localHour] as number)
      );
    },
    pClick(user, item, position, device, localHour) {
      return 1 / (1 + Math.exp(-this.logit(user, item, position, device, localHour)));
    },
  };

  return {
    options: o,
    model,
    itemCategory,
    itemPrice,
    itemBrand,
    userLocation,
    userPrimaryDevice,
    userDesktopOs,
    userAgeBucket,
    userGender,
    userSignupTime,
  };
}

/** A pending event in the reorder buffer: released in (arrival, seq) order. */
interface Pending {
  arrival: number;
  seq: number;
  record: GeneratedRecord;
}

/** A binary min-heap on (arrival, seq); seq breaks ties so the order is fully deterministic. */
class PendingHeap {
  private readonly items: Pending[] = [];

  get size(): number {
    return this.items.length;
  }

  peekArrival(): number {
    return this.items.length === 0 ? Infinity : (this.items[0] as Pending).arrival;
  }

  push(p: Pending): void {
    const a = this.items;
    a.push(p);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const q = a[parent] as Pending;
      if (q.arrival < p.arrival || (q.arrival === p.arrival && q.seq < p.seq)) break;
      a[i] = q;
      i = parent;
    }
    a[i] = p;
  }

  pop(): Pending {
    const a = this.items;
    const top = a[0] as Pending;
    const last = a.pop() as Pending;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        const cl = a[l] as Pending;
        if (r < n) {
          const cr = a[r] as Pending;
          if (cr.arrival < cl.arrival || (cr.arrival === cl.arrival && cr.seq < cl.seq)) c = r;
        }
        const cc = a[c] as Pending;
        if (last.arrival < cc.arrival || (last.arrival === cc.arrival && last.seq < cc.seq)) break;
        a[i] = cc;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

/**
 * The request-rate timeline: the period cut at UTC hour boundaries; within a bucket every zone's
 * UTC offset, hence its local hour, is constant (the zones in LOCATIONS change offset only on
 * whole UTC hours).
 */
interface Timeline {
  starts: Float64Array;
  ends: Float64Array;
  /** Cumulative request mass at each bucket's start (length buckets + 1). */
  cumMass: Float64Array;
  /** Request rate per ms of each bucket. */
  rate: Float64Array;
  /** Offset from UTC in ms, [bucket * zones + zone]. */
  offsetMs: Float64Array;
  /** Request weight of each zone in each bucket, [bucket * zones + zone]. */
  zoneWeight: Float64Array;
}

function buildTimeline(start: number, end: number, zones: readonly string[], zoneActivity: Float64Array): Timeline {
  const bounds: number[] = [start];
  for (let t = Math.floor(start / HOUR_MS) * HOUR_MS + HOUR_MS; t < end; t += HOUR_MS) bounds.push(t);
  bounds.push(end);
  const n = bounds.length - 1;
  const z = zones.length;
  const tl: Timeline = {
    starts: new Float64Array(n),
    ends: new Float64Array(n),
    cumMass: new Float64Array(n + 1),
    rate: new Float64Array(n),
    offsetMs: new Float64Array(n * z),
    zoneWeight: new Float64Array(n * z),
  };
  for (let b = 0; b < n; b++) {
    const s = bounds[b] as number;
    const e = bounds[b + 1] as number;
    tl.starts[b] = s;
    tl.ends[b] = e;
    let rate = 0;
    for (let k = 0; k < z; k++) {
      const offset = DateTime.fromMillis(s, { zone: zones[k] as string }).offset * MINUTE_MS;
      tl.offsetMs[b * z + k] = offset;
      const w = (zoneActivity[k] as number) * (DIURNAL_RATE[localHourOf(s, offset)] as number);
      tl.zoneWeight[b * z + k] = w;
      rate += w;
    }
    tl.rate[b] = rate;
    tl.cumMass[b + 1] = (tl.cumMass[b] as number) + rate * (e - s);
  }
  return tl;
}

function localHourOf(t: number, offsetMs: number): number {
  const local = (t + offsetMs) % DAY_MS;
  return Math.floor((local < 0 ? local + DAY_MS : local) / HOUR_MS);
}

/**
 * Streams a synthetic event log: first an `item_profile` for every item and a `user_profile` for
 * every user (all at `start`), then the activity.
 *
 * Activity: `ceil(events / slate)` requests whose times follow a non-homogeneous Poisson process
 * over [start, start + days), conditioned on that count (sorted i.i.d. draws from the rate): the
 * rate is the sum over zones of (zone's total user activity) x DIURNAL_RATE[local hour in that
 * zone]. The user of a request is drawn by zone (proportional to the zone's term of the rate at
 * that time), then within the zone by Zipf activity. Each request
 * shows `slate` distinct items drawn by Zipf popularity at positions 0..slate-1 in draw order
 * (an unbiased ranker: position and relevance are independent), all at the request time. Each
 * impression is clicked with the {@link ClickModel} probability; a click follows after an
 * exponential delay (mean 20 s, capped at 10 min; 0.5 % arrive 30 min - 2 h late); an order
 * follows 3 % of clicks (delay exponential mean 2 h capped at 24 h, or for 15 % of orders uniform
 * in [20 h, 36 h]). See {@link SYNTHETIC_MODEL} for every constant.
 *
 * Order of the output: every event gets an arrival time = eventTime + a random delay in
 * [0, maxDisorderMs] (exponential with mean maxDisorderMs / 8, capped), and events are released
 * in arrival order through a min-heap. Hence the documented bound: each yielded event has
 * `eventTime >= max(eventTime of all events yielded before it) - maxDisorderMs`. A click may be
 * yielded before its own impression when both fall inside that bound, as in a real log.
 *
 * Ids: eventId `g<seed>-<n>` (n: a counter in creation order, so unique but not ascending in the output), requestId `r<seed>-<n>`,
 * orderId `o<seed>-<n>` (own counter), userId `u<k>`, itemId `i<k>`, categoryId `c<k>`, brand `b<k>`.
 *
 * @example
 * for (const { event, truth } of generateEvents({ users: 1000, items: 5000, events: 100_000, seed: 7 })) {
 *   // event: AnyEvent; truth: { requestId, itemId, userId, pClick } on impressions
 * }
 * @throws UsageError when an option is out of range (at the first `next()`)
 */
export function* generateEvents(options: GeneratorOptions): Generator<GeneratedRecord, void, undefined> {
  const world = createSyntheticWorld(options);
  const o = world.options;
  const m = SYNTHETIC_MODEL;
  const model = world.model;
  const seed = o.seed;
  let eventN = 0;
  let orderN = 0;
  const nextEventId = (): string => `g${seed}-${eventN++}`;

  for (let i = 0; i < o.items; i++) {
    const brand = world.itemBrand[i] as number;
    const event: TypedEvent<'item_profile'> = {
      type: 'item_profile',
      eventId: nextEventId(),
      eventTime: o.start,
      itemId: `i${i}`,
      categoryId: `c${world.itemCategory[i] as number}`,
      price: world.itemPrice[i] as number,
      brand: brand < 0 ? null : `b${brand}`,
    };
    yield { event };
  }
  for (let u = 0; u < o.users; u++) {
    const event: TypedEvent<'user_profile'> = {
      type: 'user_profile',
      eventId: nextEventId(),
      eventTime: o.start,
      userId: `u${u}`,
      ageBucket: world.userAgeBucket[u] ?? null,
      gender: world.userGender[u] ?? null,
      signupTime: world.userSignupTime[u] as number,
    };
    yield { event };
  }
  if (o.events === 0) return;

  // Group users by zone; within a zone a user is drawn by Zipf activity.
  const zones = [...new Set(LOCATIONS.map((l) => l.timezone))];
  const zoneOfLocation = LOCATIONS.map((l) => zones.indexOf(l.timezone));
  const activity = zipfWeights(o.users, m.userZipf);
  const zoneUsers: number[][] = zones.map(() => []);
  const zoneActivity = new Float64Array(zones.length);
  for (let u = 0; u < o.users; u++) {
    const z = zoneOfLocation[world.userLocation[u] as number] as number;
    (zoneUsers[z] as number[]).push(u);
    zoneActivity[z] = (zoneActivity[z] as number) + (activity[u] as number);
  }
  const zoneTables = zoneUsers.map((us) => (us.length === 0 ? null : new AliasTable(us.map((u) => activity[u] as number))));
  const itemWeights = zipfWeights(o.items, m.itemZipf);
  const itemTable = new AliasTable(itemWeights);

  const end = o.start + Math.round(o.days * DAY_MS);
  const tl = buildTimeline(o.start, end, zones, zoneActivity);
  const nz = zones.length;
  const totalMass = tl.cumMass[tl.rate.length] as number;

  const rng = new Rng(seed, 'activity');
  const heap = new PendingHeap();
  let seq = 0;
  const disorderMean = o.maxDisorderMs / 8;
  const schedule = (record: GeneratedRecord): void => {
    const jitter = o.maxDisorderMs === 0 ? 0 : Math.min(rng.exponential(disorderMean), o.maxDisorderMs);
    heap.push({ arrival: record.event.eventTime + jitter, seq: seq++, record });
  };

  const requests = Math.ceil(o.events / o.slate);
  // Marks the items already in the current slate: chosen[i] === request number.
  const chosen = new Int32Array(o.items).fill(-1);
  const slateItems = new Int32Array(o.slate);
  let bucket = 0;
  // Ascending uniform order statistics, generated one at a time: 1 - u_(k) is the previous one
  // times the largest of (requests - k + 1) uniforms, V^(1 / (requests - k + 1)).
  let oneMinusU = 1;
  let impressionsLeft = o.events;

  for (let r = 0; r < requests; r++) {
    oneMinusU *= Math.pow(rng.uniformOpen(), 1 / (requests - r));
    const mass = (1 - oneMinusU) * totalMass;
    while (bucket < tl.rate.length - 1 && (tl.cumMass[bucket + 1] as number) <= mass) bucket++;
    const t = Math.min(
      Math.floor((tl.starts[bucket] as number) + (mass - (tl.cumMass[bucket] as number)) / (tl.rate[bucket] as number)),
      (tl.ends[bucket] as number) - 1,
    );

    // Events created from now on have eventTime >= t, so they arrive at >= t (and tie-break after,
    // by seq): whatever is due by t can be released without breaking the (arrival, seq) order.
    while (heap.size > 0 && heap.peekArrival() <= t) yield heap.pop().record;

    // Zones without users have weight 0; the last populated zone absorbs rounding at the end.
    let zone = -1;
    {
      let x = rng.uniform() * (tl.rate[bucket] as number);
      for (let k = 0; k < nz; k++) {
        const w = tl.zoneWeight[bucket * nz + k] as number;
        if (w <= 0) continue;
        zone = k;
        x -= w;
        if (x < 0) break;
      }
    }
    const members = zoneUsers[zone] as number[];
    const user = members[(zoneTables[zone] as AliasTable).sample(rng)] as number;
    const location = LOCATIONS[world.userLocation[user] as number] as (typeof LOCATIONS)[number];
    const localHour = localHourOf(t, tl.offsetMs[bucket * nz + zone] as number);
    const deviceIdx = rng.bernoulli(m.primaryDeviceProb) ? (world.userPrimaryDevice[user] as number) : rng.int(0, DEVICES.length);
    const device = DEVICES[deviceIdx] as Device;
    const context: Context = Object.freeze({
      device,
      os: device === 'ios' ? 'iOS' : device === 'android' ? 'Android' : (world.userDesktopOs[user] as string),
      country: location.country,
      city: location.city,
      page: PAGES[rng.categorical(m.pageMix)] as string,
      timezone: location.timezone,
    });
    const requestId = `r${seed}-${r}`;
    const userId = `u${user}`;

    const n = Math.min(o.slate, impressionsLeft);
    impressionsLeft -= n;
    for (let pos = 0; pos < n; pos++) {
      let item = itemTable.sample(rng);
      let tries = 1;
      while (chosen[item] === r && tries < 64) {
        item = itemTable.sample(rng);
        tries++;
      }
      if (chosen[item] === r) item = drawUnchosen(rng, itemWeights, chosen, r);
      chosen[item] = r;
      slateItems[pos] = item;
    }

    for (let pos = 0; pos < n; pos++) {
      const item = slateItems[pos] as number;
      const itemId = `i${item}`;
      const categoryId = `c${world.itemCategory[item] as number}`;
      const pClick = model.pClick(user, item, pos, device, localHour);
      const impression: TypedEvent<'impression'> = {
        type: 'impression',
        eventId: nextEventId(),
        eventTime: t,
        requestId,
        userId,
        itemId,
        categoryId,
        position: pos,
        context,
      };
      schedule({ event: impression, truth: { requestId, itemId, userId, pClick } });
      if (!(rng.uniform() < pClick)) continue;

      const delay = rng.bernoulli(m.lateClickProb)
        ? rng.uniform(m.lateClickMinMs, m.lateClickMaxMs)
        : Math.min(rng.exponential(m.clickDelayMeanMs), m.clickDelayCapMs);
      const clickTime = t + Math.max(1, Math.round(delay));
      const click: TypedEvent<'click'> = {
        type: 'click',
        eventId: nextEventId(),
        eventTime: clickTime,
        requestId,
        userId,
        itemId,
        categoryId,
        position: pos,
        context,
      };
      schedule({ event: click });
      if (!rng.bernoulli(m.orderProb)) continue;

      const orderDelay = rng.bernoulli(m.orderLateProb)
        ? rng.uniform(m.orderLateMinMs, m.orderLateMaxMs)
        : Math.min(rng.exponential(m.orderDelayMeanMs), m.orderDelayCapMs);
      const quantity = 1 + rng.categorical(m.quantityMix);
      const order: TypedEvent<'order'> = {
        type: 'order',
        eventId: nextEventId(),
        eventTime: clickTime + Math.max(1, Math.round(orderDelay)),
        orderId: `o${seed}-${orderN++}`,
        requestId,
        userId,
        itemId,
        categoryId,
        amount: Math.round((world.itemPrice[item] as number) * quantity * 100) / 100,
        currency: m.currency,
        quantity,
        context,
      };
      schedule({ event: order });
    }
  }
  while (heap.size > 0) yield heap.pop().record;
}

/**
 * Draws an item not yet in the slate by an O(items) scan over the popularity weights: the fallback
 * when rejection sampling keeps hitting chosen items (only when the slate is a large share of the
 * catalogue), so a slate is always filled in bounded time.
 */
function drawUnchosen(rng: Rng, weights: Float64Array, chosen: Int32Array, request: number): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) if (chosen[i] !== request) total += weights[i] as number;
  let x = rng.uniform() * total;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (chosen[i] === request) continue;
    last = i;
    x -= weights[i] as number;
    if (x < 0) return i;
  }
  return last;
}
