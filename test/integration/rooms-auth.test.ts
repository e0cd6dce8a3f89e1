import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import { signToken, verifyToken } from '../../src/services/rooms/token.js';
import { startServer, type TestServer } from '../helpers/listen.js';
import { RoomClient } from './rooms-helpers.js';

const SECRET = 'room-secret';
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

const now = () => Math.floor(Date.now() / 1000);

describe('rooms: tokens', () => {
  it('a valid token joins as its sub; bad tokens get 401 before any WebSocket exists', async () => {
    const s = await start({ tokenSecret: SECRET });
    expect(s.app.startupWarnings.some((w) => w.includes('OPEN MODE'))).toBe(false);
    const good = await signToken({ sub: 'alice', room: 'r1', exp: now() + 60 }, SECRET);
    const cases: [string, string][] = [
      ['/ws/room/r1', 'TOKEN_MISSING'],
      ['/ws/room/r1?token=garbage', 'TOKEN_MALFORMED'],
      [`/ws/room/r1?token=${await signToken({ sub: 'alice' }, 'wrong-secret')}`, 'TOKEN_BAD_SIGNATURE'],
      [`/ws/room/r1?token=${await signToken({ sub: 'alice', exp: now() - 1 }, SECRET)}`, 'TOKEN_EXPIRED'],
      [`/ws/room/r2?token=${good}`, 'TOKEN_WRONG_ROOM'],
      // Open-mode's ?user= means nothing when tokens are on.
      ['/ws/room/r1?user=alice', 'TOKEN_MISSING'],
    ];
    for (const [path, code] of cases) {
      const r = await RoomClient.refusal(s.port, path);
      expect(r.status, path).toBe(401);
      expect(JSON.parse(r.body).message, path).toContain(code);
    }
    expect(s.app.ws.stats.opened).toBe(0);
    expect(s.app.rooms.refusals).toMatchObject({ TOKEN_MISSING: 2, TOKEN_EXPIRED: 1, TOKEN_WRONG_ROOM: 1 });

    const c = await RoomClient.open(s.port, 'r1', { token: good });
    clients.push(c);
    expect(c.of('join')).toEqual([{ type: 'join', user: 'alice', count: 1 }]);
    // A token without a room claim is valid for any room.
    const any = await RoomClient.open(s.port, 'r9', { token: await signToken({ sub: 'bob' }, SECRET) });
    clients.push(any);
    expect(any.of('join')[0]).toMatchObject({ user: 'bob' });
  });

  it('open mode: loud at start-up, user from ?user= or a generated guest id', async () => {
    const s = await start();
    expect(s.app.startupWarnings.filter((w) => w.startsWith('rooms:'))).toHaveLength(2);
    const named = await RoomClient.open(s.port, 'o', { user: 'zoe' });
    clients.push(named);
    expect(named.of('join')[0]).toMatchObject({ user: 'zoe' });
    const guest = await RoomClient.open(s.port, 'o');
    clients.push(guest);
    expect(guest.of('join')[0].user).toMatch(/^guest-[0-9a-f]{12}$/);
  });

  it('bad room ids and since values are 400; unknown paths under /ws/ are 404; exact paths still win', async () => {
    const s = await start();
    expect((await RoomClient.refusal(s.port, '/ws/room/bad.id')).status).toBe(400);
    expect((await RoomClient.refusal(s.port, `/ws/room/${'a'.repeat(65)}`)).status).toBe(400);
    expect((await RoomClient.refusal(s.port, '/ws/room/ok?since=-1')).status).toBe(400);
    expect((await RoomClient.refusal(s.port, '/ws/room/')).status).toBe(404);
    expect((await RoomClient.refusal(s.port, '/ws/rooms')).status).toBe(404);
    expect(s.app.ws.stats.opened).toBe(0);
  });
});

describe('rooms: tokens, the header way and the error codes', () => {
  it('Authorization: Bearer is accepted like ?token=; a refusal names its reason code in `error`', async () => {
    const s = await start({ tokenSecret: SECRET });
    const good = await signToken({ sub: 'carol', room: 'r1', exp: now() + 60 }, SECRET);
    const joined = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws/room/r1`, { headers: { authorization: `Bearer ${good}` } });
      ws.on('message', (d: Buffer) => {
        const m = JSON.parse(d.toString()) as { type: string; user?: string };
        if (m.type === 'join') {
          ws.close();
          resolve(m.user ?? '');
        }
      });
      ws.on('error', reject);
    });
    expect(joined).toBe('carol');
    const expired = await signToken({ sub: 'x', exp: now() - 5 }, SECRET);
    const refused = await new Promise<{ status: number; body: string }>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws/room/r1`, { headers: { authorization: `Bearer ${expired}` } });
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('error', () => undefined);
    });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'TOKEN_EXPIRED' });
  });
});

describe('slabcast token (node dist/server.js token)', () => {
  const SERVER = new URL('../../dist/server.js', import.meta.url).pathname;
  it('mints a token the server accepts; --help prints the usage; a missing secret is one line and exit 2', async () => {
    const ok = spawnSync(process.execPath, [SERVER, 'token', '--secret', SECRET, '--sub', 'dave', '--room', 'r1', '--ttl', '60'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(await verifyToken(ok.stdout.trim(), SECRET, 'r1', now())).toMatchObject({ ok: true, claims: { sub: 'dave', room: 'r1' } });
    const help = spawnSync(process.execPath, [SERVER, 'token', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: slabcast token --secret/);
    const bad = spawnSync(process.execPath, [SERVER, 'token', '--sub', 'dave'], { encoding: 'utf8', env: { ...process.env, SLABCAST_TOKEN_SECRET: '' } });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('slabcast token: --secret (or SLABCAST_TOKEN_SECRET) is required\nusage: slabcast token --secret <s> --sub <user> [--room <roomId>] [--audio read|write|read,write] [--audio-prefix <prefix>] [--ttl <seconds>]\n');
  });
});

describe('scripts/mint-token.ts', () => {
  it('mints a token the server accepts, and refuses to run without a secret', async () => {
    const script = new URL('../../scripts/mint-token.ts', import.meta.url).pathname;
    const ok = spawnSync(process.execPath, ['--import', 'tsx', script, '--secret', SECRET, '--sub', 'alice', '--room', 'r1', '--ttl', '60'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const verdict = await verifyToken(ok.stdout.trim(), SECRET, 'r1', now());
    expect(verdict).toMatchObject({ ok: true, claims: { sub: 'alice', room: 'r1' } });
    const bad = spawnSync(process.execPath, ['--import', 'tsx', script, '--sub', 'alice'], { encoding: 'utf8', env: { ...process.env, SLABCAST_TOKEN_SECRET: '' } });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--secret');
  });
});
