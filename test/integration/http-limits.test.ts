import { afterEach, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';
import { parseResponses, RawClient } from '../helpers/raw-client.js';

const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';

let server: TestServer | null = null;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  if (server !== null) await server.close();
  server = null;
});

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

/** Sends `request`, expects one error response with `status`, `Connection: close`, then the close. */
async function expectError(request: string | Buffer, status: number, code?: string): Promise<void> {
  const c = await client(server!.port);
  await c.send(request);
  await c.waitClosed();
  const [r] = parseResponses(c.received);
  expect(r, `no response to ${JSON.stringify(request.toString().slice(0, 80))}`).toBeDefined();
  expect(r.status).toBe(status);
  expect(r.headers.connection).toBe('close');
  if (code !== undefined) expect(r.body.toString()).toContain(code);
}

describe('bad input gets the right status and Connection: close', () => {
  it.each([
    ['malformed request line', 400, 'GET /\r\nHost: x\r\n\r\n', 'ERR_HTTP_'],
    ['bad header name', 400, 'GET / HTTP/1.1\r\nHo st: x\r\n\r\n', 'ERR_HTTP_BAD_HEADER_NAME'],
    ['space before colon', 400, 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 'ERR_HTTP_BAD_HEADER_NAME'],
    ['obs-fold', 400, 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n', 'ERR_HTTP_OBS_FOLD'],
    ['bare LF', 400, 'GET / HTTP/1.1\nHost: x\n\n', 'ERR_HTTP_BAD_LINE_ENDING'],
    ['Content-Length and Transfer-Encoding', 400, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 'ERR_HTTP_CONTENT_LENGTH_WITH_TRANSFER_ENCODING'],
    ['invalid Content-Length', 400, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n', 'ERR_HTTP_BAD_CONTENT_LENGTH'],
    ['conflicting Content-Length', 400, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 'ERR_HTTP_CONFLICTING_CONTENT_LENGTH'],
    ['unsupported transfer coding', 501, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', 'ERR_HTTP_UNSUPPORTED_TRANSFER_ENCODING'],
    ['HTTP/2.0 on the request line', 505, 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', 'ERR_HTTP_UNSUPPORTED_VERSION'],
    ['missing Host on 1.1', 400, 'GET / HTTP/1.1\r\n\r\n', 'ERR_HTTP_MISSING_HOST'],
    ['bad chunk size', 400, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'ERR_HTTP_BAD_CHUNK'],
  ])('%s → %i', async (_name, status, request, code) => {
    server = await startServer();
    await expectError(request, status, code);
  });

  it('identical duplicate Content-Length values are accepted', async () => {
    server = await startServer();
    const c = await client(server.port);
    await c.send('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc' + GET);
    const rs = await c.responses(2);
    expect(rs[0].status).toBe(404);
    expect(rs[1].status).toBe(200);
  });

  it('URI: at maxUriBytes works, one byte past → 414', async () => {
    server = await startServer({ maxUriBytes: 100 });
    const at = '/?' + 'a'.repeat(98); // the hello page's path, a query to fill the URI
    const c = await client(server.port);
    await c.send(`GET ${at} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect((await c.responses(1))[0].status).toBe(200);
    await expectError(`GET ${at}a HTTP/1.1\r\nHost: x\r\n\r\n`, 414, 'ERR_HTTP_URI_TOO_LONG');
  });

  it('header block: at maxHeaderBytes works, one byte past → 431', async () => {
    server = await startServer({ maxHeaderBytes: 1024, maxRequestLineBytes: 512, maxUriBytes: 512 });
    const base = 'GET / HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n';
    const fill = 'p'.repeat(1024 - base.length);
    const exact = `GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${fill}\r\n\r\n`;
    expect(exact.length).toBe(1024);
    const c = await client(server.port);
    await c.send(exact);
    expect((await c.responses(1))[0].status).toBe(200);
    await expectError(`GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${fill}p\r\n\r\n`, 431, 'ERR_HTTP_HEADERS_TOO_LARGE');
  });

  it('header count: at maxHeaders works, one past → 431', async () => {
    server = await startServer({ maxHeaders: 5 });
    const headers = (n: number): string => Array.from({ length: n }, (_, i) => (i === 0 ? 'Host: x' : `X-${i}: v`)).join('\r\n');
    const c = await client(server.port);
    await c.send(`GET / HTTP/1.1\r\n${headers(5)}\r\n\r\n`);
    expect((await c.responses(1))[0].status).toBe(200);
    await expectError(`GET / HTTP/1.1\r\n${headers(6)}\r\n\r\n`, 431, 'ERR_HTTP_TOO_MANY_HEADERS');
  });

  it('the defaults: 100 ordinary header fields plus Host pass (as node:http and nginx); 500 fields in all work, 501 → 431', async () => {
    server = await startServer();
    const headers = (n: number): string => Array.from({ length: n }, (_, i) => (i === 0 ? 'Host: x' : `X-Field-${i}: value-${i}`)).join('\r\n');
    const c = await client(server.port);
    await c.send(`GET / HTTP/1.1\r\n${headers(101)}\r\n\r\n`);
    expect((await c.responses(1))[0].status).toBe(200);
    const short = (n: number): string => Array.from({ length: n }, (_, i) => (i === 0 ? 'Host: x' : `X${i}: v`)).join('\r\n');
    await c.send(`GET / HTTP/1.1\r\n${short(500)}\r\n\r\n`);
    expect((await c.responses(2))[1].status).toBe(200);
    await expectError(`GET / HTTP/1.1\r\n${short(501)}\r\n\r\n`, 431, 'ERR_HTTP_TOO_MANY_HEADERS');
  });

  it('body: at maxBodyBytes works, one byte past → 413 (Content-Length and chunked)', async () => {
    server = await startServer({ maxBodyBytes: 1000 }, (app) => app.router.add('POST', '/echo', (req, res) => res.send(req.body)));
    const c = await client(server.port);
    await c.send(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${'b'.repeat(1000)}`);
    expect((await c.responses(1))[0].body.length).toBe(1000);
    await expectError(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n`, 413, 'ERR_HTTP_BODY_TOO_LARGE');
    await expectError(`POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n${'b'.repeat(1001)}\r\n0\r\n\r\n`, 413, 'ERR_HTTP_BODY_TOO_LARGE');
  });

  it('a bad client does not disturb a good one on another connection', async () => {
    server = await startServer();
    const good = await client(server.port);
    await good.send(GET);
    await good.responses(1);
    await expectError('\x00\x01\x02 garbage\r\n\r\n', 400);
    await good.send(GET);
    expect((await good.responses(2))[1].status).toBe(200);
  });
});

describe('no leaks', () => {
  it('every section is free again after clients reset mid-message, mid-body and mid-pipeline', async () => {
    server = await startServer({}, (app) => app.router.add('POST', '/echo', (req, res) => res.send(req.body)));
    const partials = [
      'GET / HTTP/1.1\r\nHost: x\r\nX-Half: ',
      `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n${'z'.repeat(70000)}`,
      'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc',
      GET + GET + GET + 'GET / HTT',
    ];
    for (const p of partials) {
      const c = await client(server.port);
      await c.send(p);
      await waitFor(() => server!.app.core.readSlab.inUse > 0 || c.received.length > 0, 2000, 'server to buffer');
      c.socket.resetAndDestroy();
    }
    await waitFor(() => server!.app.stats().core.processor.open === 0, 3000, 'connections to close');
    const { readSlab, writeSlab } = server.app.core;
    expect(readSlab.allFree).toBe(true);
    expect(writeSlab.allFree).toBe(true);
    expect(readSlab.stats().allocations).toBeGreaterThan(0);
  });
});

describe('backpressure', () => {
  it('stops reading a client that does not read its answers, and resumes when it drains', async () => {
    server = await startServer({ maxWriteQueueBytes: 64 * 1024 }, (app) => app.router.add('GET', '/big', (_req, res) => res.send(Buffer.alloc(32 * 1024, 0x62))));
    const c = await client(server.port);
    c.socket.pause(); // the client stops reading
    const n = 400;
    await c.send('GET /big HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n));
    await waitFor(() => server!.app.stats().core.processor.pausesBackpressure > 0, 5000, 'a backpressure pause');
    // Bounded: the server holds at most the queue limit plus one turn's answers, not 400 × 32 KiB.
    const answered = server.app.stats().http.requests;
    expect(answered).toBeLessThan(n);
    c.socket.resume();
    const rs = await c.responses(n, 15000);
    expect(rs.every((r) => r.status === 200 && r.body.length === 32 * 1024)).toBe(true);
  });
});

describe('timeouts', () => {
  it('closes an idle keep-alive connection after idleTimeoutMs', async () => {
    server = await startServer({ idleTimeoutMs: 150 });
    const c = await client(server.port);
    await c.send(GET);
    await c.responses(1);
    await c.waitClosed(3000);
    expect(parseResponses(c.received)).toHaveLength(1);
  });

  it('answers 408 to a slow client that does not finish its head (slowloris)', async () => {
    server = await startServer({ headersTimeoutMs: 200, idleTimeoutMs: 5000 });
    const c = await client(server.port);
    await c.send('GET / HTTP/1.1\r\nHost: x\r\n');
    const timer = setInterval(() => void c.send('X-Drip: 1\r\n').catch(() => undefined), 40);
    try {
      await c.waitClosed(3000);
    } finally {
      clearInterval(timer);
    }
    const [r] = parseResponses(c.received);
    expect(r.status).toBe(408);
    expect(r.headers.connection).toBe('close');
    expect(server.app.stats().http.timeouts).toBe(1);
  });

  it('answers 408 when a body does not arrive within requestTimeoutMs', async () => {
    server = await startServer({ requestTimeoutMs: 200 });
    const c = await client(server.port);
    await c.send('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    await c.waitClosed(3000);
    expect(parseResponses(c.received)[0].status).toBe(408);
  });
});

describe('connection and memory limits', () => {
  it('closes sockets past maxConnections at once and counts them', async () => {
    server = await startServer({ maxConnections: 2 });
    const a = await client(server.port);
    const b = await client(server.port);
    await a.send(GET);
    await b.send(GET);
    await a.responses(1);
    await b.responses(1);
    const c = await client(server.port);
    await c.waitClosed();
    expect(c.received.length).toBe(0);
    expect(server.app.stats().core.acceptor.refusedMaxConnections).toBe(1);
    await a.send(GET);
    expect((await a.responses(2))[1].status).toBe(200);
  });

  it('a message that can never fit in a large section is refused with 413, not a crash', async () => {
    server = await startServer({ slabLargeBytes: 64 * 1024, maxHeaderBytes: 8 * 1024, maxRequestLineBytes: 4096, maxUriBytes: 4096, maxBodyBytes: 32 * 1024, slabMediumBytes: 16 * 1024 });
    await expectError(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${'1\r\na\r\n'.repeat(20000)}`, 413);
  });

  it('when the read slab is exhausted, connections wait instead of losing bytes', async () => {
    server = await startServer({ slabSmallCount: 2, slabMediumCount: 1, slabLargeCount: 1 }, (app) => app.router.add('POST', '/echo', (req, res) => res.send(req.body)));
    const cs: RawClient[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await client(server.port);
      await c.send(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nbody`);
      cs.push(c);
    }
    await waitFor(() => server!.app.stats().core.processor.pausesMemory > 0, 3000, 'a memory wait');
    for (const c of cs) await c.send(`-${cs.indexOf(c)}`);
    for (const c of cs) expect((await c.responses(1))[0].body.toString()).toBe(`body-${cs.indexOf(c)}`);
  });

  it('one pipelining client cannot starve others: the per-turn budget pauses it', async () => {
    server = await startServer({ maxMessagesPerTurn: 4 });
    const heavy = await client(server.port);
    const light = await client(server.port);
    await heavy.send(GET.repeat(200));
    await light.send(GET);
    expect((await light.responses(1))[0].status).toBe(200);
    expect((await heavy.responses(200)).length).toBe(200);
    expect(server.app.stats().core.processor.pausesBudget).toBeGreaterThan(0);
  });
});
