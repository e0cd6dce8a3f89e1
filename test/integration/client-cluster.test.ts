/**
 * slabcast/client's audio client against two real instances over a real Redis: every operation on a
 * stream another instance owns is answered ERROR:MOVED, and the client follows it transparently.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AudioClient } from '../../src/client/index.js';
import { HashRing } from '../../src/cluster/hash-ring.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { assertBuilt, eventually, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';

const nodes: Record<string, SlabcastProcess> = {};
let redis: TestRedis | null = null;
let cacheDir = '';
const clients: AudioClient[] = [];

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const membersOf = async (n: string): Promise<{ id: string; url: string }[]> => (await nodes[n].http('GET', '/api/push/status')).json.cluster.ring.members;

describe.runIf(redisAvailable())('audio client in a cluster', () => {
  beforeAll(async () => {
    assertBuilt();
    redis = await startRedis();
    cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-client-cluster-'));
    const args = (id: string): string[] => ['--redis', redis!.url, '--instance-id', id, '--cache-dir', join(cacheDir, id), '--services', 'audio,admin'];
    for (const p of await Promise.all(['a', 'b'].map((id) => startSlabcast(id, args(id))))) nodes[p.name] = p;
    for (const id of ['a', 'b']) await eventually(async () => (await membersOf(id)).length === 2, 5000, `${id} sees 2 instances`);
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(Object.values(nodes).map((n) => n.stop()));
    await redis?.stop();
    if (cacheDir !== '') rmSync(cacheDir, { recursive: true, force: true });
  }, 20_000);

  it('upload, read, info, follow and delete of a stream owned elsewhere reach its owner (ERROR:MOVED, or a GET probe after "not found")', async () => {
    const ring = new HashRing(128);
    ring.setMembers(await membersOf('a'));
    let id = '';
    for (let i = 0; id === ''; i++) if (ring.ownerOf(`stream:clip${i}`)!.id === 'b') id = `clip${i}`;
    const viaA = new AudioClient(`ws://127.0.0.1:${nodes.a.port}/audio`, { WebSocket });
    const onB = new AudioClient(`ws://127.0.0.1:${nodes.b.port}/audio`, { WebSocket });
    const onA = new AudioClient(`ws://127.0.0.1:${nodes.a.port}/audio`, { WebSocket });
    clients.push(viaA, onB, onA);

    const data = randomBytes(200_000);
    expect(await viaA.upload(id, data)).toMatchObject({ size: data.length });
    expect((await onB.list()).map((s) => s.id)).toEqual([id]); // stored where it belongs
    expect(await onA.list()).toEqual([]);

    expect(sha(await viaA.read(id, 0, data.length))).toBe(sha(data));
    // Fresh clients, which have not learned the owner: the server redirects only GET and START; INFO,
    // FOLLOW and DELETE elsewhere say "not found", and the client asks where with a one-byte GET.
    const fresh = (): AudioClient => {
      const c = new AudioClient(`ws://127.0.0.1:${nodes.a.port}/audio`, { WebSocket });
      clients.push(c);
      return c;
    };
    expect(await fresh().info(id)).toMatchObject({ id, size: data.length, complete: true });
    const followed: Uint8Array[] = [];
    for await (const b of fresh().follow(id, 100)) followed.push(b);
    expect(sha(Buffer.concat(followed))).toBe(sha(data.subarray(100)));
    await fresh().delete(id);
    expect(await onB.list()).toEqual([]);
  });
});
