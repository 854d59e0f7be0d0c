import type { EventType } from './event-types.js';

/**
 * Every Kafka topic name is built here and nowhere else. A prefix (config `topicPrefix`,
 * default `tessera`) lets several deployments, or tests, share one broker.
 */
export interface Topics {
  /** The topic an event kind is written to. */
  events(type: EventType): string;
  /** All event topics, in the order of the event types given. */
  allEvents(): string[];
  /** Records that could not be decoded or validated, with the reason in headers. */
  deadLetter(): string;
  /** Events that arrived later than the streaming layer's allowed lateness. */
  late(): string;
  /** Labelled training samples from the streaming joiner. */
  samples(): string;
  /** The sampled log of served ranking requests (features, model version, scores). */
  served(): string;
  /** The event kind a topic carries, or undefined for a topic that is not an event topic. */
  typeOf(topic: string): EventType | undefined;
}

/**
 * The topics of a project's event types (`<prefix>.events.<type>`) and Tessera's own topics.
 *
 * @param eventTypes the project's event types (`catalog.types`).
 */
export function createTopics(eventTypes: readonly EventType[], prefix = 'tessera'): Topics {
  const byTopic = new Map<string, EventType>(eventTypes.map((t) => [`${prefix}.events.${t}`, t]));
  return {
    events: (type) => `${prefix}.events.${type}`,
    allEvents: () => [...byTopic.keys()],
    deadLetter: () => `${prefix}.deadletter`,
    late: () => `${prefix}.late`,
    samples: () => `${prefix}.samples`,
    served: () => `${prefix}.served`,
    typeOf: (topic) => byTopic.get(topic),
  };
}

/** A topic to create, as the EventLog port's `ensureTopics` takes it. */
export interface TopicSpecLike {
  name: string;
  partitions: number;
  config?: Record<string, string>;
}

/**
 * The topics Tessera creates. Event topics and the dead-letter topic keep records forever
 * (`retention.ms=-1`): the log is the source of truth for kappa rebuilds, and time-based
 * retention, which reads record timestamps, must never eat a replay. Samples are derived data.
 */
export function topicSpecs(topics: Topics, partitions: number): TopicSpecLike[] {
  const forever = { 'retention.ms': '-1' };
  return [
    ...topics.allEvents().map((name) => ({ name, partitions, config: forever })),
    { name: topics.deadLetter(), partitions, config: forever },
    { name: topics.late(), partitions, config: forever },
    { name: topics.samples(), partitions, config: { 'retention.ms': String(7 * 86_400_000) } },
    { name: topics.served(), partitions, config: { 'retention.ms': String(7 * 86_400_000) } },
  ];
}
