/**
 * Per-command latency inside Redis from `LATENCY HISTOGRAM` (Redis 7): how long a command held the
 * server (its execution, not the network), as cumulative counts per power-of-two bucket of
 * microseconds. Reset with `CONFIG RESETSTAT`. Percentiles are a bucket's upper bound, so they
 * overstate by at most a factor of two; `meanUs` comes from `INFO commandstats`, which is exact.
 */
import type { Redis } from 'ioredis';

export interface CommandLatency {
  command: string;
  calls: number;
  /** Mean time per call inside Redis, µs (INFO commandstats). */
  meanUs: number;
  /** Upper bounds of the buckets holding the 50th and 99th percentile and the slowest call, µs. */
  p50UsAtMost: number;
  p99UsAtMost: number;
  maxUsAtMost: number;
}

export async function commandLatency(redis: Redis, command: string): Promise<CommandLatency> {
  const reply = (await redis.call('LATENCY', 'HISTOGRAM', command)) as unknown[];
  const stats = (await redis.info('commandstats')).split('\n').find((l) => l.startsWith(`cmdstat_${command}:`)) ?? '';
  const meanUs = Number(/usec_per_call=([\d.]+)/.exec(stats)?.[1] ?? NaN);
  const body = (reply[1] ?? []) as unknown[];
  const calls = Number(body[1] ?? 0);
  const flat = (body[3] ?? []) as number[];
  const buckets: { le: number; cumulative: number }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) buckets.push({ le: Number(flat[i]), cumulative: Number(flat[i + 1]) });
  const at = (p: number) => buckets.find((b) => b.cumulative >= Math.ceil(p * calls))?.le ?? NaN;
  return { command, calls, meanUs: Math.round(meanUs * 10) / 10, p50UsAtMost: at(0.5), p99UsAtMost: at(0.99), maxUsAtMost: buckets.at(-1)?.le ?? NaN };
}
