import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The browser tier needs Chromium: `npm run test:browser` (vitest.browser.config.ts).
    exclude: ['test/browser/**', 'node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration tests bind real ports and spawn real processes; two workers match the 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
