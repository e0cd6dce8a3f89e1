/**
 * The closing handshake over real sockets (RFC 6455 §5.5.1, §7): echoing the peer's Close, status
 * code and reason validation, a server-initiated Close (data ignored after it, TCP closed after the
 * peer's Close or after `wsCloseTimeoutMs`), TCP FIN without a Close, and server shutdown.
 */

import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from '../../src/protocols/websocket/websocket.js';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';
import { buildClientFrame } from '../helpers/ws-client-frames.js';
import { closePayload, OP, WsRawClient } from '../helpers/ws-raw.js';

let server: TestServer | null = null;
const clients: WsRawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  if (server !== null) await server.close();
  server = null;
});

/** What the `/closer` endpoint saw. */
interface Seen {
  sockets: WebSocket[];
  messages: string[];
  closes: [number, string][];
}

/**
 * A server whose `/closer` endpoint echoes, except that the text `bye` makes it close with 4001.
 * The sweep resolution follows the shortest HTTP timeout (see the report: it ignores the WS
 * deadlines), hence the short idle timeout wherever a WS deadline must fire quickly.
 */
async function start(config: Parameters<typeof startServer>[0] = {}): Promise<{ s: TestServer; seen: Seen }> {
  const seen: Seen = { sockets: [], messages: [], closes: [] };
  server = await startServer(config, (app) =>
    app.addEndpoint({
      path: '/closer',
      onOpen(ws) {
        seen.sockets.push(ws);
      },
      onMessage(ws, data, isBinary) {
        const text = data.toString('utf8');
        seen.messages.push(text);
        if (!isBinary && text === 'bye') ws.close(4001, 'bye');
        else ws.send(data, isBinary);
      },
      onClose(_ws, code, reason) {
        seen.closes.push([code, reason]);
      },
    }),
  );
  return { s: server, seen };
}

async function open(s: TestServer, path = '/closer'): Promise<WsRawClient> {
  const ws = await WsRawClient.open(s.port, path);
  clients.push(ws);
  return ws;
}

async function expectFailure(ws: WsRawClient, code: number): Promise<void> {
  expect((await ws.waitClose()).code).toBe(code);
  await ws.waitClosed();
  expect(ws.frames().at(-1)?.opcode).toBe(OP.Close);
}

describe('client-initiated close', () => {
  it('Close 1000 + reason → the server echoes 1000, closes TCP, and reports code and reason', async () => {
    const { s, seen } = await start();
    const ws = await open(s);
    await ws.sendFrame(OP.Close, closePayload(1000, 'done here'));
    const close = await ws.waitClose();
    expect(close.code).toBe(1000);
    await ws.waitClosed();
    await waitFor(() => seen.closes.length === 1);
    expect(seen.closes).toEqual([[1000, 'done here']]);
    expect(s.app.stats().ws.closeCodesReceived[1000]).toBe(1);
  });

  it('an empty Close → an empty Close back (1005 is never on the wire), then TCP close', async () => {
    const { s, seen } = await start();
    const ws = await open(s);
    await ws.sendFrame(OP.Close, '');
    const frames = await ws.waitFrames(1, (f) => f.opcode === OP.Close);
    expect(frames[0].payload.length).toBe(0);
    await ws.waitClosed();
    await waitFor(() => seen.closes.length === 1);
    expect(seen.closes[0][0]).toBe(1005);
  });

  it.each([1001, 1003, 1007, 1011, 1014, 3000, 4000, 4999])('valid code %i is echoed', async (code) => {
    const { s } = await start();
    const ws = await open(s);
    await ws.sendFrame(OP.Close, closePayload(code));
    expect((await ws.waitClose()).code).toBe(code);
    await ws.waitClosed();
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])('invalid code %i → 1002', async (code) => {
    const { s } = await start();
    const ws = await open(s);
    await ws.sendFrame(OP.Close, closePayload(code));
    await expectFailure(ws, 1002);
  });

  it('a 1-byte Close body → 1002', async () => {
    const { s } = await start();
    const ws = await open(s);
    await ws.sendFrame(OP.Close, Buffer.from([0x03]));
    await expectFailure(ws, 1002);
  });

  it('a Close reason that is not UTF-8 → 1007', async () => {
    const { s } = await start();
    const ws = await open(s);
    await ws.sendFrame(OP.Close, closePayload(1000, Buffer.from([0x6f, 0x6b, 0xc3, 0x28])));
    await expectFailure(ws, 1007);
  });

  it('a Close with a 123-byte valid UTF-8 reason is accepted', async () => {
    const { s, seen } = await start();
    const ws = await open(s);
    const reason = 'é'.repeat(61) + 'x'; // 123 bytes
    await ws.sendFrame(OP.Close, closePayload(4321, reason));
    expect((await ws.waitClose()).code).toBe(4321);
    await waitFor(() => seen.closes.length === 1);
    expect(seen.closes[0]).toEqual([4321, reason]);
  });

  it('data after the Close in the same write is not delivered', async () => {
    const { s, seen } = await start();
    const ws = await open(s);
    await ws.send(Buffer.concat([buildClientFrame(OP.Close, closePayload(1000)), buildClientFrame(OP.Text, 'late')]));
    expect((await ws.waitClose()).code).toBe(1000);
    await ws.waitClosed();
    expect(seen.messages).toEqual([]);
    expect(ws.dataFrames()).toHaveLength(0);
  });

  it('a Close in the middle of a fragmented message is answered; the partial message is dropped', async () => {
    const { s, seen } = await start();
    const ws = await open(s);
    await ws.sendFrame(OP.Text, 'half', { fin: false });
    await ws.sendFrame(OP.Close, closePayload(1000));
    expect((await ws.waitClose()).code).toBe(1000);
    await ws.waitClosed();
    expect(seen.messages).toEqual([]);
  });
});

