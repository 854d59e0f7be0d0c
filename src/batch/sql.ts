import type { EventKinds } from '../events/event-catalog.js';
import type { FieldKind } from '../events/event-fields.js';
import type { EventType } from '../events/event-types.js';
import type { CompiledAggregation, EntityDef } from '../features/definitions.js';
import { ENTITY_KEY_SEPARATOR } from '../features/event-input.js';
import { dedupedSource } from '../sink/raw-tables.js';

/**
 * SQL fragments shared by every batch statement: literals, event-time arithmetic, and the
 * translation of the feature semantics (entity keys, aggregation inputs) into ClickHouse
 * expressions over the raw tables. The rules mirror `features/event-input.ts` one for one, so the
 * batch layer counts exactly the events the streaming layer and the oracle count.
 *
 * Every value that reaches SQL text goes through {@link sqlString} or {@link sqlInt}; nothing is
 * spliced unchecked.
 */

/** An event's time in epoch ms, from the raw tables' `eventTime DateTime64(3, 'UTC')`. */
export const T_MS = 'toUnixTimestamp64Milli(eventTime)';

/**
 * A ClickHouse string literal for any JS string: backslash and quote escaped, control characters
 * as `\xHH`, everything else as is (the SQL text is UTF-8, like the data).
 *
 * @example sqlString("it's") === "'it\\'s'"
 */
export function sqlString(value: string): string {
  let out = "'";
  for (const ch of value) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + "'";
}

/**
 * An integer literal; refuses anything that is not a safe integer, so an instant or a size can
 * never smuggle text into a statement.
 *
 * @throws RangeError for a non-integer or unsafe number.
 */
export function sqlInt(n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a safe integer for SQL: ${String(n)}`);
  return String(n);
}

/** An epoch-ms instant as a `DateTime64(3, 'UTC')` expression, comparable with `eventTime` (and so usable by the primary key). */
export function sqlInstant(ms: number): string {
  return `fromUnixTimestamp64Milli(toInt64(${sqlInt(ms)}), 'UTC')`;
}

/**
 * `floor(expr / divisor)` on integers, also for negative values (`intDiv` rounds towards zero),
 * the SQL twin of `tileStart` in `features/windows.ts`.
 */
export function floorDivSql(expr: string, divisor: number): string {
  const d = sqlInt(divisor);
  return `(intDiv(${expr}, ${d}) - (modulo(${expr}, ${d}) < 0))`;
}

/** The start of the tile of size `hopMs` holding the instant `expr` (epoch ms). */
export function tileStartSql(expr: string, hopMs: number): string {
  return `(${floorDivSql(expr, hopMs)} * ${sqlInt(hopMs)})`;
}

/** The kind of a field of an event type, or undefined when the type has no such field. */
export function fieldKindOf(events: EventKinds, source: EventType, field: string): FieldKind | undefined {
  const fields = events[source];
  return fields !== undefined && Object.prototype.hasOwnProperty.call(fields, field) ? fields[field] : undefined;
}

/** Whether a field kind holds numbers in events (and so in the batch layer's JSON rows). */
export function isNumericKind(kind: FieldKind | undefined): boolean {
  return kind === 'int' || kind === 'nullableInt' || kind === 'double' || kind === 'nullableDouble' || kind === 'instant' || kind === 'nullableInstant';
}

/** A field of an event type as it reads in SQL: instants as epoch ms, every other kind as stored. */
export function fieldSql(events: EventKinds, source: EventType, field: string): { expr: string; kind: FieldKind } {
  const kind = fieldKindOf(events, source, field);
  if (kind === undefined || kind === 'context') throw new RangeError(`${source} events have no scalar field ${field}`);
  const column = quoteIdent(field);
  if (kind === 'instant' || kind === 'nullableInstant') return { expr: `toUnixTimestamp64Milli(${column})`, kind };
  return { expr: column, kind };
}

/**
 * The entity key of a raw row and when it has one, the SQL twin of `entityKeyOf`: the key fields
 * joined with `:`; a row whose key field is null or empty has no entity. Null when the event type
 * lacks one of the key fields (it then never belongs to the entity).
 */
export function entityKeySql(events: EventKinds, entity: EntityDef, source: EventType): { key: string; valid: string } | null {
  const parts: string[] = [];
  const checks: string[] = [];
  for (const f of entity.keyFields) {
    const kind = fieldKindOf(events, source, f);
    if (kind === undefined || kind === 'context') return null;
    const { expr } = fieldSql(events, source, f);
    const text = isNumericKind(kind) ? `toString(assumeNotNull(${expr}))` : `assumeNotNull(${expr})`;
    parts.push(text);
    checks.push(isNumericKind(kind) ? `(${expr} IS NOT NULL)` : `(${expr} IS NOT NULL AND ${expr} != '')`);
  }
  const key = parts.length === 1 ? (parts[0] as string) : `concat(${parts.join(`, ${sqlString(ENTITY_KEY_SEPARATOR)}, `)})`;
  return { key, valid: checks.join(' AND ') };
}

/** What one aggregation reads from an event, in SQL (see {@link aggregationInputSql}). */
export interface InputSql {
  /** The value passed to `update`; null for count, last_seen and decayed_count. */
  readonly value: string | null;
  /** The value as a non-Nullable expression, for use where `valid` holds (null like `value`). */
  readonly notNull: string | null;
  /** True when the event contributes (the SQL twin of `aggregationInput` returning non-null). */
  readonly valid: string;
  /** The field's kind, undefined for fieldless ops. */
  readonly kind: FieldKind | undefined;
}

/**
 * The SQL twin of `aggregationInput`: for sum, avg, min and max a finite number, for last, last_k
 * and approx_distinct a non-null text or finite number, for the fieldless ops every event of the
 * source. The source itself is the caller's filter.
 */
export function aggregationInputSql(agg: Pick<CompiledAggregation, 'def' | 'fieldKind'>): InputSql {
  const { def, fieldKind: kind } = agg;
  if (def.field === undefined) return { value: null, notNull: null, valid: '1', kind: undefined };
  if (kind === undefined || kind === 'context') throw new RangeError(`${def.source} events have no scalar field ${def.field}`);
  const column = quoteIdent(def.field);
  const expr = kind === 'instant' || kind === 'nullableInstant' ? `toUnixTimestamp64Milli(${column})` : column;
  const notNull = `assumeNotNull(${expr})`;
  const finite = kind === 'double' || kind === 'nullableDouble' ? ` AND isFinite(${notNull})` : '';
  return { value: expr, notNull, valid: `(${expr} IS NOT NULL${finite})`, kind };
}

/** The deduplicated rows of an event type, for FROM clauses. */
export function sourceTable(type: EventType): string {
  return dedupedSource(type);
}

/** A column or field name as an identifier; names come from definitions (validated), quoting guards the rest. */
export function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new RangeError(`not a plain identifier: ${JSON.stringify(name)}`);
  return name;
}

/** A 128-bit hash of an entity key expression, used as a compact partition and join key inside one statement. */
export function keyHashSql(keyExpr: string): string {
  return `reinterpretAsUInt128(sipHash128(${keyExpr}))`;
}
