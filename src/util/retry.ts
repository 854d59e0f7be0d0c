import { TesseraError } from '../errors.js';

/** How `retry` backs off. */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 8. */
  attempts?: number;
  /** First delay, ms; doubles each time up to `maxDelayMs`. Default 100. */
  initialDelayMs?: number;
  /** Default 5000. */
  maxDelayMs?: number;
  /** Called before each wait, e.g. to log. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Sleep function (tests inject a fake). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs `fn` until it succeeds, retrying only errors that say they are retriable
 * (`TesseraError.retriable`); anything else is thrown at once. The one place that reads `retriable`.
 */
export async function retry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 8;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let delay = options.initialDelayMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const retriable = err instanceof TesseraError && err.retriable;
      if (!retriable || attempt >= attempts) throw err;
      options.onRetry?.(err, attempt, delay);
      await sleep(delay);
      delay = Math.min(delay * 2, options.maxDelayMs ?? 5000);
    }
  }
}
