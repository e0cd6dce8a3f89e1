/**
 * permessage-deflate (RFC 7692) over real sockets: negotiation with `ws` and raw handshakes, what
 * Autobahn's 12.x/13.x series check as a client sees them (compressed text and binary of 16 B …
 * 16 MiB, fragmented, every parameter combination the server accepts), the RSV1 rules, a
 * decompression bomb, and a broadcast compressed once for every member that negotiated it.
 */
import { randomBytes } from 'node:crypto';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocketClient from 'ws';
import type { ServerConfig } from '../../src/config.js';
import type { WebSocket } from '../../src/protocols/websocket/websocket.js';
import { startServer, type TestServer } from '../helpers/listen.js';
import { buildClientFrame } from '../helpers/ws-client-frames.js';
import { OP, WsRawClient } from '../helpers/ws-raw.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits';

let server: TestServer | null = null;
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  if (server !== null) await server.close();
  server = null;
});

async function start(config: Partial<ServerConfig> = {}, setup?: Parameters<typeof startServer>[1]): Promise<TestServer> {
  server = await startServer(config, setup);
  return server;
}

async function raw(s: TestServer, path = '/echo', offer: string | null = OFFER): Promise<WsRawClient> {
  const c = await WsRawClient.open(s.port, path, { headers: offer === null ? [] : [offer] });
  closers.push(() => c.destroy());
  return c;
}

async function wsClient(s: TestServer, options: WebSocketClient.ClientOptions = {}, path = '/echo'): Promise<WebSocketClient> {
  const ws = new WebSocketClient(`ws://127.0.0.1:${s.port}${path}`, { maxPayload: 64 * MiB, ...options });
  closers.push(() => ws.terminate());
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return ws;
}

function echo(ws: WebSocketClient, data: Buffer | string, binary: boolean): Promise<{ data: Buffer; isBinary: boolean }> {
  const got = new Promise<{ data: Buffer; isBinary: boolean }>((resolve) => ws.once('message', (d: Buffer, isBinary: boolean) => resolve({ data: d, isBinary })));
  ws.send(data, { binary });
  return got;
}

