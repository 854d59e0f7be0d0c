import { EVENT_TYPES, type EventType } from './event-types.js';

/**
 * Every Kafka topic name is built here and nowhere else. A prefix (config `topicPrefix`,
 * default `tessera`) lets several deployments, or tests, share one broker.
 */
export interface Topics {
  /** The topic an event kind is written to. */
  events(type: EventType): string;
  /** All event topics, in EVENT_TYPES order. */
  allEvents(): string[];
  /** Records that could not be decoded or validated, with the reason in headers. */
  deadLetter(): string;
  /** Events that arrived later than the streaming layer's allowed lateness. */
  late(): string;
  /** Labelled training samples from the streaming joiner. */
  samples(): string;
  /** The event kind a topic carries, or undefined for a topic that is not an event topic. */
  typeOf(topic: string): EventType | undefined;
}

export function createTopics(prefix = 'tessera'): Topics {
  const byTopic = new Map<string, EventType>(EVENT_TYPES.map((t) => [`${prefix}.events.${t}`, t]));
  return {
    events: (type) => `${prefix}.events.${type}`,
    allEvents: () => [...byTopic.keys()],
    deadLetter: () => `${prefix}.deadletter`,
    late: () => `${prefix}.late`,
    samples: () => `${prefix}.samples`,
    typeOf: (topic) => byTopic.get(topic),
  };
}
