import { createKafkaEventLog, type KafkaEventLog } from '../../src/adapters/kafka/kafka-event-log.js';
import type { EventLog, TopicSpec } from '../../src/ports/event-log.js';
import { SILENT_LOGGER, type Logger } from '../../src/ports/logger.js';
import { TEST_KAFKA_BROKERS } from '../helpers/env.js';
import { eventLogContract } from './event-log.contract.js';

/** TESSERA_TEST_LOG=1 prints the adapter's and kafkajs's warnings and errors while debugging. */
const logger: Logger = process.env.TESSERA_TEST_LOG
  ? { ...SILENT_LOGGER, warn: (e, f) => console.warn(e, f), error: (e, f) => console.error(e, f) }
  : SILENT_LOGGER;

/** Short timeouts so rebalances, stops and idle detection take well under a second on the test broker. */
const make = (): KafkaEventLog =>
  createKafkaEventLog({
    brokers: TEST_KAFKA_BROKERS,
    clientId: 'tessera-contract',
    logger,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 300,
    rebalanceTimeoutMs: 10_000,
    maxWaitTimeMs: 100,
    idleCheckIntervalMs: 100,
    readTimeoutMs: 20_000,
  });

// The broker started by `scripts/services.sh up kafka`; each case creates randomly named topics,
// which cleanup deletes (through a second client, since a case may have closed its own).
eventLogContract(`kafka at ${TEST_KAFKA_BROKERS.join(',')}`, async () => {
  const log = make();
  const topics = new Set<string>();
  const groups = new Set<string>();
  // Delegates to the log, noting the topics and groups a case creates so cleanup can remove them.
  const tracked: EventLog = {
    ensureTopics: (specs: readonly TopicSpec[]) => {
      for (const s of specs) topics.add(s.name);
      return log.ensureTopics(specs);
    },
    send: (records) => log.send(records),
    maxRecordBytes: (topic) => log.maxRecordBytes(topic),
    consume: (options, handler) => {
      groups.add(options.groupId);
      return log.consume(options, handler);
    },
    endOffsets: (topic) => log.endOffsets(topic),
    startOffsets: (topic) => log.startOffsets(topic),
    offsetsForTimestamp: (topic, ms) => log.offsetsForTimestamp(topic, ms),
    committedOffsets: (groupId, topic) => log.committedOffsets(groupId, topic),
    read: (topic, partition, from, max) => log.read(topic, partition, from, max),
    deleteTopics: (names) => log.deleteTopics(names),
    close: () => log.close(),
  };
  return {
    log: tracked,
    cleanup: async () => {
      await log.close();
      const janitor = make();
      try {
        await janitor.deleteGroups([...groups]);
        await janitor.deleteTopics([...topics]);
      } finally {
        await janitor.close();
      }
    },
  };
});
