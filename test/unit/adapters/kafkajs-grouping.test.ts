import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { groupMessagesPerPartition } from '../../../src/adapters/kafka/kafkajs-grouping.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

describe('the linear grouping of kafkajs sends', () => {
  it('groups exactly as kafkajs does: the partitioner once per message, in order, each partition in order', () => {
    // kafkajs's own function, evaluated from its file (the module cache may already hold the replacement).
    const source = readFileSync(createRequire(import.meta.url).resolve('kafkajs/src/producer/groupMessagesPerPartition.js'), 'utf8');
    const module = { exports: undefined as unknown };
    new Function('module', source)(module);
    const original = module.exports as typeof groupMessagesPerPartition;
    const messages = Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, value: String(i) }));
    const partitionMetadata = [0, 1, 2, 3].map((partitionId) => ({ partitionId }));
    const calls = (seen: unknown[]) => ({ message }: { message: unknown }) => {
      seen.push(message);
      return (message as { key: string }).key.charCodeAt((message as { key: string }).key.length - 1) % 4;
    };
    const seenOurs: unknown[] = [];
    const seenTheirs: unknown[] = [];
    const ours = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner: calls(seenOurs) });
    const theirs = original({ topic: 't', partitionMetadata, messages, partitioner: calls(seenTheirs) });
    expect(ours).toEqual(theirs);
    expect(seenOurs).toEqual(seenTheirs);
    expect(seenOurs).toEqual(messages);
    for (const [partition, list] of Object.entries(ours)) {
      expect(list).toEqual(messages.filter((m) => m.key.charCodeAt(m.key.length - 1) % 4 === Number(partition)));
    }
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: calls([]) })).toEqual({});
  });

  it('replaces kafkajs grouping when the adapter loads first, as in the CLI', () => {
    // A fresh process, so no earlier import of kafkajs in this worker decides the outcome.
    const script = `
      const { kafkajsGroupingIsLinear } = await import('./src/adapters/kafka/kafkajs-grouping.ts');
      await import('./src/adapters/kafka/kafka-event-log.ts');
      const { createRequire } = await import('node:module');
      const grouping = createRequire(process.cwd() + '/')('kafkajs/src/producer/groupMessagesPerPartition.js');
      console.log(JSON.stringify({ linear: kafkajsGroupingIsLinear(), marked: grouping[Symbol.for('tessera.kafkajs.linearGrouping')] === true }));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ linear: true, marked: true });
  });
});
