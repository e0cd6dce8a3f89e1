/**
 * RedisHistory and RedisPresence against a real redis-server, in process (the multi-process
 * behaviour is in cluster-rooms.test.ts): shared monotonic ids, re-seeding after Redis lost its
 * data, ids through an outage, eviction and TTL gaps, and cluster-wide presence.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBus } from '../../src/cluster/redis-bus.js';
import { RedisHistory } from '../../src/cluster/redis-history.js';
import { RedisLink } from '../../src/cluster/redis-link.js';
import { presenceKey, RedisPresence } from '../../src/cluster/redis-presence.js';
import { Delivery } from '../../src/services/rooms/bus.js';
import { waitFor } from '../helpers/listen.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';

const run = redisAvailable();
let redis: TestRedis;
const cleanups: (() => Promise<void>)[] = [];

async function link(): Promise<RedisLink> {
  const l = new RedisLink(redis.url, 100);
  await l.connect();
  cleanups.push(() => l.close());
  return l;
}

async function history(id: string, size = 200, ttlMs = 60_000): Promise<{ h: RedisHistory; bus: RedisBus; l: RedisLink }> {
  const l = await link();
  const bus = new RedisBus(l, id);
  return { h: new RedisHistory(l, bus, size, ttlMs), bus, l };
}

const entry = (id: number, ts = Date.now()) => ({ id, ts, json: `{"type":"danmaku","id":${id},"text":"m${id}"}` });

describe.runIf(run)('RedisHistory and RedisPresence on a real Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    const probe = new RedisLink(redis.url, 100);
    await probe.connect();
    await probe.cmd.flushAll();
    await probe.close();
  });

  it('hands out unique, per-instance increasing ids from two instances at once', async () => {
    const a = await history('a');
    const b = await history('b');
    const fromA = await Promise.all(Array.from({ length: 100 }, () => Promise.resolve(a.h.allocateId('r'))));
    const fromB = await Promise.all(Array.from({ length: 100 }, () => Promise.resolve(b.h.allocateId('r'))));
    expect(new Set([...fromA, ...fromB]).size).toBe(200);
    expect(fromA).toEqual([...fromA].sort((x, y) => x - y));
    expect(Math.max(...fromA, ...fromB)).toBe(200);
  });

  it('re-seeds the counter above the highest id seen when Redis lost its data', async () => {
    const a = await history('a');
    for (let i = 0; i < 10; i++) await a.h.allocateId('r');
    a.h.observe('r', 42); // e.g. delivered from another instance
    await a.l.cmd.flushAll(); // a Redis restart without persistence
    expect(await a.h.allocateId('r')).toBe(43);
    expect(a.h.stats.reseeds).toBe(1);
    const b = await history('b'); // saw nothing: continues from the re-seeded counter
    expect(await b.h.allocateId('r')).toBe(44);
    // A joiner with a `since` Redis can no longer serve is told so.
    const read = await a.h.read('r', 20, Date.now());
    expect(read).toMatchObject({ entries: [], lastId: 44, gap: true });
  });

  it('keeps ids monotonic through an outage (local ids, then re-seeded above them)', async () => {
    const a = await history('a');
    expect(await a.h.allocateId('r')).toBe(1);
    await redis.stop();
    await waitFor(() => !a.l.ready, 5000, 'outage seen');
    expect(a.h.allocateId('r')).toBe(2); // synchronous: no Redis, no wait
    expect(a.h.allocateId('r')).toBe(3);
    expect(a.h.stats.localIds).toBe(2);
    expect(a.h.read('r', 3, Date.now())).toEqual({ entries: [], lastId: 3, gap: false });
    expect(a.h.read('r', 1, Date.now())).toMatchObject({ gap: true });
    // A message sequenced while down: a local id at once, delivered here only, not kept.
    expect(a.h.sequence('r', { room: 'r', delivery: Delivery.Everyone, payload: entry(0).json, user: '', origin: 'a', conn: -1 }, Date.now(), true)).toBe(4);
    expect(a.bus.stats.publishDropped).toBe(1);
    expect(a.h.stats.appendFailures).toBe(1);
    await redis.start();
    await waitFor(() => a.l.ready, 10_000, 'link back');
    expect(await a.h.allocateId('r')).toBe(5);
  }, 20_000);

  it('sequences a message in one script; one the script refuses (OOM) goes to local members with a local id, and later echoes still match their sends', async () => {
    const a = await history('a');
    const got: string[] = [];
    await a.bus.subscribe('r', (e) => got.push(e.payload as string));
    const envelope = (text: string) => ({ room: 'r', delivery: Delivery.Everyone, payload: `{"type":"danmaku","id":0,"text":"${text}"}`, user: '', origin: 'a', conn: -1 });
    expect(await a.h.sequence('r', envelope('one'), Date.now(), true)).toBe(1);
    await a.l.cmd.configSet('maxmemory', '1');
    try {
      await expect(Promise.resolve(a.h.sequence('r', envelope('refused'), Date.now(), true))).resolves.toBe(2); // a local id
    } finally {
      await a.l.cmd.configSet('maxmemory', '0');
    }
    // The refused one never ran in Redis; its local id is the floor, so Redis's counter is re-seeded above it.
    expect(await a.h.sequence('r', envelope('three'), Date.now(), true)).toBe(3);
    await waitFor(() => got.length === 3, 5000, 'three deliveries');
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual(['{"type":"danmaku","id":1,"text":"one"}', '{"type":"danmaku","id":2,"text":"refused"}', '{"type":"danmaku","id":3,"text":"three"}']);
    expect(a.bus.stats).toMatchObject({ ownSequenced: 2, publishDropped: 1 });
    expect((await a.h.read('r', 0, Date.now())).entries.map((e) => e.json)).toEqual(['{"type":"danmaku","id":1,"text":"one"}', '{"type":"danmaku","id":3,"text":"three"}']);
    expect(a.h.stats).toMatchObject({ reseeds: 1, appendFailures: 1, sequenceFailures: 0 });
  });

  it('reports a gap for what the size cap evicted, not for whisper holes', async () => {
    const a = await history('a', 3);
    for (let i = 1; i <= 5; i++) a.h.append('r', entry(await a.h.allocateId('r')));
    const r1 = await a.h.read('r', 1, Date.now()); // commands run in order: the appends are done
    expect(r1.entries.map((e) => e.id)).toEqual([3, 4, 5]);
    expect(r1.gap).toBe(true); // 2 was evicted
    expect((await a.h.read('r', 2, Date.now())).gap).toBe(false);
    expect(await a.h.allocateId('r')).toBe(6); // a whisper: an id, never kept
    a.h.append('r', entry(await a.h.allocateId('r')));
    const r2 = await a.h.read('r', 5, Date.now());
    expect(r2.entries.map((e) => e.id)).toEqual([7]);
    expect(r2.gap).toBe(false);
  });

  it('drops entries past the TTL on read and counts them as evicted', async () => {
    const a = await history('a', 200, 1000);
    a.h.append('r', entry(1, Date.now() - 5000));
    a.h.append('r', entry(2));
    const read = await a.h.read('r', 0, Date.now());
    expect(read.entries.map((e) => e.id)).toEqual([2]);
    expect(read.gap).toBe(true);
    expect((await a.h.read('r', 1, Date.now())).gap).toBe(false);
    expect(await a.h.has('r')).toBe(false); // ids came from append only: no counter
    await a.h.allocateId('r');
    expect(await a.h.has('r')).toBe(true);
  });

  it('counts distinct users across instances, ignores instances off the ring, and rebuilds its sets', async () => {
    const la = await link();
    const lb = await link();
    const ring = ['a', 'b'];
    const a = new RedisPresence(la, 'a', () => ring, 10_000);
    const b = new RedisPresence(lb, 'b', () => ring, 10_000);
    const localA = new Map<string, unknown>([['x', 1]]);
    expect(await a.joined('r', 'x', localA)).toEqual({ elsewhere: false, count: 1 });
    expect(await b.joined('r', 'y', new Map([['y', 1]]))).toEqual({ elsewhere: false, count: 2 });
    expect(await b.joined('r', 'x', new Map([['y', 1], ['x', 1]]))).toEqual({ elsewhere: true, count: 2 });
    expect(await a.elsewhere('r', 'y')).toBe(true);
    expect(await a.elsewhere('r', 'nobody')).toBe(false);
    expect((await a.users('r', localA)).sort()).toEqual(['x', 'y']);
    expect(await a.left('r', 'x', new Map())).toEqual({ elsewhere: true, count: 2 }); // x is still on b
    ring.splice(1, 1); // b leaves the ring (its heartbeat expired): its members stop counting at once
    expect(await a.users('r', new Map())).toEqual([]);
    ring.push('b');
    await la.cmd.flushAll();
    b.refresh();
    await waitFor(() => b.stats.refreshes === 1, 1000, 'refresh');
    await new Promise((r) => setTimeout(r, 50));
    expect((await lb.cmd.sMembers(presenceKey('r', 'b'))).sort()).toEqual(['x', 'y']);
    expect(await lb.cmd.pTTL(presenceKey('r', 'b'))).toBeGreaterThan(0);
    await b.close();
    expect(await la.cmd.exists(presenceKey('r', 'b'))).toBe(0);
    await a.close();
  });

  it('deletes the presence sets an earlier run under the same id left, at start, and only those', async () => {
    const l = await link();
    // An earlier run of 'c' left sets in two rooms; 'x:c' is another instance whose id ends in ':c'.
    await l.cmd.sAdd(presenceKey('old', 'c'), ['ghost']);
    await l.cmd.sAdd(presenceKey('kept', 'c'), ['ghost']);
    await l.cmd.sAdd(presenceKey('old', 'x:c'), ['someone']);
    await l.cmd.sAdd(presenceKey('old', 'b'), ['other']);
    const c = new RedisPresence(l, 'c', () => ['c', 'b', 'x:c'], 10_000);
    await c.joined('kept', 'alive', new Map([['alive', 1]])); // this run already has a user in 'kept'
    c.start(60_000);
    await waitFor(() => c.stats.leftoversDeleted > 0, 2000, 'leftovers deleted');
    expect(c.stats.leftoversDeleted).toBe(1);
    expect(await l.cmd.exists(presenceKey('old', 'c'))).toBe(0);
    expect((await l.cmd.sMembers(presenceKey('kept', 'c'))).sort()).toEqual(['alive', 'ghost']); // rewritten at the next refresh
    expect(await l.cmd.sMembers(presenceKey('old', 'x:c'))).toEqual(['someone']);
    expect(await l.cmd.sMembers(presenceKey('old', 'b'))).toEqual(['other']);
    expect((await c.users('old', new Map())).sort()).toEqual(['other', 'someone']);
    await c.close();
  });
});
