import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs in parallel on memory adapters and needs no service;
// `integration` talks to the real Kafka, Redis and ClickHouse started by scripts/services.sh
// and runs its files one at a time (they share one broker and one Redis on a 2-core machine).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/contract/**/*.memory.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/contract/**/*.real.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
