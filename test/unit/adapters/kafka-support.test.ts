import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaError } from '../../../src/adapters/kafka/kafka-errors.js';
import { kafkaLogCreator } from '../../../src/adapters/kafka/kafka-log-creator.js';
import { createKafkaEventLog } from '../../../src/adapters/kafka/kafka-event-log.js';
import { ConfigError, ServiceError, UsageError } from '../../../src/errors.js';
import type { Logger } from '../../../src/ports/logger.js';

const kafkaJsError = (name: string, retriable: boolean, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), { name, retriable, ...extra });

describe('kafkaError', () => {
  it('keeps kafkajs retriability, and judges exhausted retries by the error retried', () => {
    const retriable = kafkaError(kafkaJsError('KafkaJSProtocolError', true, { type: 'LEADER_NOT_AVAILABLE' }), 'send');
    expect(retriable).toBeInstanceOf(ServiceError);
    expect(retriable.code).toBe('KAFKA_ERROR');
    expect(retriable.retriable).toBe(true);
    expect(retriable.message).toBe('kafka: send: KafkaJSProtocolError happened [LEADER_NOT_AVAILABLE]');
    expect(kafkaError(kafkaJsError('KafkaJSNonRetriableError', false), 'x').retriable).toBe(false);
    const exhausted = kafkaJsError('KafkaJSNumberOfRetriesExceeded', false, { originalError: kafkaJsError('KafkaJSConnectionError', true) });
    expect(kafkaError(exhausted, 'x').retriable).toBe(true);
    const exhaustedFatal = kafkaJsError('KafkaJSNumberOfRetriesExceeded', false, { originalError: kafkaJsError('KafkaJSProtocolError', false) });
    expect(kafkaError(exhaustedFatal, 'x').retriable).toBe(false);
    expect(kafkaError(new TypeError('oops'), 'x').retriable).toBe(false);
    const own = new UsageError('mine');
    expect(kafkaError(own, 'x')).toBe(own);
  });
});

describe('kafkaLogCreator', () => {
  it('routes WARN and ERROR to the logger port and demotes the expected noise to debug', () => {
    const lines: [string, string, unknown][] = [];
    const logger: Logger = {
      debug: (e, f) => lines.push(['debug', e, f]),
      info: (e, f) => lines.push(['info', e, f]),
      warn: (e, f) => lines.push(['warn', e, f]),
      error: (e, f) => lines.push(['error', e, f]),
    };
    const log = kafkaLogCreator(logger)(logLevel.WARN);
    log({ namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { timestamp: 't', message: 'Connection error', broker: 'b:1' } });
    log({ namespace: 'Consumer', level: logLevel.WARN, label: 'WARN', log: { timestamp: 't', message: 'something odd' } });
    log({ namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { timestamp: 't', message: 'Response Heartbeat(key: 12)', error: 'The group is rebalancing, so a rejoin is needed' } });
    log({ namespace: 'Producer', level: logLevel.WARN, label: 'WARN', log: { timestamp: 't', message: 'Limiting retries for the idempotent producer may invalidate EoS guarantees' } });
    expect(lines.map(([level, event]) => `${level} ${event}`)).toEqual(['error kafka.client', 'warn kafka.client', 'debug kafka.client', 'debug kafka.client']);
    expect(lines[0]?.[2]).toEqual({ namespace: 'Connection', message: 'Connection error', broker: 'b:1' });
  });
});

describe('createKafkaEventLog', () => {
  it('refuses brokers that are not host:port, with a message that says how to fix it', () => {
    expect(() => createKafkaEventLog({ brokers: [] })).toThrow(ConfigError);
    expect(() => createKafkaEventLog({ brokers: ['localhost'] })).toThrow(/host:port/);
    expect(() => createKafkaEventLog({ brokers: ['127.0.0.1:9092'] })).not.toThrow();
  });
});
