import { afterEach, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import { startServer, type TestServer } from '../helpers/listen.js';
import { RoomClient } from './rooms-helpers.js';

const KEY = 'admin-key-1';
let server: TestServer | null = null;
const clients: RoomClient[] = [];

async function start(config: Partial<ServerConfig> = {}): Promise<TestServer> {
  server = await startServer(config);
  return server;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = null;
});

async function api(method: string, path: string, options: { key?: string; body?: string } = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  const res = await fetch(`http://127.0.0.1:${server!.port}${path}`, { method, headers, body: options.body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function join(room: string, user: string): Promise<RoomClient> {
  const c = await RoomClient.open(server!.port, room, { user });
  clients.push(c);
  return c;
}

describe('rooms: admin API with a key', () => {
  it('requires the Bearer key, except for check', async () => {
    await start({ adminKey: KEY });
    expect(server!.app.startupWarnings.some((w) => w.includes('admin API'))).toBe(false);
    for (const [method, path] of [['GET', '/api/push/status'], ['POST', '/api/push/broadcast/r'], ['GET', '/api/push/room/r'], ['DELETE', '/api/push/room/r']] as const) {
      const none = await api(method, path);
      expect(none.status, `${method} ${path}`).toBe(401);
      expect(none.json.error).toBe('UNAUTHORIZED');
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await api(method, path, { key: 'wrong' })).status).toBe(401);
      expect((await api(method, path, { key: `${KEY}x` })).status).toBe(401);
    }
    const check = await api('GET', '/api/push/check/r1');
    expect(check.status).toBe(200);
    expect(check.json).toEqual({ room: 'r1', owner: { id: server!.app.rooms.service.options.instanceId, url: `ws://127.0.0.1:${server!.port}/ws/room/r1` }, local: true });
    expect((await api('GET', '/api/push/check/bad.id')).status).toBe(400);
  });

  it('status, broadcast, room, delete', async () => {
    await start({ adminKey: KEY });
    const a1 = await join('live', 'alice');
    const a2 = await join('live', 'alice');
    const b = await join('live', 'bob');
    const other = await join('other', 'carol');

    const status = await api('GET', '/api/push/status', { key: KEY });
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({ rooms: 2, roomConnections: 4, users: 3, connections: expect.any(Number), messagesIn: 0, slowDrops: 0 });
    expect(status.json.id).toBe(server!.app.rooms.service.options.instanceId);
    expect(status.json.slabs).toHaveLength(2);
    expect((status.json.memory as { rss: number }).rss).toBeGreaterThan(0);

    const sent = await api('POST', '/api/push/broadcast/live', { key: KEY, body: JSON.stringify({ text: 'hello all' }) });
    expect(sent).toMatchObject({ status: 200, json: { room: 'live', id: 1 } });
    for (const c of [a1, a2, b]) expect(await c.until((m) => m.type === 'system')).toMatchObject({ text: 'hello all', room: 'live' });

    const room = await api('GET', '/api/push/room/live', { key: KEY });
    expect(room.json).toEqual({ room: 'live', count: 2, connections: 3, users: [{ id: 'alice', sessions: 2 }, { id: 'bob', sessions: 1 }], lastId: 1 });

    const del = await api('DELETE', '/api/push/room/live', { key: KEY });
    expect(del).toMatchObject({ status: 200, json: { room: 'live', closed: 3 } });
    for (const c of [a1, a2, b]) expect(await c.closed()).toBe(4000);
    expect(a1.closeReason).toBe('room closed by admin');
    expect(a1.of('leave')).toEqual([]); // a closing room tells nobody who left
    expect(other.closeCode).toBeNull();
    expect((await api('GET', '/api/push/room/live', { key: KEY })).status).toBe(404);
    // Its history is gone: ids restart.
    const again = await join('live', 'dave');
    expect(again.of('ready')[0]).toEqual({ type: 'ready', lastId: 0, gap: false });
  });

  it('clear 4xx JSON errors: bad JSON, bad body, too long, bad room id, unknown room, wrong method', async () => {
    await start({ adminKey: KEY });
    await join('r', 'alice');
    const post = (room: string, body: string) => api('POST', `/api/push/broadcast/${room}`, { key: KEY, body });
    expect(await post('r', '{nope')).toMatchObject({ status: 400, json: { error: 'BAD_JSON' } });
    expect(await post('r', '{"txt":"x"}')).toMatchObject({ status: 400, json: { error: 'BAD_MESSAGE' } });
    expect(await post('r', JSON.stringify({ text: 'x'.repeat(1025) }))).toMatchObject({ status: 413, json: { error: 'TOO_LONG' } });
    expect(await post('bad.id', '{"text":"x"}')).toMatchObject({ status: 400, json: { error: 'BAD_ROOM_ID' } });
    expect(await post('ghost', '{"text":"x"}')).toMatchObject({ status: 404, json: { error: 'NO_SUCH_ROOM' } });
    expect(await api('GET', '/api/push/room/ghost', { key: KEY })).toMatchObject({ status: 404, json: { error: 'NO_SUCH_ROOM' } });
    expect(await api('DELETE', '/api/push/room/ghost', { key: KEY })).toMatchObject({ status: 404, json: { error: 'NO_SUCH_ROOM' } });
    const wrong = await api('PUT', '/api/push/room/r', { key: KEY });
    expect(wrong.status).toBe(405);
    expect(wrong.json.error).toBe('METHOD_NOT_ALLOWED');
    expect(wrong.headers.get('allow')).toBe('GET, DELETE');
  });
});

describe('rooms: admin API without a key', () => {
  it('answers loopback clients (this test is one), and start-up says so; --insecure says it is OPEN', async () => {
    await start();
    expect(server!.app.startupWarnings.some((w) => w.includes('admin API') && w.includes('loopback clients only'))).toBe(true);
    expect(server!.app.startupWarnings.some((w) => w.includes('admin API') && w.includes('OPEN'))).toBe(false);
    await join('r', 'alice');
    expect((await api('GET', '/api/push/status')).status).toBe(200);
    expect((await api('GET', '/api/push/room/r')).json).toMatchObject({ count: 1 });
    await server!.close();
    await start({ insecure: true });
    expect(server!.app.startupWarnings.some((w) => w.includes('admin API') && w.includes('OPEN (--insecure'))).toBe(true);
    // (Refusals of non-loopback clients: test/integration/access-control.test.ts.)
  });

  it('check names --instance-id and --advertise-url when set', async () => {
    await start({ instanceId: 'node-a', advertiseUrl: 'ws://edge.example:9000/' });
    expect((await api('GET', '/api/push/check/r7')).json).toEqual({ room: 'r7', owner: { id: 'node-a', url: 'ws://edge.example:9000/ws/room/r7' }, local: true });
  });
});
