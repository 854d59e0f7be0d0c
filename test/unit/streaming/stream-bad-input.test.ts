import { REFERENCE_GROUPS, referenceRegistry, referenceTopics } from '../../helpers/reference.js';
import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../../src/adapters/memory/memory-event-log.js';
import { MemoryOnlineStore } from '../../../src/adapters/memory/memory-online-store.js';
import type { AnyEvent, ReferenceEvent } from '../../../src/events/event-types.js';
import { topicSpecs, type Topics } from '../../../src/events/topics.js';
import { compileGroup } from '../../../src/features/definitions.js';
import { oracleFeatures } from '../../../src/features/oracle.js';
import { coldStartFeatures } from '../../../src/features/window-assembly.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { SILENT_LOGGER } from '../../../src/ports/logger.js';
import { FeatureReader } from '../../../src/serving/feature-reader.js';
import { createStreamKeys } from '../../../src/streaming/stream-keys.js';
import { startStream } from '../../../src/streaming/stream-processor.js';
import { MAX_VALUE_LENGTH, planEvent } from '../../../src/streaming/tile-layout.js';
import { MAX_ID_BYTES } from '../../../src/events/validate.js';

const GROUPS = REFERENCE_GROUPS;
const ctx = { device: null, os: null, country: null, city: null, page: null, timezone: null };
const T = Date.UTC(2026, 0, 5, 10);

describe('stream: bad input is counted and never stops or corrupts the stream', () => {
  it('skips undecodable records, over-long ids and NaN amounts whole, handles missing optional fields', async () => {
    const registry = referenceRegistry();
    const log = new MemoryEventLog();
    const topics = referenceTopics('bad');
    await log.ensureTopics(topicSpecs(topics, 1));
    const click = (i: number, itemId: string, categoryId: string | null): ReferenceEvent => ({ type: 'click', eventId: `c${i}`, eventTime: T + i * 1000, requestId: `r${i}`, userId: 'u1', itemId, categoryId, position: null, context: ctx });
    const good: ReferenceEvent[] = [click(1, 'i1', 'c1'), click(2, 'i2', null), click(4, 'i3', 'c1')];
    const huge = click(3, 'x'.repeat(MAX_ID_BYTES + 1), 'c2');
    const nanOrder: ReferenceEvent = { type: 'order', eventId: 'o1', eventTime: T + 5000, orderId: 'o1', requestId: null, userId: 'u1', itemId: 'i1', categoryId: null, amount: Number.NaN, currency: 'USD', quantity: 1, context: ctx };
    await log.send([
      ...[good[0]!, good[1]!, huge, good[2]!].map((e) => ({ topic: topics.events('click'), key: 'u1', value: registry.encode(e) })),
      { topic: topics.events('click'), key: 'u1', value: Buffer.from('garbage') },
      { topic: topics.events('order'), key: 'u1', value: registry.encode(nanOrder) },
    ]);
    const store = new MemoryOnlineStore();
    const keys = createStreamKeys('t', 'live');
    const metrics = new Metrics();
    await startStream({ log, store, registry, topics, keys, groups: GROUPS, logger: SILENT_LOGGER, metrics, clock: Date.now }, { untilIdle: true, idleMs: 50 }).done;

    expect(metrics.value('tessera_stream_bad_records_total', { type: 'click', reason: 'UNDECODABLE' })).toBe(1);
    expect(metrics.value('tessera_stream_bad_records_total', { type: 'order', reason: 'SCHEMA_INVALID' })).toBe(1);
    expect(metrics.value('tessera_stream_bad_records_total', { type: 'click', reason: 'FIELD_TOO_LONG' })).toBe(1);
    expect(metrics.total('tessera_stream_events_applied_total')).toBe(3);

    const reader = new FeatureReader({ store, keys, groups: GROUPS, clock: Date.now });
    const q = T + 10_000;
    const { entities } = await reader.read(
      [
        { group: 'user', key: 'u1' },
        { group: 'user_category', key: 'u1:c1' },
        { group: 'item', key: 'never-seen' },
      ],
      q,
    );
    const [user, userCategory, unknown] = entities;
    expect(user!.values.user_click_count_1h).toBe(3); // the click with the over-long id was skipped whole
    expect(user!.values.user_last_clicked_items).toEqual(['i3', 'i2', 'i1']);
    expect(user!.values.user_order_count_30d).toBe(0); // the NaN order was skipped whole
    expect(userCategory!.values).toEqual(oracleFeatures(GROUPS[2]!, good, 'u1:c1', q));
    expect(unknown).toMatchObject({ known: false, latestEventTime: null, values: coldStartFeatures(GROUPS[1]!) });
    expect(unknown!.values.item_ctr_24h).toBe(1 / 20);
  });

  it('leaves a text value over MAX_VALUE_LENGTH out of last / last_k and applies the rest of the event', () => {
    // The event contract caps ids at 256 bytes, but a string field may hold up to 4096: the tile
    // layout's own cap is what keeps such a value out of the stored last-k lists.
    const keys = createStreamKeys('t', 'live');
    const event: ReferenceEvent = { type: 'click', eventId: 'c9', eventTime: T, requestId: 'r9', userId: 'u1', itemId: 'x'.repeat(MAX_VALUE_LENGTH + 1), categoryId: 'c1', position: null, context: ctx };
    const ops: Parameters<typeof planEvent>[3] = [];
    const { updated, oversized } = planEvent(GROUPS, keys, event, ops, { entities: new Map(), others: new Set() });
    expect(oversized).toBeGreaterThan(0);
    expect(updated).toBeGreaterThan(0);
    expect(ops.some((o) => o.op === 'zadd')).toBe(false);
    expect(ops.length).toBeGreaterThan(0);
  });
});
