import type { EventCatalog, EventTypeSpec } from '../events/event-catalog.js';
import { CONTEXT_FIELDS, type FieldKind } from '../events/event-fields.js';
import type { AnyEvent, EventType } from '../events/event-types.js';
import type { InsertColumn } from '../ports/offline-store.js';

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
  /** The column's value for an event: an epoch-ms number for instants, `null` when absent. */
  get(event: AnyEvent): unknown;
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

const LINEAGE_COLUMNS = [
  { name: '_topic', type: 'LowCardinality(String)' },
  { name: '_partition', type: 'UInt32' },
  { name: '_offset', type: 'UInt64' },
  { name: '_logTime', type: "DateTime64(3, 'UTC')" },
] as const;

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
    const cols = [...rawColumns(spec), ...LINEAGE_COLUMNS].map((c) => `${c.name} ${c.type}`);
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

/**
 * Events of one type gathered column by column for one `insertColumns` into its raw table: the
 * sink's batch form (no row objects, and a binary insert instead of JSON text).
 */
export class RawColumnBatch {
  readonly #columns: readonly ColumnSpec[];
  readonly #values: unknown[][];
  readonly #lineage: [string[], number[], number[], number[]] = [[], [], [], []];

  constructor(columns: readonly ColumnSpec[]) {
    this.#columns = columns;
    this.#values = columns.map(() => []);
  }

  /** Events added so far. */
  get size(): number {
    return this.#lineage[0].length;
  }

  add(event: AnyEvent, lineage: Lineage): void {
    for (let i = 0; i < this.#columns.length; i++) this.#values[i]!.push(this.#columns[i]!.get(event));
    const [topic, partition, offset, logTime] = this.#lineage;
    topic.push(lineage.topic);
    partition.push(lineage.partition);
    offset.push(lineage.offset);
    logTime.push(lineage.logTime);
  }

  /** The columns of the events added, lineage last, in table order. */
  columns(): InsertColumn[] {
    return [
      ...this.#columns.map((c, i) => ({ name: c.name, type: c.type, values: this.#values[i]! })),
      ...LINEAGE_COLUMNS.map((c, i) => ({ name: c.name, type: c.type, values: this.#lineage[i]! })),
    ];
  }

  /** The same events as row objects, for `insert` (JSONEachRow) where a binary body cannot go. */
  rows(): Record<string, unknown>[] {
    const columns = this.columns();
    return Array.from({ length: this.size }, (_, r) => Object.fromEntries(columns.map((c) => [c.name, c.values[r]])));
  }
}

/** Starts empty raw-table batches for the event types of a catalog (columns computed once per type). */
export function createRawBatches(catalog: EventCatalog): (type: EventType) => RawColumnBatch {
  const columns = new Map<EventType, ColumnSpec[]>(catalog.types.map((t) => [t, rawColumns(catalog.spec(t))]));
  return (type) => new RawColumnBatch(columns.get(type) ?? rawColumns(catalog.spec(type)));
}
