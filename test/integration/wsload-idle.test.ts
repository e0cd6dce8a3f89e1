import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CWsIdleClient } from '../../bench/lib/c-ws-load.js';
import { startServer, type TestServer } from '../helpers/listen.js';
import { wsloadBinary } from '../helpers/wsload-binary.js';

// The C load client's idle mode (bench/clients/wsload.c --mode idle, driven by CWsIdleClient):
// what `npm run bench -- --only ws-idle-memory` opens its sockets with.

let binary = '';
let server: TestServer | null = null;
let client: CWsIdleClient | null = null;

beforeAll(() => {
  binary = wsloadBinary();
});

afterEach(async () => {
  await client?.stop();
  client = null;
  if (server !== null) await server.close();
  server = null;
});

function idleClient(port: number, path: string, capacity: number): CWsIdleClient {
  return CWsIdleClient.start(binary, `http://127.0.0.1:${port}`, path, capacity, () => undefined);
}

/** WebSockets the server holds open. */
function serverSockets(s: TestServer): number {
  const { opened, closed } = s.app.stats().ws;
  return opened - closed;
}

describe('wsload --mode idle', () => {
  it('opens sockets in steps up to its capacity, holds them, and closes them all on "close"', async () => {
    server = await startServer();
    client = idleClient(server.port, '/echo', 60);
    const first = await client.open(40, 10_000);
    expect({ opened: first.opened, failed: first.failed, firstFailure: first.firstFailure }).toEqual({ opened: 40, failed: 0, firstFailure: null });
    expect(first.p50Ms).not.toBeNull();
    expect(first.elapsedSec).toBeGreaterThan(0);
    const second = await client.open(40, 10_000); // 20 left under the capacity
    expect(second.opened).toBe(20);
    await expect.poll(() => serverSockets(server!)).toBe(60);
    expect(await client.closeAll(10_000)).toEqual({ stillOpen: 60 });
    await expect.poll(() => serverSockets(server!)).toBe(0);
    // The slots are reused: the next open starts from none held.
    expect((await client.open(10, 10_000)).opened).toBe(10);
  });

  it('counts refused upgrades as failures, with the status line', async () => {
    server = await startServer();
    client = idleClient(server.port, '/no-such-endpoint', 10);
    const r = await client.open(5, 10_000);
    expect({ opened: r.opened, failed: r.failed }).toEqual({ opened: 0, failed: 5 });
    expect(r.firstFailure).toContain('404');
  });

  it('held sockets answer the server\'s pings, so they outlive several ping intervals', async () => {
    // An unanswered ping closes the socket after another interval (wsPingIntervalMs).
    server = await startServer({ wsPingIntervalMs: 50 });
    client = idleClient(server.port, '/echo', 20);
    expect((await client.open(20, 10_000)).opened).toBe(20);
    await delay(500);
    expect(serverSockets(server)).toBe(20);
    expect(await client.closeAll(10_000)).toEqual({ stillOpen: 20 });
  });

  it('a socket the server closed is not counted as still open', async () => {
    server = await startServer();
    client = idleClient(server.port, '/echo', 10);
    expect((await client.open(10, 10_000)).opened).toBe(10);
    await server.close();
    server = null;
    await delay(200);
    expect(await client.closeAll(10_000)).toEqual({ stillOpen: 0 });
  });

  it('connects each "open" from a loopback source address of its own, so no pass waits on TIME_WAIT ports', async () => {
    // A ws server that records where each upgrade came from (slabcast does not log peers).
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    const sources: string[] = [];
    wss.on('connection', (_ws, req) => sources.push(req.socket.remoteAddress ?? '?'));
    try {
      await new Promise<void>((resolve) => wss.once('listening', resolve));
      client = idleClient((wss.address() as AddressInfo).port, '/', 10);
      expect((await client.open(3, 10_000)).opened).toBe(3);
      expect(await client.closeAll(10_000)).toEqual({ stillOpen: 3 });
      expect((await client.open(2, 10_000)).opened).toBe(2);
      await expect.poll(() => sources.length).toBe(5);
      expect(sources).toEqual(['127.1.0.1', '127.1.0.1', '127.1.0.1', '127.1.0.2', '127.1.0.2']);
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
