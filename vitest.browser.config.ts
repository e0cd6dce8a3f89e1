import { defineConfig } from 'vitest/config';

/** The browser tier: real headless Chromium (Debian's package) driven by playwright-core. */
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
