import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';

const MiB = 1024 * 1024;
/** V8's initial young generation, as /metrics reports it (both semi-spaces of 1 MiB). */
const INITIAL_NEW_SPACE = 2 * MiB;

let server: SlabcastProcess | null = null;
let cacheDir = '';

afterEach(async () => {
  await server?.stop();
  server = null;
  if (cacheDir !== '') rmSync(cacheDir, { recursive: true, force: true });
});

async function start(extraArgs: string[]): Promise<number> {
  cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-young-heap-'));
  server = await startSlabcast('young-heap', ['--cache-dir', cacheDir, ...extraArgs]);
  return server.port;
}

/** V8's young generation ("new" space) in bytes, from the server's /metrics. */
async function newSpaceBytes(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /^slabcast_nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)$/m.exec(text);
  if (m === null) throw new Error('no new-space gauge in /metrics');
  return Number(m[1]);
}

/** Opens `n` WebSockets on /echo, 100 at a time, and returns them (open). */
async function openMany(port: number, n: number): Promise<WebSocket[]> {
  const open: WebSocket[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, () => new WebSocket(`ws://127.0.0.1:${port}/echo`));
    await Promise.all(batch.map((ws) => once(ws, 'open')));
    open.push(...batch);
  }
  return open;
}

describe('--young-heap: the server command keeps V8’s young generation at its initial size', () => {
  it('by default (fixed) the young generation stays at its initial size through start-up and a burst of 2,000 upgrades', async () => {
    const port = await start([]);
    expect(await newSpaceBytes(port)).toBeLessThanOrEqual(INITIAL_NEW_SPACE);
    const sockets = await openMany(port, 2000);
    try {
      expect(await newSpaceBytes(port)).toBeLessThanOrEqual(INITIAL_NEW_SPACE);
    } finally {
      for (const ws of sockets) ws.terminate();
    }
  });

  it('--young-heap grow restores V8’s growth: the same start-up and burst grow it past its initial size', async () => {
    const port = await start(['--young-heap', 'grow']);
    const sockets = await openMany(port, 2000);
    try {
      expect(await newSpaceBytes(port)).toBeGreaterThan(INITIAL_NEW_SPACE);
    } finally {
      for (const ws of sockets) ws.terminate();
    }
  });
});
