/**
 * The cluster-wide per-user rate limit (src/cluster/redis-rate.ts) in process, over one real
 * redis-server and over a real Redis Cluster: instances lease tokens from the user's bucket in
 * Redis in batches (`--rate-lease`), so one user on two instances gets the configured rate overall.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisLink } from '../../src/cluster/redis-link.js';
import { RedisRateLeases } from '../../src/cluster/redis-rate.js';
import { RateLimiter } from '../../src/services/rooms/rate-limiter.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../helpers/listen.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { assertBuilt, eventually, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';
import { RoomClient } from './rooms-helpers.js';

const run = redisAvailable();
// The in-process tests involve no slabcast socket: they run in the native project only.
const inProcess = process.env.SLABCAST_TRANSPORT !== 'node';
const BACKENDS = ['redis', 'redis-cluster'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Takes `n` tokens at once; resolves how many were admitted (now or once the lease on its way is back). */
async function takeMany(g: RedisRateLeases, user: string, n: number): Promise<{ now: number; later: number }> {
  let now = 0;
  const later: Promise<boolean>[] = [];
  for (let i = 0; i < n; i++) {
    const v = g.take(user, Date.now());
    if (v === true) now++;
    else if (v !== false) later.push(v);
  }
  return { now, later: (await Promise.all(later)).filter(Boolean).length };
}

