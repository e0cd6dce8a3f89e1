/**
 * slabcast/client's rooms client against a real server process that is SIGKILLed and restarted on
 * the same port mid-stream: the application sees every message once, in order, or an explicit `gap`.
 * Single node (history in memory, lost with the process) → exactly one gap where the restart was;
 * with --redis (history and ids in Redis, surviving the instance) → no gap, and the messages sent
 * while the client was away are replayed from `since=` exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectRoom, type RoomClient } from '../../src/client/index.js';
import { signToken } from '../../src/index.js';
import { type RestartableServer, startRestartable } from '../helpers/restartable-server.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';

const FAST = { initialDelayMs: 20, maxDelayMs: 300 };
const servers: RestartableServer[] = [];
const clients: RoomClient[] = [];
let redis: TestRedis | null = null;

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.dispose();
  await redis?.stop();
  redis = null;
});

/** Resolves once `cond()` holds (checked every 10 ms), or fails naming `what`. */
async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A member that records what the application sees: danmaku texts and gaps, in order. */
function member(url: string, options: Parameters<typeof connectRoom>[1]) {
  const log: string[] = [];
  let readies = 0;
  let resumed = 0;
  const closes: number[] = [];
  const client = connectRoom(url, { WebSocket, reconnect: FAST, ...options });
  clients.push(client);
  client.on('danmaku', (m) => log.push(m.text));
  client.on('gap', () => log.push('<gap>'));
  client.on('ready', (r) => {
    readies++;
    if (r.resumed) resumed++;
  });
  client.on('close', (c) => closes.push(c.code));
  return {
    client,
    log,
    closes,
    get readies() {
      return readies;
    },
    get resumed() {
      return resumed;
    },
  };
}

/** Sends `texts` one at a time, each after the sender's own confirmation (its echo). */
async function post(sender: ReturnType<typeof member>, texts: string[]): Promise<void> {
  for (const t of texts) {
    expect(sender.client.send(t)).toBe(true);
    await until(() => sender.log.includes(t), `the echo of ${t}`);
  }
}

const range = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

describe('rooms client across a server crash', () => {
  it('single node: every message once and in order, with one gap where the restarted server lost its history; 4000 ends it', async () => {
    const server = await startRestartable(['--services', 'rooms,admin', '--rate-limit', '1000/1000']);
    servers.push(server);
    const url = `ws://127.0.0.1:${server.port}/ws/room/r1`;
    const rx = member(url, { user: 'rx' });
    const tx = member(url, { user: 'tx' });
    await until(() => rx.readies === 1 && tx.readies === 1, 'both members ready');

    await post(tx, range(1, 10));
    await until(() => rx.log.length === 10, 'the first ten at rx');
    await server.kill();
    await server.restart();
    await until(() => rx.resumed === 1 && tx.resumed === 1, 'both members back');
    await post(tx, range(11, 20));
    await until(() => rx.log.length === 21, 'the next ten at rx');
    expect(rx.log).toEqual([...range(1, 10), '<gap>', ...range(11, 20)]);
    expect(rx.client.lastSeenId).toBe(10); // ids restarted with the process

    // 4000 (room closed by an admin): the client stops, it does not reconnect.
    const res = await fetch(`http://127.0.0.1:${server.port}/api/push/room/r1`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    await until(() => rx.closes.length === 1, 'rx closed');
    expect(rx.closes).toEqual([4000]);
    expect(rx.client.ready).toBe(false);
    expect(rx.client.send('after close')).toBe(false);
  });

  it.runIf(redisAvailable())('with history in Redis: no gap; what was sent while the client was away is replayed from since= exactly once', async () => {
    redis = await startRedis();
    const secret = 's3cret';
    const server = await startRestartable(['--services', 'rooms', '--redis', redis.url, '--token-secret', secret, '--rate-limit', '1000/1000']);
    servers.push(server);
    const url = `ws://127.0.0.1:${server.port}/ws/room/r2`;
    let gate: Promise<void> | null = null;
    let openGate = (): void => undefined;
    let tokensAsked = 0;
    const rx = member(url, {
      async getToken() {
        tokensAsked++;
        if (gate !== null) await gate;
        return signToken({ sub: 'rx', room: 'r2' }, secret);
      },
    });
    const tx = member(url, { token: await signToken({ sub: 'tx', room: 'r2' }, secret) });
    await until(() => rx.readies === 1 && tx.readies === 1, 'both members ready');

    await post(tx, range(1, 10));
    await until(() => rx.log.length === 10, 'the first ten at rx');
    // rx's next attempt waits in getToken: it will come back only after m11…m15 were sent.
    gate = new Promise((r) => (openGate = r));
    await server.kill();
    await server.restart();
    await until(() => tx.resumed === 1, 'tx back');
    await post(tx, range(11, 15));
    expect(rx.log).toHaveLength(10);
    openGate();
    await until(() => rx.resumed === 1, 'rx back');
    await post(tx, range(16, 20));
    await until(() => rx.log.length >= 20, 'all twenty at rx');
    expect(rx.log).toEqual(range(1, 20));
    expect(tokensAsked).toBeGreaterThanOrEqual(2); // a token per connection attempt
  });

  it('a live token: getToken answers the server\'s refresh and the member stays; a fixed token is closed with 4001 and the client keeps trying', async () => {
    const secret = 's3cret';
    const server = await startRestartable(['--services', 'rooms', '--token-secret', secret]);
    servers.push(server);
    const url = `ws://127.0.0.1:${server.port}/ws/room/r3`;
    const expSec = Math.floor(Date.now() / 1000) + 3;
    let asked = 0;
    const live = member(url, {
      getToken: () => {
        asked++;
        // The first token expires soon (the server asks for a refresh halfway); the next ones last.
        return signToken({ sub: 'live', room: 'r3', exp: asked === 1 ? expSec : expSec + 3600 }, secret);
      },
    });
    const drops: number[] = [];
    live.client.on('disconnect', (d) => drops.push(d.code));
    const fixed = member(url, { token: await signToken({ sub: 'fixed', room: 'r3', exp: expSec }, secret) });
    const fixedDrops: number[] = [];
    fixed.client.on('disconnect', (d) => fixedDrops.push(d.code));
    await until(() => live.readies === 1 && fixed.readies === 1, 'both ready');
    await until(() => asked >= 2, 'the refresh to ask for a token');
    await until(() => fixedDrops.includes(4001), 'the fixed-token member closed at exp');
    await post(live, ['still here']);
    expect(drops).toEqual([]); // past exp and still the first connection
    expect(fixed.closes).toEqual([]); // 4001 is not terminal: it keeps trying (with a token that is refused)
  });
});
