import cluster, { type Worker } from 'node:cluster';
import type { Metrics } from '../observability/metrics.js';

/**
 * `tessera serve --workers N`: N service processes on one port (docs/architecture.md, "Process
 * topology"). The primary forks the workers (node:cluster: it accepts connections and hands them
 * to the workers in turn), prints the address once every worker is ready, restarts a worker that
 * dies, and on SIGTERM / SIGINT stops them all. Each worker is a whole service: its own Redis
 * connection, its own model watcher following the model store (so each swaps a new version on its
 * own, within one poll interval of the others), its own warm-up before it takes its share.
 *
 * Metrics are per process; `/metrics` on any worker answers every worker's series, each with a
 * `worker` label, gathered through the primary, so a scrape sees the whole service whichever
 * worker takes it.
 */

/** Messages between the primary and the workers. */
type ClusterMessage =
  | { tessera: 'listening'; port: number; version: string | null }
  | { tessera: 'metrics-request'; id: number }
  | { tessera: 'metrics-collect'; id: number }
  | { tessera: 'metrics-part'; id: number; text: string }
  | { tessera: 'metrics-answer'; id: number; text: string };

const isMessage = (m: unknown): m is ClusterMessage => typeof m === 'object' && m !== null && typeof (m as { tessera?: unknown }).tessera === 'string';

/** Whether this process is a worker of `tessera serve --workers`. */
export function isServeWorker(): boolean {
  return cluster.isWorker;
}

/** The worker's number (1..N), as its `worker` metrics label says. */
export function serveWorkerId(): string {
  return String(cluster.worker?.id ?? 0);
}

/**
 * Merges Prometheus text expositions into one: the samples of each metric family together under
 * one `# HELP` and `# TYPE` (the format wants each family in one group), families in order of
 * first appearance. Samples of the inputs must differ by label (the `worker` label does that).
 */
export function mergeExpositions(texts: readonly string[]): string {
  const families = new Map<string, { head: string[]; samples: string[] }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { head: [], samples: [] }));
    return f;
  };
  for (const text of texts) {
    let current = '';
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        current = meta[2] as string;
        const f = family(current);
        if (!f.head.some((h) => h.startsWith(`# ${meta[1]} `))) f.head.push(line);
        continue;
      }
      // a histogram's _bucket / _sum / _count samples follow their family's TYPE line
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? '';
      const owner = current !== '' && name.startsWith(current) ? current : name;
      family(owner).samples.push(line);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) out.push(...f.head, ...f.samples);
  return out.join('\n') + '\n';
}

