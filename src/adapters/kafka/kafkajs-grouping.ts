/**
 * Replaces kafkajs's grouping of a send's messages by partition with a linear one. Import this
 * module before `kafkajs` (the adapter's modules do, first thing).
 *
 * kafkajs 2.2.4 (its last release) groups with `Object.assign(result, { [p]: [...current, m] })`
 * per message, which copies each partition's list once per message: quadratic in the messages of
 * one `sendBatch`. At the ~7,500 records of one of the adapter's ~768 KiB sends over 4 partitions
 * that is ~3.6 µs and ~2 KB of garbage per record, a fifth of the producer's time per event
 * (`bench/README.md`, "Ingest"). The replacement returns the same object: the partitioner called
 * once per message, in order, each partition's messages in their order.
 *
 * It works through Node's module cache: kafkajs's `sendMessages.js` binds the grouping function
 * when it is first required, so the replacement must be in the cache before that. When kafkajs was
 * loaded earlier by something else, nothing is replaced and {@link kafkajsGroupingIsLinear} says
 * so; sends are then correct, only slower.
 */
import { createRequire } from 'node:module';

type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;
interface GroupArgs {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: Partitioner;
}

/** Marks the linear grouping, so a second evaluation of this module (test isolation) recognises it. */
const LINEAR = Symbol.for('tessera.kafkajs.linearGrouping');

/** The linear grouping (exported for its test). */
export function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: GroupArgs): Record<number, unknown[]> {
  const result: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

Object.defineProperty(groupMessagesPerPartition, LINEAR, { value: true });

const require = createRequire(import.meta.url);
const groupingPath = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
const sendMessagesPath = require.resolve('kafkajs/src/producer/sendMessages.js');
let linear = false;
if (require.cache[sendMessagesPath] === undefined) {
  require(groupingPath);
  const cached = require.cache[groupingPath];
  if (cached !== undefined) {
    cached.exports = groupMessagesPerPartition;
    linear = true;
  }
} else {
  linear = (require(groupingPath) as Record<symbol, unknown>)[LINEAR] === true;
}

/** Whether kafkajs's producer groups messages with {@link groupMessagesPerPartition} in this process. */
export function kafkajsGroupingIsLinear(): boolean {
  return linear;
}
