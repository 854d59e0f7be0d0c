import type { Command } from '../command.js';
import { UsageError } from '../../errors.js';
import { numberOption, stringOption } from '../command.js';
import type { CompiledGroup } from '../../features/definitions.js';
import { serveMetrics } from '../../observability/metrics-server.js';
import { createStreamKeys, DEFAULT_NAMESPACE } from '../../streaming/stream-keys.js';
import { startStream, STREAM_DEFAULTS } from '../../streaming/stream-processor.js';
import { runUntilStopped } from '../signals.js';
import { withRuntime } from '../with-runtime.js';

/** The project's groups named in a `--groups a,b` option (all when absent). */
export function selectGroups(all: readonly CompiledGroup[], option: string | undefined): CompiledGroup[] {
  if (option === undefined) return [...all];
  const names = option.split(',').map((n) => n.trim()).filter((n) => n !== '');
  const unknown = names.filter((n) => !all.some((g) => g.name === n));
  if (unknown.length > 0 || names.length === 0) throw new UsageError(`--groups: unknown group(s) ${unknown.join(', ') || '(none given)'}; known: ${all.map((g) => g.name).join(', ')}`);
  return all.filter((g) => names.includes(g.name));
}

export const streamCommand: Command = {
  name: 'stream',
  summary: 'Consume the event topics into windowed features in the online store (Redis), exactly once in effect.',
  usage: 'tessera stream [--until-idle] [--group <id>] [--lateness-ms <ms>] [--max-apply N] [--metrics-port <port>]',
  details: `Runs the feature groups of the project (--project / TESSERA_PROJECT). Each partition batch becomes atomic
Redis updates of at most --max-apply records, each fenced by the offset after its last record, so
crashes, rebalances and replays never apply an event twice and no update holds Redis for long; producer duplicates of an eventId within the dedupe horizon are applied once;
events later than the allowed lateness behind their partition's watermark go to the late topic.
SIGTERM/SIGINT stop after the batch in flight. Needs TESSERA_KAFKA_BROKERS and TESSERA_REDIS_URL.`,
  options: {
    'until-idle': { type: 'boolean', description: 'Exit once every partition is caught up' },
    'idle-ms': { type: 'string', description: 'How long the log must stay caught up before --until-idle exits, ms', defaultText: '2000' },
    group: { type: 'string', description: 'Consumer group id', defaultText: STREAM_DEFAULTS.groupId },
    'lateness-ms': { type: 'string', description: 'Allowed lateness behind the partition watermark, ms', defaultText: "the project's stream.lateness" },
    'dedupe-horizon-ms': { type: 'string', description: 'Event-time horizon of eventId dedupe, ms', defaultText: "the project's stream.dedupeHorizon" },
    'max-batch': { type: 'string', description: 'Records read, deduplicated and planned together at most', defaultText: String(STREAM_DEFAULTS.maxBatchRecords) },
    'max-apply': { type: 'string', description: 'Records per atomic update (one Redis script, which readers wait behind) at most', defaultText: String(STREAM_DEFAULTS.maxApplyRecords) },
    namespace: { type: 'string', description: 'Online-state namespace (version)', defaultText: 'live' },
    groups: { type: 'string', description: 'Comma-separated feature groups to run', defaultText: 'every group of the project' },
    'reread-from-start': { type: 'boolean', description: 'Re-read the log from the start; the offset fence refuses what is already applied' },
    'metrics-port': { type: 'string', description: 'Serve Prometheus metrics on 127.0.0.1:<port>/metrics' },
  },
  async run(ctx) {
    return withRuntime(ctx, {}, async (rt) => {
      if (!rt.config.redisUrl) throw new UsageError('stream writes the online store: set TESSERA_REDIS_URL (the in-process store lives only inside one process)');
      await rt.ensureTopics();
      const metricsPort = stringOption(ctx, 'metrics-port');
      const server = metricsPort ? await serveMetrics(rt.metrics, numberOption(ctx, 'metrics-port', 0, { min: 1 })) : null;
      const namespace = stringOption(ctx, 'namespace') ?? DEFAULT_NAMESPACE;
      const held = await rt.groupsInNamespace(namespace);
      if (held.length === 0) throw new UsageError(`namespace ${namespace} holds no registered group version (tessera versions list shows where each version lives)`);
      const sub = startStream(
        {
          log: rt.log(),
          store: rt.online(),
          registry: rt.registry,
          topics: rt.topics,
          keys: createStreamKeys(rt.config.topicPrefix, namespace),
          groups: selectGroups(held, stringOption(ctx, 'groups')),
          logger: rt.logger,
          metrics: rt.metrics,
          clock: rt.clock,
        },
        {
          groupId: stringOption(ctx, 'group') ?? STREAM_DEFAULTS.groupId,
          latenessMs: numberOption(ctx, 'lateness-ms', rt.project.latenessMs, { min: 0 }),
          dedupeHorizonMs: numberOption(ctx, 'dedupe-horizon-ms', rt.project.dedupeHorizonMs, { min: 0 }),
          maxBatchRecords: numberOption(ctx, 'max-batch', STREAM_DEFAULTS.maxBatchRecords, { min: 1 }),
          maxApplyRecords: numberOption(ctx, 'max-apply', STREAM_DEFAULTS.maxApplyRecords, { min: 1 }),
          untilIdle: ctx.values['until-idle'] === true,
          rereadFromStart: ctx.values['reread-from-start'] === true,
          idleMs: numberOption(ctx, 'idle-ms', 2000, { min: 0 }),
          maxFutureMs: rt.config.maxFutureMs,
        },
      );
      await runUntilStopped(sub, server);
      const m = rt.metrics;
      ctx.stdout.write(
        `applied ${m.total('tessera_stream_events_applied_total')} events, dropped ${m.total('tessera_stream_duplicates_total')} duplicates, routed ${m.total('tessera_stream_late_events_total')} late events, skipped ${m.total('tessera_stream_bad_records_total')} bad records\n`,
      );
      return 0;
    });
  },
};
