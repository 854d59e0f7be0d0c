import type { Command } from '../command.js';
import { numberOption } from '../command.js';
import { DEAD_LETTER_TABLE } from '../../sink/raw-tables.js';
import { prepareRawStore } from '../../sink/raw-sink.js';
import { withRuntime } from '../with-runtime.js';

export const deadLettersCommand: Command = {
  name: 'deadletters',
  summary: 'Show the dead-lettered records the sink stored: counts per reason and the latest ones.',
  usage: 'tessera deadletters [--limit <n>] [--json]',
  details: 'Reads the dead_letters table (chDB or the ClickHouse server). The dead-letter Kafka topic holds the same records, with the original bytes as value and the reason in headers.',
  options: {
    limit: { type: 'string', description: 'Latest records to list', defaultText: '20' },
    json: { type: 'boolean', description: 'Print JSON' },
  },
  async run(ctx) {
    const limit = numberOption(ctx, 'limit', 20, { min: 0 });
    return withRuntime(ctx, {}, async (rt) => {
      const store = await rt.offline();
      await prepareRawStore(store, rt.project.catalog);
      const byReason = await store.query<{ reason: string; n: number }>(`SELECT reason, count() AS n FROM ${DEAD_LETTER_TABLE} FINAL GROUP BY reason ORDER BY n DESC`);
      const latest = await store.query(
        `SELECT sourceTopic, sourcePartition, sourceOffset, reason, message FROM ${DEAD_LETTER_TABLE} FINAL ORDER BY failedAt DESC, sourceOffset DESC LIMIT ${limit}`,
      );
      if (ctx.values.json) {
        ctx.stdout.write(JSON.stringify({ byReason, latest }, null, 2) + '\n');
        return 0;
      }
      for (const r of byReason) ctx.stdout.write(`${r.reason.padEnd(26)} ${r.n}\n`);
      for (const r of latest) ctx.stdout.write(`${String(r.sourceTopic)}[${String(r.sourcePartition)}]@${String(r.sourceOffset)} ${String(r.reason)}: ${String(r.message)}\n`);
      return 0;
    });
  },
};
