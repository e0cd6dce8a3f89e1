import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';

let server: TestServer | null = null;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  if (server !== null) await server.close();
  server = null;
});

async function open(port: number, path: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  sockets.push(ws);
  await once(ws, 'open');
  return ws;
}

describe('the benchmark fan-out endpoint', () => {
  it('is off by default: an upgrade to /fanout gets 404', async () => {
    server = await startServer();
    // Not tracked for terminate(): the handshake fails, so ws ends the socket itself.
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/fanout`);
    const failed = once(ws, 'error');
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; resume(): void }];
    expect(res.statusCode).toBe(404);
    res.resume();
    ws.terminate();
    const [err] = (await failed) as [Error];
    expect(err.message).toMatch(/closed before the connection was established/);
  });

  it('with --fanout-path, a message reaches every other member once, encoded once', async () => {
    server = await startServer({ fanoutPath: '/bench/fan' });
    const [sender, a, b] = [await open(server.port, '/bench/fan'), await open(server.port, '/bench/fan'), await open(server.port, '/bench/fan')];
    const got: string[] = [];
    for (const [name, ws] of [['sender', sender], ['a', a], ['b', b]] as const) ws.on('message', (d, bin) => got.push(`${name}:${(d as Buffer).toString()}:${bin}`));
    const encodedBefore = server.app.stats().ws.framesEncoded;
    sender.send(Buffer.from('hi'));
    await waitFor(() => got.length === 2, 3000, 'two deliveries');
    expect(got.sort()).toEqual(['a:hi:true', 'b:hi:true']);
    expect(server.app.stats().ws.framesEncoded - encodedBefore).toBe(1);
  });

  it('refuses a path that does not start with /', async () => {
    await expect(startServer({ fanoutPath: 'fan' })).rejects.toThrow(/--fanout-path/);
  });
});
