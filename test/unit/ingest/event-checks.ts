import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REFERENCE_EVENT_TYPES, type AnyEvent, type Context, type ReferenceEvent } from '../../../src/events/event-types.js';

/** The repository root, for resolving the shared data directory next to it. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** A file of the licensed shared data set, or null (with the reason) when it is absent. */
export function sharedData(relative: string): { path: string; present: boolean; reason: string } {
  const path = resolve(REPO_ROOT, '../shared/data', relative);
  const present = existsSync(path);
  return { path, present, reason: `real-data test skipped: ${path} not found (the licensed samples live outside the repo)` };
}

const isId = (v: unknown): boolean => typeof v === 'string' && v.length > 0;
const isNullableString = (v: unknown): boolean => v === null || typeof v === 'string';
const isTime = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v);

function contextProblems(c: Context | undefined): string[] {
  if (c === undefined || c === null || typeof c !== 'object') return ['context missing'];
  const keys = ['device', 'os', 'country', 'city', 'page', 'timezone'] as const;
  const problems = keys.filter((k) => !isNullableString(c[k])).map((k) => `context.${k} not string|null`);
  if (Object.keys(c).length !== keys.length) problems.push(`context has keys ${Object.keys(c).join(',')}`);
  return problems;
}

/**
 * Everything wrong with an event against the TypeScript event model (which mirrors the Avro
 * schemas): required ids non-empty, instants integral ms, nullable fields null or typed, no extra
 * fields. An empty list means valid.
 */
export function eventProblems(event: AnyEvent): string[] {
  const p: string[] = [];
  if (!(REFERENCE_EVENT_TYPES as readonly string[]).includes(event.type)) return [`unknown type ${String(event.type)}`];
  // A reference type: the generator and the importers write the reference project's events.
  const e = event as ReferenceEvent;
  if (!isId(e.eventId)) p.push('eventId empty');
  if (!isTime(e.eventTime)) p.push(`eventTime ${e.eventTime} not an integer`);
  const expectKeys = (keys: string[]): void => {
    const actual = Object.keys(e).sort().join(',');
    const expected = ['type', 'eventId', 'eventTime', ...keys].sort().join(',');
    if (actual !== expected) p.push(`keys ${actual} != ${expected}`);
  };
  switch (e.type) {
    case 'impression':
    case 'click':
      expectKeys(['requestId', 'userId', 'itemId', 'categoryId', 'position', 'context']);
      if (!isId(e.requestId) || !isId(e.userId) || !isId(e.itemId)) p.push('empty requestId/userId/itemId');
      if (!isNullableString(e.categoryId)) p.push('categoryId');
      if (e.type === 'impression' ? !(Number.isInteger(e.position) && e.position >= 0) : !(e.position === null || (Number.isInteger(e.position) && e.position >= 0))) {
        p.push(`position ${e.position}`);
      }
      p.push(...contextProblems(e.context));
      break;
    case 'order':
      expectKeys(['orderId', 'requestId', 'userId', 'itemId', 'categoryId', 'amount', 'currency', 'quantity', 'context']);
      if (!isId(e.orderId) || !isId(e.userId) || !isId(e.itemId)) p.push('empty orderId/userId/itemId');
      if (!(e.requestId === null || isId(e.requestId))) p.push('requestId');
      if (!isNullableString(e.categoryId)) p.push('categoryId');
      if (!(typeof e.amount === 'number' && Number.isFinite(e.amount) && e.amount > 0)) p.push(`amount ${e.amount}`);
      if (!/^[A-Z]{3}$/.test(e.currency)) p.push(`currency ${e.currency}`);
      if (!(Number.isInteger(e.quantity) && e.quantity >= 1)) p.push(`quantity ${e.quantity}`);
      p.push(...contextProblems(e.context));
      break;
    case 'item_profile':
      expectKeys(['itemId', 'categoryId', 'price', 'brand']);
      if (!isId(e.itemId)) p.push('itemId empty');
      if (!isNullableString(e.categoryId) || !isNullableString(e.brand)) p.push('categoryId/brand');
      if (!(e.price === null || (typeof e.price === 'number' && Number.isFinite(e.price) && e.price > 0))) p.push(`price ${e.price}`);
      break;
    case 'user_profile':
      expectKeys(['userId', 'ageBucket', 'gender', 'signupTime']);
      if (!isId(e.userId)) p.push('userId empty');
      if (!isNullableString(e.ageBucket) || !isNullableString(e.gender)) p.push('ageBucket/gender');
      if (!(e.signupTime === null || isTime(e.signupTime))) p.push(`signupTime ${e.signupTime}`);
      break;
  }
  return p;
}

/** Drains an async generator into an array. */
export async function collect<T>(gen: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

/** Area under the ROC curve of scores against 0/1 labels (ties get half credit). */
export function auc(scores: readonly number[], labels: readonly number[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => (scores[a] as number) - (scores[b] as number));
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j < idx.length && scores[idx[j] as number] === scores[idx[i] as number]) j++;
    const midRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if (labels[idx[k] as number] === 1) {
        pos++;
        rankSum += midRank;
      }
    }
    i = j;
  }
  const neg = idx.length - pos;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}
