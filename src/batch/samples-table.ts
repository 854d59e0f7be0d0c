import { CONTEXT_FEATURE_NAMES } from '../features/context.js';
import { type CompiledAggregation, type CompiledFeature, type CompiledGroup } from '../features/definitions.js';
import type { OfflineStore } from '../ports/offline-store.js';
import { featureSpec, type FeatureSpec } from '../samples/sample.js';
import { BatchError } from './batch-errors.js';
import { quoteIdent, sqlString } from './sql.js';
import { opModule } from '../features/ops/index.js';

/**
 * The ClickHouse table the batch sample job writes and the trainer reads: one row per mature
 * impression, typed columns derived from the feature spec (so a trainer can read a feature
 * without parsing text), ordered by `(eventTime, impressionId)` (the order `readSamples` returns,
 * and the primary key the range reads and deletes use) and partitioned by month (a run writes few
 * parts; daily partitions made the write a third slower). The table comment records the spec hash: a table written for one spec
 * is never silently read or extended with another.
 */

/** Columns every samples table has, before the features. */
export const SAMPLE_BASE_COLUMNS = [
  { name: 'impressionId', type: 'String' },
  { name: 'requestId', type: 'String' },
  { name: 'userId', type: 'String' },
  { name: 'itemId', type: 'String' },
  { name: 'categoryId', type: 'Nullable(String)' },
  { name: 'position', type: 'UInt16' },
  { name: 'eventTime', type: "DateTime64(3, 'UTC')" },
  { name: 'ctx_device', type: 'LowCardinality(Nullable(String))' },
  { name: 'ctx_os', type: 'LowCardinality(Nullable(String))' },
  { name: 'ctx_country', type: 'LowCardinality(Nullable(String))' },
  { name: 'ctx_city', type: 'LowCardinality(Nullable(String))' },
  { name: 'ctx_page', type: 'LowCardinality(Nullable(String))' },
  { name: 'ctx_timezone', type: 'LowCardinality(Nullable(String))' },
  { name: 'clickLabel', type: 'UInt8' },
  { name: 'orderLabel', type: 'UInt8' },
] as const;

/** Default name of the samples table. */
export const DEFAULT_SAMPLES_TABLE = 'samples';

/** One feature column of a samples table. */
export interface FeatureColumn {
  /** The feature name, also the column name. */
  readonly name: string;
  /** ClickHouse type. */
  readonly type: string;
  /** Index of the group in the layout's `groups`, or -1 for a context feature. */
  readonly group: number;
  /** The compiled feature (null for context features). */
  readonly feature: CompiledFeature | null;
  /** How a value read back becomes a JS value: numbers, text, or a list. */
  readonly read: 'number' | 'nullableNumber' | 'text' | 'nullableText' | 'textList' | 'numberList';
}

/** Where samples of one feature spec live, and how their columns look. */
export interface SamplesLayout {
  readonly table: string;
  readonly groups: readonly CompiledGroup[];
  readonly spec: FeatureSpec;
  readonly features: readonly FeatureColumn[];
  /** The table comment that marks the layout: `tessera samples v1 spec <hash>`. */
  readonly comment: string;
}

/**
 * The layout of a samples table for the given groups (the project's), in the
 * feature spec's order.
 *
 * @throws BatchError `SAMPLES_SPEC_INVALID` when two features share a name (two groups with the
 *   same entity name), or a table name that is not a plain identifier.
 */
export function samplesLayout(groups: readonly CompiledGroup[], table: string = DEFAULT_SAMPLES_TABLE): SamplesLayout {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new BatchError('BATCH_INVALID_ARGUMENT', `samples table ${JSON.stringify(table)} must be a plain name: letters, digits and _`);
  const compiled = groups;
  const spec = featureSpec(compiled);
  const features: FeatureColumn[] = [];
  const taken = new Set<string>(SAMPLE_BASE_COLUMNS.map((c) => c.name));
  const claim = (name: string) => {
    if (taken.has(name)) throw new BatchError('SAMPLES_SPEC_INVALID', `feature ${name} appears twice in the sample spec (or clashes with a base column); give the groups distinct entity names`);
    taken.add(name);
  };
  compiled.forEach((group, gi) => {
    for (const f of group.features) {
      claim(f.name);
      const agg = f.kind === 'derived' ? null : (group.aggregations[f.aggregation] as CompiledAggregation);
      features.push({ name: quoteIdent(f.name), group: gi, feature: f, ...featureColumnType(agg) });
    }
  });
  for (const name of CONTEXT_FEATURE_NAMES) {
    claim(name);
    const category = name === 'context_device' || name === 'context_page';
    features.push({ name, group: -1, feature: null, type: category ? 'LowCardinality(String)' : 'UInt8', read: category ? 'text' : 'number' });
  }
  return { table, groups: compiled, spec, features, comment: `tessera samples v1 spec ${spec.hash}` };
}

/** The column type of a feature (null: a derived ratio) and how to read it back, as its op's module declares it. */
function featureColumnType(agg: CompiledAggregation | null): Pick<FeatureColumn, 'type' | 'read'> {
  if (agg === null) return { type: 'Float64', read: 'number' };
  return opModule(agg.def.op).sampleColumn(agg.fieldKind);
}

/** The CREATE TABLE statement of a layout (idempotent). */
export function samplesTableDdl(layout: SamplesLayout): string {
  const cols = [...SAMPLE_BASE_COLUMNS.map((c) => `${c.name} ${c.type}`), ...layout.features.map((f) => `${f.name} ${f.type}`)];
  return `CREATE TABLE IF NOT EXISTS ${layout.table} (\n  ${cols.join(',\n  ')}\n)
ENGINE = MergeTree
PARTITION BY toYYYYMM(eventTime)
ORDER BY (eventTime, impressionId)
COMMENT ${sqlString(layout.comment)}`;
}

/**
 * Creates the samples table when missing and checks that an existing one was made for this spec.
 *
 * @throws BatchError `SAMPLES_SPEC_MISMATCH` when the table exists with another spec's comment.
 */
export async function ensureSamplesTable(offline: OfflineStore, layout: SamplesLayout): Promise<void> {
  await offline.command(samplesTableDdl(layout));
  await checkSamplesTable(offline, layout, true);
}

/**
 * Whether the samples table exists with this layout's spec; throws when it exists with another.
 *
 * @throws BatchError `SAMPLES_SPEC_MISMATCH`.
 */
export async function checkSamplesTable(offline: OfflineStore, layout: SamplesLayout, mustExist = false): Promise<boolean> {
  const rows = await offline.query<{ comment: string }>(`SELECT comment FROM system.tables WHERE database = currentDatabase() AND name = ${sqlString(layout.table)}`);
  const row = rows[0];
  if (row === undefined) {
    if (mustExist) throw new BatchError('SAMPLES_SPEC_MISMATCH', `samples table ${layout.table} was not created`);
    return false;
  }
  if (row.comment !== layout.comment) {
    throw new BatchError(
      'SAMPLES_SPEC_MISMATCH',
      `table ${layout.table} holds samples of another feature spec ("${row.comment}", expected "${layout.comment}"); ` +
        `write these samples to another table (--table), or drop ${layout.table} to rebuild it with the current definitions`,
    );
  }
  return true;
}
