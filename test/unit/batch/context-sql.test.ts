import { describe, expect, it } from 'vitest';
import { zoneReading } from '../../../src/batch/context-sql.js';

describe('time zones of context features, as luxon reads them', () => {
  it('null and zones luxon rejects read as UTC; UTC itself too', () => {
    expect(zoneReading(null)).toEqual({ kind: 'utc' });
    expect(zoneReading('Not/AZone')).toEqual({ kind: 'utc' });
    expect(zoneReading('')).toEqual({ kind: 'utc' });
    expect(zoneReading('UTC')).toEqual({ kind: 'utc' });
    expect(zoneReading('Etc/UTC')).toEqual({ kind: 'utc' });
  });

  it('fixed offsets become minute shifts', () => {
    expect(zoneReading('UTC+5:30')).toEqual({ kind: 'fixed', offsetMinutes: 330 });
    expect(zoneReading('UTC-8')).toEqual({ kind: 'fixed', offsetMinutes: -480 });
  });

  it('IANA zones keep their name and the canonical one as candidates for the engine', () => {
    const r = zoneReading('Asia/Shanghai');
    expect(r.kind).toBe('iana');
    expect(r.kind === 'iana' && r.aliases).toContain('Asia/Shanghai');
    const kolkata = zoneReading('Asia/Kolkata');
    expect(kolkata.kind === 'iana' && kolkata.aliases).toContain('Asia/Kolkata');
  });
});
