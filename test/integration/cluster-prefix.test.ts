/**
 * Two deployments on one real redis-server: `--redis-prefix` keeps them apart. Pub/sub channels
 * ignore the database number, so the control (same prefix, different DBs) shows a message crossing.
 */
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import { startServer, type TestServer, waitFor } from '../helpers/listen.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { RoomClient } from './rooms-helpers.js';

const run = redisAvailable();
let redis: TestRedis;
const servers: TestServer[] = [];
const clients: RoomClient[] = [];

async function instance(db: number, id: string, extra: Partial<ServerConfig> = {}): Promise<TestServer> {
  const s = await startServer({ redisUrl: `${redis.url}/${db}`, instanceId: id, heartbeatMs: 200, heartbeatTtlMs: 1000, rateLimit: '100/100', ...extra });
  servers.push(s);
  return s;
}

async function member(s: TestServer, room: string, user: string): Promise<RoomClient> {
  const c = await RoomClient.open(s.port, room, { user });
  clients.push(c);
  return c;
}

const texts = (c: RoomClient): string[] => c.of('danmaku').map((m) => m.text as string);

describe.runIf(run)('--redis-prefix: deployments sharing one Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.close();
    const probe = createClient({ url: redis.url });
    await probe.connect();
    await probe.flushAll();
    await probe.quit();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('control: the same prefix on DB 7 and DB 8 is one deployment for pub/sub — a danmaku crosses', async () => {
    const staging = await instance(7, 'staging-1');
    const production = await instance(8, 'prod-1');
    const viewer = await member(production, 'ncx', 'viewer');
    const poster = await member(staging, 'ncx', 'poster');
    poster.send({ type: 'danmaku', text: 'from staging' });
    await waitFor(() => texts(viewer).includes('from staging'), 5000, 'the staging danmaku at production');
  });

  it('different prefixes: nothing crosses (rooms, ring, keys), each deployment still works across its own instances', async () => {
    const staging1 = await instance(7, 'staging-1', { redisPrefix: 'staging' });
    const staging2 = await instance(7, 'staging-2', { redisPrefix: 'staging' });
    const production = await instance(8, 'prod-1', { redisPrefix: 'prod' });
    const viewer = await member(production, 'ncx', 'viewer');
    const colleague = await member(staging2, 'ncx', 'colleague');
    const poster = await member(staging1, 'ncx', 'poster');
    poster.send({ type: 'danmaku', text: 'from staging' });
    // It went through Redis: the other staging instance's member got it.
    await waitFor(() => texts(colleague).includes('from staging'), 5000, 'the danmaku at the other staging instance');
    const probe = createClient({ url: redis.url });
    await probe.connect();
    try {
      const subs = (await probe.pubSubNumSub(['staging:room:ncx', 'prod:room:ncx', 'slabcast:room:ncx'])) as Record<string, number>;
      expect(subs).toEqual({ 'staging:room:ncx': 2, 'prod:room:ncx': 1, 'slabcast:room:ncx': 0 });
      // A production round trip through Redis after the staging message: the viewer's own danmaku.
      viewer.send({ type: 'danmaku', text: 'from production' });
      await waitFor(() => texts(viewer).includes('from production'), 5000, 'the production danmaku');
      expect(texts(viewer)).toEqual(['from production']);
      expect(texts(colleague)).toEqual(['from staging']);
      // Each deployment's ring holds its own instances only.
      const ring = async (s: TestServer): Promise<string[]> => {
        const res = await fetch(`http://127.0.0.1:${s.port}/api/push/status`);
        return ((await res.json()) as { cluster: { ring: { members: { id: string }[] } } }).cluster.ring.members.map((m) => m.id).sort();
      };
      expect(await ring(production)).toEqual(['prod-1']);
      await expect.poll(() => ring(staging1), { timeout: 5000 }).toEqual(['staging-1', 'staging-2']);
      // Every key is under its deployment's prefix.
      await probe.select(8);
      const prodKeys = await probe.keys('*');
      expect(prodKeys.length).toBeGreaterThan(0);
      expect(prodKeys.filter((k) => !k.startsWith('prod:'))).toEqual([]);
      await probe.select(7);
      const stagingKeys = await probe.keys('*');
      expect(stagingKeys.filter((k) => !k.startsWith('staging:'))).toEqual([]);
    } finally {
      await probe.quit();
    }
  });

  it('a prefix with glob or separator characters is refused at start-up, naming the flag', async () => {
    const { validateConfig } = await import('../../src/config.js');
    expect(() => validateConfig({ redisPrefix: 'a*b' })).toThrow(/--redis-prefix/);
    expect(() => validateConfig({ redisPrefix: '' })).toThrow(/--redis-prefix/);
    expect(() => validateConfig({ redisPrefix: 'x'.repeat(65) })).toThrow(/--redis-prefix/);
    expect(validateConfig({ redisPrefix: 'x'.repeat(64) }).redisPrefix).toBe('x'.repeat(64));
    expect(validateConfig({ redisPrefix: 'prod.eu-1_a' }).redisPrefix).toBe('prod.eu-1_a');
  });
});
