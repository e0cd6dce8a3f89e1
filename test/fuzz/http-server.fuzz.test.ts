import { afterEach, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';
import { RawClient } from '../helpers/raw-client.js';
import { prng } from '../helpers/prng.js';

const VALID = [
  'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
  'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  'HEAD /a?b=c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
];

/** A stream of requests, some mutated: random bytes flipped, inserted or deleted. */
function input(rand: () => number): Buffer {
  const parts: Buffer[] = [];
  const n = 1 + Math.floor(rand() * 6);
  for (let i = 0; i < n; i++) {
    const b = Buffer.from(VALID[Math.floor(rand() * VALID.length)], 'latin1');
    if (rand() < 0.5) {
      const edits = 1 + Math.floor(rand() * 4);
      for (let e = 0; e < edits; e++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    }
    parts.push(b);
  }
  if (rand() < 0.2) parts.push(Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256))));
  return Buffer.concat(parts);
}

let server: TestServer | null = null;
afterEach(async () => {
  if (server !== null) await server.close(); // asserts every slab section is free again
  server = null;
});

describe('HTTP server fuzz (real sockets, seeded)', () => {
  it.each([1, 2, 3])('seed %i: random and mutated requests at random splits never crash it or leak a section', async (seed) => {
    const rand = prng(seed * 7919);
    server = await startServer({ headersTimeoutMs: 2000, requestTimeoutMs: 2000 }, (app) => app.router.add('POST', '/echo', (req, res) => res.send(req.body)));
    for (let round = 0; round < 40; round++) {
      const bytes = input(rand);
      const c = await RawClient.connect(server.port);
      let at = 0;
      while (at < bytes.length) {
        const n = 1 + Math.floor(rand() * Math.min(64, bytes.length - at));
        await c.send(bytes.subarray(at, at + n));
        at += n;
      }
      // Either the client resets, or waits for whatever the server says, then leaves.
      if (rand() < 0.3) c.socket.resetAndDestroy();
      else {
        await c.until(() => c.received.length > 0, 300).catch(() => undefined);
        c.destroy();
      }
    }
    await waitFor(() => server!.app.stats().core.processor.open === 0, 5000, 'every connection to close');
    // The server still serves a well-formed request after all that.
    const ok = await RawClient.connect(server.port);
    await ok.send(VALID[0]);
    expect((await ok.responses(1))[0].status).toBe(200);
    ok.destroy();
  });
});
