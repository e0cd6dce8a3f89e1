/**
 * WebSocket limits over real sockets (RFC 6455 §10.4): message and frame size (1009, decided from
 * the header alone for frames), read-slab exhaustion (the oversize area takes over), liveness pings (a silent peer is
 * dropped and counted), and backpressure (send() reports it and onDrain resumes; a peer that does
 * not read stops being read; memory stays bounded; nothing is lost).
 */

import { afterEach, describe, expect, it } from 'vitest';
import WebSocketClient from 'ws';
import type { ServerConfig } from '../../src/config.js';
import { PauseReason } from '../../src/core/connection.js';
import { WriteStatus } from '../../src/core/message-writer.js';
import { NO_SECTION, type SlabStats } from '../../src/core/slab.js';
import type { WebSocket } from '../../src/protocols/websocket/websocket.js';
import { echoEndpoint } from '../../src/services/echo/echo-endpoint.js';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';
import { buildClientFrame } from '../helpers/ws-client-frames.js';
import { OP, WsRawClient } from '../helpers/ws-raw.js';

let server: TestServer | null = null;
const clients: { destroy(): void }[] = [];
const wsClients: WebSocketClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const c of wsClients.splice(0)) c.terminate();
  if (server !== null) await server.close();
  server = null;
});

async function start(config: Partial<ServerConfig>): Promise<TestServer> {
  server = await startServer(config);
  return server;
}

async function open(s: TestServer): Promise<WsRawClient> {
  const ws = await WsRawClient.open(s.port);
  clients.push(ws);
  return ws;
}

async function expectFailure(ws: WsRawClient, code: number): Promise<void> {
  expect((await ws.waitClose()).code).toBe(code);
  await ws.waitClosed();
  expect(ws.frames().at(-1)?.opcode).toBe(OP.Close);
}

/** Echo round trip on a raw client: proves the connection is alive and served. */
async function expectEcho(ws: WsRawClient, text: string): Promise<void> {
  const before = ws.dataFrames().length;
  await ws.sendFrame(OP.Text, text);
  await ws.waitFrames(before + 1, (f) => f.opcode < OP.Close);
  expect(ws.dataFrames().at(-1)?.payload.toString()).toBe(text);
}

function slabBytesInUse(slab: SlabStats): number {
  return slab.tiers.reduce((n, t) => n + t.inUse * t.sectionBytes, 0);
}

describe('message size: wsMaxMessageBytes (1000) → 1009', () => {
  const limits = { wsMaxMessageBytes: 1000, wsMaxFrameBytes: 4000 };

  it('a single frame of exactly 1000 bytes is echoed; 1001 bytes → 1009', async () => {
    const s = await start(limits);
    const ok = await open(s);
    await ok.sendFrame(OP.Binary, Buffer.alloc(1000, 7));
    const [m] = await ok.waitFrames(1);
    expect(m.payload.length).toBe(1000);
    const bad = await open(s);
    await bad.sendFrame(OP.Binary, Buffer.alloc(1001, 7));
    await expectFailure(bad, 1009);
    expect(bad.dataFrames()).toHaveLength(0);
  });

  it('fragments summing to 1000 are echoed; summing to 1001 → 1009', async () => {
    const s = await start(limits);
    const ok = await open(s);
    await ok.sendFrame(OP.Text, 'a'.repeat(400), { fin: false });
    await ok.sendFrame(OP.Continuation, 'b'.repeat(400), { fin: false });
    await ok.sendFrame(OP.Continuation, 'c'.repeat(200));
    const [m] = await ok.waitFrames(1);
    expect(m.payload.toString()).toBe('a'.repeat(400) + 'b'.repeat(400) + 'c'.repeat(200));
    const bad = await open(s);
    await bad.sendFrame(OP.Text, 'a'.repeat(400), { fin: false });
    await bad.sendFrame(OP.Continuation, 'b'.repeat(400), { fin: false });
    await bad.sendFrame(OP.Continuation, 'c'.repeat(201));
    await expectFailure(bad, 1009);
  });

  it('a fragmented message fails as soon as its running total passes the limit (no final fragment needed)', async () => {
    const s = await start(limits);
    const ws = await open(s);
    await ws.sendFrame(OP.Binary, Buffer.alloc(600), { fin: false });
    await ws.sendFrame(OP.Continuation, Buffer.alloc(401), { fin: false });
    await expectFailure(ws, 1009);
    expect(s.app.stats().ws.protocolErrors[1009]).toBe(1);
  });
});

