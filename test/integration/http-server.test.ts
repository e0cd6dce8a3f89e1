import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { HELLO_BODY } from '../../src/protocols/http/responses.js';
import { nativeTransport } from '../../src/core/native-transport.js';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';
import { exchange, parseResponses, RawClient } from '../helpers/raw-client.js';

const run = promisify(execFile);
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

/** A server with an echo route for bodies and a route that answers later (async). */
async function serverWithRoutes(config = {}): Promise<TestServer> {
  return startServer(config, (app) => {
    app.router.add('POST', '/echo', (req, res) => res.send(req.body, 'application/octet-stream'));
    app.router.add('GET', '/later/:ms', async (req, res) => {
      await new Promise((r) => setTimeout(r, Number(req.params.ms)));
      res.json({ waited: Number(req.params.ms) });
    });
    app.router.add('GET', '/big/:kib', (req, res) => res.send(Buffer.alloc(Number(req.params.kib) * 1024, 0x61)));
    app.router.add('GET', '/boom', () => {
      throw new Error('handler failure');
    });
  });
}

describe('hello world', () => {
  it('GET / answers 200 with the page, Content-Type, Content-Length and Date', async () => {
    server = await startServer();
    const { responses, client: c } = await exchange(server.port, GET);
    clients.push(c);
    const [r] = responses;
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(Number(r.headers['content-length'])).toBe(HELLO_BODY.length);
    expect(r.headers.date).toMatch(/GMT$/);
    expect(r.body.equals(HELLO_BODY)).toBe(true);
  });

  it('transport node: reads every accepted socket through the one shared read buffer (no Buffer per read)', async () => {
    server = await startServer({ transport: 'node' });
    for (let i = 0; i < 3; i++) {
      const { client: c } = await exchange(server.port, GET);
      c.destroy();
    }
    const { accepted, sharedBuffer, native } = server.app.stats().core.acceptor;
    expect(accepted).toBe(3);
    expect(sharedBuffer).toBe(3);
    expect(native).toBe(0);
  });

  it('transport native: every accepted socket is handed to the addon, and its handle is closed with the connection', async () => {
    server = await startServer({ transport: 'native' });
    const openBefore = nativeTransport().open;
    const clients = [];
    for (let i = 0; i < 3; i++) {
      const { client: c } = await exchange(server.port, GET);
      clients.push(c);
    }
    const { accepted, sharedBuffer, native, nativeDirect, nativeFallbacks } = server.app.stats().core.acceptor;
    // Taken from the listening handle: no net.Socket was made for them (Node 20–24 internals).
    expect({ accepted, native, nativeDirect, sharedBuffer, nativeFallbacks }).toEqual({ accepted: 3, native: 3, nativeDirect: 3, sharedBuffer: 0, nativeFallbacks: 0 });
    expect(nativeTransport().open).toBe(openBefore + 3);
    for (const c of clients) c.destroy();
    await waitFor(() => server!.app.stats().core.processor.open === 0, 5000, 'connections closed');
    expect(nativeTransport().open).toBe(openBefore);
  });

  it('GET / with a query gets the page; HEAD gets the headers and no body', async () => {
    server = await startServer();
    const c = await client(server.port);
    await c.send('GET /?x=1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until(() => c.received.toString('latin1').split('HTTP/1.1 200').length === 3);
    const text = c.received.toString('latin1');
    const second = text.slice(text.lastIndexOf('HTTP/1.1 200'));
    expect(second).toContain(`Content-Length: ${HELLO_BODY.length}`);
    expect(second.endsWith('\r\n\r\n')).toBe(true); // HEAD: no body follows
    expect(parseResponses(c.received)[0].body.equals(HELLO_BODY)).toBe(true);
  });

  it('a path no route claims gets 404 with a JSON body (GET and HEAD), and the connection stays open', async () => {
    server = await startServer();
    const c = await client(server.port);
    await c.send('GET /api/push/stauts HTTP/1.1\r\nHost: x\r\n\r\nHEAD /some/where?x=1 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until(() => c.received.toString('latin1').split('HTTP/1.1 ').length === 4);
    const text = c.received.toString('latin1');
    const parts = text.split(/(?=HTTP\/1\.1 )/);
    expect(parts[0]).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(parts[0]).toContain('Content-Type: application/json');
    expect(JSON.parse(parts[0].slice(parts[0].indexOf('\r\n\r\n') + 4))).toEqual({ error: 'NOT_FOUND', message: 'not found' });
    expect(parts[1]).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(parts[1].endsWith('\r\n\r\n')).toBe(true); // HEAD: no body follows
    expect(parts[2]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });

  it('curl gets the page', async () => {
    server = await startServer();
    const { stdout } = await run('curl', ['-s', '-i', `http://127.0.0.1:${server.port}/`]);
    expect(stdout).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(stdout).toContain('Hello from slabcast');
  });
});

describe('keep-alive and pipelining', () => {
  it('keeps an HTTP/1.1 connection open across requests', async () => {
    server = await startServer();
    const c = await client(server.port);
    for (let i = 1; i <= 3; i++) {
      await c.send(GET);
      await c.responses(i);
    }
    expect(c.closed).toBe(false);
    expect(server.app.stats().core.processor.registered).toBe(1);
  });

  it('honours Connection: close', async () => {
    server = await startServer();
    const c = await client(server.port);
    await c.send('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [r] = await c.responses(1);
    expect(r.headers.connection).toBe('close');
    await c.waitClosed();
  });

  it('closes HTTP/1.0 unless it asks for keep-alive', async () => {
    server = await startServer();
    const a = await client(server.port);
    await a.send('GET / HTTP/1.0\r\n\r\n');
    expect((await a.responses(1))[0].headers.connection).toBe('close');
    await a.waitClosed();
    const b = await client(server.port);
    await b.send('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    expect((await b.responses(1))[0].headers.connection).toBe('keep-alive');
    await b.send('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await b.responses(2);
    expect(b.closed).toBe(false);
  });

  it('answers 16 pipelined requests in order, in one read', async () => {
    server = await serverWithRoutes();
    const c = await client(server.port);
    let batch = '';
    for (let i = 0; i < 16; i++) batch += i % 2 === 0 ? `GET /?n=${i} HTTP/1.1\r\nHost: x\r\n\r\n` : `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n${String(i).padStart(2, '0')}`;
    await c.send(batch);
    const rs = await c.responses(16);
    rs.forEach((r, i) => {
      expect(r.status).toBe(200);
      if (i % 2 === 1) expect(r.body.toString()).toBe(String(i).padStart(2, '0'));
      else expect(r.body.equals(HELLO_BODY)).toBe(true);
    });
  });

  it('keeps order when an async handler answers after a later sync one would', async () => {
    server = await serverWithRoutes();
    const c = await client(server.port);
    await c.send('GET /later/50 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nGET /later/1 HTTP/1.1\r\nHost: x\r\n\r\n');
    const rs = await c.responses(3);
    expect(JSON.parse(rs[0].body.toString())).toEqual({ waited: 50 });
    expect(rs[1].body.equals(HELLO_BODY)).toBe(true);
    expect(JSON.parse(rs[2].body.toString())).toEqual({ waited: 1 });
  });

  it('serves a request split at every byte boundary', async () => {
    server = await serverWithRoutes();
    const req = 'POST /echo HTTP/1.1\r\nHost: example\r\nContent-Length: 5\r\n\r\nhello';
    for (let k = 1; k < req.length; k++) {
      const c = await client(server.port);
      await c.send(req.slice(0, k));
      await new Promise((r) => setImmediate(r));
      await c.send(req.slice(k));
      const [r] = await c.responses(1);
      expect(r.body.toString(), `split at ${k}`).toBe('hello');
      c.destroy();
    }
  });

  it('serves a request sent one byte per write', async () => {
    server = await serverWithRoutes();
    const c = await client(server.port);
    const req = 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n';
    for (const ch of req) await c.send(ch);
    const [r] = await c.responses(1);
    expect(r.body.toString()).toBe('abcde');
  });

  it('answers requests that arrive after the client half-closed (FIN)', async () => {
    server = await startServer();
    const c = await client(server.port);
    c.socket.end(GET + GET);
    await c.waitClosed();
    expect(parseResponses(c.received)).toHaveLength(2);
  });
});

describe('request bodies', () => {
  it('reads a Content-Length body and never parses it as the next request', async () => {
    server = await serverWithRoutes();
    const body = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    const { responses, client: c } = await exchange(server.port, `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}${GET}`, 2);
    clients.push(c);
    expect(responses[0].body.toString()).toBe(body);
    expect(responses[1].body.equals(HELLO_BODY)).toBe(true);
  });

  it('decodes a chunked body', async () => {
    server = await serverWithRoutes();
    const { responses, client: c } = await exchange(server.port, `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n${GET}`, 2);
    clients.push(c);
    expect(responses[0].body.toString()).toBe('hello world');
    expect(responses[1].status).toBe(200);
  });

  it('takes a body larger than a small section (grows into medium and large sections)', async () => {
    server = await serverWithRoutes();
    const body = Buffer.alloc(300 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    const c = await client(server.port);
    await c.send(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
    await c.send(body);
    const [r] = await c.responses(1);
    expect(r.body.equals(body)).toBe(true);
  });

  it('answers Expect: 100-continue with 100 before the body (curl)', async () => {
    server = await serverWithRoutes();
    const { stdout } = await run('curl', ['-s', '-H', 'Expect: 100-continue', '-H', 'Content-Type: application/octet-stream', '--data-binary', 'x'.repeat(2000), `http://127.0.0.1:${server.port}/echo`]);
    expect(stdout).toBe('x'.repeat(2000));
  });

  it('curl sends a chunked upload', async () => {
    server = await serverWithRoutes();
    const { stdout } = await run('curl', ['-s', '-H', 'Transfer-Encoding: chunked', '--data-binary', 'streamed body', `http://127.0.0.1:${server.port}/echo`]);
    expect(stdout).toBe('streamed body');
  });
});

describe('routing', () => {
  it('405 with Allow for a known path and another method; 404 for an unknown non-GET', async () => {
    server = await serverWithRoutes();
    const { responses, client: c } = await exchange(server.port, 'DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\nPUT /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 2);
    clients.push(c);
    expect(responses[0].status).toBe(405);
    expect(responses[0].headers.allow).toBe('POST');
    expect(responses[1].status).toBe(404);
  });

  it('a throwing handler gets 500 and the connection keeps serving', async () => {
    server = await serverWithRoutes();
    const { responses, client: c } = await exchange(server.port, `GET /boom HTTP/1.1\r\nHost: x\r\n\r\n${GET}`, 2);
    clients.push(c);
    expect(responses[0].status).toBe(500);
    expect(responses[1].status).toBe(200);
    expect(server.app.stats().http.handlerErrors).toBe(1);
  });
});
