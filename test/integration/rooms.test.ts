import { afterEach, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import { startServer, type TestServer, waitFor } from '../helpers/listen.js';
import { RoomClient } from './rooms-helpers.js';

let server: TestServer | null = null;
const clients: RoomClient[] = [];

async function start(config: Partial<ServerConfig> = {}): Promise<TestServer> {
  server = await startServer({ rateLimit: '1000/1000', ...config });
  return server;
}

async function join(room: string, user: string, extra: Record<string, string> = {}): Promise<RoomClient> {
  const c = await RoomClient.open(server!.port, room, { user, ...extra });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = null;
});

describe('rooms: delivery', () => {
  it('danmaku reach exactly their room, the sender included, in the documented shape', async () => {
    await start();
    const rooms = ['r1', 'r2', 'r3'];
    const byRoom = new Map<string, RoomClient[]>();
    for (const room of rooms) {
      const members: RoomClient[] = [];
      for (let i = 0; i < 4; i++) members.push(await join(room, `${room}-u${i}`));
      byRoom.set(room, members);
    }
    for (const room of rooms) for (const [i, c] of byRoom.get(room)!.entries()) c.send({ type: 'danmaku', text: `${room}#${i}` });
    for (const room of rooms) {
      for (const c of byRoom.get(room)!) {
        await waitFor(() => c.of('danmaku').length === 4, 5000, `4 danmaku in ${room}`);
        const got = c.of('danmaku');
        expect(got.every((m) => m.room === room)).toBe(true);
        expect(got.map((m) => m.text).sort()).toEqual([0, 1, 2, 3].map((i) => `${room}#${i}`));
      }
    }
    const m = byRoom.get('r1')![1].of('danmaku').find((x) => x.text === 'r1#0')!;
    expect(Object.keys(m)).toEqual(['type', 'id', 'room', 'user', 'ts', 'text', 'color', 'mode']);
    expect(m).toMatchObject({ type: 'danmaku', room: 'r1', user: 'r1-u0', text: 'r1#0', color: '#ffffff', mode: 'scroll' });
    expect(Number.isInteger(m.id)).toBe(true);
    expect(Math.abs((m.ts as number) - Date.now())).toBeLessThan(10_000);
    // Ids are monotonic per room: r1 used 1..4 whatever r2 and r3 did.
    expect(byRoom.get('r1')![0].of('danmaku').map((x) => x.id).sort()).toEqual([1, 2, 3, 4]);
    // Encode once: one frame per danmaku per room, however many members.
    expect(server!.app.ws.stats.framesEncoded).toBeGreaterThanOrEqual(12);
  });

  it('presence: join/leave once per user (not per tab), with distinct-user counts; who lists users', async () => {
    await start();
    const a1 = await join('p', 'alice');
    expect(a1.of('join')).toEqual([{ type: 'join', user: 'alice', count: 1 }]);
    const a2 = await join('p', 'alice');
    const b = await join('p', 'bob');
    await a1.until((m) => m.type === 'join' && m.user === 'bob');
    expect(a1.of('join')).toEqual([
      { type: 'join', user: 'alice', count: 1 },
      { type: 'join', user: 'bob', count: 2 },
    ]);
    expect(a2.of('join')).toEqual([{ type: 'join', user: 'bob', count: 2 }]); // alice's 2nd tab: no join
    b.send({ type: 'who' });
    const who = await b.until((m) => m.type === 'who');
    expect(who).toEqual({ type: 'who', users: ['alice', 'bob'], count: 2 });
    a1.ws.close();
    await waitFor(() => server!.app.rooms.service.registry.connectionCount === 2);
    a2.ws.close();
    const leave = await b.until((m) => m.type === 'leave');
    expect(leave).toEqual({ type: 'leave', user: 'alice', count: 1 });
    expect(b.of('leave')).toHaveLength(1);
  });

  it('whisper reaches every session of the target and the sending connection, nobody else', async () => {
    await start();
    const a1 = await join('w', 'alice');
    const a2 = await join('w', 'alice');
    const b1 = await join('w', 'bob');
    const b2 = await join('w', 'bob');
    const c = await join('w', 'carol');
    const other = await join('elsewhere', 'alice');
    b1.send({ type: 'whisper', to: 'alice', text: 'psst' });
    for (const x of [a1, a2, b1]) await x.until((m) => m.type === 'whisper');
    const w = a1.of('whisper')[0];
    expect(Object.keys(w)).toEqual(['type', 'id', 'room', 'from', 'to', 'ts', 'text']);
    expect(w).toMatchObject({ room: 'w', from: 'bob', to: 'alice', text: 'psst' });
    // Barrier: a later danmaku reaches everyone; by then a stray whisper would have arrived too.
    c.send({ type: 'danmaku', text: 'barrier' });
    for (const x of [b2, c]) await x.until((m) => m.type === 'danmaku');
    expect(b2.of('whisper')).toEqual([]);
    expect(c.of('whisper')).toEqual([]);
    expect(other.of('whisper')).toEqual([]);
    expect(b1.of('whisper')).toHaveLength(1);
    c.send({ type: 'whisper', to: 'dave', text: 'hello?' });
    expect(await c.until((m) => m.type === 'error')).toMatchObject({ type: 'error', code: 'NO_SUCH_USER' });
    // alice whispering to herself gets one copy per session, not two on the sending one.
    a1.send({ type: 'whisper', to: 'alice', text: 'note' });
    await waitFor(() => a2.of('whisper').length === 2);
    await waitFor(() => a1.of('whisper').length === 2);
  });

  it('voice is relayed as binary to everyone but the sender’s own sessions', async () => {
    await start();
    const a1 = await join('v', 'alice');
    const a2 = await join('v', 'alice');
    const b = await join('v', 'bob');
    const c = await join('v', 'carol');
    const frame = Buffer.from([1, 2, 3, 250, 0, 7]);
    a1.ws.send(frame);
    for (const x of [b, c]) await waitFor(() => x.binaries.length === 1);
    expect(b.binaries[0]).toEqual(frame);
    b.send({ type: 'danmaku', text: 'barrier' });
    for (const x of [a1, a2]) await x.until((m) => m.type === 'danmaku');
    expect(a1.binaries).toEqual([]);
    expect(a2.binaries).toEqual([]);
    // Never kept: a late joiner gets only the danmaku.
    const late = await join('v', 'dave');
    expect(late.binaries).toEqual([]);
    expect(late.of('danmaku')).toHaveLength(1);
  });
});

