import type { Context } from './event-types.js';

/**
 * What a field of an event is, as data: the JSON form, the semantic validator, the raw tables and
 * the batch SQL walk a project's field kinds (derived from its Avro schemas by the event catalog,
 * `event-catalog.ts`) instead of repeating field lists.
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

/** Whether a kind admits null. */
export function isNullableKind(kind: FieldKind): boolean {
  return kind.startsWith('nullable');
}
