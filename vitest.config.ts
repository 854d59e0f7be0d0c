import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Feature projects import their helpers as `tessera/project` (the CLI's loader maps it to the
// running Tessera); tests that import a project module directly get the sources.
const alias = { 'tessera/project': fileURLToPath(new URL('./src/project/definition.ts', import.meta.url)) };

// Two projects: `unit` runs in parallel on memory adapters and needs no service;
// `integration` talks to the real Kafka, Redis and ClickHouse started by scripts/services.sh
// and runs its files one at a time (scripts/test.sh passes --no-file-parallelism).
export default defineConfig({
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/contract/**/*.memory.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/contract/**/*.real.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // each file in its own process (chDB allows one data directory per process); run this
          // project with --no-file-parallelism (scripts/test.sh does): one shared broker and Redis
          pool: 'forks',
          poolOptions: { forks: { isolate: true } },
        },
      },
    ],
  },
});
