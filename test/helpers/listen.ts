import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Slabcast } from '../../src/slabcast.js';
import type { ServerConfig } from '../../src/config.js';

/** A slabcast instance on 127.0.0.1, port 0, with small slabs unless the test asks otherwise. */
export interface TestServer {
  app: Slabcast;
  port: number;
  /** Closes the server and asserts every slab section is back on its free-list (no leak). */
  close(): Promise<void>;
}

const SMALL_SLABS: Partial<ServerConfig> = {
  slabSmallCount: 64,
  slabMediumCount: 8,
  slabLargeCount: 4,
};

/**
 * The socket transport under test: vitest.config.ts runs the integration tier once per transport
 * (SLABCAST_TRANSPORT, the same variable the CLI reads, so spawned servers follow it too).
 */
export const TEST_TRANSPORT: ServerConfig['transport'] = process.env.SLABCAST_TRANSPORT === 'node' ? 'node' : 'native';

/**
 * Starts a server on an ephemeral port of 127.0.0.1 (or `config.host`). Without a `cacheDir` the
 * audio cache gets a fresh temporary directory, removed on close, so no test reads or writes `./cache`.
 */
export async function startServer(config: Partial<ServerConfig> = {}, setup?: (app: Slabcast) => void): Promise<TestServer> {
  const tempDir = config.cacheDir === undefined ? mkdtempSync(join(tmpdir(), 'slabcast-test-cache-')) : null;
  const app = new Slabcast({ ...SMALL_SLABS, transport: TEST_TRANSPORT, ...(tempDir !== null ? { cacheDir: tempDir } : {}), ...config, host: config.host ?? '127.0.0.1', port: 0 });
  setup?.(app);
  const address = await app.listen();
  return {
    app,
    port: address.port,
    async close() {
      try {
        await app.close(1000);
        expectNoLeak(app);
      } finally {
        if (tempDir !== null) rmSync(tempDir, { recursive: true, force: true });
      }
    },
  };
}

/** Every section of both slabs is free again (the in-test equivalent of netty's PARANOID leak detector). */
export function expectNoLeak(app: Slabcast): void {
  const { readSlab, writeSlab } = app.core.stats();
  for (const slab of [readSlab, writeSlab]) {
    for (const tier of slab.tiers) {
      expect(tier.inUse, `${slab.name} slab, ${tier.tier} sections still in use`).toBe(0);
      expect(tier.free).toBe(tier.sections);
    }
  }
  expect(app.core.processor.oversize.stats().inUseBytes, 'oversize blocks still in use').toBe(0);
}

/** Resolves when `predicate()` holds, polling on the event loop (never a fixed sleep); rejects after `ms`. */
export async function waitFor(predicate: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
