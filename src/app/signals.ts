/** Calls `stop` on the first SIGTERM or SIGINT; a second signal exits at once. Returns an unsubscribe. */
export function onShutdownSignal(stop: () => void): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopping = true;
    process.stderr.write(`${signal}: stopping after the batch in flight\n`);
    stop();
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}

/**
 * Waits for a long-running subscription (stream, join, a rebuild's live phase), stopping it on the
 * first SIGTERM/SIGINT; closes the metrics server, if any, when it ends.
 */
export async function runUntilStopped(sub: { stop(): unknown; done: Promise<unknown> }, server?: { close(): unknown } | null): Promise<void> {
  const off = onShutdownSignal(() => void sub.stop());
  try {
    await sub.done;
  } finally {
    off();
    server?.close();
  }
}
