import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Who holds a chDB data directory, as its `status` file tells. */
export interface DataDirHolder {
  pid: number;
  /** `Started at` line of the status file, engine-local time; undefined if absent. */
  startedAt?: string;
}

/**
 * Reads `<path>/status`, the file the ClickHouse engine writes and `flock`s while a process has
 * the directory open (`PID: 5932\nStarted at: 2026-11-27 21:47:02\nRevision: 54513\n`), and
 * returns its PID when that process is still alive and is not this one.
 *
 * Used only to explain a failed open: the engine refuses a locked directory with
 * "Cannot lock file <path>/status. Another server instance in same directory is already
 * running", but prints that to stderr and libchdb hands JS a bare "Failed to create
 * connection". A stale file left by a crashed process does not lock anything (the lock dies
 * with its process), which is why liveness is checked.
 */
export async function findDataDirHolder(path: string): Promise<DataDirHolder | undefined> {
  let text: string;
  try {
    text = await readFile(join(path, 'status'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(/^PID: (\d+)$/m.exec(text)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !isAlive(pid)) return undefined;
  const startedAt = /^Started at: (.+)$/m.exec(text)?.[1];
  return startedAt === undefined ? { pid } : { pid, startedAt };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user, so it is alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
