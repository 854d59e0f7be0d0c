import { existsSync } from 'node:fs';
import type { Command } from '../command.js';
import { numberOption, stringOption } from '../command.js';
import { InvalidEventError, UsageError } from '../../errors.js';
import type { AnyEvent } from '../../events/event-types.js';
import { parseEventJson } from '../../events/json-form.js';
import { createEventProducer } from '../../ingest/producer.js';
import { readLines } from '../lines.js';
import { ProgressBar } from '../../observability/progress.js';
import { withRuntime } from '../with-runtime.js';

/** Longest input line, in bytes: far above any valid event (ids and strings have length limits), and never held in memory. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export const produceCommand: Command = {
  name: 'produce',
  summary: 'Validate events given in the JSON form (one per line) and write them to their Kafka topics as Avro.',
  usage: 'tessera produce --input <events.jsonl|-> [--batch <n>]',
  details: `Each line is an object with "type" (impression, click, order, item_profile, user_profile)
and the event's fields; eventTime is epoch ms or ISO-8601 with a zone. A bad line is reported on
stderr as "line N: REASON: message" and skipped; every good line is still sent. Ids take at most
256 bytes, strings 4096; a line over 4 MiB, or an event whose record is larger than its topic
accepts (max.message.bytes), is rejected as RECORD_TOO_LARGE. Exit code 0 when
all lines were sent, 1 when some were rejected. Needs TESSERA_KAFKA_BROKERS.`,
  options: {
    input: { type: 'string', short: 'i', description: 'JSON-lines file, or - for stdin' },
    batch: { type: 'string', description: 'Events per produce request', defaultText: '2000' },
  },
  async run(ctx) {
    const input = stringOption(ctx, 'input');
    if (!input) throw new UsageError('--input is required (a JSON-lines file, or - for stdin)');
    if (input !== '-' && !existsSync(input)) throw new UsageError(`--input ${input}: no such file`);
    const batchSize = numberOption(ctx, 'batch', 2000, { min: 1 });
    return withRuntime(ctx, {}, async (rt) => {
      await rt.ensureTopics();
      const producer = createEventProducer({ log: rt.log(), registry: rt.registry, topics: rt.topics, clock: rt.clock, maxFutureMs: rt.config.maxFutureMs });
      const progress = new ProgressBar({ label: 'produce', unit: 'events', out: ctx.stderr });
      let batch: AnyEvent[] = [];
      let lineNos: number[] = [];
      let sent = 0;
      let rejected = 0;
      const reject = (n: number, err: InvalidEventError) => {
        rejected++;
        ctx.stderr.write(`line ${n}: ${err.reason}: ${err.message}\n`);
      };
      const flush = async () => {
        const report = await producer.send(batch);
        sent += report.sent;
        for (const r of report.rejected) reject(lineNos[r.index] as number, r.error);
        progress.tick(batch.length);
        batch = [];
        lineNos = [];
      };
      for await (const read of readLines(input, { maxBytes: MAX_LINE_BYTES })) {
        if (read.line === null) {
          reject(read.n, new InvalidEventError('RECORD_TOO_LARGE', `the line takes ${read.bytes} bytes; a line may take at most ${MAX_LINE_BYTES}`));
          continue;
        }
        const { line, n } = read;
        if (line.trim() === '') continue;
        try {
          batch.push(parseEventJson(line, rt.project.catalog, rt.clock()));
          lineNos.push(n);
        } catch (err) {
          if (!(err instanceof InvalidEventError)) throw err;
          reject(n, err);
        }
        if (batch.length >= batchSize) await flush();
      }
      if (batch.length > 0) await flush();
      progress.finish();
      ctx.stdout.write(`sent ${sent} events, rejected ${rejected} lines\n`);
      return rejected > 0 ? 1 : 0;
    });
  },
};
