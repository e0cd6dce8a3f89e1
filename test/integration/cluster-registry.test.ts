import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InstanceRegistry } from '../../src/cluster/instance-registry.js';
import { LinkState, RedisLink } from '../../src/cluster/redis-link.js';
import { waitFor } from '../helpers/listen.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';

const run = redisAvailable();
let redis: TestRedis;
const cleanups: (() => Promise<void>)[] = [];

describe.runIf(run)('cluster membership on a real Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function instance(id: string, heartbeatMs = 100, ttlMs = 300): Promise<{ link: RedisLink; reg: InstanceRegistry }> {
    const link = new RedisLink(redis.url, 100);
    await link.connect();
    const reg = new InstanceRegistry(link, { self: { id, url: `ws://${id}` }, heartbeatMs, ttlMs, vnodes: 64, pollMs: 50 });
    await reg.start();
    cleanups.push(async () => {
      await reg.stop();
      await link.close();
    });
    return { link, reg };
  }

  it('instances see each other and agree on every placement', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const c = await instance('c');
    await waitFor(() => [a, b, c].every((x) => x.reg.ring.members.length === 3), 3000, 'three members everywhere');
    for (let i = 0; i < 500; i++) {
      const key = `room:r${i}`;
      const owner = a.reg.ownerOf(key).id;
      expect(b.reg.ownerOf(key).id).toBe(owner);
      expect(c.reg.ownerOf(key).id).toBe(owner);
    }
  });

  it('an instance that stops heartbeating leaves the ring within TTL + poll, and its keys move', async () => {
    const a = await instance('a');
    const b = await instance('b');
    await waitFor(() => a.reg.ring.members.length === 2, 3000, 'two members');
    const owned = Array.from({ length: 200 }, (_, i) => `room:x${i}`).filter((k) => a.reg.ownerOf(k).id === 'b');
    expect(owned.length).toBeGreaterThan(0);
    const changes: string[][] = [];
    a.reg.on('change', (c) => changes.push(c.left));
    // Simulate a crash: timers stop, the key is NOT deleted; only the TTL removes it.
    (b.reg as unknown as { heartbeatTimer: NodeJS.Timeout }).heartbeatTimer.unref();
    clearInterval((b.reg as unknown as { heartbeatTimer: NodeJS.Timeout }).heartbeatTimer);
    await waitFor(() => a.reg.ring.members.length === 1, 3000, 'b to expire');
    expect(changes).toContainEqual(['b']);
    for (const k of owned) expect(a.reg.ownerOf(k).id).toBe('a');
  });

  it('reports an outage and recovers when Redis comes back; membership resumes', async () => {
    const a = await instance('a');
    const states: string[] = [];
    a.link.on('state', (s) => states.push(s));
    await redis.stop();
    await waitFor(() => a.link.stats.state === LinkState.Down, 5000, 'link down');
    expect(a.link.stats.downSince).toBeGreaterThan(0);
    expect(a.reg.ownerOf('room:any').id).toBe('a'); // still serves, on its last known ring
    await redis.start();
    await waitFor(() => a.link.ready, 10000, 'link ready again');
    const b = await instance('b');
    await waitFor(() => a.reg.ring.members.length === 2 && b.reg.ring.members.length === 2, 5000, 'membership after recovery');
    expect(states).toEqual(expect.arrayContaining(['down', 'ready']));
    expect(a.link.stats.outages).toBe(1);
  });
});
