import type { Command } from '../command.js';
import { durationOption, numberOption, stringOption } from '../command.js';
import { UsageError } from '../../errors.js';
import { formatInstant, parseInstant } from '../../events/time.js';
import { rebuildGroup } from '../../streaming/rebuild.js';
import { createStreamKeys } from '../../streaming/stream-keys.js';
import { STREAM_DEFAULTS } from '../../streaming/stream-processor.js';
import { runUntilStopped } from '../signals.js';
import { withRuntime } from '../with-runtime.js';
import { selectGroups } from './stream.js';

export const rebuildCommand: Command = {
  name: 'rebuild',
  summary: "Kappa: replay the log into a new version of a group's online state, then flip its alias.",
  usage: 'tessera rebuild <group> [--from <ISO time>] [--grace 24h] [--namespace <ns>] [--until-idle]',
  details: `Replays the event topics the group reads through the streaming code into a new namespace (a
stream deployment of its own, exactly once in effect), and once caught up points the group's alias
in the catalog at it: readers switch at their next read. The replaced version stays for rollback
(\`tessera versions rollback <group>\`) until the grace period ends (\`tessera versions gc\` drops it).
After the flip the command keeps streaming into the new version until SIGTERM; with --until-idle it
exits and prints the \`tessera stream\` command that continues it. --from applies only events from
that event time on. Needs TESSERA_KAFKA_BROKERS and TESSERA_REDIS_URL.`,
  options: {
    from: { type: 'string', description: 'Apply only events with eventTime at or after this ISO time' },
    grace: { type: 'string', description: 'How long the replaced version is kept for rollback', defaultText: '24h' },
    namespace: { type: 'string', description: 'Name of the new version', defaultText: '<group>-r<epoch ms>' },
    'until-idle': { type: 'boolean', description: 'Exit after the flip instead of streaming on' },
    'idle-ms': { type: 'string', description: 'How long the log must stay caught up before the flip, ms', defaultText: '1000' },
    'lateness-ms': { type: 'string', description: 'Allowed lateness, ms', defaultText: "the project's stream.lateness" },
    'max-batch': { type: 'string', description: 'Records per atomic update at most', defaultText: String(STREAM_DEFAULTS.maxBatchRecords) },
  },
  allowPositionals: true,
  async run(ctx) {
    const [name] = ctx.positionals;
    if (!name) throw new UsageError('usage: tessera rebuild <group> (see tessera rebuild --help)');
    const fromText = stringOption(ctx, 'from');
    let fromTime: number | undefined;
    if (fromText !== undefined) {
      try {
        fromTime = parseInstant(fromText);
      } catch (err) {
        throw new UsageError(`--from "${fromText}": ${(err as Error).message}`);
      }
    }
    return withRuntime(ctx, {}, async (rt) => {
      if (!rt.config.redisUrl) throw new UsageError('rebuild writes the online store: set TESSERA_REDIS_URL');
      // the version that serves is what a rebuild replays (a new definition goes through apply and backfill)
      const [group] = selectGroups(await rt.servingGroups(), name);
      await rt.ensureTopics();
      const namespace = stringOption(ctx, 'namespace');
      const result = await rebuildGroup(
        { log: rt.log(), store: rt.online(), registry: rt.registry, topics: rt.topics, keys: createStreamKeys(rt.config.topicPrefix), groups: [], logger: rt.logger, metrics: rt.metrics, clock: rt.clock, prefix: rt.config.topicPrefix },
        group!,
        {
          ...(namespace !== undefined ? { namespace } : {}),
          ...(fromTime !== undefined ? { fromTime } : {}),
          graceMs: durationOption(ctx, 'grace', 86_400_000),
          latenessMs: numberOption(ctx, 'lateness-ms', rt.project.latenessMs, { min: 0 }),
          maxFutureMs: rt.config.maxFutureMs,
          maxBatchRecords: numberOption(ctx, 'max-batch', STREAM_DEFAULTS.maxBatchRecords, { min: 1 }),
          idleMs: numberOption(ctx, 'idle-ms', 1000, { min: 0 }),
          continueLive: ctx.values['until-idle'] !== true,
        },
      );
      ctx.stdout.write(
        `rebuilt ${group!.name} into ${result.namespace} (${result.applied} events${fromTime !== undefined ? ` from ${formatInstant(fromTime)}` : ''}); alias flipped from ${result.previous}\n`,
      );
      if (result.live === null) {
        ctx.stdout.write(`continue it with: tessera stream --namespace ${result.namespace} --group ${result.consumerGroup} --groups ${group!.name}\n`);
        return 0;
      }
      await runUntilStopped(result.live);
      return 0;
    });
  },
};
