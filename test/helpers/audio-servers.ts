/**
 * Per-test audio cache servers for integration tests: registers hooks that give each test a fresh
 * directory (its cache in `cache/` below it) and, after the test, close its audio clients, destroy
 * the raw clients it tracked, close its server (asserting no slab leak) and remove the directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import { closeAudioClients } from './audio-client.js';
import { startServer, type TestServer } from './listen.js';

export interface AudioServers {
  /** This test's directory. */
  readonly dir: string;
  /** Starts this test's server with its cache in `{dir}/cache`. */
  start(config?: Partial<ServerConfig>): Promise<TestServer>;
  /** Destroys `client` after the test. */
  track<T extends { destroy(): void }>(client: T): T;
}

/** Call at the top of a test file; `prefix` names the temporary directories. */
export function audioServers(prefix: string): AudioServers {
  let dir = '';
  let server: TestServer | null = null;
  const tracked: { destroy(): void }[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    closeAudioClients();
    for (const c of tracked.splice(0)) c.destroy();
    if (server !== null) await server.close();
    server = null;
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    async start(config = {}) {
      server = await startServer({ cacheDir: join(dir, 'cache'), ...config });
      return server;
    },
    track(client) {
      tracked.push(client);
      return client;
    },
  };
}
