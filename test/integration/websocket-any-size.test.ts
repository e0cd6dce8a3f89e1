/**
 * Messages of any size up to the limit, as a client sees them (the Autobahn 9.x series and more),
 * with the default configuration: 64 KiB … 16 MiB text and binary, whole and fragmented (64 B …
 * 4 MiB fragments), written in TCP chops of 64 B … 1 MiB, UTF-8 checked across every boundary. And
 * memory stays bounded: 64 connections sending 16 MiB at once never take more than the oversize
 * budget, a small echo is answered meanwhile, and every section and block comes back.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocketClient from 'ws';
import { expectNoLeak, startServer, type TestServer, waitFor } from '../helpers/listen.js';
import { messageFrames, sha256, WsStreamClient } from '../helpers/ws-stream-client.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const TEXT = 1;
const BINARY = 2;

let server: TestServer | null = null;
const clients: WsStreamClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  if (server !== null) await server.close();
  server = null;
});

async function open(s: TestServer): Promise<WsStreamClient> {
  const c = await WsStreamClient.open(s.port);
  clients.push(c);
  return c;
}

/** `n` bytes of valid UTF-8 with 1-, 2-, 3- and 4-byte sequences, so boundaries split code points. */
function utf8Text(n: number): Buffer {
  const unit = Buffer.from('aκόσμε€😀z', 'utf8'); // 1+2+2+2+2+2+3+4+1 = 19 bytes
  const out = Buffer.alloc(n);
  for (let at = 0; at < n; at += unit.length) unit.copy(out, at, 0, Math.min(unit.length, n - at));
  // Cutting the last unit may leave a truncated sequence: pad the tail with ASCII.
  let end = n;
  while (end > 0 && out[end - 1] >= 0x80) end--;
  out.fill(0x61, end);
  return out;
}

async function expectEcho(c: WsStreamClient, opcode: number, payload: Buffer, options: { fragment?: number; chop?: number } = {}): Promise<void> {
  const [, m] = await Promise.all([c.send(opcode, payload, options), c.next()]);
  expect({ opcode: m.opcode, length: m.length }).toEqual({ opcode, length: payload.length });
  expect(m.sha256).toBe(sha256(payload));
}

describe('Autobahn 9.x as a client sees it, default configuration', () => {
  it('9.1/9.2: text and binary of 64 KiB, 256 KiB, 1 MiB, 4 MiB, 8 MiB and 16 MiB in one frame are echoed', async () => {
    const s = (server = await startServer());
    const c = await open(s);
    for (const size of [64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 8 * MiB, 16 * MiB]) {
      await expectEcho(c, TEXT, utf8Text(size));
      await expectEcho(c, BINARY, randomBytes(size));
    }
    const area = s.app.core.processor.oversize.stats();
    expect(area.allocations).toBeGreaterThan(0);
    await waitFor(() => s.app.core.processor.oversize.stats().inUseBytes === 0, 5000, 'blocks released');
  });

  it('9.3/9.4: a 4 MiB message in fragments of 64 B … 4 MiB is assembled and echoed, text and binary', async () => {
    const s = (server = await startServer());
    const c = await open(s);
    const text = utf8Text(4 * MiB);
    const binary = randomBytes(4 * MiB);
    for (const fragment of [64, 256, 1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB]) {
      await expectEcho(c, TEXT, text, { fragment });
      await expectEcho(c, BINARY, binary, { fragment });
    }
  });

  it('9.5/9.6: a 1 MiB message written in TCP chops of 64 B … 1 MiB is echoed, text and binary', async () => {
    const s = (server = await startServer());
    const c = await open(s);
    const text = utf8Text(1 * MiB);
    const binary = randomBytes(1 * MiB);
    for (const chop of [64, 128, 256, 512, 1 * KiB, 4 * KiB, 64 * KiB, 1 * MiB]) {
      await expectEcho(c, TEXT, text, { chop });
      await expectEcho(c, BINARY, binary, { chop });
    }
  });

  it('16 MiB fragmented in 64 KiB pieces and chopped in 1 KiB writes: echoed whole', async () => {
    const s = (server = await startServer());
    const c = await open(s);
    await expectEcho(c, BINARY, randomBytes(16 * MiB), { fragment: 64 * KiB, chop: 1 * KiB });
    await expectEcho(c, TEXT, utf8Text(16 * MiB), { fragment: 4 * MiB, chop: 64 * KiB });
  });

  it('UTF-8 is checked across pieces: an invalid byte near the end of a streamed 4 MiB text message → 1007', async () => {
    const s = (server = await startServer());
    const c = await open(s);
    const bad = utf8Text(4 * MiB);
    bad[bad.length - 10] = 0xff;
    await c.send(TEXT, bad, { chop: 64 * KiB });
    expect(await c.closeCode()).toBe(1007);
    // A code point split across two fragments is fine; one left open at the end is not.
    const c2 = await open(s);
    const euro = Buffer.from('€', 'utf8');
    const ok = Buffer.concat([utf8Text(2 * MiB), euro, Buffer.from('a')]);
    await expectEcho(c2, TEXT, ok, { fragment: 2 * MiB + 1 });
    await c2.send(TEXT, Buffer.concat([utf8Text(2 * MiB), euro.subarray(0, 2)]), { fragment: 1 * MiB });
    expect(await c2.closeCode()).toBe(1007);
  });

  it('the limit: 16 MiB is echoed; 16 MiB + 1 → 1009, decided from the header (single frame) or the running total (fragments)', async () => {
    const s = (server = await startServer());
    const c = await open(s);
    await expectEcho(c, BINARY, randomBytes(16 * MiB), { fragment: 5 * MiB });
    const single = await open(s);
    // Only the header of the oversized frame is sent: the answer cannot wait for the payload.
    await single.write([Buffer.from([0x82, 0x80 | 127, 0, 0, 0, 0, 0x01, 0, 0, 1, 1, 2, 3, 4])]);
    expect(await single.closeCode()).toBe(1009);
    const fragments = await open(s);
    await fragments.send(BINARY, Buffer.alloc(16 * MiB + 1), { fragment: 4 * MiB });
    expect(await fragments.closeCode()).toBe(1009);
  });

  it('a ws client: 16 MiB text and binary round trips (permessage-deflate off)', async () => {
    const s = (server = await startServer());
    const ws = new WebSocketClient(`ws://127.0.0.1:${s.port}/echo`, { perMessageDeflate: false, maxPayload: 64 * MiB });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      for (const [data, binary] of [
        [randomBytes(16 * MiB), true],
        [utf8Text(16 * MiB), false],
      ] as const) {
        const echoed = new Promise<{ data: Buffer; isBinary: boolean }>((resolve) => ws.once('message', (d: Buffer, isBinary: boolean) => resolve({ data: d, isBinary })));
        ws.send(data, { binary });
        const m = await echoed;
        expect(m.isBinary).toBe(binary);
        expect(m.data.equals(data)).toBe(true);
      }
    } finally {
      ws.terminate();
    }
  });
});