describe('rooms: history', () => {
  it('a joiner gets kept messages first, in order, then ready; ?since= resumes after an id', async () => {
    await start();
    const a = await join('h', 'alice');
    for (let i = 1; i <= 5; i++) a.send({ type: 'danmaku', text: `m${i}` });
    await waitFor(() => a.of('danmaku').length === 5);
    const late = await join('h', 'bob');
    const kinds = late.texts.map((m) => m.type);
    expect(kinds.slice(0, 6)).toEqual(['danmaku', 'danmaku', 'danmaku', 'danmaku', 'danmaku', 'ready']);
    expect(late.of('danmaku').map((m) => m.text)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(late.of('danmaku')).toEqual(a.of('danmaku')); // the original messages
    expect(late.of('ready')[0]).toEqual({ type: 'ready', lastId: 5, gap: false });
    const resumed = await join('h', 'carol', { since: '3' });
    expect(resumed.of('danmaku').map((m) => m.id)).toEqual([4, 5]);
    expect(resumed.of('ready')[0]).toEqual({ type: 'ready', lastId: 5, gap: false });
  });

  it('gap is true when messages after since were evicted (size), and for an unknown future id', async () => {
    await start({ historySize: 3 });
    const a = await join('g', 'alice');
    for (let i = 1; i <= 6; i++) a.send({ type: 'danmaku', text: `m${i}` });
    await waitFor(() => a.of('danmaku').length === 6);
    const fresh = await join('g', 'bob');
    expect(fresh.of('danmaku').map((m) => m.id)).toEqual([4, 5, 6]);
    expect(fresh.of('ready')[0]).toEqual({ type: 'ready', lastId: 6, gap: false });
    const behind = await join('g', 'carol', { since: '1' });
    expect(behind.of('danmaku').map((m) => m.id)).toEqual([4, 5, 6]);
    expect(behind.of('ready')[0]).toMatchObject({ gap: true });
    const current = await join('g', 'dave', { since: '3' });
    expect(current.of('ready')[0]).toMatchObject({ gap: false });
    const future = await join('g', 'erin', { since: '99' });
    expect(future.of('ready')[0]).toEqual({ type: 'ready', lastId: 6, gap: true });
  });

  it('system messages from the admin API are delivered and kept', async () => {
    await start();
    const a = await join('s', 'alice');
    const res = await fetch(`http://127.0.0.1:${server!.port}/api/push/broadcast/s`, { method: 'POST', body: JSON.stringify({ text: 'welcome' }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ room: 's', id: 1 });
    const sys = await a.until((m) => m.type === 'system');
    expect(Object.keys(sys)).toEqual(['type', 'id', 'room', 'ts', 'text']);
    expect(sys).toMatchObject({ id: 1, room: 's', text: 'welcome' });
    const late = await join('s', 'bob');
    expect(late.of('system')).toEqual([sys]);
  });
});

describe('rooms: errors and limits', () => {
  it('bad messages get an error reply and the connection stays open', async () => {
    await start();
    const a = await join('e', 'alice');
    a.send('not json');
    a.send({ type: 'shout' });
    a.send({ type: 'danmaku', text: 'x'.repeat(1025) });
    a.send({ type: 'danmaku', text: 'x'.repeat(1024) });
    await a.until((m) => m.type === 'danmaku');
    expect(a.of('error').map((m) => m.code)).toEqual(['BAD_JSON', 'UNKNOWN_TYPE', 'TOO_LONG']);
    expect(a.of('error')[0]).toMatchObject({ type: 'error', message: expect.any(String) });
    expect(a.closeCode).toBeNull();
  });

  it('--max-text-bytes sets the limit', async () => {
    await start({ maxTextBytes: 4 });
    const a = await join('e', 'alice');
    a.send({ type: 'danmaku', text: 'éé' });
    a.send({ type: 'danmaku', text: 'ééa' });
    await a.until((m) => m.type === 'error');
    expect(a.of('danmaku').map((m) => m.text)).toEqual(['éé']);
    expect(a.of('error')[0].code).toBe('TOO_LONG');
  });

  it('RATE_LIMITED past the per-user bucket, shared by the user’s sessions', async () => {
    await start({ rateLimit: '1/3' });
    const a1 = await join('rl', 'alice');
    const a2 = await join('rl', 'alice');
    a1.send({ type: 'danmaku', text: '1' });
    a2.send({ type: 'danmaku', text: '2' });
    a1.send({ type: 'danmaku', text: '3' });
    a2.send({ type: 'danmaku', text: '4' });
    const err = await a2.until((m) => m.type === 'error');
    expect(err).toMatchObject({ code: 'RATE_LIMITED' });
    await waitFor(() => a1.of('danmaku').length === 3);
    // Two connections: arrival order between them is the network's; the bucket is what counts.
    expect(a1.of('danmaku').map((m) => m.text).sort()).toEqual(['1', '2', '3']);
    expect(a2.closeCode).toBeNull();
  });

  it('50 errors within 10 s close the connection with 1008', async () => {
    await start();
    const a = await join('bad', 'alice');
    for (let i = 0; i < 60; i++) a.send('{');
    expect(await a.closed()).toBe(1008);
    expect(a.of('error')).toHaveLength(50);
    expect(server!.app.rooms.service.stats.policyCloses).toBe(1);
  });
});
