/**
 * slabcast/client's audio client against two real token-protected instances over a real Redis: every
 * operation on a stream another instance owns is answered ERROR:MOVED (an HTTP read: 307), and the
 * client follows it transparently, its token going along.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { AudioClient, type AudioClientOptions } from '../../src/client/index.js';
import { HashRing } from '../../src/cluster/hash-ring.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { assertBuilt, eventually, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';

const nodes: Record<string, SlabcastProcess> = {};
let redis: TestRedis | null = null;
let cacheDir = '';
const clients: AudioClient[] = [];
const SECRET = 'cluster-client-secret';
let query = '';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** `slabcast_audio_http_responses_total{status}` of instance `n`. */
const responses = async (n: string, status: number): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${nodes[n].port}/metrics`)).text();
  return Number(new RegExp(`^slabcast_audio_http_responses_total\\{status="${status}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
};
const membersOf = async (n: string): Promise<{ id: string; url: string }[]> => (await nodes[n].http('GET', '/api/push/status')).json.cluster.ring.members;

describe.runIf(redisAvailable())('audio client in a cluster', () => {
  beforeAll(async () => {
    assertBuilt();
    redis = await startRedis();
    cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-client-cluster-'));
    const args = (id: string): string[] => ['--redis', redis!.url, '--instance-id', id, '--cache-dir', join(cacheDir, id), '--services', 'audio,admin,metrics', '--token-secret', SECRET];
    query = `?token=${await new SignJWT({ audio: ['read', 'write'] }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET))}`;
    for (const p of await Promise.all(['a', 'b'].map((id) => startSlabcast(id, args(id))))) nodes[p.name] = p;
    for (const id of ['a', 'b']) await eventually(async () => (await membersOf(id)).length === 2, 5000, `${id} sees 2 instances`);
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(Object.values(nodes).map((n) => n.stop()));
    await redis?.stop();
    if (cacheDir !== '') rmSync(cacheDir, { recursive: true, force: true });
  }, 20_000);

  it('upload, read (HTTP 307 and WebSocket), info, follow and delete of a stream owned elsewhere reach its owner by ERROR:MOVED alone', async () => {
    const ring = new HashRing(128);
    ring.setMembers(await membersOf('a'));
    let id = '';
    for (let i = 0; id === ''; i++) if (ring.ownerOf(`stream:clip${i}`)!.id === 'b') id = `clip${i}`;
    const on = (n: string, options: AudioClientOptions = {}): AudioClient => {
      const c = new AudioClient(`ws://127.0.0.1:${nodes[n].port}/audio${query}`, { WebSocket, ...options });
      clients.push(c);
      return c;
    };
    const viaA = on('a');
    const onB = on('b');
    const onA = on('a');

    const data = randomBytes(200_000);
    expect(await viaA.upload(id, data)).toMatchObject({ size: data.length });
    expect((await onB.list()).map((s) => s.id)).toEqual([id]); // stored where it belongs
    expect(await onA.list()).toEqual([]);

    expect(sha(await viaA.read(id, 0, data.length))).toBe(sha(data));
    // Fresh clients, which have not learned the owner: every command naming the stream is answered
    // MOVED by instance a, and an HTTP read 307 (fetch drops the Bearer header on the cross-origin
    // redirect: the client asks the owner again with it).
    const fresh = (): AudioClient => on('a');
    const overHttp = fresh();
    expect(overHttp.readsOverHttp).toBe(true);
    const [moved, partial] = [await responses('a', 307), await responses('b', 206)];
    expect(sha(await overHttp.read(id, 1000, 150_000))).toBe(sha(data.subarray(1000, 151_000)));
    expect([await responses('a', 307), await responses('b', 206)]).toEqual([moved + 1, partial + 1]);
    expect(sha(await on('a', { httpUrl: false }).read(id, 1000, 150_000))).toBe(sha(data.subarray(1000, 151_000)));
    expect(await fresh().info(id)).toMatchObject({ id, size: data.length, complete: true });
    const followed: Uint8Array[] = [];
    for await (const b of fresh().follow(id, 100)) followed.push(b);
    expect(sha(Buffer.concat(followed))).toBe(sha(data.subarray(100)));
    await fresh().delete(id);
    expect(await onB.list()).toEqual([]);
  });
});
