/**
 * The event contract in TypeScript. The Avro schemas in `schemas/*.avsc` are the wire contract;
 * these types mirror them one to one (see `test/unit/events/schemas.test.ts`, which checks that
 * every field here exists in the schema and vice versa).
 *
 * Ids are strings; `eventTime` and other instants are epoch milliseconds, UTC.
 */

/** The five event kinds, as they appear in the JSON form's `type` field. */
export const EVENT_TYPES = ['impression', 'click', 'order', 'item_profile', 'user_profile'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The shared envelope of every event. */
export interface Envelope {
  /** Unique id of this event; producer retries reuse it, so it is the dedupe key everywhere. */
  eventId: string;
  /** When the event happened, epoch ms UTC. The only clock any feature is computed from. */
  eventTime: number;
}

/** Where and how a request was made. Every field may be unknown (null). */
export interface Context {
  device: string | null;
  os: string | null;
  country: string | null;
  city: string | null;
  page: string | null;
  /** IANA zone name, e.g. `Asia/Shanghai`; null means UTC. */
  timezone: string | null;
}

export interface Impression extends Envelope {
  requestId: string;
  userId: string;
  itemId: string;
  categoryId: string | null;
  /** 0-based slot in the ranked list shown. */
  position: number;
  context: Context;
}

export interface Click extends Envelope {
  requestId: string;
  userId: string;
  itemId: string;
  categoryId: string | null;
  position: number | null;
  context: Context;
}

export interface Order extends Envelope {
  orderId: string;
  /** The request the order is attributed to, when the producer knows it. */
  requestId: string | null;
  userId: string;
  itemId: string;
  categoryId: string | null;
  /** Total amount of this order line, in `currency`. */
  amount: number;
  /** ISO-4217 code. */
  currency: string;
  quantity: number;
  context: Context;
}

export interface ItemProfile extends Envelope {
  itemId: string;
  categoryId: string | null;
  price: number | null;
  brand: string | null;
}

export interface UserProfile extends Envelope {
  userId: string;
  /** e.g. `18-24`, `25-34`. */
  ageBucket: string | null;
  gender: string | null;
  /** Signup instant, epoch ms UTC. */
  signupTime: number | null;
}

export interface EventBodies {
  impression: Impression;
  click: Click;
  order: Order;
  item_profile: ItemProfile;
  user_profile: UserProfile;
}

/** An event tagged with its kind: the in-memory and JSON form. */
export type TypedEvent<T extends EventType = EventType> = T extends EventType ? { type: T } & EventBodies[T] : never;
export type AnyEvent = TypedEvent<EventType>;

/** The Avro record name of each kind (file `schemas/<Name>.avsc`). */
export const SCHEMA_NAMES: Record<EventType, string> = {
  impression: 'Impression',
  click: 'Click',
  order: 'Order',
  item_profile: 'ItemProfile',
  user_profile: 'UserProfile',
};

/** The key every kind is partitioned by: userId where there is one, so a user's events stay ordered. */
export function partitionKeyOf(event: AnyEvent): string {
  return event.type === 'item_profile' ? event.itemId : event.userId;
}

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (EVENT_TYPES as readonly string[]).includes(value);
}

export const EMPTY_CONTEXT: Context = Object.freeze({ device: null, os: null, country: null, city: null, page: null, timezone: null });