describe('default limits: 16 MiB messages', () => {
  it('the defaults: 16 MiB per message and per frame, an oversize budget that holds one', async () => {
    const s = await start({});
    const c = s.app.config;
    expect([c.wsMaxMessageBytes, c.wsMaxFrameBytes]).toEqual([16 * 1024 * 1024, 16 * 1024 * 1024]);
    expect(c.maxOversizeBytes).toBeGreaterThanOrEqual(c.wsMaxMessageBytes);
  });

  it('a frame announcing one byte past 16 MiB → 1009 from its header alone', async () => {
    const s = await start({});
    const bad = await open(s);
    // 127 → 64-bit length; mask bit set; then the mask key.
    const frame = Buffer.alloc(14);
    frame[0] = 0x82;
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(16 * 1024 * 1024 + 1), 2);
    await bad.send(frame);
    await expectFailure(bad, 1009);
  });
});

describe('read-slab exhaustion', () => {
  it('a fragmented message that finds no read section is assembled in the oversize area instead, and echoed', async () => {
    const s = await start({});
    const ws = await open(s);
    await expectEcho(ws, 'before');
    // Simulated memory pressure: hold every read section.
    const slab = s.app.core.readSlab;
    const held: number[] = [];
    for (let section = slab.allocate(1); section !== NO_SECTION; section = slab.allocate(1)) held.push(section);
    try {
      await ws.send(Buffer.concat([buildClientFrame(OP.Text, 'part', { fin: false }), buildClientFrame(OP.Continuation, 'ial')]));
      const [m] = await ws.waitFrames(2, (f) => f.opcode === OP.Text);
      expect(m.payload.toString()).toBe('before');
      expect(ws.dataFrames().at(-1)?.payload.toString()).toBe('partial');
      expect(s.app.core.processor.oversize.stats().allocations).toBe(1);
      expect(s.app.stats().ws.protocolErrors[1013]).toBeUndefined();
    } finally {
      for (const section of held) slab.free(section);
    }
  });
});

describe('frame size: wsMaxFrameBytes (1000) → 1009', () => {
  it('a frame of 1000 bytes passes; the header of a 1001-byte frame alone is refused', async () => {
    const s = await start({ wsMaxFrameBytes: 1000, wsMaxMessageBytes: 100_000 });
    const ok = await open(s);
    await ok.sendFrame(OP.Binary, Buffer.alloc(1000));
    await ok.waitFrames(1);
    const bad = await open(s);
    // Only the 8-byte header (16-bit length + mask key): no payload byte is ever sent.
    await bad.send(buildClientFrame(OP.Binary, Buffer.alloc(1001)).subarray(0, 8));
    await expectFailure(bad, 1009);
    // The same for a 64-bit length far past every buffer.
    const huge = await open(s);
    await huge.send(Buffer.concat([Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0]), Buffer.from([1, 2, 3, 4])]));
    await expectFailure(huge, 1009);
  });

  it('a fragmented message of frames under the limit may exceed it as a whole', async () => {
    const s = await start({ wsMaxFrameBytes: 1000, wsMaxMessageBytes: 100_000 });
    const ws = await open(s);
    for (let i = 0; i < 5; i++) await ws.sendFrame(i === 0 ? OP.Binary : OP.Continuation, Buffer.alloc(1000, i), { fin: i === 4 });
    const [m] = await ws.waitFrames(1);
    expect(m.payload.length).toBe(5000);
  });

  it('other clients are unaffected by a peer failed for size', async () => {
    const s = await start({ wsMaxFrameBytes: 1000, wsMaxMessageBytes: 1000 });
    const good = await open(s);
    await expectEcho(good, 'before');
    const bad = await open(s);
    await bad.sendFrame(OP.Text, 'a'.repeat(600), { fin: false });
    await bad.send(buildClientFrame(OP.Continuation, Buffer.alloc(5000)).subarray(0, 8));
    await expectFailure(bad, 1009);
    await expectEcho(good, 'after');
    await good.sendFrame(OP.Binary, Buffer.alloc(1000, 1));
    await good.waitFrames(3);
    expect(good.closed).toBe(false);
  });
});

