import type { EventCatalog, EventTypeSpec } from '../events/event-catalog.js';
import { CONTEXT_FIELDS, type FieldKind } from '../events/event-fields.js';
import type { AnyEvent, EventType } from '../events/event-types.js';

/**
 * The raw event store's tables, one per event type of the project, derived from the type's field
 * kinds so that the DDL and the row mapping cannot drift apart.
 *
 * Layout: `ReplacingMergeTree` partitioned by event day (UTC), ordered by
 * `(<partition key>, eventTime, eventId)`, and, for a type with an `itemId` field it is not
 * partitioned by, a projection ordered by `(itemId, eventTime)` for per-item scans. The sort key
 * ends in `eventId`, so a row delivered twice (a redelivered Kafka batch or a producer retry: same
 * eventId, same key and time) collapses into one at merge time, and reads through
 * {@link dedupedSource} (`FINAL`) never see it twice. `non_replicated_deduplication_window` also
 * drops a re-inserted identical block at insert time, so the common redelivery case leaves no
 * physical duplicate at all. Every row keeps its Kafka coordinates (`_topic`, `_partition`,
 * `_offset`, `_logTime`) for lineage.
 *
 * Columns by field kind: ids and strings `String` (nullable ones `Nullable(String)`), instants
 * `DateTime64(3, 'UTC')`, ints `UInt32` (validation keeps them in 0..2^31-1), doubles `Float64`;
 * the `context` record becomes one `LowCardinality(Nullable(String))` column per context field
 * (`device`, `os`, `country`, `city`, `page`, `timezone`).
 */
export interface ColumnSpec {
  name: string;
  /** ClickHouse type. */
  type: string;
  get(event: AnyEvent): unknown;
}

/** eventTime columns are written as decimal seconds with exactly three fractional digits: exact for DateTime64(3). */
export function chTime(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  return `${sign}${Math.floor(abs / 1000)}.${String(abs % 1000).padStart(3, '0')}`;
}

const COLUMN_TYPES: Readonly<Record<Exclude<FieldKind, 'context'>, string>> = {
  id: 'String',
  nullableId: 'Nullable(String)',
  string: 'String',
  nullableString: 'Nullable(String)',
  instant: "DateTime64(3, 'UTC')",
  nullableInstant: "Nullable(DateTime64(3, 'UTC'))",
  int: 'UInt32',
  nullableInt: 'Nullable(UInt32)',
  double: 'Float64',
  nullableDouble: 'Nullable(Float64)',
};

/** The columns of an event type's raw table, in table order (before the lineage columns). */
export function rawColumns(spec: EventTypeSpec): ColumnSpec[] {
  const columns: ColumnSpec[] = [];
  for (const [name, kind] of spec.fields) {
    if (kind === 'context') {
      for (const f of CONTEXT_FIELDS) {
        columns.push({
          name: f,
          type: 'LowCardinality(Nullable(String))',
          get: (e) => ((e as unknown as Record<string, Record<string, unknown> | null>)[name]?.[f] ?? null),
        });
      }
    } else if (kind === 'instant' || kind === 'nullableInstant') {
      columns.push({
        name,
        type: COLUMN_TYPES[kind],
        get: (e) => {
          const v = (e as unknown as Record<string, unknown>)[name];
          return typeof v === 'number' ? chTime(v) : null;
        },
      });
    } else {
      columns.push({ name, type: COLUMN_TYPES[kind], get: (e) => (e as unknown as Record<string, unknown>)[name] ?? null });
    }
  }
  return columns;
}

/** Where a row came from in the log. */
export interface Lineage {
  topic: string;
  partition: number;
  offset: number;
  /** The record's log timestamp, epoch ms: deterministic, so a redelivered batch is byte-identical. */
  logTime: number;
}

const LINEAGE_DDL = [
  '_topic LowCardinality(String)',
  '_partition UInt32',
  '_offset UInt64',
  "_logTime DateTime64(3, 'UTC')",
];

/** The raw table of an event kind. */
export function rawTable(type: EventType): string {
  return `raw_${type}s`;
}

/** The deduplicated view of a raw table for readers (batch layer, checks): `raw_x FINAL`. */
export function dedupedSource(type: EventType): string {
  return `${rawTable(type)} FINAL`;
}

/** The table holding every dead-lettered record. */
export const DEAD_LETTER_TABLE = 'dead_letters';

/** DDL for every raw table of the catalog and the dead-letter table; idempotent (`IF NOT EXISTS`). */
export function rawStoreDdl(catalog: EventCatalog): string[] {
  const ddl = catalog.types.map((type) => {
    const spec = catalog.spec(type);
    const cols = [...rawColumns(spec).map((c) => `${c.name} ${c.type}`), ...LINEAGE_DDL];
    const byItem = spec.partitionKey !== 'itemId' && catalog.fieldKind(type, 'itemId') === 'id';
    const projection = byItem ? `,\n  PROJECTION by_item (SELECT * ORDER BY itemId, eventTime)` : '';
    return `CREATE TABLE IF NOT EXISTS ${rawTable(type)} (\n  ${cols.join(',\n  ')}${projection}\n)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(eventTime)
ORDER BY (${spec.partitionKey}, eventTime, eventId)
SETTINGS non_replicated_deduplication_window = 1000, deduplicate_merge_projection_mode = 'rebuild'`;
  });
  ddl.push(`CREATE TABLE IF NOT EXISTS ${DEAD_LETTER_TABLE} (
  sourceTopic LowCardinality(String),
  sourcePartition UInt32,
  sourceOffset UInt64,
  reason LowCardinality(String),
  message String,
  key Nullable(String),
  payloadBase64 String,
  failedAt DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (sourceTopic, sourcePartition, sourceOffset)
SETTINGS non_replicated_deduplication_window = 1000`);
  return ddl;
}

/** Maps events of a catalog to raw-table rows (columns computed once per event type). */
export function createRawRowMapper(catalog: EventCatalog): (event: AnyEvent, lineage: Lineage) => Record<string, unknown> {
  const columns = new Map<EventType, ColumnSpec[]>(catalog.types.map((t) => [t, rawColumns(catalog.spec(t))]));
  return (event, lineage) => toRawRow(event, columns.get(event.type) ?? rawColumns(catalog.spec(event.type)), lineage);
}

function toRawRow(event: AnyEvent, columns: readonly ColumnSpec[], lineage: Lineage): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const c of columns) row[c.name] = c.get(event);
  row._topic = lineage.topic;
  row._partition = lineage.partition;
  row._offset = lineage.offset;
  row._logTime = chTime(lineage.logTime);
  return row;
}
