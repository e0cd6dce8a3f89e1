/**
 * `--workers N` with `--redis`: each worker is an instance (id `{--instance-id}-w{index}`), all on
 * one port, and rooms span the workers through Redis. Real processes (dist/) and a real Redis.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/listen.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { assertBuilt, eventually, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';
import { RoomClient, WHO_POLL_MS } from './rooms-helpers.js';

const run = redisAvailable();
let redis: TestRedis;
let cacheDir: string;
let primary: SlabcastProcess;
const clients: RoomClient[] = [];

describe.runIf(run)('cluster: --workers 2 --redis', () => {
  beforeAll(async () => {
    assertBuilt();
    redis = await startRedis();
    cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-workers-'));
    primary = await startSlabcast('primary', ['--workers', '2', '--redis', redis.url, '--instance-id', 'w', '--heartbeat-ms', '200', '--heartbeat-ttl-ms', '1000', '--cache-dir', cacheDir]);
  }, 20_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await primary?.stop(5000);
    await redis?.stop();
    if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
  }, 20_000);

  it('registers each worker as its own instance and delivers a room across them', async () => {
    const seen = new Set<string>();
    await eventually(async () => {
      const s = (await primary.http('GET', '/api/push/status')).json;
      seen.add(s.cluster.instanceId);
      return seen.size === 2 && s.cluster.ring.members.length === 2;
    }, 10_000, 'two worker instances on the ring');
    expect([...seen].sort()).toEqual(['w-w0', 'w-w1']);

    // The primary hands connections to the workers in turn (round-robin): six land on both.
    for (let i = 0; i < 6; i++) clients.push(await RoomClient.open(primary.port, 'shared', { user: `u${i}` }));
    const members: Record<string, number> = {};
    await eventually(async () => {
      const s = (await primary.http('GET', '/api/push/status')).json;
      members[s.cluster.instanceId] = s.roomConnections;
      return Object.keys(members).length === 2;
    }, 5000, 'a status from each worker');
    expect(Object.values(members).every((n) => n > 0)).toBe(true);
    const [first, ...rest] = clients;
    await eventually(async () => (await first.who(2000)).count === clients.length, 5000, 'who counts every worker’s members', WHO_POLL_MS);
    first.send({ type: 'danmaku', text: 'to every worker' });
    for (const c of rest) await c.until((m) => m.text === 'to every worker');
  });

  it('serves audio on any worker: workers share a URL, so no MOVED loop', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${primary.port}/audio`);
    const replies: string[] = [];
    ws.on('message', (d: Buffer, bin: boolean) => {
      if (!bin) replies.push(d.toString());
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    for (let i = 0; i < 6; i++) {
      ws.send(`START:wk${i}`);
      ws.send(`STOP:wk${i}`);
    }
    await waitFor(() => replies.length === 12, 5000, 'replies');
    expect(replies.filter((r) => r.startsWith('ERROR'))).toEqual([]);
    ws.close();
  });
});