describe('memory stays within the oversize budget (--max-oversize-bytes)', () => {
  it('64 connections send 16 MiB at once with a 64 MiB budget: all echoed, the budget never passed, a small echo answered meanwhile, everything returned', async () => {
    const budget = 64 * MiB;
    const s = (server = await startServer({ maxOversizeBytes: budget }));
    const area = s.app.core.processor.oversize;
    const payload = randomBytes(16 * MiB);
    const expected = sha256(payload);
    const big: WsStreamClient[] = [];
    for (let i = 0; i < 64; i++) big.push(await open(s));
    const small = await open(s);
    const echoes = big.map(async (c) => {
      const [, m] = await Promise.all([c.send(BINARY, payload, { chop: 256 * KiB }), c.next(120_000)]);
      return m;
    });
    // While most of them wait for the budget, another connection is still served.
    await waitFor(() => area.stats().waiting > 0, 30_000, 'connections waiting for the budget');
    await expectEcho(small, TEXT, Buffer.from('still here'));
    const got = await Promise.all(echoes);
    for (const m of got) expect({ length: m.length, sha256: m.sha256 }).toEqual({ length: payload.length, sha256: expected });
    const stats = area.stats();
    expect(stats.highWaterBytes).toBeLessThanOrEqual(budget);
    expect(stats.highWaterBytes).toBeGreaterThanOrEqual(16 * MiB);
    expect(stats.waits).toBeGreaterThan(0);
    expect(stats.tooLarge + stats.deadlocks).toBe(0);
    // What an operator sees: the same figures on /metrics.
    const metrics = await fetch(`http://127.0.0.1:${s.port}/metrics`).then((r) => r.text());
    expect(metrics).toContain(`slabcast_oversize_bytes{state="budget"} ${budget}`);
    expect(metrics).toContain(`slabcast_oversize_bytes{state="high_water"} ${stats.highWaterBytes}`);
    expect(metrics).toMatch(new RegExp(`slabcast_oversize_total\\{event="paused"\\} ${stats.waits}\\b`));
    for (const c of big) c.destroy();
    small.destroy();
    await waitFor(() => s.app.stats().core.processor.open === 0, 10_000, 'connections closed');
    expect(area.stats().inUseBytes).toBe(0);
    expectNoLeak(s.app);
  }, 180_000);

  it('liveness: a message trickling in over many ping intervals, and a connection waiting for the budget meanwhile, are not dropped as dead', async () => {
    // Pieces every 50 ms against a 250 ms ping interval: a loaded test machine may stall the writer
    // for a while, but a peer is judged dead only after a whole interval without a byte after a ping.
    const s = (server = await startServer({ maxOversizeBytes: 2 * MiB, wsMaxMessageBytes: 2 * MiB, wsPingIntervalMs: 250 }));
    const slow = await open(s);
    const waiter = await open(s);
    const first = randomBytes(2 * MiB);
    const second = randomBytes(2 * MiB);
    const frames = messageFrames(BINARY, first);
    const wire = Buffer.concat(frames);
    // The header and a first piece: the slow message holds the whole budget from here on.
    await slow.write([wire.subarray(0, 64 * KiB)]);
    await waitFor(() => s.app.core.processor.oversize.stats().inUseBytes === 2 * MiB, 5000, 'the budget taken');
    const waiting = Promise.all([waiter.send(BINARY, second), waiter.next()]);
    await waitFor(() => s.app.core.processor.oversize.stats().waiting === 1, 5000, 'a waiter');
    // The rest in forty pieces over ~2 s: eight ping intervals.
    for (let at = 64 * KiB, step = Math.ceil((wire.length - at) / 40); at < wire.length; at += step) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await slow.write([wire.subarray(at, Math.min(wire.length, at + step))]);
    }
    const echo = await slow.next();
    expect({ length: echo.length, sha256: echo.sha256 }).toEqual({ length: first.length, sha256: sha256(first) });
    const [, second_] = await waiting;
    expect({ length: second_.length, sha256: second_.sha256 }).toEqual({ length: second.length, sha256: sha256(second) });
    expect(s.app.stats().ws.pingTimeouts).toBe(0);
  });

  it('a connection that closes while it waits for the budget, before any byte of its message was kept, gives up its place: the budget comes back whole', async () => {
    const s = (server = await startServer({ maxOversizeBytes: 2 * MiB, wsMaxMessageBytes: 2 * MiB }));
    const slow = await open(s);
    const quitter = await open(s);
    const first = randomBytes(2 * MiB);
    const wire = Buffer.concat(messageFrames(BINARY, first));
    await slow.write([wire.subarray(0, 64 * KiB)]);
    await waitFor(() => s.app.core.processor.oversize.stats().inUseBytes === 2 * MiB, 5000, 'the budget taken');
    // The quitter's first frame header (and a little payload) asks for the whole budget: it waits.
    const theirs = Buffer.concat(messageFrames(BINARY, randomBytes(2 * MiB)));
    await quitter.write([theirs.subarray(0, 16 * KiB)]);
    await waitFor(() => s.app.core.processor.oversize.stats().waiting === 1, 5000, 'a waiter');
    // Not read while it waits, its close is seen once the budget frees up and it is woken.
    quitter.destroy();
    await slow.write([wire.subarray(64 * KiB)]);
    const echo = await slow.next();
    expect({ length: echo.length, sha256: echo.sha256 }).toEqual({ length: first.length, sha256: sha256(first) });
    // The slow message's block is free once its echo left; nothing is kept for the closed waiter.
    await waitFor(() => s.app.stats().core.processor.open === 1, 5000, 'the quitter closed');
    await waitFor(() => s.app.core.processor.oversize.stats().inUseBytes === 0, 5000, 'the budget free');
    expect(s.app.core.processor.oversize.stats().waiting).toBe(0);
  });

  it('the server closes while one connection holds the budget and another waits for it: every block comes back', async () => {
    const s = (server = await startServer({ maxOversizeBytes: 2 * MiB, wsMaxMessageBytes: 2 * MiB }));
    const holder = await open(s);
    const waiter = await open(s);
    await holder.write([Buffer.concat(messageFrames(BINARY, randomBytes(2 * MiB))).subarray(0, 64 * KiB)]);
    await waitFor(() => s.app.core.processor.oversize.stats().inUseBytes === 2 * MiB, 5000, 'the budget taken');
    await waiter.write([Buffer.concat(messageFrames(BINARY, randomBytes(2 * MiB))).subarray(0, 16 * KiB)]);
    await waitFor(() => s.app.core.processor.oversize.stats().waiting === 1, 5000, 'a waiter');
    server = null;
    // close() checks that every section and oversize block is free (expectNoLeak).
    await s.close();
    expect(s.app.core.processor.oversize.stats()).toMatchObject({ inUseBytes: 0, waiting: 0 });
  });

  it('a message that could never fit the budget → 1009 from its header; one at the budget is echoed', async () => {
    const s = (server = await startServer({ maxOversizeBytes: 2 * MiB, wsMaxMessageBytes: 2 * MiB }, (app) => {
      // An endpoint whose own limit is past the budget: the budget is what refuses.
      app.endpoints.add({ path: '/wide', maxMessageBytes: 8 * MiB, onMessage: (ws, data, isBinary) => ws.send(data, isBinary) });
    }));
    const c = await WsStreamClient.open(s.port, '/wide');
    clients.push(c);
    await expectEcho(c, BINARY, randomBytes(2 * MiB));
    await c.write([Buffer.from([0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x20, 0, 1, 1, 2, 3, 4])]); // 2 MiB + 1
    expect(await c.closeCode()).toBe(1009);
  });
});