describe.runIf(run && inProcess).each(BACKENDS)('cluster-wide rate limit over %s', (backend) => {
  let redis: TestRedis | null = null;
  let cluster: TestRedisCluster | null = null;
  let url: string;
  const cleanups: (() => Promise<void>)[] = [];
  const linkOf = new Map<RedisRateLeases, RedisLink>();

  beforeAll(async () => {
    if (backend === 'redis') url = (redis = await startRedis()).url;
    else url = (cluster = await startRedisCluster()).seeds;
  }, 30_000);
  afterAll(async () => {
    await redis?.stop();
    await cluster?.stop();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function gate(ratePerSec: number, burst: number, lease: number): Promise<RedisRateLeases> {
    const link = new RedisLink(url, 100);
    await link.connect(10_000);
    expect(link.ready).toBe(true);
    const g = new RedisRateLeases(link, { ratePerSec, burst }, lease);
    linkOf.set(g, link);
    cleanups.push(async () => {
      g.close();
      await link.close();
    });
    return g;
  }

  it('admits at most --rate-lease messages on credit before the first lease is back; the rest wait for it; the bucket decides', async () => {
    const a = await gate(1, 10, 4);
    const first = await takeMany(a, 'credit-user', 20);
    expect(first.now).toBe(4); // at the limit: 4 on credit at once; past it: they wait for the lease
    expect(a.stats.credited).toBeGreaterThanOrEqual(4);
    let admitted = first.now + first.later;
    expect(admitted).toBeGreaterThanOrEqual(10); // the whole burst, not only the credit
    for (let round = 0; round < 4; round++) {
      const r = await takeMany(a, 'credit-user', 20);
      admitted += r.now + r.later;
      await sleep(50);
    }
    // burst 10 + at most one lease on credit (+ under a token of refill in ~0.4 s).
    expect(admitted).toBeGreaterThanOrEqual(10);
    expect(admitted).toBeLessThanOrEqual(10 + 4 + 1);
    expect(a.stats.refused).toBeGreaterThan(0);
  });

  it('limits one user on two instances to the configured rate overall (a per-instance limit would give twice as much)', async () => {
    const rate = 40;
    const burst = 10;
    const lease = 4;
    const a = await gate(rate, burst, lease);
    const b = await gate(rate, burst, lease);
    let admitted = 0;
    let offered = 0;
    const later: Promise<boolean>[] = [];
    const local = [new RateLimiter({ ratePerSec: rate, burst }), new RateLimiter({ ratePerSec: rate, burst })];
    let perInstance = 0;
    const started = Date.now();
    while (Date.now() - started < 1500) {
      const now = Date.now();
      for (const [k, g] of [a, b].entries()) {
        offered++;
        const v = g.take('u', now);
        if (v === true) admitted++;
        else if (v !== false) later.push(v);
        if (local[k].take('u', now)) perInstance++;
      }
      await sleep(2);
    }
    admitted += (await Promise.all(later)).filter(Boolean).length;
    const elapsedS = (Date.now() - started) / 1000;
    const allowed = burst + rate * elapsedS;
    // The documented worst case: the bucket plus one lease on credit per instance.
    expect(admitted).toBeLessThanOrEqual(Math.ceil(allowed) + 2 * lease);
    // Not starved either: leased tokens idle on the other instance are the most it can lose.
    expect(admitted).toBeGreaterThanOrEqual(Math.floor(allowed) - 2 * 1.5 * lease - rate * 0.1);
    expect(offered).toBeGreaterThan(2 * allowed); // the sender really asked for more than the limit
    expect(perInstance).toBeGreaterThan(Math.ceil(allowed) + 2 * lease); // what the per-instance limit lets through
    expect(a.stats.leases + b.stats.leases).toBeLessThan(admitted); // no round trip per message
  });

  it('costs one lease script per --rate-lease messages for a user under the limit', async () => {
    const a = await gate(10_000, 10_000, 10);
    let admitted = 0;
    for (let i = 0; i < 100; i++) {
      const r = await takeMany(a, 'chatty', 2);
      admitted += r.now + r.later;
      await sleep(5);
    }
    expect(admitted).toBe(200);
    expect(a.stats.leases).toBeLessThanOrEqual(200 / 10 + 2);
  });

  it('gives unused tokens back when the user leaves, so the other instance can use them', async () => {
    const a = await gate(1, 8, 4);
    const b = await gate(1, 8, 4);
    expect(a.take('leaver', Date.now())).toBe(true); // on credit; the lease (4) comes back: 3 held
    await sleep(100);
    a.forget('leaver', Date.now());
    await sleep(100);
    expect(a.stats.returned).toBeGreaterThan(0);
    let onB = 0;
    for (let round = 0; round < 4; round++) {
      const r = await takeMany(b, 'leaver', 10);
      onB += r.now + r.later;
      await sleep(50);
    }
    // 8 in the bucket, 1 spent on a: b gets the other 7 (+ at most one lease on credit, + refill).
    expect(onB).toBeGreaterThanOrEqual(7);
    expect(onB).toBeLessThanOrEqual(7 + 4 + 1);
  });

  // Last in the single-Redis run: it stops Redis.
  it.runIf(backend === 'redis')('falls back to the per-instance bucket while Redis is unreachable, and back to the shared one after', async () => {
    const a = await gate(1, 5, 2);
    expect(a.take('outage-user', Date.now())).toBe(true);
    await redis!.stop();
    await waitFor(() => !linkOf.get(a)!.ready, 5000, 'link down');
    const during = await takeMany(a, 'outage-user', 10);
    expect(during.now).toBe(5); // the local bucket: its burst, decided at once
    expect(a.stats.fallbacks).toBe(10);
    await redis!.start();
    await waitFor(() => linkOf.get(a)!.ready, 10_000, 'link back');
    const after = await takeMany(a, 'outage-user', 10);
    expect(after.now + after.later).toBeGreaterThan(0); // the shared bucket again (Redis restarted empty: full)
    expect(a.stats.fallbacks).toBe(10);
  });
});

describe.runIf(run)('cluster-wide rate limit end to end: one user on two real instances', () => {
  let redis: TestRedis;
  let cacheDir: string;
  const nodes: SlabcastProcess[] = [];
  const clients: RoomClient[] = [];
  const RATE = 20;
  const BURST = 40;
  const LEASE = 5;

  beforeAll(async () => {
    assertBuilt();
    redis = await startRedis();
    cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-rate-'));
    const args = (id: string): string[] => [
      '--redis', redis.url, '--instance-id', id, '--heartbeat-ms', '200', '--heartbeat-ttl-ms', '1000',
      '--cache-dir', join(cacheDir, id), '--rate-limit', `${RATE}/${BURST}`, '--rate-lease', String(LEASE),
    ];
    nodes.push(...(await Promise.all(['a', 'b'].map((id) => startSlabcast(id, args(id))))));
    for (const n of nodes) await eventually(async () => (await n.http('GET', '/api/push/status')).json.cluster.ring.members.length === 2, 5000, `${n.name} sees 2 instances`);
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
  }, 20_000);

  it('admits the configured rate overall, not per instance: RATE_LIMITED past the shared bucket', async () => {
    // Two sessions of one user on each instance, 30 messages each: 120 offered, 60 per instance
    // (a per-instance bucket of 40 would admit about 80 of them).
    for (const n of nodes) for (let k = 0; k < 2; k++) clients.push(await RoomClient.open(n.port, 'rl', { user: 'rl-user' }));
    const started = Date.now();
    for (let i = 0; i < 30; i++) for (const c of clients) c.send({ type: 'danmaku', text: `m${i}` });
    // Every session hears its own refusals and every admitted message of the user (all four are in the room).
    await waitFor(() => clients.reduce((n, c) => n + c.of('error').length, 0) + clients[0].of('danmaku').length >= 120, 10_000, 'every message answered');
    await new Promise((r) => setTimeout(r, 200));
    const elapsedS = (Date.now() - started) / 1000;
    const refused = clients.reduce((n, c) => n + c.of('error').filter((m) => m.code === 'RATE_LIMITED').length, 0);
    const admitted = 120 - refused;
    // Every session saw every admitted message once (delivered across instances).
    for (const c of clients) expect(c.of('danmaku')).toHaveLength(admitted);
    expect(admitted).toBeLessThanOrEqual(Math.ceil(BURST + RATE * elapsedS) + 2 * LEASE);
    expect(admitted).toBeGreaterThanOrEqual(BURST - 2 * 1.5 * LEASE);
    for (const c of clients) expect(c.closeCode).toBeNull(); // under the misbehaviour bound
    const rate = (await nodes[0].http('GET', '/api/push/status')).json.cluster.rate;
    expect(rate.refused).toBeGreaterThan(0);
    expect(rate.leases).toBeLessThan(60);
  });

  it('holds at most the burst of a member’s messages waiting for a lease; past it they are refused at once', async () => {
    const c = await RoomClient.open(nodes[0].port, 'rl-burst', { user: 'rl-burst-user' });
    clients.push(c);
    // 80 frames at once: a few on credit, then BURST (40) wait for the lease on its way, the rest
    // are refused without waiting; the waiting ones are then decided by the bucket (40 in it).
    for (let i = 0; i < 80; i++) c.send({ type: 'danmaku', text: `b${i}` });
    await waitFor(() => c.of('error').length + c.of('danmaku').length >= 80, 10_000, 'every message answered');
    const answers = c.texts.filter((m) => m.type === 'error' || m.type === 'danmaku');
    const firstRefusal = answers.findIndex((m) => m.type === 'error');
    expect(c.of('error').every((m) => m.code === 'RATE_LIMITED')).toBe(true);
    expect(c.of('danmaku').length).toBeGreaterThanOrEqual(BURST - 2 * LEASE);
    expect(c.of('danmaku').length).toBeLessThanOrEqual(BURST + LEASE + 2);
    // Refused at once, ahead of the waiting ones admitted later (without the bound every frame would
    // wait, and the first refusal would come only after the bucket's 40 were admitted).
    expect(firstRefusal).toBeGreaterThanOrEqual(0);
    expect(firstRefusal).toBeLessThan(BURST / 2);
    // Admitted in the order sent.
    const texts = c.of('danmaku').map((m) => Number((m.text as string).slice(1)));
    expect(texts).toEqual([...texts].sort((x, y) => x - y));
    expect(c.closeCode).toBeNull();
  });
});