describe('server-initiated close', () => {
  it('after the server sent Close, data frames are ignored and TCP closes only after the client Close', async () => {
    const { s, seen } = await start();
    const ws = await open(s);
    await ws.sendFrame(OP.Text, 'bye');
    const close = await ws.waitClose();
    expect(close).toEqual({ code: 4001, reason: 'bye' });
    const serverSide = seen.sockets[0];
    expect(serverSide.isOpen).toBe(false);

    // Data and a ping after the server's Close: read by the server, but neither delivered nor answered.
    serverSide.sawFrame = false;
    await ws.sendFrame(OP.Text, 'ignored');
    await ws.sendFrame(OP.Ping, 'ignored');
    await ws.sendFrame(OP.Binary, Buffer.from([1]), { fin: false });
    await ws.sendFrame(OP.Continuation, Buffer.from([2]));
    await waitFor(() => serverSide.sawFrame, 2000, 'the server to read the frames');
    expect(ws.closed).toBe(false);
    expect(seen.messages).toEqual(['bye']);
    expect(ws.frames().map((f) => f.opcode)).toEqual([OP.Close]);

    await ws.sendFrame(OP.Close, closePayload(1000, 'ok, bye'));
    await ws.waitClosed();
    await waitFor(() => seen.closes.length === 1);
    // onClose reports the peer's Close (endpoint.ts), not the one we sent.
    expect(seen.closes[0]).toEqual([1000, 'ok, bye']);
    expect(ws.frames().map((f) => f.opcode)).toEqual([OP.Close]);
  });

  it('a client that never answers the Close is dropped after wsCloseTimeoutMs', async () => {
    const { s, seen } = await start({ wsCloseTimeoutMs: 150, idleTimeoutMs: 40 });
    const ws = await open(s);
    // Timed from before 'bye': the server's close timer starts after it, however late this process
    // sees the Close frame (a loaded machine delayed that by ~60 ms: 93 ms < 100 ms on a full run).
    const sentAt = Date.now();
    await ws.sendFrame(OP.Text, 'bye');
    await ws.waitClose();
    await ws.waitClosed(3000);
    const waited = Date.now() - sentAt;
    expect(waited).toBeGreaterThanOrEqual(100);
    expect(waited).toBeLessThan(1500);
    await waitFor(() => seen.closes.length === 1);
  });

  it('server shutdown sends 1001 to open sockets and completes the handshake', async () => {
    const { s } = await start();
    const ws = await open(s);
    const closing = s.app.close(2000);
    const close = await ws.waitClose();
    expect(close.code).toBe(1001);
    await ws.sendFrame(OP.Close, closePayload(1001));
    await ws.waitClosed();
    await closing;
  });
});

describe('TCP close without a closing handshake', () => {
  it('client FIN without Close → the server closes too and reports 1006', async () => {
    const { s, seen } = await start();
    const ws = await open(s);
    ws.raw.socket.end();
    await ws.waitClosed();
    await waitFor(() => seen.closes.length === 1);
    expect(seen.closes[0][0]).toBe(1006);
    expect(s.app.stats().ws.closed).toBe(1);
  });

  it('client reset mid-message frees the fragment buffer (checked by the leak check)', async () => {
    const { s, seen } = await start();
    const ws = await open(s);
    await ws.sendFrame(OP.Binary, Buffer.alloc(5000, 1), { fin: false });
    await ws.sendFrame(OP.Continuation, Buffer.alloc(5000, 2), { fin: false });
    await waitFor(() => seen.sockets[0].fragLength === 10000, 2000, 'fragments to be buffered');
    ws.raw.socket.resetAndDestroy();
    await waitFor(() => seen.closes.length === 1);
    expect(seen.closes[0][0]).toBe(1006);
  });
});
