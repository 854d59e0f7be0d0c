// Starts the reload worker from its TypeScript source through tsx, when Tessera runs from its
// sources (tests, development); the compiled package starts reload-worker.js directly.
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.source, import.meta.url);
