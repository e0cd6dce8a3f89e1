/**
 * The opening handshake over real sockets (RFC 6455 §4.2): the 101 with an independently computed
 * Sec-WebSocket-Accept, every refusal status with its headers, subprotocol negotiation, the origin
 * hook and the endpoint's own verdict. Every server is closed with a slab leak check.
 */

import { afterEach, describe, expect, it } from 'vitest';
import type { Slabcast } from '../../src/slabcast.js';
import { NO_SECTION } from '../../src/core/slab.js';
import type { WebSocketEndpoint } from '../../src/protocols/websocket/endpoint.js';
import { startServer, type TestServer } from '../helpers/listen.js';
import { RawClient, parseResponses, type ParsedResponse } from '../helpers/raw-client.js';
import { buildClientFrame } from '../helpers/ws-client-frames.js';
import { expectedAccept, handshakeRequest, OP, randomKey, SAMPLE_KEY, WsRawClient, type HandshakeOptions } from '../helpers/ws-raw.js';

let server: TestServer | null = null;
const clients: { destroy(): void }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  if (server !== null) await server.close();
  server = null;
});

async function start(setup?: (app: Slabcast) => void): Promise<TestServer> {
  server = await startServer({}, setup);
  return server;
}

/** Sends one handshake and returns the server's response (the connection must close after a refusal). */
async function handshake(port: number, path: string, options: HandshakeOptions = {}): Promise<{ response: ParsedResponse; client: RawClient }> {
  const client = await RawClient.connect(port);
  clients.push(client);
  await client.send(handshakeRequest(path, options));
  await client.until(() => client.received.indexOf('\r\n\r\n') >= 0);
  const [response] = parseResponses(client.received, true);
  expect(response, `no response: ${client.received.toString('latin1')}`).toBeDefined();
  return { response, client };
}

/** The refusal arrives whole, says Connection: close, and the server closes TCP. */
async function expectRefused(port: number, path: string, options: HandshakeOptions, status: number): Promise<ParsedResponse> {
  const { response, client } = await handshake(port, path, options);
  expect(response.status).toBe(status);
  expect(response.headers.connection?.toLowerCase()).toContain('close');
  expect(response.headers['sec-websocket-accept']).toBeUndefined();
  await client.waitClosed();
  const [full] = parseResponses(client.received);
  expect(full.body.length).toBe(Number(full.headers['content-length']));
  return full;
}

function protocolEndpoint(): WebSocketEndpoint {
  return {
    path: '/chat',
    protocols: ['chat', 'superchat'],
    onMessage(ws, data, isBinary) {
      ws.send(ws.protocol === '' ? data : `${ws.protocol}:${data.toString('utf8')}`, isBinary);
    },
  };
}

