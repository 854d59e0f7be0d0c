import type { Command } from '../command.js';
import { UsageError } from '../../errors.js';
import { durationOption, numberOption, stringOption } from '../command.js';
import { createJoinerKeys } from '../../joiner/joiner-keys.js';
import { JOIN_DEFAULTS, startJoiner } from '../../joiner/joiner.js';
import { serveMetrics } from '../../observability/metrics-server.js';
import { DEFAULT_LABEL_RULE, labelRule } from '../../samples/labels.js';
import { featureSpec } from '../../samples/sample.js';
import { runUntilStopped } from '../signals.js';
import { labelRuleOf, withRuntime } from '../with-runtime.js';

export const joinCommand: Command = {
  name: 'join',
  summary: 'Join impressions with their clicks and orders into labelled samples with point-in-time features (samples topic).',
  usage: 'tessera join [--until-idle] [--click-window 30m] [--order-window 24h] [--name <state>] [--metrics-port <port>]',
  details: `The streaming joiner. Each impression is held until its label windows have closed (input complete,
by the partition watermarks minus the allowed lateness, through t + max(windows)) and then written
once to the samples topic with its click and order labels (docs/architecture.md "Labels") and every
reference feature as of t (events strictly before t), computed by the shared aggregation core from
the joiner's own state. Events later than the lateness are counted, not joined (the batch layer
has them). State and offsets are checkpointed together in Redis; after a crash the joiner resumes
from its checkpoint and may write a sample again, identical: readers drop records that are not
after the last kept (eventTime, impressionId) of their partition (readJoinedSamples does).
One instance reads every partition; a newly started instance takes over and the old one stops.
SIGTERM/SIGINT stop after the batch in flight with a last checkpoint. Needs TESSERA_KAFKA_BROKERS and
TESSERA_REDIS_URL.`,
  options: {
    'until-idle': { type: 'boolean', description: 'Exit once every partition is caught up (after a last join and checkpoint)' },
    'idle-ms': { type: 'string', description: 'How long the log must stay caught up before --until-idle exits, ms', defaultText: '2000' },
    'click-window': { type: 'string', description: 'Click label window after the impression (30m, 24h, 90s, 2d or ms)', defaultText: "the project's labels.click.window" },
    'order-window': { type: 'string', description: 'Conversion label window after the impression', defaultText: "the project's labels.conversion.window" },
    'lateness-ms': { type: 'string', description: 'Allowed lateness behind the partition watermark, ms', defaultText: "the project's stream.lateness" },
    'dedupe-horizon-ms': { type: 'string', description: 'Event-time horizon of eventId dedupe, ms (>= the lateness)', defaultText: "the project's stream.dedupeHorizon" },
    'max-batch': { type: 'string', description: 'Records per handler call at most', defaultText: String(JOIN_DEFAULTS.maxBatchRecords) },
    'checkpoint-ms': { type: 'string', description: 'Least wall time between checkpoints, ms (0: after every batch)', defaultText: String(JOIN_DEFAULTS.checkpointIntervalMs) },
    name: { type: 'string', description: 'Joiner state name (Redis keys <prefix>:join:<name>:...)', defaultText: 'join' },
    group: { type: 'string', description: 'Consumer group prefix (each instance adds a random suffix)', defaultText: JOIN_DEFAULTS.groupId },
    'metrics-port': { type: 'string', description: 'Serve Prometheus metrics on 127.0.0.1:<port>/metrics' },
  },
  async run(ctx) {
    return withRuntime(ctx, {}, async (rt) => {
      const rule = labelRuleOf(ctx, rt);
      const latenessMs = numberOption(ctx, 'lateness-ms', rt.project.latenessMs, { min: 0 });
      const dedupeHorizonMs = numberOption(ctx, 'dedupe-horizon-ms', rt.project.dedupeHorizonMs, { min: 0 });
      if (dedupeHorizonMs < latenessMs) throw new UsageError(`--dedupe-horizon-ms (${dedupeHorizonMs}) must be at least --lateness-ms (${latenessMs})`);
      if (!rt.config.redisUrl) throw new UsageError('join checkpoints its state in Redis: set TESSERA_REDIS_URL (the in-process store lives only inside one process)');
      await rt.ensureTopics();
      const metricsPort = stringOption(ctx, 'metrics-port');
      const server = metricsPort ? await serveMetrics(rt.metrics, numberOption(ctx, 'metrics-port', 0, { min: 1 })) : null;
      const groups = await rt.servingGroups();
      const sub = startJoiner(
        {
          log: rt.log(),
          store: rt.online(),
          registry: rt.registry,
          topics: rt.topics,
          keys: createJoinerKeys(rt.config.topicPrefix, stringOption(ctx, 'name') ?? 'join'),
          groups,
          logger: rt.logger,
          metrics: rt.metrics,
          clock: rt.clock,
        },
        {
          rule,
          latenessMs,
          dedupeHorizonMs,
          groupId: stringOption(ctx, 'group') ?? JOIN_DEFAULTS.groupId,
          maxBatchRecords: numberOption(ctx, 'max-batch', JOIN_DEFAULTS.maxBatchRecords, { min: 1 }),
          checkpointIntervalMs: numberOption(ctx, 'checkpoint-ms', JOIN_DEFAULTS.checkpointIntervalMs, { min: 0 }),
          untilIdle: ctx.values['until-idle'] === true,
          idleMs: numberOption(ctx, 'idle-ms', 2000, { min: 0 }),
          maxFutureMs: rt.config.maxFutureMs,
        },
      );
      await runUntilStopped(sub, server);
      const m = rt.metrics;
      ctx.stdout.write(
        `emitted ${m.total('tessera_join_samples_emitted_total')} samples (feature spec ${featureSpec(groups).hash}), holding ${m.value('tessera_join_held_impressions')} impressions, ` +
          `joined ${m.total('tessera_join_events_accepted_total')} events, dropped ${m.total('tessera_join_duplicates_total')} duplicates, ` +
          `counted ${m.total('tessera_join_late_events_total')} late events, skipped ${m.total('tessera_join_bad_records_total')} bad records\n`,
      );
      return 0;
    });
  },
};
