import { DateTime } from 'luxon';
import type { OfflineStore } from '../ports/offline-store.js';
import { UNKNOWN_CONTEXT_VALUE } from '../features/context.js';
import { BatchError } from './batch-errors.js';
import { sqlInt, sqlString } from './sql.js';

/**
 * The request-time context features (`features/context.ts`) as SQL over impression rows, so the
 * sample job computes them inside ClickHouse. Hour and weekday depend on each impression's own
 * timezone, which ClickHouse functions take only as a constant; the distinct zones of the
 * impressions at hand are therefore resolved up front, each exactly as luxon resolves it for
 * `contextFeatures`:
 * - null, or a zone luxon rejects: UTC (contextFeatures falls back to UTC);
 * - a fixed offset (`UTC`, `UTC+8`, `UTC-05:30`): the instant shifted by the offset, read in UTC;
 * - an IANA zone: the same zone in the engine's time zone database (DST by the zone's rules).
 *   A zone luxon knows but the engine does not is refused rather than read in the wrong zone.
 */

/** How one distinct timezone value is read. */
export type ZoneReading = { kind: 'utc' } | { kind: 'fixed'; offsetMinutes: number } | { kind: 'iana'; name: string; aliases: readonly string[] };

/** How luxon reads a timezone value (the same resolution as `contextFeatures`). */
export function zoneReading(tz: string | null): ZoneReading {
  if (tz === null) return { kind: 'utc' };
  const dt = DateTime.fromMillis(0, { zone: tz });
  if (!dt.isValid) return { kind: 'utc' };
  const zone = dt.zone;
  if (zone.isUniversal) {
    const offset = zone.offset(0);
    return offset === 0 ? { kind: 'utc' } : { kind: 'fixed', offsetMinutes: offset };
  }
  // IANA (or the system zone): the name as written, else the canonical one, whichever the engine knows
  const name = new Intl.DateTimeFormat('en-US', { timeZone: zone.name }).resolvedOptions().timeZone;
  if (name === 'UTC' || name === 'Etc/UTC') return { kind: 'utc' };
  return { kind: 'iana', name, aliases: [...new Set([zone.name, tz, name])] };
}

/** SQL for `context_hour_of_day` and `context_day_of_week` of a time column, given the zones that occur. */
export interface ContextSql {
  readonly hour: string;
  readonly day: string;
}

/**
 * Builds the hour and weekday expressions for `time` (a DateTime64 column) read in the zone named
 * by `tzColumn`, for the given distinct zone values.
 *
 * @throws BatchError `UNSUPPORTED_TIMEZONE` for a zone luxon accepts and the engine does not know.
 */
export async function contextTimeSql(offline: OfflineStore, zones: readonly (string | null)[], time: string, tzColumn: string): Promise<ContextSql> {
  const readings = zones.filter((z): z is string => z !== null).map((z) => ({ value: z, reading: zoneReading(z) }));
  const names = [...new Set(readings.flatMap((r) => (r.reading.kind === 'iana' ? r.reading.aliases : [])))];
  if (names.length > 0) {
    const known = await offline.query<{ z: string }>(`SELECT time_zone AS z FROM system.time_zones WHERE time_zone IN (${names.map(sqlString).join(', ')})`);
    const have = new Set(known.map((r) => r.z));
    const missing: string[] = [];
    for (const r of readings) {
      if (r.reading.kind !== 'iana') continue;
      const usable = r.reading.aliases.find((a) => have.has(a));
      if (usable === undefined) missing.push(r.value);
      else r.reading = { ...r.reading, name: usable };
    }
    if (missing.length > 0) {
      throw new BatchError(
        'UNSUPPORTED_TIMEZONE',
        `impressions carry time zone(s) ${missing.join(', ')}, which the ClickHouse engine's time zone database does not know; ` +
          'update the engine (its tzdata) or correct the producers, since hour and weekday features would otherwise be read in the wrong zone',
      );
    }
  }
  const branch = (reading: ZoneReading, fn: 'toHour' | 'toDayOfWeek'): string => {
    const extra = fn === 'toDayOfWeek' ? '0, ' : '';
    switch (reading.kind) {
      case 'utc':
        return `${fn}(${time}, ${extra}'UTC')`;
      case 'fixed':
        return `${fn}(addMinutes(${time}, ${sqlInt(reading.offsetMinutes)}), ${extra}'UTC')`;
      case 'iana':
        return `${fn}(${time}, ${extra}${sqlString(reading.name)})`;
    }
  };
  const build = (fn: 'toHour' | 'toDayOfWeek'): string => {
    const cases = readings.filter((r) => r.reading.kind !== 'utc').flatMap((r) => [`${tzColumn} = ${sqlString(r.value)}`, branch(r.reading, fn)]);
    const fallback = branch({ kind: 'utc' }, fn);
    return cases.length === 0 ? `toUInt8(${fallback})` : `toUInt8(multiIf(${cases.join(', ')}, ${fallback}))`;
  };
  return { hour: build('toHour'), day: build('toDayOfWeek') };
}

/** SQL for a categorical context feature (device, page): the value, or `unknown` when null or empty. */
export function contextCategorySql(column: string): string {
  return `if(${column} IS NULL OR ${column} = '', ${sqlString(UNKNOWN_CONTEXT_VALUE)}, assumeNotNull(${column}))`;
}
