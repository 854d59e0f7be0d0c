import type { Context, EventBodies, EventType } from './event-types.js';

/**
 * What each field of each event kind is, as data: the JSON form and the semantic validator walk
 * this table instead of repeating the field lists. Its type forces exactly the keys of the
 * TypeScript interfaces (a missing or extra key does not compile), and
 * `test/unit/events/schemas.test.ts` checks it against the Avro schemas, so the three views of
 * the contract cannot drift apart unnoticed.
 *
 * Kinds:
 * - `id` / `nullableId`: identifiers, non-empty strings (null allowed for the nullable one);
 * - `string` / `nullableString`: free text;
 * - `instant` / `nullableInstant`: epoch ms UTC (Avro `timestamp-millis` long);
 * - `int` / `nullableInt`, `double` / `nullableDouble`: counts, slots and amounts, so never
 *   negative;
 * - `context`: the shared `Context` record.
 */
export type FieldKind =
  | 'id'
  | 'nullableId'
  | 'string'
  | 'nullableString'
  | 'instant'
  | 'nullableInstant'
  | 'int'
  | 'nullableInt'
  | 'double'
  | 'nullableDouble'
  | 'context';

/** One kind per field of an event body; `-?` so optional-looking keys cannot be left out. */
export type FieldKinds<E> = { readonly [K in keyof E]-?: FieldKind };

/** The field kinds of every event kind, keys in Avro schema field order. */
export const EVENT_FIELDS: { readonly [T in EventType]: FieldKinds<EventBodies[T]> } = {
  impression: {
    eventId: 'id',
    eventTime: 'instant',
    requestId: 'id',
    userId: 'id',
    itemId: 'id',
    categoryId: 'nullableString',
    position: 'int',
    context: 'context',
  },
  click: {
    eventId: 'id',
    eventTime: 'instant',
    requestId: 'id',
    userId: 'id',
    itemId: 'id',
    categoryId: 'nullableString',
    position: 'nullableInt',
    context: 'context',
  },
  order: {
    eventId: 'id',
    eventTime: 'instant',
    orderId: 'id',
    requestId: 'nullableId',
    userId: 'id',
    itemId: 'id',
    categoryId: 'nullableString',
    amount: 'double',
    currency: 'string',
    quantity: 'int',
    context: 'context',
  },
  item_profile: {
    eventId: 'id',
    eventTime: 'instant',
    itemId: 'id',
    categoryId: 'nullableString',
    price: 'nullableDouble',
    brand: 'nullableString',
  },
  user_profile: {
    eventId: 'id',
    eventTime: 'instant',
    userId: 'id',
    ageBucket: 'nullableString',
    gender: 'nullableString',
    signupTime: 'nullableInstant',
  },
};

// A keyed object rather than a bare list so that the compiler checks it against `Context`.
const CONTEXT_KINDS: { readonly [K in keyof Context]-?: 'nullableString' } = {
  device: 'nullableString',
  os: 'nullableString',
  country: 'nullableString',
  city: 'nullableString',
  page: 'nullableString',
  timezone: 'nullableString',
};

/** The fields of the `Context` record, in schema order; every one is a nullable string. */
export const CONTEXT_FIELDS = Object.keys(CONTEXT_KINDS) as ReadonlyArray<keyof Context>;

/** `[field, kind]` pairs of an event kind, precomputed so hot paths do not rebuild them. */
export const EVENT_FIELD_LIST: { readonly [T in EventType]: ReadonlyArray<readonly [string, FieldKind]> } = {
  impression: Object.entries(EVENT_FIELDS.impression),
  click: Object.entries(EVENT_FIELDS.click),
  order: Object.entries(EVENT_FIELDS.order),
  item_profile: Object.entries(EVENT_FIELDS.item_profile),
  user_profile: Object.entries(EVENT_FIELDS.user_profile),
};

/** Whether a kind admits null. */
export function isNullableKind(kind: FieldKind): boolean {
  return kind.startsWith('nullable');
}
