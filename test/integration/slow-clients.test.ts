/**
 * Slow and hostile clients against the read slab, over real sockets (both transports): read sections
 * grow with the bytes that have arrived, never with a declared Content-Length or frame length; a tail
 * takes a section of its own tier only (it waits rather than take a larger one); connections waiting
 * for memory sleep in a FIFO queue and are woken once per freed section (no retry loop); incomplete
 * messages that hold sections must keep making progress (408 / 1008); one connection holds at most
 * `maxHeldReadBytes`; the wait queue is bounded (503 / 1013). Every test ends with the leak check.
 */

import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Slabcast } from '../../src/slabcast.js';
import type { ServerConfig } from '../../src/config.js';
import { Tier } from '../../src/core/slab.js';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';
import { parseResponses, RawClient } from '../helpers/raw-client.js';
import { buildClientFrame } from '../helpers/ws-client-frames.js';
import { OP, WsRawClient } from '../helpers/ws-raw.js';

let server: TestServer | null = null;
const clients: { destroy(): void }[] = [];
const timers: NodeJS.Timeout[] = [];

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const c of clients.splice(0)) c.destroy();
  if (server !== null) await server.close();
  server = null;
});

/** Records every code the protocols report through their limit hooks (what the app logs, once each). */
function recordLimits(app: Slabcast, codes: string[]): void {
  app.http.onLimit = (code) => codes.push(code);
  app.ws.onLimit = (code) => codes.push(code);
}

async function start(config: Partial<ServerConfig>, codes: string[] = []): Promise<TestServer> {
  server = await startServer(config, (app) => {
    recordLimits(app, codes);
    // Answers with the body's length and byte sum: proves every byte arrived, in order.
    app.router.add('POST', '/upload', (req, res) => res.send(`${req.body.length}:${byteSum(req.body)}`));
  });
  return server;
}

async function raw(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

async function ws(port: number): Promise<WsRawClient> {
  const c = await WsRawClient.open(port);
  clients.push(c);
  return c;
}

function byteSum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) s = (s + b[i] * (i + 1)) % 1_000_000_007;
  return s;
}

