/**
 * The load generator of bench/serve.ts, run in its own process (forked, IPC messages) so that the
 * service under test and the client never share an event loop.
 *
 * Open loop at a fixed rate: request i is due at t0 + i / rate whatever happened to the ones before
 * (a slow answer never delays the next send, so a stall shows up in the tail instead of being
 * hidden: no coordinated omission). Keep-alive HTTP agent; bodies pre-built. Each latency is taken
 * twice (of every answer, a 503 too; in-flight requests are capped at 256, and one due beyond the
 * cap is dropped and counted, so an overload shows as drops and a long tail, not an endless queue):
 * from the actual send (what the service and the loopback cost) and from the due time
 * (adds the client's timer lateness, ~1 ms granularity). Every answer counts, a 503 too (by status
 * and code in `non200`); `errors` are requests that got no answer.
 *
 * The Redis round-trip floor: for the same requests, the very reads the service sends, and
 * nothing else. Each pooled request's queries are recorded once from the service's own
 * FeatureReader (the catalog, the watermarks, the user's hash and last-k set, each distinct item
 * and user x category hash: the same keys, repeated refs read once), then sent with the Redis
 * adapter's own encoding (`sendRead`: one MULTI/EXEC, every hash in one EVAL that packs each into
 * one string), paced at the same rate; the replies are not unpacked or decoded. So the floor is
 * one round trip of the service's exact Redis work: what the service adds above it is its own
 * CPU (HTTP, decoding, features, scoring). The load process's CPU per request is reported too
 * (`loadCpuMsPerRequest`).
 *
 * Messages in: `{ type: 'init', ... }`, `{ type: 'http' | 'floor', phase, seconds }` (seconds at most: `{ type: 'stop' }` ends the phase early), `{ type: 'exit' }`.
 * Messages out: `{ type: 'ready' }`, `{ type: 'result', phase, ... }`.
 */
import { Agent, request as httpRequest } from 'node:http';
import { Redis } from 'ioredis';
import { sendRead } from '../../src/adapters/redis/redis-online-store.js';
import type { OnlineStore, ReadQuery, ReadValue } from '../../src/ports/online-store.js';
import { FeatureReader } from '../../src/serving/feature-reader.js';
import { createStreamKeys } from '../../src/streaming/stream-keys.js';
import { GROUPS } from '../project.js';

interface Init {
  type: 'init';
  url: string;
  redisUrl: string;
  prefix: string;
  users: number;
  items: number;
  categories: number;
  candidates: number;
  rate: number;
}
interface Run {
  type: 'http' | 'floor';
  phase: string;
  seconds: number;
  /** Seconds of uncounted warm-up at the same rate first; default 2 (0: every request counts, e.g. right after a cold start). */
  warmupSeconds?: number;
  /** Rate of this phase when not the init's (e.g. an overload phase that measures capacity). */
  rate?: number;
}
type Message = Init | Run | { type: 'stop' } | { type: 'exit' };

const send = (m: unknown) => process.send?.(m);
let init: Init | null = null;
let agent: Agent;
let raw: Redis;
let bodies: string[] = [];

const POOL = 1000;
/** Requests in flight at most; a request due beyond it is not sent and counted as dropped. */
const IN_FLIGHT_CAP = 256;
const requestOf = (i: number, o: Init) => ({
  userId: `u${(i * 7919) % o.users}`,
  candidates: Array.from({ length: o.candidates }, (_, j) => ({ itemId: `i${(i * 37 + j * 101) % o.items}`, categoryId: `c${(i + j) % o.categories}` })),
  context: { device: i % 3 === 0 ? 'android' : 'ios', page: 'home', timezone: 'Asia/Shanghai' },
  at: 'watermark',
});

/**
 * The queries the service's FeatureReader sends for each pooled request, recorded through a
 * store that answers every read with empty state (cold-start features, a watermark of 1).
 */
