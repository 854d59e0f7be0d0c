import type { AnyEvent, Context, EventType } from '../events/event-types.js';

/**
 * The raw event store's tables, one per event kind, derived from one column list each so that
 * the DDL and the row mapping cannot drift apart.
 *
 * Layout: `ReplacingMergeTree` partitioned by event day (UTC), ordered by
 * `(userId, eventTime, eventId)` (item profiles: `itemId`), with a projection ordered by
 * `(itemId, eventTime)` for per-item scans. The sort key ends in `eventId`, so a row delivered
 * twice (a redelivered Kafka batch or a producer retry: same eventId, same user and time)
 * collapses into one at merge time, and reads through {@link dedupedSource} (`FINAL`) never see it
 * twice. `non_replicated_deduplication_window` also drops a re-inserted identical block at insert
 * time, so the common redelivery case leaves no physical duplicate at all.
 * Every row keeps its Kafka coordinates (`_topic`, `_partition`, `_offset`, `_logTime`) for lineage.
 */
export interface ColumnSpec {
  name: string;
  /** ClickHouse type. */
  type: string;
  get(event: AnyEvent): unknown;
}

const ctx = (e: AnyEvent): Context | null => ('context' in e ? e.context : null);

/** eventTime columns are written as decimal seconds with exactly three fractional digits: exact for DateTime64(3). */
export function chTime(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  return `${sign}${Math.floor(abs / 1000)}.${String(abs % 1000).padStart(3, '0')}`;
}

const envelope: ColumnSpec[] = [
  { name: 'eventId', type: 'String', get: (e) => e.eventId },
  { name: 'eventTime', type: "DateTime64(3, 'UTC')", get: (e) => chTime(e.eventTime) },
];

const contextColumns: ColumnSpec[] = (['device', 'os', 'country', 'city', 'page', 'timezone'] as const).map((f) => ({
  name: f,
  type: 'LowCardinality(Nullable(String))',
  get: (e: AnyEvent) => ctx(e)?.[f] ?? null,
}));

const field = (name: string, type: string): ColumnSpec => ({ name, type, get: (e) => (e as unknown as Record<string, unknown>)[name] ?? null });

/** Columns per event kind, in table order (before the lineage columns). */
export const RAW_COLUMNS: Record<EventType, ColumnSpec[]> = {
  impression: [
    ...envelope,
    field('requestId', 'String'),
    field('userId', 'String'),
    field('itemId', 'String'),
    field('categoryId', 'Nullable(String)'),
    field('position', 'UInt16'),
    ...contextColumns,
  ],
  click: [
    ...envelope,
    field('requestId', 'String'),
    field('userId', 'String'),
    field('itemId', 'String'),
    field('categoryId', 'Nullable(String)'),
    field('position', 'Nullable(UInt16)'),
    ...contextColumns,
  ],
  order: [
    ...envelope,
    field('orderId', 'String'),
    field('requestId', 'Nullable(String)'),
    field('userId', 'String'),
    field('itemId', 'String'),
    field('categoryId', 'Nullable(String)'),
    field('amount', 'Float64'),
    field('currency', 'LowCardinality(String)'),
    field('quantity', 'UInt32'),
    ...contextColumns,
  ],
  item_profile: [
    ...envelope,
    field('itemId', 'String'),
    field('categoryId', 'Nullable(String)'),
    field('price', 'Nullable(Float64)'),
    field('brand', 'Nullable(String)'),
  ],
  user_profile: [
    ...envelope,
    field('userId', 'String'),
    field('ageBucket', 'LowCardinality(Nullable(String))'),
    field('gender', 'LowCardinality(Nullable(String))'),
    { name: 'signupTime', type: "Nullable(DateTime64(3, 'UTC'))", get: (e) => (e.type === 'user_profile' && e.signupTime !== null ? chTime(e.signupTime) : null) },
  ],
};

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

/** DDL for every raw table and the dead-letter table; idempotent (`IF NOT EXISTS`). */
export function rawStoreDdl(): string[] {
  const ddl = (Object.keys(RAW_COLUMNS) as EventType[]).map((type) => {
    const cols = [...RAW_COLUMNS[type].map((c) => `${c.name} ${c.type}`), ...LINEAGE_DDL];
    const entity = type === 'item_profile' ? 'itemId' : 'userId';
    const projection = type === 'item_profile' || type === 'user_profile' ? '' : `,\n  PROJECTION by_item (SELECT * ORDER BY itemId, eventTime)`;
    return `CREATE TABLE IF NOT EXISTS ${rawTable(type)} (\n  ${cols.join(',\n  ')}${projection}\n)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(eventTime)
ORDER BY (${entity}, eventTime, eventId)
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

/** Maps an event to its raw-table row. */
export function toRawRow(event: AnyEvent, lineage: Lineage): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const c of RAW_COLUMNS[event.type]) row[c.name] = c.get(event);
  row._topic = lineage.topic;
  row._partition = lineage.partition;
  row._offset = lineage.offset;
  row._logTime = chTime(lineage.logTime);
  return row;
}
