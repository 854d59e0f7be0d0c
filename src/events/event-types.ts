/**
 * Events in TypeScript. A project declares its own event types (see `event-catalog.ts`), so in
 * general an event is an {@link AnyEvent}: a `type`, the envelope, and the fields its Avro schema
 * declares, read by name. The typed interfaces below are the shapes Tessera's own tools write and
 * the label rule reads: the exposure, click and conversion events of a project's label roles
 * carry at least these fields (checked when the project is loaded), and the generator and the
 * importers write the event types of the reference example project
 * (`examples/reference/events/*.avsc`), which these interfaces mirror one to one.
 *
 * Ids are strings; `eventTime` and other instants are epoch milliseconds, UTC.
 */

/** An event type's name, as it appears in the JSON form's `type` field (one of the project's). */
export type EventType = string;

/** The event types of the reference example project, which the generator and importers write. */
export const REFERENCE_EVENT_TYPES = ['impression', 'click', 'order', 'item_profile', 'user_profile'] as const;
export type ReferenceEventType = (typeof REFERENCE_EVENT_TYPES)[number];

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

/** A reference event tagged with its type. */
export type TypedEvent<T extends ReferenceEventType = ReferenceEventType> = T extends ReferenceEventType ? { type: T } & EventBodies[T] : never;
/** Any event of the reference example project. */
export type ReferenceEvent = TypedEvent<ReferenceEventType>;

/**
 * An event of any project: its type, the envelope, and (not listed here, read by name) the
 * fields of its type's schema; the in-memory and JSON form. Every typed event is one.
 */
export interface AnyEvent extends Envelope {
  readonly type: EventType;
}

/** The value of a field of an event, by name (undefined when the event has no such field). */
export function fieldOf(event: AnyEvent, field: string): unknown {
  return (event as unknown as Readonly<Record<string, unknown>>)[field];
}

export const EMPTY_CONTEXT: Context = Object.freeze({ device: null, os: null, country: null, city: null, page: null, timezone: null });