async function recordReads(o: Init): Promise<ReadQuery[][]> {
  let last: readonly ReadQuery[] = [];
  const empty = (q: ReadQuery): ReadValue => {
    switch (q.kind) {
      case 'hgetall':
        return { kind: 'hgetall', value: q.key.endsWith(':wm') ? { 'p:0': '1' } : {} };
      case 'hgetallFlat':
        return { kind: 'hgetallFlat', value: [] };
      case 'ztop':
        return { kind: 'ztop', value: [] };
      default:
        throw new Error(`the floor does not expect a ${q.kind} read`);
    }
  };
  const recorder = { read: async (queries: readonly ReadQuery[]) => ((last = queries), queries.map(empty)) } as unknown as OnlineStore;
  const reader = new FeatureReader({ store: recorder, keys: createStreamKeys(o.prefix), groups: GROUPS, clock: Date.now });
  const reads: ReadQuery[][] = [];
  for (let i = 0; i < POOL; i++) {
    const r = requestOf(i, o);
    await reader.readRequest({ userId: r.userId, items: r.candidates, context: { ...r.context, os: null, country: null, city: null }, at: 'watermark' });
    reads.push([...last]);
  }
  return reads;
}

function post(path: string, body: string): Promise<{ status: number; text: string }> {
  const o = init as Init;
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${o.url}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pct = (a: Float64Array, p: number): number => {
  if (a.length === 0) return NaN;
  return a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] as number;
};
const r3 = (x: number) => Math.round(x * 1000) / 1000;
/** This process's CPU since `from`, ms per request. */
const cpuPerRequest = (from: NodeJS.CpuUsage, requests: number): number => {
  const c = process.cpuUsage(from);
  return r3((c.user + c.system) / 1000 / Math.max(1, requests));
};

/** Set by a `stop` message: the phase in progress sends nothing more and reports what it has. */
let stopRequested = false;

/**
 * Runs `fire(i)` at `rate` per second for `seconds` (or until a `stop` message); latencies from
 * the send and from the due time, of every answer (a non-200 answer is an answer: `fire` counts it).
 */
async function paced(seconds: number, rate: number, fire: (i: number) => Promise<void>): Promise<Record<string, number>> {
  let total = Math.max(1, Math.round(seconds * rate));
  stopRequested = false;
  const interval = 1000 / rate;
  const fromSend = new Float64Array(total).fill(NaN);
  const fromDue = new Float64Array(total).fill(NaN);
  let done = 0;
  let errors = 0;
  let next = 0;
  let maxInFlight = 0;
  let dropped = 0;
  let inFlight = 0;
  const t0 = performance.now() + 20;
  await new Promise<void>((resolve) => {
    const tick = () => {
      if (stopRequested && next < total) {
        total = next;
        if (done === total) resolve();
        return;
      }
      const now = performance.now();
      while (next < total && t0 + next * interval <= now) {
        const i = next++;
        if (inFlight >= IN_FLIGHT_CAP) {
          // overload: the client refuses to queue without bound (latencies would measure the queue)
          dropped++;
          if (++done === total) resolve();
          continue;
        }
        const due = t0 + i * interval;
        const sent = performance.now();
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        fire(i).then(
          () => {
            const end = performance.now();
            fromSend[i] = end - sent;
            fromDue[i] = end - due;
          },
          () => void errors++,
        ).finally(() => {
          inFlight--;
          if (++done === total) resolve();
        });
      }
      if (next < total) setTimeout(tick, Math.max(0, t0 + next * interval - performance.now() - 0.25));
    };
    tick();
  });
  const elapsed = (performance.now() - t0) / 1000;
  const ok = (a: Float64Array) => Float64Array.from(a.subarray(0, total).filter((x) => x === x)).sort();
  const s = ok(fromSend);
  const d = ok(fromDue);
  return {
    due: total,
    sent: total - dropped,
    answered: s.length,
    droppedAtCap: dropped,
    errors,
    answeredPerSecond: r3(s.length / elapsed),
    p50Ms: r3(pct(s, 50)),
    p90Ms: r3(pct(s, 90)),
    p99Ms: r3(pct(s, 99)),
    p999Ms: r3(pct(s, 99.9)),
    maxMs: r3(s.length ? (s[s.length - 1] as number) : NaN),
    fromDueP50Ms: r3(pct(d, 50)),
    fromDueP99Ms: r3(pct(d, 99)),
    maxInFlight,
  };
}

