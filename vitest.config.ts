import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration tests bind real ports and spawn real processes; two workers match the 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
