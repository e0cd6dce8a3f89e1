import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../src/services/rooms/token.js';
import { TOKEN_EXPIRED_CODE } from '../../src/services/rooms/token-lifetime.js';
import { startServer, type TestServer } from '../helpers/listen.js';
import { RoomClient } from './rooms-helpers.js';

const SECRET = 'expiry-secret';
const now = (): number => Math.floor(Date.now() / 1000);
let server: TestServer | null = null;
const clients: RoomClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = null;
});

async function member(user: string, expIn: number | null): Promise<RoomClient> {
  const claims = expIn === null ? { sub: user, room: 'r' } : { sub: user, room: 'r', exp: now() + expIn };
  const c = await RoomClient.open(server!.port, 'r', { token: await signToken(claims, SECRET) });
  clients.push(c);
  return c;
}

describe('rooms: tokens expire on live connections', () => {
  it('the server asks for a refresh ahead of exp; a new token for the same user keeps the member connected past the old exp', async () => {
    server = await startServer({ tokenSecret: SECRET });
    const a = await member('ann', 3);
    const watcher = await member('wes', null); // no exp: never asked
    await a.until((m) => m.type === 'refresh');
    const asked = a.of('refresh')[0];
    expect(asked.exp).toBeGreaterThan(now() - 1);
    const exp = now() + 60;
    a.send({ type: 'refresh', token: await signToken({ sub: 'ann', room: 'r', exp }, SECRET) });
    await a.until((m) => m.type === 'refreshed');
    expect(a.of('refreshed')[0]).toEqual({ type: 'refreshed', exp });
    // Past the first token's exp, still a member: a danmaku is delivered.
    await new Promise((r) => setTimeout(r, (Number(asked.exp) + 1) * 1000 - Date.now()));
    a.send({ type: 'danmaku', text: 'still here' });
    await watcher.until((m) => m.type === 'danmaku' && m.text === 'still here');
    expect(a.closeCode).toBeNull();
    expect(watcher.of('refresh')).toEqual([]);
  });

  it('a member who does not refresh is closed with 4001 at exp; a refresh for another user or with a bad token is refused and changes nothing', async () => {
    server = await startServer({ tokenSecret: SECRET });
    const a = await member('ann', 2);
    a.send({ type: 'refresh', token: await signToken({ sub: 'bob', room: 'r', exp: now() + 60 }, SECRET) });
    await a.until((m) => m.type === 'error');
    expect(a.of('error')[0]).toMatchObject({ code: 'TOKEN_WRONG_USER' });
    a.send({ type: 'refresh', token: await signToken({ sub: 'ann', room: 'r', exp: now() + 60 }, 'wrong') });
    await a.until((m) => m.type === 'error' && m.code === 'TOKEN_BAD_SIGNATURE');
    expect(await a.closed()).toBe(TOKEN_EXPIRED_CODE);
    expect(a.closeReason).toBe('token expired');
  });

  it('open mode has nothing to refresh', async () => {
    server = await startServer();
    const c = await RoomClient.open(server.port, 'r', { user: 'u' });
    clients.push(c);
    c.send({ type: 'refresh', token: 'x' });
    await c.until((m) => m.type === 'error');
    expect(c.of('error')[0]).toMatchObject({ code: 'BAD_MESSAGE' });
  });
});
