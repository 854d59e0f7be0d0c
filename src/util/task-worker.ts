import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, Worker, workerData } from 'node:worker_threads';

/** How a {@link TaskWorker} starts its thread. */
export interface TaskWorkerOptions {
  /**
   * The worker module's compiled path (`./x.js` beside the caller's module) and its TypeScript
   * source (`./x.ts`), as URLs; the source runs through tsx when Tessera runs from its sources.
   */
  readonly module: { readonly js: URL; readonly ts: URL };
  /** The thread's nice value on Linux (0..19): above 0 it takes the CPU that the main thread leaves idle. */
  readonly nice: number;
  /** What the thread does, for error messages ("the reload worker"). */
  readonly label: string;
}

interface Pending {
  resolve(reply: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/** A task's answer as it crosses the thread boundary. */
type Reply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: string };

/**
 * One long-lived worker thread that runs tasks in the order they are given (see
 * {@link serveTasks} for its side). The thread starts with the first task and never keeps the
 * process alive while idle. A task the worker refuses rejects with its reason; a worker that fails
 * or exits, and a task that outlives its timeout, reject every pending task and the next task
 * starts a new worker.
 */
export class TaskWorker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly options: TaskWorkerOptions) {}

  /** Runs one task; `transfer` lists buffers moved (not copied) to the worker with it. */
  run<R>(task: object, options: { transfer?: readonly ArrayBuffer[]; timeoutMs?: number; describe?: string } = {}): Promise<R> {
    const id = this.nextId++;
    const worker = this.started();
    return new Promise<R>((resolve, reject) => {
      const timeoutMs = options.timeoutMs;
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => this.fail(new Error(`${options.describe ?? 'a task'} took longer than ${timeoutMs} ms; ${this.options.label} was restarted`)), timeoutMs);
      timer?.unref();
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, timer });
      worker.postMessage({ id, task }, [...(options.transfer ?? [])]);
    });
  }

  /** Stops the worker; pending tasks are refused. */
  async close(): Promise<void> {
    const w = this.worker;
    this.fail(new Error(`${this.options.label} was stopped`));
    await w?.terminate();
  }

  private started(): Worker {
    if (this.worker !== null) return this.worker;
    const { module, nice } = this.options;
    // Tessera runs from its TypeScript sources when this very module is one
    const w = import.meta.url.endsWith('.ts')
      ? new Worker(new URL('./worker-source.mjs', import.meta.url), { workerData: { nice, source: module.ts.href } })
      : new Worker(module.js, { workerData: { nice } });
    w.unref(); // an idle worker never keeps the process alive
    w.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new Error(reply.error));
    });
    w.on('error', (err) => this.fail(new Error(`${this.options.label} failed: ${err.message}`), w));
    w.on('exit', (code) => this.fail(new Error(`${this.options.label} exited (code ${code})`), w));
    this.worker = w;
    return w;
  }

  /** Refuses every pending task and drops the worker (the next task starts a new one). */
  private fail(err: Error, which: Worker | null = this.worker): void {
    if (which !== this.worker) return; // an old worker's late exit
    const w = this.worker;
    this.worker = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    if (w !== null) void w.terminate();
  }
}

/**
 * The worker's side of a {@link TaskWorker}: lowers the thread's priority as asked, then answers
 * each task with `handle`'s value (its `transfer` buffers moved to the caller) or its error's
 * message, one task at a time in arrival order.
 */
export function serveTasks<T>(handle: (task: T) => Promise<{ value: unknown; transfer?: readonly ArrayBuffer[] }>): void {
  const port = parentPort;
  if (port === null) throw new Error('serveTasks runs in a worker thread (see TaskWorker)');
  lowerPriority(Number((workerData as { nice?: number } | null)?.nice ?? 0));
  let queue: Promise<void> = Promise.resolve();
  port.on('message', ({ id, task }: { id: number; task: T }) => {
    queue = queue.then(async () => {
      try {
        const { value, transfer } = await handle(task);
        port.postMessage({ id, ok: true, value } satisfies Reply, [...(transfer ?? [])]);
      } catch (err) {
        port.postMessage({ id, ok: false, error: (err as Error).message } satisfies Reply);
      }
    });
  });
}

/**
 * Lowers this thread's scheduling priority (Linux: a thread is a task with its own nice value,
 * which setpriority sets by its id), so that on a busy machine the thread takes the CPU the main
 * thread leaves idle instead of taking it from it. Elsewhere, or when refused, it keeps the
 * process's priority.
 */
function lowerPriority(nice: number): void {
  if (process.platform !== 'linux' || nice <= 0) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // not permitted or no /proc: normal priority
  }
}