/** Adds a label to every sample line of an exposition. */
export function labelExposition(text: string, label: string, value: string): string {
  const pair = `${label}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  return text
    .split('\n')
    .map((line) => {
      if (line === '' || line.startsWith('#')) return line;
      const brace = line.indexOf('{');
      const space = line.indexOf(' ');
      if (brace >= 0 && brace < space) return `${line.slice(0, brace + 1)}${pair},${line.slice(brace + 1)}`;
      return `${line.slice(0, space)}{${pair}}${line.slice(space)}`;
    })
    .join('\n');
}

/**
 * In a worker: what `/metrics` answers, every worker's series gathered through the primary (this
 * one's only, labelled, when the primary does not answer within `timeoutMs`). Also answers the
 * primary's collection requests with this worker's series. Returns the renderer.
 */
export function workerMetrics(metrics: Metrics, render: () => string, timeoutMs = 1000): () => Promise<string> {
  const id = serveWorkerId();
  const own = () => labelExposition(render(), 'worker', id);
  const pending = new Map<number, (text: string) => void>();
  let next = 0;
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return;
    if (m.tessera === 'metrics-collect') process.send?.({ tessera: 'metrics-part', id: m.id, text: own() } satisfies ClusterMessage);
    if (m.tessera === 'metrics-answer') {
      pending.get(m.id)?.(m.text);
      pending.delete(m.id);
    }
  });
  return () =>
    new Promise<string>((resolve) => {
      const rid = next++;
      const timer = setTimeout(() => {
        pending.delete(rid);
        metrics.inc('tessera_serve_metrics_gather_timeouts_total', {}, 1, 'Scrapes answered with this worker\'s series only (the primary did not gather in time)');
        resolve(own());
      }, timeoutMs);
      pending.set(rid, (text) => {
        clearTimeout(timer);
        resolve(text);
      });
      process.send?.({ tessera: 'metrics-request', id: rid } satisfies ClusterMessage);
    });
}

/** In a worker: tells the primary this worker listens (on `port`) and is warmed up. */
export function announceListening(port: number, version: string | null): void {
  process.send?.({ tessera: 'listening', port, version } satisfies ClusterMessage);
}

export interface ServePrimaryOptions {
  workers: number;
  /** Where the address goes once every worker is ready. */
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  host: string;
  /** Time a worker may take to start and warm up, ms. Default 120 s. */
  startTimeoutMs?: number;
}

/**
 * The primary of `tessera serve --workers N`: forks the workers (each runs this same command line),
 * waits until all listen, prints `serving on http://host:port (N workers)`, restarts any that
 * dies (after 1 s), gathers their metrics for a scrape, and stops them on SIGTERM / SIGINT.
 * Resolves to the exit code: 0 after an orderly stop, 1 when the workers cannot start.
 */
export async function runServePrimary(options: ServePrimaryOptions): Promise<number> {
  const { workers, stdout, stderr, host } = options;
  let stopping = false;
  let restarts = 0;
  const live = new Set<Worker>();
  let gather = 0;
  const gathering = new Map<number, { from: Worker; parts: string[]; expected: number; timer: NodeJS.Timeout; requestId: number }>();

  const finishGather = (gid: number) => {
    const g = gathering.get(gid);
    if (g === undefined) return;
    gathering.delete(gid);
    clearTimeout(g.timer);
    const answer = `${mergeExpositions(g.parts)}# TYPE tessera_serve_workers gauge\ntessera_serve_workers ${live.size}\n# TYPE tessera_serve_worker_restarts_total counter\ntessera_serve_worker_restarts_total ${restarts}\n`;
    if (g.from.isConnected()) g.from.send({ tessera: 'metrics-answer', id: g.requestId, text: answer } satisfies ClusterMessage);
  };

  const onMessage = (worker: Worker, m: unknown) => {
    if (!isMessage(m)) return;
    if (m.tessera === 'metrics-request') {
      const gid = gather++;
      const targets = [...live].filter((w) => w.isConnected());
      gathering.set(gid, { from: worker, parts: [], expected: targets.length, requestId: m.id, timer: setTimeout(() => finishGather(gid), 500) });
      for (const w of targets) w.send({ tessera: 'metrics-collect', id: gid } satisfies ClusterMessage);
    } else if (m.tessera === 'metrics-part') {
      const g = gathering.get(m.id);
      if (g === undefined) return;
      g.parts.push(m.text);
      if (g.parts.length >= g.expected) finishGather(m.id);
    }
  };

  const fork = (): Promise<{ port: number; version: string | null }> => {
    const worker = cluster.fork();
    live.add(worker);
    worker.on('message', (m: unknown) => onMessage(worker, m));
    worker.on('exit', (code, signal) => {
      live.delete(worker);
      if (stopping) return;
      restarts++;
      stderr.write(`serve: worker ${worker.id} exited (${signal ?? code}); starting another in 1 s\n`);
      setTimeout(() => {
        if (!stopping) fork().catch((err: unknown) => stderr.write(`serve: a restarted worker did not start: ${(err as Error).message}\n`));
      }, 1000).unref();
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${worker.id} did not start within ${options.startTimeoutMs ?? 120_000} ms`)), options.startTimeoutMs ?? 120_000);
      worker.on('message', (m: unknown) => {
        if (isMessage(m) && m.tessera === 'listening') {
          clearTimeout(timer);
          resolve({ port: m.port, version: m.version });
        }
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`worker ${worker.id} exited with ${code} before it listened`));
      });
    });
  };

  const stopAll = async () => {
    stopping = true;
    await Promise.all(
      [...live].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            w.once('exit', () => resolve());
            w.process.kill('SIGTERM');
          }),
      ),
    );
  };

  let started: { port: number; version: string | null }[];
  try {
    started = await Promise.all(Array.from({ length: workers }, () => fork()));
  } catch (err) {
    stderr.write(`serve: ${(err as Error).message}\n`);
    await stopAll();
    return 1;
  }
  const first = started[0] as { port: number; version: string | null };
  stdout.write(`serving on http://${host}:${first.port} (${workers} workers, model ${first.version ?? 'popularity until one is published'})\n`);
  await new Promise<void>((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
      stderr.write(`${signal}: stopping ${live.size} workers\n`);
      void stopAll().then(resolve);
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
  return 0;
}
