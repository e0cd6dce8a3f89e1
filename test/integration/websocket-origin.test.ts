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
