/**
 * A Redis that keeps its connections open but stops answering (a SIGSTOPped redis-server), in
 * process: the link's PING deadline and its bound on waiting commands declare it down, every waiting
 * command is released, ids go on locally in order, and SIGCONT brings the link back (commands and
 * subscriptions); a black-holed subscriber connection alone is caught by its own PING. The end-to-end case, with real instances under traffic, is cluster-hang.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBus } from '../../src/cluster/redis-bus.js';
import { RedisHistory } from '../../src/cluster/redis-history.js';
import { type RedisLinkBounds, RedisLink } from '../../src/cluster/redis-link.js';
import { BlackholeProxy } from '../helpers/blackhole-proxy.js';
import { waitFor } from '../helpers/listen.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';

const run = redisAvailable();
let redis: TestRedis;
const cleanups: (() => Promise<void>)[] = [];
const FAST: Partial<RedisLinkBounds> = { pingMs: 100, timeoutMs: 500 };

async function link(bounds: Partial<RedisLinkBounds> = FAST): Promise<RedisLink> {
  const l = new RedisLink(redis.url, 100, bounds);
  cleanups.push(() => l.close());
  await l.connect();
  expect(l.ready).toBe(true);
  return l;
}

/** Settles `p` into 'resolved' / 'rejected' without ever leaving a rejection unhandled. */
function outcome(p: Promise<unknown>): { value: 'pending' | 'resolved' | 'rejected' } {
  const o: { value: 'pending' | 'resolved' | 'rejected' } = { value: 'pending' };
  p.then(
    () => (o.value = 'resolved'),
    () => (o.value = 'rejected'),
  );
  return o;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.runIf(run)('a Redis that stops answering (SIGSTOP), in process', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    redis.resume(); // never leave a stopped server behind, whatever failed
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    redis?.resume();
    await redis?.stop();
  });

  it('declares the link down when a PING goes unanswered, releases every waiting command, counts it once, and recovers on SIGCONT', async () => {
    const l = await link();
    const other = await link();
    const got: string[] = [];
    await l.sub.subscribe('stall-chan', (m) => got.push(m));
    await other.cmd.publish('stall-chan', 'before');
    await waitFor(() => got.includes('before'), 2000, 'subscription works');

    redis.pause();
    const waiting = Array.from({ length: 20 }, (_, i) => outcome(l.track(l.cmd.set(`k${i}`, 'v'))));
    await waitFor(() => !l.ready, 5000, 'link declared down');
    expect(l.stats.state).toBe('down');
    expect(l.stats.stalls).toBe(1);
    expect(l.stats.outages).toBe(1);
    expect(l.stats.lastError).toMatch(/no reply to PING/);
    await waitFor(() => waiting.every((w) => w.value === 'rejected'), 1000, 'waiting commands released');
    expect(l.stats.pending).toBe(0);
    // Still stopped: reconnects are abandoned at their handshake and retried, never a second outage.
    await waitFor(() => l.stats.handshakeTimeouts >= 1, 5000, 'a reconnect given up');
    expect(l.stats.outages).toBe(1);
    expect(l.stats.stalls).toBe(1);

    redis.resume();
    await waitFor(() => l.ready, 10_000, 'link back');
    expect(l.stats.outages).toBe(1);
    await l.cmd.set('after', 'yes');
    expect(await l.cmd.get('after')).toBe('yes');
    // The subscription came back with the connection.
    await waitFor(() => other.ready, 10_000, 'the publisher is back too');
    await other.cmd.publish('stall-chan', 'after');
    await waitFor(() => got.includes('after'), 3000, 'subscription after the stall');
  }, 30_000);

  it('catches a black-holed subscriber connection alone: the SUBSCRIBE waiting on it is released, the link goes down once and comes back', async () => {
    const proxy = await BlackholeProxy.start(redis.port);
    cleanups.push(() => proxy.close());
    const l = new RedisLink(`redis://127.0.0.1:${proxy.port}`, 100, FAST);
    cleanups.push(() => l.close());
    await l.connect();
    expect(l.ready).toBe(true);
    const other = await link();
    const got: string[] = [];
    await l.sub.subscribe('bh-1', (m) => got.push(m));
    expect(proxy.freeze((c) => /subscribe/i.test(c.sent))).toBe(1); // the subscriber connection only
    const waiting = outcome(l.sub.subscribe('bh-2', (m) => got.push(m)));
    expect(await l.cmd.ping()).toBe('PONG'); // the command connection still answers
    await waitFor(() => waiting.value === 'rejected', 5000, 'the SUBSCRIBE released');
    expect(l.stats.stalls).toBe(1);
    expect(l.stats.outages).toBe(1);
    await waitFor(() => l.ready, 5000, 'back over fresh connections');
    await other.cmd.publish('bh-1', 'after');
    await waitFor(() => got.includes('after'), 3000, 'subscription after the stall');
    expect(l.stats.outages).toBe(1);
  }, 30_000);

  it('holds at most --redis-max-pending waiting commands: at the bound nothing happens, one past it declares the link down', async () => {
    // PINGs far apart: only the bound can trip here.
    const l = await link({ pingMs: 60_000, timeoutMs: 60_000, maxPending: 5 });
    redis.pause();
    const five = Array.from({ length: 5 }, (_, i) => outcome(l.track(l.cmd.get(`p${i}`))));
    await sleep(100);
    expect(l.stats.pending).toBe(5);
    expect(l.ready).toBe(true);
    expect(l.stats.stalls).toBe(0);
    const sixth = outcome(l.track(l.cmd.get('p5')));
    expect(l.ready).toBe(false); // at once, not at the next PING
    expect(l.stats.stalls).toBe(1);
    expect(l.stats.lastError).toMatch(/--redis-max-pending 5/);
    await waitFor(() => [...five, sixth].every((w) => w.value === 'rejected'), 1000, 'all six released');
    expect(l.stats.pending).toBe(0);
    expect(l.stats.pendingPeak).toBe(5);
    redis.resume();
    await waitFor(() => l.ready, 10_000, 'link back');
    expect(await l.track(l.cmd.get('p0'))).toBe(null);
  }, 30_000);

  it('gives messages waiting for a Redis id local ids, in order and increasing, and re-seeds above them after SIGCONT', async () => {
    const l = await link();
    const bus = new RedisBus(l, 'a');
    const h = new RedisHistory(l, bus, 200, 60_000);
    expect(await h.allocateId('r')).toBe(1);
    redis.pause();
    const ids = Array.from({ length: 50 }, () => Promise.resolve(h.allocateId('r')));
    const all = await Promise.all(ids); // would never settle without the PING deadline
    expect(all).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    expect(h.stats.localIds).toBe(50);
    expect(h.allocateId('r')).toBe(52); // while down: synchronous, nothing sent
    expect(h.read('r', 52, Date.now())).toEqual({ entries: [], lastId: 52, gap: false });
    redis.resume();
    await waitFor(() => l.ready, 10_000, 'link back');
    expect(await h.allocateId('r')).toBe(53); // Redis's counter (1) is re-seeded above everything seen
    expect(h.stats.reseeds).toBe(1);
  }, 30_000);

  it('connects to a Redis that is stopped at start once it continues, and close() never waits on one', async () => {
    redis.pause();
    const l = new RedisLink(redis.url, 100, FAST);
    cleanups.push(() => l.close());
    expect(await l.connect(500)).toBe('connecting');
    await waitFor(() => l.stats.handshakeTimeouts >= 1, 5000, 'a handshake given up');
    redis.resume();
    await waitFor(() => l.ready, 10_000, 'ready once Redis answers');
    expect(l.stats.outages).toBe(0); // it was never up: not an outage

    const m = await link({ pingMs: 60_000, timeoutMs: 500 });
    redis.pause();
    const waiting = outcome(m.track(m.cmd.get('x')));
    await m.close(); // waits at most timeoutMs for the reply that never comes
    await waitFor(() => waiting.value === 'rejected', 1000, 'released by close');
  }, 30_000);
});