describe('liveness: wsPingIntervalMs', () => {
  // The processor's deadline sweep runs at min(HTTP timeouts) / 4: a short idle timeout makes it fine
  // enough for 100 ms pings (see the report: the sweep ignores the WS deadlines).
  const fast = { wsPingIntervalMs: 100, idleTimeoutMs: 40 };

  it('a raw client that never answers pings gets a ping, then is dropped and counted', async () => {
    const s = await start(fast);
    // The lower bound's clock starts before the handshake: the server's ping clock cannot start earlier.
    const t0 = Date.now();
    const ws = await open(s);
    const [ping] = await ws.waitFrames(1, (f) => f.opcode === OP.Ping, 3000);
    expect(ping.fin).toBe(true);
    await ws.waitClosed(3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    await waitFor(() => s.app.stats().ws.closed === 1);
    expect(s.app.stats().ws.pingTimeouts).toBe(1);
  });

  it('a raw client that answers with a pong stays open', async () => {
    const s = await start(fast);
    const ws = await open(s);
    for (let i = 1; i <= 2; i++) {
      const pings = await ws.waitFrames(i, (f) => f.opcode === OP.Ping, 3000);
      await ws.sendFrame(OP.Pong, pings[i - 1].payload);
    }
    await expectEcho(ws, 'alive');
    expect(s.app.stats().ws.pingTimeouts).toBe(0);
  });

  it('a ws client (which answers pings itself) stays open across several intervals', async () => {
    const s = await start(fast);
    const client = new WebSocketClient(`ws://127.0.0.1:${s.port}/echo`);
    wsClients.push(client);
    let pings = 0;
    client.on('ping', () => pings++);
    await new Promise((resolve, reject) => client.once('open', resolve).once('error', reject));
    await waitFor(() => pings >= 3, 5000, '3 server pings');
    expect(client.readyState).toBe(WebSocketClient.OPEN);
    expect(s.app.stats().ws.pingTimeouts).toBe(0);
    const echo = new Promise<string>((resolve) => client.once('message', (d) => resolve((d as Buffer).toString())));
    client.send('still here');
    expect(await echo).toBe('still here');
  });

  // The deadline sweep runs at a quarter of the shortest deadline of any protocol, WS ones included.
  it('with the default HTTP timeouts, the first ping still leaves within ~1 interval', async () => {
    const s = await start({ wsPingIntervalMs: 100 });
    const ws = await open(s);
    await ws.waitFrames(1, (f) => f.opcode === OP.Ping, 400);
  });

  it('a busy client is never pinged: its own frames prove it alive', async () => {
    const s = await start(fast);
    const ws = await open(s);
    const until = Date.now() + 300;
    while (Date.now() < until) await expectEcho(ws, 'busy');
    expect(ws.frames().filter((f) => f.opcode === OP.Ping)).toHaveLength(0);
  });
});

describe('backpressure: an endpoint streaming to a peer', () => {
  it('send() reports Backpressure past maxWriteQueueBytes; onDrain resumes; every chunk arrives in order', async () => {
    const maxWriteQueueBytes = 64 * 1024;
    const chunk = 16 * 1024;
    const total = 64; // 1 MiB: many times the write queue limit
    const s = await start({ maxWriteQueueBytes });
    const seen = { backpressure: 0, drains: 0 };
    const pump = (ws: WebSocket): void => {
      const st = ws.data as { next: number };
      while (st.next < total) {
        const i = st.next++;
        const body = Buffer.alloc(chunk, i & 0xff);
        body.writeUInt32BE(i, 0);
        if (ws.send(body) === WriteStatus.Backpressure) {
          seen.backpressure++;
          return; // wait for onDrain
        }
      }
    };
    s.app.addEndpoint({
      path: '/stream',
      onOpen(ws) {
        ws.data = { next: 0 };
      },
      onMessage(ws) {
        pump(ws);
      },
      onDrain(ws) {
        seen.drains++;
        pump(ws);
      },
    });
    const ws = await WsRawClient.open(s.port, '/stream');
    clients.push(ws);
    await ws.sendFrame(OP.Text, 'start');
    const frames = await ws.waitFrames(total, () => true, 10_000);
    expect(frames.map((f) => f.payload.readUInt32BE(0))).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(frames.every((f) => f.payload.length === chunk)).toBe(true);
    expect(seen.backpressure).toBeGreaterThan(0);
    expect(seen.drains).toBe(seen.backpressure);
  });
});

describe('backpressure: a peer that sends but never reads', () => {
  it('stops being read (bounded memory) and, once it reads, gets every echo in order', async () => {
    const maxWriteQueueBytes = 64 * 1024;
    const size = 16 * 1024;
    const batch = 32; // 512 KiB of echoes per batch
    const s = await start({ maxWriteQueueBytes, slabMediumCount: 16 });
    let serverSide: WebSocket | null = null;
    const echo = echoEndpoint();
    s.app.addEndpoint({
      path: '/echo-watch',
      onOpen(ws) {
        serverSide = ws;
      },
      onMessage: (ws, data, isBinary) => echo.onMessage(ws, data, isBinary),
    });
    const ws = await WsRawClient.open(s.port, '/echo-watch');
    clients.push(ws);
    ws.raw.socket.pause();
    const payload = (i: number): Buffer => {
      const p = Buffer.alloc(size, i & 0xff);
      p.writeUInt32BE(i, 0);
      return p;
    };
    const conn = serverSide!.conn;
    // Sampled through both phases: output past the limit is one frame at most, and the slabs hold
    // a bounded amount (one read section for the unread tail; a few write sections).
    const peak = { pending: 0, readBytes: 0, writeBytes: 0 };
    const sample = (): void => {
      peak.pending = Math.max(peak.pending, conn.writer.pendingBytes);
      peak.readBytes = Math.max(peak.readBytes, slabBytesInUse(s.app.core.readSlab.stats()));
      peak.writeBytes = Math.max(peak.writeBytes, slabBytesInUse(s.app.core.writeSlab.stats()));
    };
    const stalled = (): boolean =>
      (conn.pausedMask & PauseReason.Backpressure) !== 0 && conn.writer.pendingBytes > maxWriteQueueBytes / 2;
    // How much the loopback buffers absorb varies (TCP autotuning), so send batches until the server
    // is paused with output it cannot drain, i.e. the kernel stopped taking our echoes.
    let sent = 0;
    for (;;) {
      if (sent >= 2000) throw new Error('the server never stalled on its output');
      for (let i = 0; i < batch; i++) ws.raw.socket.write(buildClientFrame(OP.Binary, payload(sent++)));
      await waitFor(
        () => {
          sample();
          return stalled() || (s.app.ws.stats.messagesIn === sent && conn.pausedMask === 0);
        },
        5000,
        'a stall or the batch fully echoed',
      );
      if (stalled()) break;
    }
    expect(s.app.stats().core.processor.pausesBackpressure).toBeGreaterThan(0);
    expect(s.app.stats().ws.messagesIn).toBeLessThan(sent);
    ws.raw.socket.resume();
    // Checked on every chunk the client receives.
    await ws.raw.until(() => {
      sample();
      return ws.frames().length >= sent;
    }, 10_000);
    const echoes = ws.frames();
    expect(echoes).toHaveLength(sent);
    expect(echoes.every((f, i) => f.opcode === OP.Binary && f.payload.equals(payload(i)))).toBe(true);
    expect(peak.pending).toBeLessThanOrEqual(maxWriteQueueBytes + size + 14);
    expect(peak.readBytes).toBeLessThanOrEqual(1024 * 1024);
    // Each frame in flight holds at most one (medium) write section until its write completes.
    const framesInFlight = Math.ceil((maxWriteQueueBytes + size + 14) / size);
    expect(peak.writeBytes).toBeLessThanOrEqual(framesInFlight * s.app.config.slabMediumBytes);
    expect(s.app.stats().ws.messagesIn).toBe(sent);
  });
});