/** A client-side compressed payload (§7.2.1: sync flush, tail removed). */
function compress(data: Buffer): Buffer {
  const out = deflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

function inflate(data: Buffer): Buffer {
  return inflateRawSync(Buffer.concat([data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH });
}

function headerOf(head: string, name: string): string | undefined {
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

describe('negotiation', () => {
  it('answers an offer with no context takeover both ways; no offer, an offer it cannot honour, --ws-compression off or the audio endpoint: no extension, never a failed handshake', async () => {
    const s = await start();
    expect(headerOf((await raw(s)).head, 'Sec-WebSocket-Extensions')).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    expect(headerOf((await raw(s, '/echo', null)).head, 'Sec-WebSocket-Extensions')).toBeUndefined();
    expect(headerOf((await raw(s, '/echo', 'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10')).head, 'Sec-WebSocket-Extensions')).toBeUndefined();
    expect(headerOf((await raw(s, '/audio')).head, 'Sec-WebSocket-Extensions')).toBeUndefined();
    expect(s.app.stats().ws.compressedConnections).toBe(1);
    await s.close();
    server = null;
    const off = await start({ wsCompression: 'off' });
    expect(headerOf((await raw(off)).head, 'Sec-WebSocket-Extensions')).toBeUndefined();
  });
});

describe('Autobahn 12.x/13.x as a client sees them', () => {
  for (const [label, perMessageDeflate] of [
    ['ws defaults (context takeover offered)', true],
    ['client_no_context_takeover', { clientNoContextTakeover: true }],
    ['server_no_context_takeover', { serverNoContextTakeover: true }],
    ['client_max_window_bits=9', { clientMaxWindowBits: 9 }],
  ] as const) {
    it(`${label}: compressed text and binary of 16 B … 1 MiB and a 16 MiB one echo intact`, async () => {
      const s = await start();
      const ws = await wsClient(s, { perMessageDeflate });
      expect(ws.extensions).toContain('permessage-deflate');
      for (const size of [16, 64, 256, 1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB]) {
        const text = 'danmaku ✓ '.repeat(Math.ceil(size / 12)).slice(0, size);
        const t = await echo(ws, text, false);
        expect(t.isBinary).toBe(false);
        expect(t.data.toString()).toBe(text);
        const bin = Buffer.concat([randomBytes(size / 2), Buffer.alloc(size / 2, 1)]);
        const b = await echo(ws, bin, true);
        expect(b.isBinary).toBe(true);
        expect(b.data.equals(bin)).toBe(true);
      }
      const big = Buffer.concat([randomBytes(8 * MiB), Buffer.alloc(8 * MiB, 7)]);
      expect((await echo(ws, big, true)).data.equals(big)).toBe(true);
      const st = s.app.stats().ws;
      expect(st.inflations).toBeGreaterThan(10);
      expect(st.compressions).toBeGreaterThan(10);
      expect(st.compressionBytesOut).toBeLessThan(st.compressionBytesIn);
    });
  }

  it('a compressed message in fragments (RSV1 on the first only) and in TCP chops is inflated whole; the reply is compressed, or not when short', async () => {
    const s = await start();
    const c = await raw(s);
    const text = Buffer.from('fragmented and compressed '.repeat(4000));
    const z = compress(text);
    const cut = [0, 7, 100, Math.floor(z.length / 2), z.length];
    const frames: Buffer[] = [];
    for (let i = 0; i + 1 < cut.length; i++) {
      frames.push(buildClientFrame(i === 0 ? OP.Text : OP.Continuation, z.subarray(cut[i], cut[i + 1]), { fin: i === cut.length - 2, rsv: i === 0 ? 4 : 0 }));
    }
    const wire = Buffer.concat(frames);
    for (let at = 0; at < wire.length; at += 333) await c.send(wire.subarray(at, at + 333));
    const [reply] = await c.waitFrames(1);
    expect(reply.rsv).toBe(4);
    expect(inflate(reply.payload).equals(text)).toBe(true);
    // Shorter than --ws-compression-threshold-bytes (64): sent as it is.
    await c.sendFrame(OP.Text, compress(Buffer.from('short')), { rsv: 4 });
    const [, short] = await c.waitFrames(2);
    expect(short.rsv).toBe(0);
    expect(short.payload.toString()).toBe('short');
  });

  it('RSV1 rules: on a continuation → 1002, on a ping → 1002, without negotiation → 1002', async () => {
    const s = await start();
    const cont = await raw(s);
    await cont.sendFrame(OP.Text, compress(Buffer.from('part one')), { fin: false, rsv: 4 });
    await cont.sendFrame(OP.Continuation, compress(Buffer.from('two')), { rsv: 4 });
    expect((await cont.waitClose()).code).toBe(1002);
    const ping = await raw(s);
    await ping.sendFrame(OP.Ping, 'p', { rsv: 4 });
    expect((await ping.waitClose()).code).toBe(1002);
    const plain = await raw(s, '/echo', null);
    await plain.sendFrame(OP.Text, compress(Buffer.from('not negotiated')), { rsv: 4 });
    expect((await plain.waitClose()).code).toBe(1002);
  });

  it('a decompression bomb → 1009 at the message limit; exactly the limit passes; data that does not inflate → 1007; invalid UTF-8 once inflated → 1007', async () => {
    const s = await start({ wsMaxMessageBytes: 1 * MiB });
    const ok = await raw(s);
    await ok.sendFrame(OP.Binary, compress(Buffer.alloc(1 * MiB)), { rsv: 4 });
    const [echoed] = await ok.waitFrames(1);
    expect(inflate(echoed.payload).length).toBe(1 * MiB);
    const bomb = await raw(s);
    const z = compress(Buffer.alloc(64 * MiB));
    expect(z.length).toBeLessThan(100 * KiB);
    await bomb.sendFrame(OP.Binary, z, { rsv: 4 });
    expect((await bomb.waitClose()).code).toBe(1009);
    const garbage = await raw(s);
    await garbage.sendFrame(OP.Binary, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), { rsv: 4 });
    expect((await garbage.waitClose()).code).toBe(1007);
    const utf8 = await raw(s);
    await utf8.sendFrame(OP.Text, compress(Buffer.from([0x61, 0xff, 0x62])), { rsv: 4 });
    expect((await utf8.waitClose()).code).toBe(1007);
  });
});

describe('compress-once fan-out', () => {
  it('a broadcast to compressed and plain members is compressed once and framed at most twice; each member gets the message', async () => {
    const members = new Set<WebSocket>();
    const s = await start({}, (app) => {
      app.endpoints.add({
        path: '/room',
        onOpen: (ws) => void members.add(ws),
        onClose: (ws) => void members.delete(ws),
        onMessage: (_ws, data, isBinary) => void app.ws.broadcast(members, data, isBinary),
      });
    });
    const compressed = await Promise.all([1, 2, 3, 4].map(() => wsClient(s, { perMessageDeflate: true }, '/room')));
    const plain = await Promise.all([1, 2, 3].map(() => wsClient(s, { perMessageDeflate: false }, '/room')));
    await expect.poll(() => members.size).toBe(7);
    const before = s.app.stats().ws;
    const message = JSON.stringify({ type: 'danmaku', user: 'ann', text: 'hello, everyone in this room '.repeat(4) });
    const received = [...compressed, ...plain].map((ws) => new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString()))));
    plain[0].send(message);
    expect(await Promise.all(received)).toEqual(Array(7).fill(message));
    const after = s.app.stats().ws;
    expect(after.compressions - before.compressions).toBe(1);
    expect(after.framesEncoded - before.framesEncoded).toBe(2);
    expect(after.fanoutDeliveries - before.fanoutDeliveries).toBe(7);
    const metrics = await fetch(`http://127.0.0.1:${s.port}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/slabcast_ws_compressed_messages_total\{direction="out"\} [1-9]/);
    expect(metrics).toMatch(/slabcast_ws_compressed_connections_total [1-9]/);
  });
});
