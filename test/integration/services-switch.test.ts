import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { validateConfig } from '../../src/config.js';
import { startServer, type TestServer } from '../helpers/listen.js';
import { exchange } from '../helpers/raw-client.js';

let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

async function status(path: string): Promise<number> {
  const { responses, client } = await exchange(server!.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  client.destroy();
  return responses[0].status;
}

/** The HTTP status of a WebSocket handshake on `path` (101 when accepted). */
function upgrade(path: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server!.port}${path}`);
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => undefined);
  });
}

/** Every service's surface: the status a client gets at each. */
async function surface(): Promise<Record<string, number>> {
  return {
    echo: await upgrade('/echo'),
    audio: await upgrade('/audio'),
    audioList: await status('/api/audio/streams'),
    rooms: await upgrade('/ws/room/lobby?user=u'),
    admin: await status('/api/push/status'),
    demo: await status('/demo/'),
    metrics: await status('/metrics'),
    healthz: await status('/healthz'),
    readyz: await status('/readyz'),
  };
}

describe('--services: each switch mounts or removes its routes', () => {
  it('the default mounts every service', async () => {
    server = await startServer({ adminKey: '' });
    expect(await surface()).toEqual({ echo: 101, audio: 101, audioList: 200, rooms: 101, admin: 200, demo: 200, metrics: 200, healthz: 200, readyz: 200 });
    expect(server.app.startupWarnings.some((w) => w.includes('admin API'))).toBe(true);
  });

  it('--services echo: only /echo, plus /healthz and /readyz; no warning about rooms or the admin API', async () => {
    server = await startServer({ services: 'echo' });
    expect(await surface()).toEqual({ echo: 101, audio: 404, audioList: 404, rooms: 404, admin: 404, demo: 404, metrics: 404, healthz: 200, readyz: 200 });
    expect(server.app.startupWarnings).toEqual([]);
    expect(() => server!.app.audio).toThrow(/not mounted/);
    expect(() => server!.app.rooms).toThrow(/not mounted/);
  });

  it('--services rooms,metrics: rooms without the admin API (no open-admin warning); admin alone serves the API', async () => {
    server = await startServer({ services: 'rooms, metrics' });
    expect(await surface()).toMatchObject({ echo: 404, rooms: 101, admin: 404, metrics: 200, audio: 404, demo: 404 });
    expect(server.app.startupWarnings.some((w) => w.includes('admin API'))).toBe(false);
    expect(server.app.startupWarnings.some((w) => w.includes('OPEN MODE'))).toBe(true);
    await server.close();
    server = await startServer({ services: 'admin', adminKey: 'k' });
    expect(await surface()).toMatchObject({ rooms: 404, admin: 401, metrics: 404 });
    expect(server.app.startupWarnings).toEqual([]);
  });

  it('--services audio,demo: the audio cache and the demo page only', async () => {
    server = await startServer({ services: 'audio,demo' });
    expect(await surface()).toMatchObject({ echo: 404, audio: 101, audioList: 200, rooms: 404, admin: 404, demo: 200, metrics: 404 });
  });

  it('an empty list mounts nothing but the health endpoints; an unknown name is a config error naming the flag', async () => {
    server = await startServer({ services: '' });
    expect(await surface()).toEqual({ echo: 404, audio: 404, audioList: 404, rooms: 404, admin: 404, demo: 404, metrics: 404, healthz: 200, readyz: 200 });
    expect(() => validateConfig({ services: 'echo,chat' })).toThrow(/--services.*"chat"/);
  });
});
