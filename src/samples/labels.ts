import type { Click, Impression, Order } from '../events/event-types.js';
import { MINUTE_MS, HOUR_MS } from '../features/windows.js';

/**
 * The label rule of docs/architecture.md ("Labels"), the one implementation the streaming joiner, the
 * batch sample job and the consistency check share.
 *
 * - click label 1 when a click with the same `requestId` and `itemId` has eventTime in
 *   `[t, t + clickWindowMs]` (both ends inclusive), t the impression's eventTime;
 * - conversion (order) label 1 when an order of the same `userId` and `itemId` has eventTime in
 *   `[t, t + orderWindowMs]`;
 * - a sample exists only once both windows have closed: every event that can still change a label
 *   has `eventTime <= t + max(windows)`, so the sample is mature when the input is complete up
 *   to (and including) that instant.
 */
export interface LabelRule {
  /** The event type a sample is made of (an impression), from the project's label roles. */
  readonly exposure: string;
  /** The event type that sets the click label. */
  readonly click: string;
  /** The event type that sets the conversion label. */
  readonly conversion: string;
  /** Default 30 min. */
  readonly clickWindowMs: number;
  /** Default 24 h. */
  readonly orderWindowMs: number;
}

/**
 * The default windows, and the conventional role names (a project names its own roles, which the
 * project loader always passes; these serve rules built in tests and benchmarks).
 */
export const DEFAULT_LABEL_RULE: LabelRule = { exposure: 'impression', click: 'click', conversion: 'order', clickWindowMs: 30 * MINUTE_MS, orderWindowMs: 24 * HOUR_MS };

/**
 * A rule from optional overrides, checked.
 *
 * @throws RangeError when a window is not a non-negative safe integer of ms.
 */
export function labelRule(overrides: Partial<LabelRule> = {}): LabelRule {
  const rule = { ...DEFAULT_LABEL_RULE, ...overrides };
  for (const name of ['clickWindowMs', 'orderWindowMs'] as const) {
    const v = rule[name];
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`label rule: ${name} must be a whole number of ms >= 0, got ${String(v)}`);
  }
  return rule;
}

/** Whether `click` makes the impression's click label 1. */
export function clickLabels(impression: Pick<Impression, 'requestId' | 'itemId' | 'eventTime'>, click: Pick<Click, 'requestId' | 'itemId' | 'eventTime'>, rule: LabelRule): boolean {
  return (
    click.requestId === impression.requestId &&
    click.itemId === impression.itemId &&
    click.eventTime >= impression.eventTime &&
    click.eventTime <= impression.eventTime + rule.clickWindowMs
  );
}

/** Whether `order` makes the impression's conversion label 1. */
export function orderLabels(impression: Pick<Impression, 'userId' | 'itemId' | 'eventTime'>, order: Pick<Order, 'userId' | 'itemId' | 'eventTime'>, rule: LabelRule): boolean {
  return (
    order.userId === impression.userId &&
    order.itemId === impression.itemId &&
    order.eventTime >= impression.eventTime &&
    order.eventTime <= impression.eventTime + rule.orderWindowMs
  );
}

/** The last event time that can change the labels of an impression at t: `t + max(windows)`. */
export function labelsCloseAt(t: number, rule: LabelRule): number {
  return t + Math.max(rule.clickWindowMs, rule.orderWindowMs);
}

/**
 * Whether an impression at t is mature when the input is known complete for every eventTime <=
 * `completeThrough`.
 */
export function isMature(t: number, completeThrough: number, rule: LabelRule): boolean {
  return labelsCloseAt(t, rule) <= completeThrough;
}