function body(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

function post(length: number, first = ''): string {
  return `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n${first}`;
}

/** The header of a masked binary frame declaring `length` payload bytes (64-bit form when needed), and `sent` payload bytes. */
function frameStart(length: number, sent: number): Buffer {
  return buildClientFrame(OP.Binary, Buffer.alloc(length)).subarray(0, (length > 0xffff ? 14 : length > 125 ? 8 : 6) + sent);
}

function tier(app: Slabcast, t: Tier): { inUse: number; free: number } {
  return app.stats().core.readSlab.tiers[t];
}

/** Tails that took a section or waited for one (counted alike before and after the fix, for the old-code check). */
function tailsTaken(app: Slabcast): number {
  const core = app.stats().core;
  return core.readSlab.allocations + core.processor.pausesMemory;
}

/** Sends `bytes` one slice at a time every `everyMs` until the socket closes or everything is sent. */
function trickle(c: RawClient, bytes: Buffer, slice: number, everyMs: number): void {
  let at = 0;
  const t = setInterval(() => {
    if (c.closed || at >= bytes.length) {
      clearInterval(t);
      return;
    }
    c.socket.write(bytes.subarray(at, at + slice));
    at += slice;
  }, everyMs);
  timers.push(t);
}

describe('sections grow with the bytes that arrived, never with a declared length', () => {
  it('40 HTTP connections declaring 500 KB bodies and sending 10 bytes do not block a 900 KB POST', async () => {
    const s = await start({ maxBodyBytes: 1_000_000 });
    const slow: RawClient[] = [];
    for (let i = 0; i < 40; i++) {
      const c = await raw(s.port);
      await c.send(post(500_000, '0123456789'));
      slow.push(c);
    }
    await waitFor(() => tailsTaken(s.app) >= 40, 5000, '40 tails buffered');
    const big = body(900_000);
    const c = await raw(s.port);
    await c.send(Buffer.concat([Buffer.from(post(big.length), 'latin1'), big]));
    const [r] = await c.responses(1, 10_000);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(`${big.length}:${byteSum(big)}`);
    expect(slow.every((x) => !x.closed)).toBe(true);
    expect(s.app.stats().core.processor.pausesMemory).toBe(0);
    expect(tier(s.app, Tier.Small).inUse).toBe(40);
    expect(tier(s.app, Tier.Medium).inUse).toBe(0);
  });

  it('40 WebSockets declaring 500 KB frames and sending 10 bytes do not block a 900 KB message', async () => {
    const s = await start({});
    for (let i = 0; i < 40; i++) await (await ws(s.port)).send(frameStart(500_000, 10));
    await waitFor(() => tailsTaken(s.app) >= 40, 5000, '40 tails buffered');
    const big = body(900_000);
    const c = await ws(s.port);
    await c.sendFrame(OP.Binary, big);
    const [echo] = await c.waitFrames(1, (f) => f.opcode === OP.Binary, 10_000);
    expect(echo.payload.equals(big)).toBe(true);
    expect(tier(s.app, Tier.Small).inUse).toBe(40);
    expect(tier(s.app, Tier.Large).inUse).toBe(0);
  });
});

describe('a tail takes a section of its own tier only, and waiting connections sleep', () => {
  it('100 partial request heads take only the 64 small sections; the rest wait without spinning and are served in turn', async () => {
    const s = await start({});
    const HEAD = 'GET / HTTP/1.1\r\nHost: xy\r\n'; // 26 bytes, no blank line yet
    expect(HEAD.length).toBe(26);
    const cs: RawClient[] = [];
    for (let i = 0; i < 100; i++) {
      const c = await raw(s.port);
      await c.send(HEAD);
      cs.push(c);
    }
    await waitFor(() => tier(s.app, Tier.Small).inUse === 64 && s.app.stats().core.processor.pausesMemory > 0, 5000, 'small tier full, someone waiting');
    expect(tier(s.app, Tier.Medium).inUse).toBe(0);
    expect(tier(s.app, Tier.Large).inUse).toBe(0);
    const waiters = s.app.core.processor.sectionWaiters;
    await waitFor(() => waiters.waiting(Tier.Small) === 36, 5000, '36 connections waiting for a small section');
    // Waiting costs nothing: the loop is idle (no retries, no turns) until a section is freed.
    const before = s.app.stats().core.processor;
    await delay(300);
    const idle = s.app.stats().core.processor;
    expect(idle.turns - before.turns).toBeLessThan(20);
    expect(idle.pausesMemory).toBe(36);
    // Every head completes: each free wakes one waiter, which then gets its answer.
    for (const c of cs) await c.send('\r\n');
    for (const c of cs) expect((await c.responses(1, 10_000))[0].status).toBe(200);
    const after = s.app.stats().core;
    expect(waiters.stats.waits).toBe(36);
    expect(waiters.stats.wakes).toBe(36);
    // Pauses for memory stay proportional to frees (at most one re-pause per wake), never a retry loop.
    expect(after.processor.pausesMemory).toBeLessThanOrEqual(72);
    expect(after.readSlab.tiers[Tier.Medium].highWater).toBe(0);
    expect(after.readSlab.tiers[Tier.Large].highWater).toBe(0);
  });
});

describe('progress rule: incomplete messages that hold sections must grow (--min-read-progress-bytes per --read-progress-interval-ms)', () => {
  const PROGRESS: Partial<ServerConfig> = {
    readProgressIntervalMs: 200,
    minReadProgressBytes: 100,
    // cap / N stays under the minimum: only minReadProgressBytes decides here.
    readFillIntervals: 1_000_000,
    headersTimeoutMs: 60_000,
    requestTimeoutMs: 60_000,
  };

  it('HTTP: a body trickling 1 byte per 100 ms → 408 ERR_HTTP_REQUEST_TOO_SLOW; one sending 300 bytes per 50 ms completes', async () => {
    const codes: string[] = [];
    const s = await start(PROGRESS, codes);
    const slow = await raw(s.port);
    await slow.send(post(1000, 'abc'));
    trickle(slow, Buffer.alloc(997, 0x61), 1, 100);
    const good = await raw(s.port);
    const goodBody = body(3000);
    await good.send(post(goodBody.length));
    trickle(good, goodBody, 300, 50);
    await slow.waitClosed(10_000);
    const [r] = parseResponses(slow.received);
    expect(r.status).toBe(408);
    expect(r.body.toString()).toContain('ERR_HTTP_REQUEST_TOO_SLOW');
    const [ok] = await good.responses(1, 10_000);
    expect(ok.body.toString()).toBe(`${goodBody.length}:${byteSum(goodBody)}`);
    expect(codes.filter((c) => c === 'ERR_HTTP_REQUEST_TOO_SLOW')).toHaveLength(1);
    expect(s.app.stats().core.processor.readStalls).toBe(1);
    expect(s.app.stats().http.errorsByStatus[408]).toBe(1);
  });

  it('--read-fill-intervals: with 1, a held small section must receive its whole 4 KiB per interval; 300 B per 50 ms → 408', async () => {
    const codes: string[] = [];
    const s = await start({ ...PROGRESS, readFillIntervals: 1 }, codes);
    const c = await raw(s.port);
    await c.send(post(20_000));
    trickle(c, body(20_000), 300, 50);
    await c.waitClosed(10_000);
    expect(parseResponses(c.received)[0].status).toBe(408);
    expect(codes).toEqual(['ERR_HTTP_REQUEST_TOO_SLOW']);
  });

  it('WebSocket: a frame trickling 1 byte per 100 ms → close 1008 ERR_WS_MESSAGE_TOO_SLOW', async () => {
    const codes: string[] = [];
    const s = await start(PROGRESS, codes);
    const c = await ws(s.port);
    await c.send(frameStart(500_000, 10));
    trickle(c.raw, Buffer.alloc(1000), 1, 100);
    expect((await c.waitClose(10_000)).code).toBe(1008);
    await c.waitClosed();
    expect(codes).toEqual(['ERR_WS_MESSAGE_TOO_SLOW']);
    expect(s.app.stats().ws.protocolErrors[1008]).toBe(1);
    expect(s.app.stats().core.processor.readStalls).toBe(1);
  });

  it('WebSocket: a fragmented message assembled from 1-byte fragments every 100 ms → close 1008', async () => {
    const codes: string[] = [];
    const s = await start(PROGRESS, codes);
    const c = await ws(s.port);
    await c.sendFrame(OP.Binary, 'x', { fin: false });
    const fragments = Buffer.concat(Array.from({ length: 100 }, () => buildClientFrame(OP.Continuation, 'y', { fin: false })));
    trickle(c.raw, fragments, 7, 100);
    expect((await c.waitClose(10_000)).code).toBe(1008);
    expect(codes).toEqual(['ERR_WS_MESSAGE_TOO_SLOW']);
  });
});

describe('per-connection ceiling: --max-held-read-bytes (2000)', () => {
  it('HTTP: a buffered request of exactly 2000 bytes is served; 2001 → 413', async () => {
    const s = await start({ maxHeldReadBytes: 2000 });
    for (const [total, status] of [
      [2000, 200],
      [2001, 413],
    ] as const) {
      const head = post(0).length;
      // Content-Length grows by one digit-free amount: both heads have the same length (4-digit lengths).
      const n = total - head - 3;
      const request = Buffer.from(post(n) + 'z'.repeat(n), 'latin1');
      expect(request.length).toBe(total);
      const c = await raw(s.port);
      await c.send(request.subarray(0, 100));
      await waitFor(() => tier(s.app, Tier.Small).inUse === 1, 5000, 'the first part buffered');
      await c.send(request.subarray(100));
      expect((await c.responses(1))[0].status).toBe(status);
      if (status === 413) await c.waitClosed();
      c.destroy();
      await waitFor(() => tier(s.app, Tier.Small).inUse === 0, 5000, 'section freed');
    }
  });

  it('WebSocket: fragments assembling exactly 2000 bytes stay in a read section; 2001 move to the oversize area and are echoed too; past the message limit → 1009', async () => {
    const s = await start({ maxHeldReadBytes: 2000, wsMaxMessageBytes: 3000 });
    const area = s.app.core.processor.oversize;
    const ok = await ws(s.port);
    await ok.sendFrame(OP.Binary, body(1500), { fin: false });
    await ok.sendFrame(OP.Continuation, body(500));
    const [echo] = await ok.waitFrames(1, (f) => f.opcode === OP.Binary);
    expect(echo.payload.length).toBe(2000);
    expect(area.stats().allocations).toBe(0);
    await ok.sendFrame(OP.Binary, body(1500), { fin: false });
    await ok.sendFrame(OP.Continuation, body(501));
    const echoes = await ok.waitFrames(2, (f) => f.opcode === OP.Binary);
    expect(echoes[1].payload.equals(Buffer.concat([body(1500), body(501)]))).toBe(true);
    expect(area.stats().allocations).toBe(1);
    await waitFor(() => area.stats().inUseBytes === 0, 5000, 'oversize block freed');
    const bad = await ws(s.port);
    await bad.sendFrame(OP.Binary, body(1500), { fin: false });
    await bad.sendFrame(OP.Continuation, body(1501));
    expect((await bad.waitClose()).code).toBe(1009);
  });
});

describe('bounded wait queue: --max-section-waiters (2)', () => {
  it('two connections wait for a small section; a third is refused 503 ERR_HTTP_SERVER_BUSY; the waiters are served', async () => {
    const codes: string[] = [];
    const s = await start({ slabSmallCount: 2, maxSectionWaiters: 2 }, codes);
    const HEAD = 'GET / HTTP/1.1\r\nHost: x\r\n';
    const cs: RawClient[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await raw(s.port);
      await c.send(HEAD);
      cs.push(c);
    }
    const waiters = s.app.core.processor.sectionWaiters;
    await waitFor(() => waiters.waiting(Tier.Small) === 2, 5000, 'two waiters');
    expect(codes).toEqual([]);
    const refused = await raw(s.port);
    await refused.send(HEAD);
    await refused.waitClosed();
    const [r] = parseResponses(refused.received);
    expect(r.status).toBe(503);
    expect(r.body.toString()).toContain('ERR_HTTP_SERVER_BUSY');
    expect(waiters.stats.refusedFull).toBe(1);
    for (const c of cs) await c.send('\r\n');
    for (const c of cs) expect((await c.responses(1))[0].status).toBe(200);
    const m = await raw(s.port);
    await m.send('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    const text = (await m.responses(1))[0].body.toString();
    expect(text).toContain('slabcast_read_section_waits_total{outcome="refused"} 1');
    expect(text).toContain('slabcast_read_section_waits_total{outcome="waited"} 2');
    expect(text).toContain('slabcast_read_section_waiters{tier="small"} 0');
    expect(text).toContain('slabcast_read_stalls_total 0');
  });

  it('a waiter whose peer left while queued (we do not read it) passes its turn on when woken', async () => {
    const s = await start({ slabSmallCount: 1 });
    const HEAD = 'GET / HTTP/1.1\r\nHost: x\r\n';
    const holder = await raw(s.port);
    await holder.send(HEAD);
    await waitFor(() => tier(s.app, Tier.Small).inUse === 1, 5000, 'the section held');
    const gone = await raw(s.port);
    await gone.send(HEAD);
    const waiters = s.app.core.processor.sectionWaiters;
    await waitFor(() => waiters.waiting(Tier.Small) === 1, 5000, 'first waiter');
    const next = await raw(s.port);
    await next.send(HEAD);
    await waitFor(() => waiters.waiting(Tier.Small) === 2, 5000, 'second waiter');
    gone.destroy();
    await next.send('\r\n');
    await holder.send('\r\n');
    expect((await holder.responses(1))[0].status).toBe(200);
    // gone's turn came first: it took the section, read its FIN, closed and freed it for next.
    expect((await next.responses(1))[0].status).toBe(200);
    expect(waiters.stats.wakes).toBe(2);
    expect(waiters.waiting(Tier.Small)).toBe(0);
  });
});
