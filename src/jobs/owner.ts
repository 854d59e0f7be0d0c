import { hostname } from 'node:os';

/** This process as a lease owner: `host:pid`. */
export function processOwner(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * Whether the process that owns a lease is alive, when this host can tell: `false` only for an
 * owner on this host whose PID no longer exists (a run killed with SIGKILL), `undefined` for
 * owners on other hosts (their lease has to expire). Lets a rerun right after a crash take the
 * partition over at once instead of waiting out the lease. A recycled PID only makes it wait.
 */
export function isLocalOwnerAlive(owner: string): boolean | undefined {
  const sep = owner.lastIndexOf(':');
  if (sep < 0 || owner.slice(0, sep) !== hostname()) return undefined;
  const pid = Number(owner.slice(sep + 1));
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? true : false;
  }
}