describe('accepted handshake', () => {
  it('answers 101 with Upgrade, Connection and the Sec-WebSocket-Accept of the RFC sample key', async () => {
    const s = await start();
    const { response } = await handshake(s.port, '/echo');
    expect(response.status).toBe(101);
    expect(response.headers.upgrade?.toLowerCase()).toBe('websocket');
    expect(response.headers.connection?.toLowerCase()).toBe('upgrade');
    // RFC 6455 §1.3's worked example, and the same value computed independently.
    expect(response.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(expectedAccept(SAMPLE_KEY)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(response.headers['sec-websocket-protocol']).toBeUndefined();
    expect(s.app.stats().ws.opened).toBe(1);
  });

  it('computes Sec-WebSocket-Accept for random keys, with header names in any case', async () => {
    const s = await start();
    for (let i = 0; i < 5; i++) {
      const key = randomKey();
      const client = await RawClient.connect(s.port);
      clients.push(client);
      await client.send(
        `GET /echo HTTP/1.1\r\nhost: x\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, Upgrade\r\nsec-websocket-key: ${key}\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n`,
      );
      await client.until(() => client.received.indexOf('\r\n\r\n') >= 0);
      const [response] = parseResponses(client.received, true);
      expect(response.status).toBe(101);
      expect(response.headers['sec-websocket-accept']).toBe(expectedAccept(key));
    }
  });

  it('frames sent in the same write as the handshake are handled by the WebSocket layer', async () => {
    const s = await start();
    const frames = Buffer.concat([buildClientFrame(OP.Text, 'first'), buildClientFrame(OP.Binary, Buffer.from([1, 2, 3]))]);
    const ws = await WsRawClient.open(s.port, '/echo', {}, frames);
    clients.push(ws);
    const echoed = await ws.waitFrames(2);
    expect(echoed.map((f) => [f.opcode, f.payload.toString('hex')])).toEqual([
      [OP.Text, Buffer.from('first').toString('hex')],
      [OP.Binary, '010203'],
    ]);
  });

  it('still answers 101 when every write-slab section is taken (the response is not lost)', async () => {
    const s = await start();
    // Simulated memory pressure: hold every write section, as slow consumers would.
    const slab = s.app.core.writeSlab;
    const held: number[] = [];
    for (let section = slab.allocate(1); section !== NO_SECTION; section = slab.allocate(1)) held.push(section);
    try {
      const ws = await WsRawClient.open(s.port, '/echo');
      clients.push(ws);
      expect(ws.head).toContain(`Sec-WebSocket-Accept: ${expectedAccept(SAMPLE_KEY)}`);
      await ws.sendFrame(OP.Text, 'still works');
      const [echo] = await ws.waitFrames(1);
      expect(echo.payload.toString()).toBe('still works');
    } finally {
      for (const section of held) slab.free(section);
    }
  });
});

describe('refused handshakes', () => {
  it('Sec-WebSocket-Version 8 (and missing) → 426 advertising Sec-WebSocket-Version: 13', async () => {
    const s = await start();
    for (const version of ['8', null]) {
      const r = await expectRefused(s.port, '/echo', { version }, 426);
      expect(r.headers['sec-websocket-version']).toBe('13');
    }
    expect(s.app.endpoints.refusals[426]).toBe(2);
    expect(s.app.stats().ws.opened).toBe(0);
  });

  it.each([
    ['missing key', { key: null }],
    ['key of 15 bytes', { key: Buffer.alloc(15, 7).toString('base64') }],
    ['key of 17 bytes', { key: Buffer.alloc(17, 7).toString('base64') }],
    ['key not base64', { key: '!!!!!!!!!!!!!!!!!!!!!!==' }],
    ['empty key', { key: '' }],
    ['two keys', { headers: [`Sec-WebSocket-Key: ${SAMPLE_KEY}`] }],
    ['POST with upgrade headers', { method: 'POST' }],
    ['PUT with upgrade headers', { method: 'PUT' }],
  ] satisfies [string, HandshakeOptions][])('%s → 400', async (_name, options) => {
    const s = await start();
    await expectRefused(s.port, '/echo', options, 400);
    expect(s.app.endpoints.refusals[400]).toBe(1);
    expect(s.app.stats().ws.opened).toBe(0);
  });

  it('a path no endpoint serves → 404', async () => {
    const s = await start();
    await expectRefused(s.port, '/nowhere', {}, 404);
    await expectRefused(s.port, '/echo/more', {}, 404);
    expect(s.app.stats().ws.opened).toBe(0);
  });

  it('verifyOrigin returning false → 403; the hook sees the Origin header', async () => {
    const seen: (string | undefined)[] = [];
    const s = await start((app) =>
      app.addEndpoint({
        path: '/guarded',
        verifyOrigin(origin) {
          seen.push(origin);
          return origin === 'https://good.example';
        },
        onMessage(ws, data) {
          ws.send(data);
        },
      }),
    );
    await expectRefused(s.port, '/guarded', { headers: ['Origin: https://evil.example'] }, 403);
    await expectRefused(s.port, '/guarded', {}, 403);
    const ok = await WsRawClient.open(s.port, '/guarded', { headers: ['Origin: https://good.example'] });
    clients.push(ok);
    expect(seen).toEqual(['https://evil.example', undefined, 'https://good.example']);
    expect(s.app.endpoints.refusals[403]).toBe(2);
  });

  it('an upgrade() verdict refusing with 401 → 401 before any WebSocket exists', async () => {
    let opened = 0;
    let messages = 0;
    const s = await start((app) =>
      app.addEndpoint({
        path: '/private',
        upgrade(req) {
          return req.query === 'token=secret' ? { accept: true, data: { user: 'ann' } } : { accept: false, status: 401, message: 'token required' };
        },
        onOpen(ws) {
          opened++;
          ws.send(JSON.stringify(ws.data));
        },
        onMessage() {
          messages++;
        },
      }),
    );
    const r = await expectRefused(s.port, '/private?token=wrong', {}, 401);
    expect(JSON.parse(r.body.toString())).toEqual({ error: 'Unauthorized', message: 'token required' });
    expect(opened).toBe(0);
    expect(s.app.stats().ws.opened).toBe(0);
    // With the token, the verdict's data reaches the socket.
    const ws = await WsRawClient.open(s.port, '/private?token=secret');
    clients.push(ws);
    const [hello] = await ws.waitFrames(1);
    expect(JSON.parse(hello.payload.toString())).toEqual({ user: 'ann' });
    expect(opened).toBe(1);
    expect(messages).toBe(0);
  });
});

describe('endpoint hooks that throw', () => {
  it.each(['upgrade', 'verifyOrigin'] as const)('an exception in %s() → 500, counted and reported; the server keeps serving', async (hook) => {
    const errors: unknown[] = [];
    const fail = (): never => {
      throw new Error(`boom in ${hook}`);
    };
    const s = await start((app) => {
      app.endpoints.onUpgradeError = (err) => errors.push(err);
      app.addEndpoint({ path: '/fragile', [hook]: fail, onMessage() {} });
    });
    const r = await expectRefused(s.port, '/fragile', {}, 500);
    expect(JSON.parse(r.body.toString()).error).toBe('Internal Server Error');
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe(`boom in ${hook}`);
    expect(s.app.stats().ws.endpointErrors).toBe(1);
    expect(s.app.stats().ws.opened).toBe(0);
    const ws = await WsRawClient.open(s.port, '/echo');
    clients.push(ws);
  });

  it('a subprotocol that is not a token is refused when the endpoint is registered', async () => {
    const s = await start();
    expect(() => s.app.addEndpoint({ path: '/bad', protocols: ['chat', 'two words'], onMessage() {} })).toThrow(TypeError);
    expect(() => s.app.addEndpoint({ path: '/bad', protocols: ['x\r\nSet-Cookie: a=b'], onMessage() {} })).toThrow(TypeError);
  });
});

describe('subprotocol negotiation (§4.2.2)', () => {
  it('client offering "superchat, chat" gets exactly one of them back, the one the socket reports', async () => {
    const s = await start((app) => app.addEndpoint(protocolEndpoint()));
    const ws = await WsRawClient.open(s.port, '/chat', { headers: ['Sec-WebSocket-Protocol: superchat, chat'] });
    clients.push(ws);
    const chosen = /\r\nSec-WebSocket-Protocol: ([^\r]*)/i.exec(ws.head)?.[1];
    // The endpoint lists its protocols in preference order: 'chat' wins over the client's order.
    expect(chosen).toBe('chat');
    await ws.sendFrame(OP.Text, 'hi');
    const [echo] = await ws.waitFrames(1);
    expect(echo.payload.toString()).toBe('chat:hi');
  });

  it('offers split over several header lines are all considered', async () => {
    const s = await start((app) => app.addEndpoint(protocolEndpoint()));
    const ws = await WsRawClient.open(s.port, '/chat', { headers: ['Sec-WebSocket-Protocol: mqtt', 'Sec-WebSocket-Protocol: superchat'] });
    clients.push(ws);
    expect(/\r\nSec-WebSocket-Protocol: ([^\r]*)/i.exec(ws.head)?.[1]).toBe('superchat');
  });

  it('no supported offer (or no offer) → 101 without Sec-WebSocket-Protocol', async () => {
    const s = await start((app) => app.addEndpoint(protocolEndpoint()));
    for (const headers of [['Sec-WebSocket-Protocol: mqtt, wamp'], []]) {
      const ws = await WsRawClient.open(s.port, '/chat', { headers });
      clients.push(ws);
      expect(ws.head.toLowerCase()).not.toContain('sec-websocket-protocol');
      await ws.sendFrame(OP.Text, 'plain');
      const [echo] = await ws.waitFrames(1);
      expect(echo.payload.toString()).toBe('plain');
    }
  });
});
