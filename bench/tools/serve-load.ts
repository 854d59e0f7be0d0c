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
 * The Redis round-trip floor: the MULTI/EXEC the feature reader sends for the same request (the
 * watermarks hash, the user's hash and last-k lists, each candidate's item and user x category
 * hashes), with plain ioredis and no decoding, paced at the same rate.
 *
 * Messages in: `{ type: 'init', ... }`, `{ type: 'http' | 'floor', phase, seconds }` (seconds at most: `{ type: 'stop' }` ends the phase early), `{ type: 'exit' }`.
 * Messages out: `{ type: 'ready' }`, `{ type: 'result', phase, ... }`.
 */
import { Agent, request as httpRequest } from 'node:http';
import { Redis } from 'ioredis';
import { compileGroup } from '../../src/features/definitions.js';
import { REFERENCE_GROUPS } from '../../src/features/reference.js';
import { createStreamKeys } from '../../src/streaming/stream-keys.js';

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
      const versions = new Map<string, number>();
      const statuses: Record<string, number> = {};
      // warm-up: connections and JIT on both sides, not counted
      const warm = await paced(Math.min(2, m.seconds), o.rate, async (i) => void (await post('/v1/rank', bodies[i % POOL] as string)));
      const result = await paced(m.seconds, o.rate, async (i) => {
        const res = await post('/v1/rank', bodies[i % POOL] as string);
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
      send({ type: 'result', phase: m.phase, ...result, warmupSent: warm.sent, non200: statuses, versionsServed: versions.size });
    } else if (m.type === 'floor') {
      const o = init as Init;
      const keys = createStreamKeys(o.prefix);
      const lastK = (REFERENCE_GROUPS.map(compileGroup).find((g) => g.name === 'user')?.aggregations ?? []).filter((a) => a.def.op === 'last_k');
      const req = Array.from({ length: POOL }, (_, i) => requestOf(i, o));
      const once = async (i: number) => {
        const r = req[i % POOL] as ReturnType<typeof requestOf>;
        const tx = raw.multi();
        tx.call('HGETALL', keys.watermarks());
        tx.call('HGETALL', keys.entity('user', r.userId));
        for (const a of lastK) tx.zrevrange(keys.lastK('user', a.index, r.userId), 0, (a.def.k ?? 1) - 1, 'WITHSCORES');
        for (const c of r.candidates) {
          tx.call('HGETALL', keys.entity('item', c.itemId));
          tx.call('HGETALL', keys.entity('user_category', `${r.userId}:${c.categoryId}`));
        }
        await tx.exec();
      };
      const warm = await paced(Math.min(2, m.seconds), o.rate, once);
      send({ type: 'result', phase: m.phase, ...(await paced(m.seconds, o.rate, once)), warmupSent: warm.sent, redisCommands: 2 + lastK.length + 2 * o.candidates });
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
