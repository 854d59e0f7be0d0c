import type { Command } from '../command.js';
import { UsageError } from '../../errors.js';
import { topicSpecs } from '../../events/topics.js';
import { withRuntime } from '../with-runtime.js';

export const topicsCommand: Command = {
  name: 'topics',
  summary: "Create Tessera's Kafka topics where missing, or list them with their end offsets.",
  usage: 'tessera topics create|list',
  details: 'Event and dead-letter topics keep records forever (retention.ms=-1): the log is the source of truth for replays. Needs TESSERA_KAFKA_BROKERS.',
  options: {},
  allowPositionals: true,
  async run(ctx) {
    const [action] = ctx.positionals;
    if (action !== 'create' && action !== 'list') throw new UsageError('give create or list (see tessera topics --help)');
    return withRuntime(ctx, {}, async (rt) => {
      await rt.ensureTopics();
      for (const spec of topicSpecs(rt.topics, rt.config.partitions)) {
        const ends = await rt.log().endOffsets(spec.name);
        const total = ends.reduce((s, p) => s + p.offset, 0);
        ctx.stdout.write(`${spec.name.padEnd(40)} partitions=${ends.length} records=${total}\n`);
      }
      return 0;
    });
  },
};
