import type { Command } from '../command.js';
import { numberOption, stringOption } from '../command.js';
import { UsageError } from '../../errors.js';
import type { EventType } from '../../events/event-types.js';
import { prepareRawStore, startRawSink } from '../../sink/raw-sink.js';
import { withRuntime } from '../with-runtime.js';
import { onShutdownSignal } from '../signals.js';

export const sinkCommand: Command = {
  name: 'sink',
  summary: 'Consume the event topics into the ClickHouse raw tables, exactly once in effect; bad records go to the dead-letter topic.',
  usage: 'tessera sink [--until-idle] [--group <id>] [--types impression,click,...]',
  details: `Writes raw_impressions, raw_clicks, raw_orders, raw_item_profiles, raw_user_profiles and
dead_letters in chDB (TESSERA_CHDB_PATH) or the ClickHouse server (TESSERA_CLICKHOUSE_URL).
Offsets are committed only after a batch is stored, and stored rows dedupe on eventId, so a crash
or rebalance neither loses nor duplicates a row. SIGTERM/SIGINT stop after the batch in flight.
Needs TESSERA_KAFKA_BROKERS.`,
  options: {
    'until-idle': { type: 'boolean', description: 'Exit once every partition is caught up' },
    'idle-ms': { type: 'string', description: 'How long the log must stay caught up before --until-idle exits, ms', defaultText: '2000' },
    group: { type: 'string', description: 'Consumer group id', defaultText: 'tessera-sink' },
    types: { type: 'string', description: 'Comma-separated event types to sink', defaultText: 'every type of the project' },
    'max-batch': { type: 'string', description: 'Records per insert at most', defaultText: '20000' },
  },
  async run(ctx) {
    const typesText = stringOption(ctx, 'types');
    return withRuntime(ctx, {}, async (rt) => {
      const catalog = rt.project.catalog;
      let types: EventType[] | undefined;
      if (typesText) {
        types = typesText.split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
          if (!catalog.has(t)) throw new UsageError(`--types: unknown event type "${t}" (the project's are ${catalog.types.join(', ')})`);
          return t;
        });
      }
      await rt.ensureTopics();
      const store = await rt.offline();
      await prepareRawStore(store, rt.project.catalog);
      const sub = startRawSink(
        { log: rt.log(), store, registry: rt.registry, topics: rt.topics, logger: rt.logger, metrics: rt.metrics, clock: rt.clock },
        {
          groupId: stringOption(ctx, 'group') ?? 'tessera-sink',
          untilIdle: ctx.values['until-idle'] === true,
          idleMs: numberOption(ctx, 'idle-ms', 2000, { min: 0 }),
          maxBatchRecords: numberOption(ctx, 'max-batch', 20_000, { min: 1 }),
          maxFutureMs: rt.config.maxFutureMs,
          ...(types ? { types } : {}),
        },
      );
      const off = onShutdownSignal(() => void sub.stop());
      try {
        await sub.done;
      } finally {
        off();
      }
      const stored = rt.metrics.total('tessera_sink_events_stored_total');
      const dead = rt.metrics.total('tessera_sink_dead_letters_total');
      ctx.stdout.write(`stored ${stored} events, dead-lettered ${dead} records\n`);
      return 0;
    });
  },
};
