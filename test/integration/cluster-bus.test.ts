import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { roomChannel, RedisBus } from '../../src/cluster/redis-bus.js';
import { RedisLink } from '../../src/cluster/redis-link.js';
import { Delivery, type RoomEnvelope } from '../../src/services/rooms/bus.js';
import { waitFor } from '../helpers/listen.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';

const run = redisAvailable();
let redis: TestRedis;
const cleanups: (() => Promise<void>)[] = [];

describe.runIf(run)('RedisBus on a real Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function bus(id: string): Promise<{ bus: RedisBus; link: RedisLink }> {
    const link = new RedisLink(redis.url, 100);
    await link.connect();
    const b = new RedisBus(link, id);
    cleanups.push(async () => {
      await b.close();
      await link.close();
    });
    return { bus: b, link };
  }

  const env = (origin: string, n: number, payload: string | Uint8Array = `m${n}`): RoomEnvelope => ({ room: 'lobby', delivery: Delivery.Everyone, payload, user: 'u', origin, conn: n });

  it('delivers across instances exactly once, in publish order, and locally at once', async () => {
    const a = await bus('a');
    const b = await bus('b');
    const c = await bus('c');
    const got: Record<string, string[]> = { a: [], b: [], c: [] };
    for (const [id, x] of Object.entries({ a, b, c })) void x.bus.subscribe('lobby', (e) => got[id].push(`${e.origin}:${e.payload as string}`));
    await new Promise((r) => setTimeout(r, 100)); // SUBSCRIBE round trips
    for (let i = 0; i < 100; i++) a.bus.publish(env('a', i));
    expect(got.a).toHaveLength(100); // local delivery is synchronous
    await waitFor(() => got.b.length === 100 && got.c.length === 100, 5000, 'remote deliveries');
    const expected = Array.from({ length: 100 }, (_, i) => `a:m${i}`);
    expect(got.b).toEqual(expected);
    expect(got.c).toEqual(expected);
    await new Promise((r) => setTimeout(r, 50));
    expect(got.a).toEqual(expected); // own echoes from Redis were dropped, not delivered twice
    expect(a.bus.stats.ownEchoes).toBe(100);
  });

  it('is binary-safe for voice', async () => {
    const a = await bus('a');
    const b = await bus('b');
    const got: Uint8Array[] = [];
    void b.bus.subscribe('lobby', (e) => got.push(e.payload as Uint8Array));
    void a.bus.subscribe('lobby', () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const voice = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);
    a.bus.publish(env('a', 1, voice));
    await waitFor(() => got.length === 1, 3000, 'voice');
    expect(Buffer.from(got[0]).equals(Buffer.from(voice))).toBe(true);
  });

  it('subscribes per room only while it has listeners (unsubscribe on last leave)', async () => {
    const a = await bus('a');
    const probe = await bus('probe');
    const numsub = async (): Promise<number> => {
      const r = (await probe.link.cmd.pubSubNumSub(roomChannel('lobby'))) as Record<string, number>;
      return Number(Object.values(r)[0] ?? 0);
    };
    const l1 = (): void => undefined;
    const l2 = (): void => undefined;
    void a.bus.subscribe('lobby', l1);
    void a.bus.subscribe('lobby', l2);
    await waitFor(() => a.bus.stats.subscribedRooms === 1, 1000, 'subscribed');
    await new Promise((r) => setTimeout(r, 100));
    expect(await numsub()).toBe(1);
    a.bus.unsubscribe('lobby', l1);
    await new Promise((r) => setTimeout(r, 100));
    expect(await numsub()).toBe(1);
    a.bus.unsubscribe('lobby', l2);
    await new Promise((r) => setTimeout(r, 100));
    expect(await numsub()).toBe(0);
  });

  it('keeps local delivery through a Redis outage and resumes cross-instance delivery after it', async () => {
    const a = await bus('a');
    const b = await bus('b');
    const gotA: string[] = [];
    const gotB: string[] = [];
    void a.bus.subscribe('lobby', (e) => gotA.push(e.payload as string));
    void b.bus.subscribe('lobby', (e) => gotB.push(e.payload as string));
    await new Promise((r) => setTimeout(r, 100));
    await redis.stop();
    await waitFor(() => !a.link.ready, 5000, 'a sees the outage');
    expect(() => a.bus.publish(env('a', 1, 'during'))).not.toThrow();
    expect(gotA).toEqual(['during']);
    expect(a.bus.stats.publishDropped).toBeGreaterThan(0);
    await redis.start();
    await waitFor(() => a.link.ready && b.link.ready, 10000, 'links back');
    await new Promise((r) => setTimeout(r, 200)); // node-redis re-subscribes after reconnecting
    a.bus.publish(env('a', 2, 'after'));
    await waitFor(() => gotB.includes('after'), 5000, 'delivery after recovery');
    expect(gotB).not.toContain('during');
  });
});
