import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The browser tier needs Chromium: `npm run test:browser` (vitest.browser.config.ts).
    exclude: ['test/browser/**', 'node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration tests bind real ports and spawn real processes; two workers match the 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
    // Everything runs on the default (native) socket transport; the integration tier runs a second
    // time on the node transport (one net.Socket per connection), which stays supported.
    projects: [
      { extends: true, test: { name: 'native', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'node-transport',
          include: ['test/integration/**/*.test.ts'],
          // Once is enough for the native transport's own tests (they pin `transport: 'native'`), for
          // the package's (npm pack and install) and for the cluster parts driven in process against a
          // Redis Cluster: no socket transport is involved in those.
          exclude: [
            'test/integration/native-transport.test.ts',
            'test/integration/native-transport-own-poll.test.ts',
            'test/integration/packaging.test.ts',
            'test/integration/cluster-sharded.test.ts',
            'test/integration/cluster-harness.test.ts',
          ],
          env: { SLABCAST_TRANSPORT: 'node' },
        },
      },
    ],
  },
});
