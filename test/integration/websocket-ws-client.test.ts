/**
 * Interoperability with a real, independent client: the `ws` package (RFC 6455 strict on its side:
 * it fails the connection on any malformed server frame, masked server frame or bad close code).
 */

import { afterEach, describe, expect, it } from 'vitest';
import WebSocketClient from 'ws';
import type { Slabcast } from '../../src/slabcast.js';
import type { ServerConfig } from '../../src/config.js';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';

let server: TestServer | null = null;
const sockets: WebSocketClient[] = [];

afterEach(async () => {
  for (const c of sockets.splice(0)) c.terminate();
  if (server !== null) await server.close();
  server = null;
});

async function start(config: Partial<ServerConfig> = {}, setup?: (app: Slabcast) => void): Promise<TestServer> {
  server = await startServer(config, setup);
  return server;
}

/** Opens a `ws` client; rejects on a refused handshake or an error. */
function connect(port: number, path = '/echo', protocols?: string[]): Promise<WebSocketClient> {
  const ws = new WebSocketClient(`ws://127.0.0.1:${port}${path}`, protocols);
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function nextMessage(ws: WebSocketClient): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

function closed(ws: WebSocketClient): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** `/closer`: echoes, closes 4001 on "bye", throws on "boom". */
function closerEndpoint(app: Slabcast): void {
  app.addEndpoint({
    path: '/closer',
    protocols: ['chat', 'superchat'],
    onMessage(ws, data, isBinary) {
      const text = data.toString();
      if (text === 'bye') ws.close(4001, 'bye');
      else if (text === 'boom') throw new Error('endpoint failure');
      else ws.send(data, isBinary);
    },
  });
}

describe('echo with the ws client', () => {
  it('text stays text, binary stays binary', async () => {
    const s = await start();
    const ws = await connect(s.port);
    ws.send('héllo wörld ✓');
    const text = await nextMessage(ws);
    expect([text.isBinary, text.data.toString()]).toEqual([false, 'héllo wörld ✓']);
    ws.send(Buffer.from([0, 1, 2, 255]));
    const bin = await nextMessage(ws);
    expect([bin.isBinary, bin.data.toString('hex')]).toEqual([true, '000102ff']);
    ws.send('');
    expect((await nextMessage(ws)).data.length).toBe(0);
  });

  it('large messages (500 KB binary and text) come back intact', async () => {
    const s = await start();
    const ws = await connect(s.port);
    const big = Buffer.alloc(500 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    ws.send(big);
    const bin = await nextMessage(ws);
    expect(bin.isBinary).toBe(true);
    expect(bin.data.equals(big)).toBe(true);
    const text = 'ü'.repeat(250 * 1024); // 500 KiB of 2-byte code points
    ws.send(text);
    const t = await nextMessage(ws);
    expect(t.data.toString('utf8')).toBe(text);
  });

  it('a fragmented message from ws (stream-style send with fin: false) is delivered whole', async () => {
    const s = await start();
    const ws = await connect(s.port);
    ws.send('one ', { fin: false });
    ws.send('two ', { fin: false });
    ws.send('three', { fin: true });
    expect((await nextMessage(ws)).data.toString()).toBe('one two three');
  });

  it('ws.ping(payload) → a pong event with the same payload', async () => {
    const s = await start();
    const ws = await connect(s.port);
    const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
    ws.ping(Buffer.from('are you there'));
    expect((await pong).toString()).toBe('are you there');
  });

  it('subprotocol negotiation: ws sees the protocol the server chose', async () => {
    const s = await start({}, closerEndpoint);
    const ws = await connect(s.port, '/closer', ['superchat', 'chat']);
    expect(ws.protocol).toBe('chat');
  });

  it('the server side sees the chosen subprotocol and the peer\'s close reason; a socket without them keeps its 7 fields', async () => {
    const opened: { protocol: string; fields: number }[] = [];
    const closes: [string, number, string][] = [];
    const s = await start({}, (app) =>
      app.addEndpoint({
        path: '/seen',
        protocols: ['chat'],
        onOpen: (ws) => void opened.push({ protocol: ws.protocol, fields: Object.keys(ws).length }),
        onMessage: () => undefined,
        onClose: (ws, code, reason) => void closes.push([ws.protocol, code, reason]),
      }),
    );
    const plain = await connect(s.port, '/seen');
    const chat = await connect(s.port, '/seen', ['chat']);
    // An idle socket is mostly its WebSocket object: subprotocol, close reason and ping progress
    // take no field of their own until one is set.
    expect(opened).toEqual([{ protocol: '', fields: 7 }, { protocol: 'chat', fields: 7 }]);
    plain.close(4000, 'plain done');
    await waitFor(() => closes.length === 1);
    chat.close(4002, 'chat done');
    await waitFor(() => closes.length === 2);
    expect(closes).toEqual([['', 4000, 'plain done'], ['chat', 4002, 'chat done']]);
  });

  it('a refused handshake is seen as an HTTP status', async () => {
    const s = await start();
    await expect(connect(s.port, '/nowhere')).rejects.toThrow('HTTP 404');
  });
});

describe('close codes seen by the ws client', () => {
  it('server-side close 4001 "bye"', async () => {
    const s = await start({}, closerEndpoint);
    const ws = await connect(s.port, '/closer');
    const done = closed(ws);
    ws.send('bye');
    expect(await done).toEqual({ code: 4001, reason: 'bye' });
  });

  it('client close 4000 is echoed back', async () => {
    const s = await start();
    const ws = await connect(s.port);
    const done = closed(ws);
    ws.close(4000, 'client done');
    expect((await done).code).toBe(4000);
    await waitFor(() => s.app.stats().ws.closed === 1);
    expect(s.app.stats().ws.closeCodesReceived[4000]).toBe(1);
  });

  it('an endpoint exception → 1011, other sockets keep working', async () => {
    const s = await start({}, closerEndpoint);
    const a = await connect(s.port, '/closer');
    const b = await connect(s.port, '/closer');
    const done = closed(a);
    a.send('boom');
    expect((await done).code).toBe(1011);
    expect(s.app.stats().ws.endpointErrors).toBe(1);
    b.send('fine');
    expect((await nextMessage(b)).data.toString()).toBe('fine');
  });

  it('a message over wsMaxMessageBytes → 1009', async () => {
    const s = await start({ wsMaxMessageBytes: 1000 });
    const ws = await connect(s.port);
    const done = closed(ws);
    ws.send(Buffer.alloc(1001));
    expect((await done).code).toBe(1009);
  });

  it('server shutdown → 1001', async () => {
    const s = await start();
    const ws = await connect(s.port);
    const done = closed(ws);
    await s.app.close(2000);
    expect((await done).code).toBe(1001);
  });
});

describe('concurrency', () => {
  it('50 concurrent clients each echo 100 messages, in order, without mixing', async () => {
    const s = await start();
    const clients = await Promise.all(Array.from({ length: 50 }, () => connect(s.port)));
    await Promise.all(
      clients.map(
        (ws, c) =>
          new Promise<void>((resolve, reject) => {
            const got: string[] = [];
            ws.on('message', (data) => {
              got.push((data as Buffer).toString());
              if (got.length === 100) {
                const want = Array.from({ length: 100 }, (_, i) => `client ${c} message ${i}`);
                if (got.every((m, i) => m === want[i])) resolve();
                else reject(new Error(`client ${c} got ${JSON.stringify(got.slice(0, 3))}…`));
              }
            });
            for (let i = 0; i < 100; i++) ws.send(i % 10 === 0 ? Buffer.from(`client ${c} message ${i}`) : `client ${c} message ${i}`);
          }),
      ),
    );
    const stats = s.app.stats().ws;
    expect(stats.messagesIn).toBe(5000);
    expect(stats.messagesOut).toBe(5000);
    expect(stats.opened).toBe(50);
  });
});
