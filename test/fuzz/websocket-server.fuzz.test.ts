import { afterEach, describe, expect, it } from 'vitest';
import { isValidCloseCodeOnWire } from '../../src/protocols/websocket/opcode.js';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';
import { RawClient } from '../helpers/raw-client.js';
import { buildClientFrame } from '../helpers/ws-client-frames.js';
import { closeBody, handshakeRequest, OP, parseServerFrames } from '../helpers/ws-raw.js';
import { prng } from '../helpers/prng.js';

/** A client's byte stream: valid frames (some fragmented, pings), some mutated, some garbage. */
function frames(rand: () => number): Buffer {
  const out: Buffer[] = [];
  const n = 1 + Math.floor(rand() * 8);
  for (let i = 0; i < n; i++) {
    const size = rand() < 0.8 ? Math.floor(rand() * 200) : Math.floor(rand() * 70_000);
    const payload = Buffer.from(Array.from({ length: size }, () => 0x20 + Math.floor(rand() * 90)));
    const r = rand();
    let f: Buffer;
    if (r < 0.5) f = buildClientFrame(rand() < 0.5 ? OP.Text : OP.Binary, payload);
    else if (r < 0.7) f = Buffer.concat([buildClientFrame(OP.Text, payload.subarray(0, size >> 1), { fin: false }), buildClientFrame(OP.Ping, 'p'), buildClientFrame(OP.Continuation, payload.subarray(size >> 1))]);
    else if (r < 0.8) f = buildClientFrame(OP.Ping, payload.subarray(0, 100));
    else f = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
    if (rand() < 0.15) f[Math.floor(rand() * f.length)] = Math.floor(rand() * 256);
    out.push(f);
  }
  return Buffer.concat(out);
}

let server: TestServer | null = null;
afterEach(async () => {
  if (server !== null) await server.close(); // asserts every slab section is free again
  server = null;
});

describe('WebSocket server fuzz (real sockets, seeded)', () => {
  it.each([11, 12, 13])('seed %i: frames and garbage at random splits end in echoes or a valid close code, never a crash or a leak', async (seed) => {
    const rand = prng(seed * 104729);
    server = await startServer({ wsMaxMessageBytes: 100_000, wsMaxFrameBytes: 100_000 });
    for (let round = 0; round < 25; round++) {
      const c = await RawClient.connect(server.port);
      await c.send(handshakeRequest('/echo'));
      await c.until(() => c.received.includes('\r\n\r\n'));
      const headEnd = c.received.indexOf('\r\n\r\n') + 4;
      const bytes = frames(rand);
      let at = 0;
      while (at < bytes.length && !c.closed) {
        const n = 1 + Math.floor(rand() * Math.min(4096, bytes.length - at));
        await c.send(bytes.subarray(at, at + n)).catch(() => undefined);
        at += n;
      }
      await c.until(() => false, 150).catch(() => undefined);
      const { frames: got } = parseServerFrames(c.received, headEnd);
      for (const f of got) {
        expect(f.masked).toBe(false);
        if (f.opcode === OP.Close) {
          const { code } = closeBody(f);
          if (code !== null) expect(isValidCloseCodeOnWire(code)).toBe(true);
        }
      }
      c.destroy();
    }
    await waitFor(() => server!.app.stats().core.processor.open === 0, 5000, 'every connection to close');
  });
});