process.on('message', (m: Message) => {
  void (async () => {
    if (m.type === 'init') {
      init = m;
      agent = new Agent({ keepAlive: true, maxSockets: 64 });
      bodies = Array.from({ length: POOL }, (_, i) => JSON.stringify(requestOf(i, m)));
      raw = new Redis(m.redisUrl, { lazyConnect: true });
      await raw.connect();
      send({ type: 'ready' });
    } else if (m.type === 'http') {
      const o = init as Init;
      const rate = m.rate ?? o.rate;
      const cpu0 = process.cpuUsage();
      const versions = new Map<string, number>();
      const statuses: Record<string, number> = {};
      // warm-up: connections and JIT on both sides, not counted
      const warmS = Math.min(m.warmupSeconds ?? 2, m.seconds);
      const warm = warmS > 0 ? await paced(warmS, rate, async (i) => void (await post('/v1/rank', bodies[i % POOL] as string))) : { sent: 0 };
      let over50 = 0;
      const result = await paced(m.seconds, rate, async (i) => {
        const t = performance.now();
        const res = await post('/v1/rank', bodies[i % POOL] as string);
        if (performance.now() - t > 50) over50++;
        if (res.status !== 200) {
          const code = /"code":"([A-Z_]+)"/.exec(res.text)?.[1] ?? '';
          statuses[`${res.status} ${code}`.trim()] = (statuses[`${res.status} ${code}`.trim()] ?? 0) + 1;
          return;
        }
        // the version: a cheap scan instead of parsing 200 items on every answer
        const at = res.text.indexOf('"version":"');
        const v = at < 0 ? '?' : res.text.slice(at + 11, res.text.indexOf('"', at + 11));
        versions.set(v, (versions.get(v) ?? 0) + 1);
        if (i % 500 === 0) {
          const body = JSON.parse(res.text) as { items: unknown[] };
          if (body.items.length !== o.candidates) throw new Error(`${body.items.length} items for ${o.candidates} candidates`);
        }
      });
      send({ type: 'result', phase: m.phase, rate, ...result, over50Ms: over50, warmupSent: warm.sent, non200: statuses, versionsServed: versions.size, loadCpuMsPerRequest: cpuPerRequest(cpu0, (warm.sent ?? 0) + (result.sent ?? 0)) });
    } else if (m.type === 'floor') {
      const o = init as Init;
      const reads = await recordReads(o);
      const cpu0 = process.cpuUsage();
      const once = async (i: number) => {
        const sent = await sendRead(raw, reads[i % POOL] as ReadQuery[]);
        for (const [err] of sent?.replies ?? []) if (err) throw err;
      };
      const warm = await paced(Math.min(2, m.seconds), o.rate, once);
      const result = await paced(m.seconds, o.rate, once);
      const queries = reads.map((r) => r.length);
      const hashes = reads.map((r) => r.filter((q) => q.kind === 'hgetallFlat').length);
      send({
        type: 'result', phase: m.phase, ...result, warmupSent: warm.sent,
        readsPerRequest: { queries: Math.min(...queries), queriesMax: Math.max(...queries), hashes: Math.min(...hashes), hashesMax: Math.max(...hashes) },
        loadCpuMsPerRequest: cpuPerRequest(cpu0, (warm.sent ?? 0) + (result.sent ?? 0)),
      });
    } else if (m.type === 'stop') {
      stopRequested = true;
    } else {
      agent?.destroy();
      raw?.disconnect();
      process.exit(0);
    }
  })().catch((err: unknown) => {
    send({ type: 'error', message: (err as Error).stack ?? String(err) });
  });
});
send({ type: 'hello' });
