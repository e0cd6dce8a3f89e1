import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { validateConfig } from '../../src/config.js';
import { settingsFrom } from '../../src/settings.js';
import { startServer, type TestServer } from '../helpers/listen.js';

let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

const ENDPOINTS = ['/echo', '/audio', '/ws/room/r1?user=u'];

/** The handshake's HTTP status (101 when accepted) with `origin` (none when undefined). */
function handshake(path: string, origin?: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server!.port}${path}`, origin === undefined ? {} : { origin });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => undefined);
  });
}

describe('--allowed-origins: cross-site WebSocket hijacking', () => {
  it('by default a page of another origin is refused 403 on every endpoint; the same origin and non-browser clients are not', async () => {
    server = await startServer();
    const self = `http://127.0.0.1:${server.port}`;
    for (const path of ENDPOINTS) {
      expect(await handshake(path, 'http://evil.example'), path).toBe(403);
      expect(await handshake(path, 'null'), path).toBe(403);
      expect(await handshake(path, self), path).toBe(101);
      expect(await handshake(path), path).toBe(101);
    }
    expect(server.app.endpoints.originRefusals).toBe(2 * ENDPOINTS.length);
  });

  it('a list allows exactly its origins; * allows any', async () => {
    server = await startServer({ allowedOrigins: 'https://app.example.com' });
    expect(await handshake('/echo', 'https://app.example.com')).toBe(101);
    expect(await handshake('/echo', 'http://evil.example')).toBe(403);
    await server.close();
    server = await startServer({ allowedOrigins: '*' });
    expect(await handshake('/audio', 'http://evil.example')).toBe(101);
  });

  it('a malformed value is a configuration error naming the flag', () => {
    expect(() => settingsFrom(validateConfig({ allowedOrigins: 'app.example.com' }))).toThrow(/--allowed-origins/);
  });
});

/** One raw HTTP exchange with `headers`; status and the response's header block. */
async function http(method: string, path: string, headers: Record<string, string>): Promise<{ status: number; head: string }> {
  const res = await fetch(`http://127.0.0.1:${server!.port}${path}`, { method, headers });
  const head = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
  await res.arrayBuffer();
  return { status: res.status, head };
}

describe('--allowed-origins: CORS for the HTTP routes', () => {
  it('a listed origin gets Access-Control-Allow-Origin on route answers and a 204 preflight; another origin gets neither (403 preflight)', async () => {
    server = await startServer({ allowedOrigins: 'https://app.example.com', adminKey: 'k' });
    const ok = await http('GET', '/api/push/status', { origin: 'https://app.example.com', authorization: 'Bearer k' });
    expect(ok.status).toBe(200);
    expect(ok.head).toContain('access-control-allow-origin: https://app.example.com');
    expect(ok.head).toContain('vary: Origin');
    const pre = await http('OPTIONS', '/api/push/broadcast/r1', { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' });
    expect(pre.status).toBe(204);
    expect(pre.head).toContain('access-control-allow-methods: POST');
    expect(pre.head).toContain('access-control-allow-headers: authorization, content-type');
    const other = await http('GET', '/api/push/status', { origin: 'https://evil.example', authorization: 'Bearer k' });
    expect(other.head).not.toContain('access-control-allow-origin');
    expect((await http('OPTIONS', '/api/push/broadcast/r1', { origin: 'https://evil.example', 'access-control-request-method': 'POST' })).status).toBe(403);
  });

  it('by default (same origin only) no route answers CORS, and OPTIONS stays a 405', async () => {
    server = await startServer({ adminKey: 'k' });
    const r = await http('GET', '/api/push/status', { origin: 'https://app.example.com', authorization: 'Bearer k' });
    expect(r.status).toBe(200);
    expect(r.head).not.toContain('access-control-allow-origin');
    expect((await http('OPTIONS', '/api/push/broadcast/r1', { origin: 'https://app.example.com', 'access-control-request-method': 'POST' })).status).toBe(405);
  });
});
