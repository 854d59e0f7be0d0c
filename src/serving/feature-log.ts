import type { Logger } from '../ports/logger.js';
import type { EventLog } from '../ports/event-log.js';
import type { Metrics } from '../observability/metrics.js';
import type { ServedRequest } from './rank-service.js';

/**
 * The sampled feature log: a fraction of the served requests, with the features they were ranked
 * on, the model version and the scores, written to the `served` topic (JSON, key userId). Training
 * can learn from served features, and the consistency check can measure serving skew against the
 * batch layer at the same instants.
 *
 * Sending never blocks a request: records are buffered and flushed in the background at most
 * every `flushMs`; the buffer is bounded (`maxBuffered`), and what does not fit is dropped and
 * counted, so a slow broker costs log records, never latency.
 */
export interface FeatureLogOptions {
  log: EventLog;
  topic: string;
  /** Fraction of requests logged, 0..1. */
  rate: number;
  metrics: Metrics;
  logger: Logger;
  /** Deterministic draws in tests. Default Math.random. */
  random?: () => number;
  flushMs?: number;
  maxBuffered?: number;
}

export interface FeatureLog {
  onServed(served: ServedRequest): void;
  /** Sends what is buffered and stops the background flush. */
  close(): Promise<void>;
}

export function createFeatureLog(options: FeatureLogOptions): FeatureLog {
  const { log, topic, rate, metrics, logger } = options;
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`feature log rate must be within 0..1, got ${rate}`);
  const random = options.random ?? Math.random;
  const maxBuffered = options.maxBuffered ?? 10_000;
  let buffer: { topic: string; key: string; value: Buffer; headers: Record<string, string> }[] = [];
  let sending: Promise<void> = Promise.resolve();
  const flush = () => {
    if (buffer.length === 0) return sending;
    const records = buffer;
    buffer = [];
    sending = sending
      .then(() => log.send(records))
      .then(() => metrics.inc('tessera_serve_feature_log_records_total', { outcome: 'sent' }, records.length, 'Feature-log records, by outcome'))
      .catch((err: unknown) => {
        metrics.inc('tessera_serve_feature_log_records_total', { outcome: 'failed' }, records.length, 'Feature-log records, by outcome');
        logger.warn('serve.feature_log_failed', { records: records.length, error: (err as Error).message });
      });
    return sending;
  };
  const timer = setInterval(() => void flush(), options.flushMs ?? 1000);
  timer.unref();
  return {
    onServed(served) {
      if (rate === 0 || random() >= rate) return;
      if (buffer.length >= maxBuffered) {
        metrics.inc('tessera_serve_feature_log_records_total', { outcome: 'dropped' }, 1, 'Feature-log records, by outcome');
        return;
      }
      const { request, features, modelVersion, scores } = served;
      const value = {
        userId: request.userId,
        q: features.q,
        at: request.at,
        modelVersion,
        context: request.context,
        // feature values by group: the request groups', then each candidate's (null: no entity)
        shared: Object.fromEntries(features.shared.map((e) => [e.group, e.values])),
        items: features.items.map((x, i) => ({
          itemId: x.itemId,
          categoryId: x.categoryId,
          score: scores[i],
          groups: Object.fromEntries(x.entities.map((e, j) => [features.candidateGroups[j], e?.values ?? null])),
        })),
        contextFeatures: features.context,
      };
      buffer.push({ topic, key: request.userId, value: Buffer.from(JSON.stringify(value)), headers: { 'content-type': 'application/vnd.tessera.served+json' } });
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
