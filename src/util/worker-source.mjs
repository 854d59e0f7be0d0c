// Starts a worker thread's module from its TypeScript source through tsx, when Tessera runs from
// its sources (tests, development); the compiled package starts the module's .js directly.
// See task-worker.ts.
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.source, import.meta.url);
