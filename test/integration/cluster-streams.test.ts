/**
 * Audio streams that survive losing an instance and adding one: real processes over a real Redis,
 * with --cluster-secret. Every complete stream is copied to the next instance on the ring (two
 * copies), verified by SHA-256; the owner SIGKILLed → every stream is read byte-identical through
 * any instance; a fourth instance joins → the streams it now owns reach it and the old copies go;
 * DELETE during a copy leaves no copy anywhere; a copy damaged on disk is found and fetched again.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AudioClient } from '../../src/client/index.js';
import { HashRing } from '../../src/cluster/hash-ring.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { assertBuilt, eventually, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';

const SECRET = 'cluster-streams-secret-0123456789';
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const redisCli = (...argv: string[]): string => execFileSync('redis-cli', ['-p', String(redis!.port), ...argv], { encoding: 'utf8' }).trim();

let redis: TestRedis | null = null;
let redisUrl = '';
let root = '';
const nodes: Record<string, SlabcastProcess> = {};
const clients: AudioClient[] = [];

const args = (id: string, extra: string[] = []): string[] => [
  '--redis', redisUrl, '--instance-id', id, '--cache-dir', join(root, id), '--services', 'audio,admin,metrics',
  '--cluster-secret', SECRET, '--heartbeat-ms', '200', '--heartbeat-ttl-ms', '1000', '--replication-interval-ms', '200', ...extra,
];
const start = async (id: string, extra: string[] = []): Promise<SlabcastProcess> => (nodes[id] = await startSlabcast(id, args(id, extra)));
const client = (n: string, http = true): AudioClient => {
  const c = new AudioClient(`ws://127.0.0.1:${nodes[n].port}/audio`, { WebSocket, reconnect: { maxRetries: 0 }, ...(http ? {} : { httpUrl: false }) });
  clients.push(c);
  return c;
};
const membersOf = async (n: string): Promise<{ id: string; url: string }[]> => (await nodes[n].http('GET', '/api/push/status')).json.cluster.ring.members;
const status = async (n: string): Promise<any> => (await nodes[n].http('GET', '/api/push/status')).json.cluster.streams;
/** Ids of the complete streams instance `n` holds (its own listing, no redirect). */
const held = async (n: string): Promise<string[]> => {
  const list = (await (await fetch(`http://127.0.0.1:${nodes[n].port}/api/audio/streams`)).json()) as { id: string; complete: boolean }[];
  return list.filter((s) => s.complete).map((s) => s.id).sort();
};
const ringOf = async (n: string): Promise<HashRing> => {
  const ring = new HashRing(128);
  ring.setMembers(await membersOf(n));
  return ring;
};
const live = (): string[] => Object.keys(nodes).filter((n) => nodes[n].alive);

async function closeAll(): Promise<void> {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(Object.values(nodes).map((n) => n.stop()));
  for (const k of Object.keys(nodes)) delete nodes[k];
}

describe.runIf(redisAvailable())('audio streams across instances (--cluster-secret)', () => {
  beforeAll(async () => {
    assertBuilt();
    redis = await startRedis();
    redisUrl = redis.url;
    root = mkdtempSync(join(tmpdir(), 'slabcast-streams-'));
  }, 20_000);

  afterEach(closeAll, 20_000);

  afterAll(async () => {
    await redis?.stop();
    if (root !== '') rmSync(root, { recursive: true, force: true });
  }, 20_000);

  it('two copies of every stream; SIGKILL an owner → every stream reads byte-identical through any instance; a fourth instance → its streams reach it, old copies go, none lost', async () => {
    for (const id of ['a', 'b', 'c']) await start(id, ['--scrub-bytes-per-sec', '0']);
    for (const id of ['a', 'b', 'c']) await eventually(async () => (await membersOf(id)).length === 3, 5000, `${id} sees 3 instances`);

    const streams = new Map<string, Buffer>();
    for (let i = 0; i < 12; i++) streams.set(`show${i}`, randomBytes(50_000 + i * 37_000));
    const uploader = client('a');
    for (const [id, data] of streams) expect(await uploader.upload(id, data)).toMatchObject({ size: data.length });

    // The internal routes answer only the cluster secret.
    for (const auth of [undefined, 'Bearer wrong-secret-0123456789', `Bearer ${SECRET}x`]) {
      const res = await fetch(`http://127.0.0.1:${nodes.a.port}/internal/streams/show0`, auth === undefined ? {} : { headers: { Authorization: auth } });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'CLUSTER_SECRET' });
    }
    const refused = await fetch(`http://127.0.0.1:${nodes.a.port}/internal/streams/show0/hold`, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(401);

    // Every stream on exactly its two ring successors, each copy verified (INFO from each holder says 2).
    const ring = await ringOf('a');
    const want = (r: HashRing, id: string): string[] => r.successors(`stream:${id}`, 2).map((m) => m.id).sort();
    await eventually(async () => {
      const holdings = Object.fromEntries(await Promise.all(live().map(async (n) => [n, await held(n)] as const)));
      return [...streams.keys()].every((id) => live().filter((n) => holdings[n].includes(id)).sort().join() === want(ring, id).join());
    }, 15_000, 'every stream on its two successors');
    for (const [id, data] of streams) {
      const info = await client(ring.ownerOf(`stream:${id}`)!.id).info(id);
      expect(info).toMatchObject({ size: data.length, complete: true, sha256: sha(data) });
      await eventually(async () => (await client(want(ring, id)[0]).info(id)).replicas === 2, 5000, `${id}: 2 copies confirmed`);
    }

    // SIGKILL the owner of the most streams: within the heartbeat TTL every stream is readable, byte-identical, through every survivor.
    const victim = ['a', 'b', 'c'].sort((x, y) => [...streams.keys()].filter((id) => ring.ownerOf(`stream:${id}`)!.id === y).length - [...streams.keys()].filter((id) => ring.ownerOf(`stream:${id}`)!.id === x).length)[0];
    expect([...streams.keys()].some((id) => ring.ownerOf(`stream:${id}`)!.id === victim)).toBe(true);
    await nodes[victim].kill();
    const survivors = live();
    await eventually(async () => (await membersOf(survivors[0])).length === 2 && (await membersOf(survivors[1])).length === 2, 5000, 'the victim left the ring');
    for (const via of survivors) {
      for (const [id, data] of streams) {
        expect(sha(await client(via).read(id, 0, data.length)), `${id} over HTTP via ${via}`).toBe(sha(data));
        expect(sha(await client(via, false).read(id, 0, data.length)), `${id} over the WebSocket via ${via}`).toBe(sha(data));
      }
    }
    // The survivors make the second copy again.
    await eventually(async () => {
      const [x, y] = await Promise.all(survivors.map(held));
      return [...streams.keys()].every((id) => x.includes(id) && y.includes(id));
    }, 15_000, 'both survivors hold every stream');

    // A fourth instance: the streams it now owns (or copies) reach it; every stream ends on exactly its two successors.
    await start('d', ['--scrub-bytes-per-sec', '0']);
    await eventually(async () => (await membersOf('d')).length === 3 && (await membersOf(survivors[0])).length === 3, 5000, 'd joined');
    const ring3 = await ringOf('d');
    expect([...streams.keys()].some((id) => ring3.ownerOf(`stream:${id}`)!.id === 'd')).toBe(true);
    for (const [id, data] of streams) expect(sha(await client('d').read(id, 0, data.length)), `${id} via d`).toBe(sha(data));
    await eventually(async () => {
      const holdings = Object.fromEntries(await Promise.all(live().map(async (n) => [n, await held(n)] as const)));
      return [...streams.keys()].every((id) => live().filter((n) => holdings[n].includes(id)).sort().join() === want(ring3, id).join());
    }, 20_000, 'every stream on its two successors of the new ring, and nowhere else');
    for (const [id, data] of streams) expect(sha(await client('d').read(id, 0, data.length)), `${id} via d after the hand-off`).toBe(sha(data));
    const handOffs = (await Promise.all(live().map(status))).reduce((n, s) => n + s.handOffs, 0);
    expect(handOffs).toBeGreaterThan(0);
  }, 90_000);

  it('an upload in progress is copied as it grows; its owner SIGKILLed mid-upload → slabcast/client resumes on the new owner from the copied bytes', async () => {
    redisCli('FLUSHALL');
    for (const id of ['u', 'v', 'w']) await start(id, ['--scrub-bytes-per-sec', '0']);
    for (const id of ['u', 'v', 'w']) await eventually(async () => (await membersOf(id)).length === 3, 5000, `${id} sees 3 instances`);
    const ring = await ringOf('u');
    let id = '';
    for (let i = 0; id === ''; i++) if (ring.ownerOf(`stream:up${i}`)!.id !== 'u') id = `up${i}`;
    const [owner, replica] = ring.successors(`stream:${id}`, 2).map((m) => m.id);
    const data = randomBytes(1_000_000);
    const sizeOn = async (n: string): Promise<number> => {
      const list = (await (await fetch(`http://127.0.0.1:${nodes[n].port}/api/audio/streams`)).json()) as { id: string; size: number }[];
      return list.find((s) => s.id === id)?.size ?? 0;
    };
    async function* slowly(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < data.length; at += 50_000) {
        if (at === 300_000) {
          // The replica copies the upload's bytes so far at every pass: wait for them, then kill the owner.
          await eventually(async () => (await sizeOn(replica)) >= 200_000, 10_000, 'the replica has most of the upload so far');
          await nodes[owner].kill(); // the upload's connection drops with it
        }
        yield data.subarray(at, at + 50_000);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const c = new AudioClient(`ws://127.0.0.1:${nodes.u.port}/audio`, { WebSocket, reconnect: { initialDelayMs: 100, maxDelayMs: 300, maxRetries: 100 } });
    clients.push(c);
    const result = await c.upload(id, slowly());
    expect(result.size).toBe(data.length);
    expect(result.attempts).toBeGreaterThanOrEqual(2);
    // The new owner is the replica: it resumed from the bytes it had copied, not from 0.
    expect(result.resumedAt.at(-1)).toBeGreaterThanOrEqual(200_000);
    expect(result.resumedAt.at(-1)).toBeLessThanOrEqual(300_000);
    const survivors = live();
    for (const via of survivors) expect(sha(await client(via).read(id, 0, data.length)), `via ${via}`).toBe(sha(data));
    await eventually(async () => (await Promise.all(survivors.map(held))).every((h) => h.includes(id)), 10_000, 'copied to the other survivor');
  }, 60_000);

  it('SIGKILL of the instance a stream is being handed to: the old copies stay and serve; restarted, it resumes the copy and the hand-off completes', async () => {
    redisCli('FLUSHALL');
    for (const id of ['p', 'q']) await start(id, ['--scrub-bytes-per-sec', '0']);
    for (const id of ['p', 'q']) await eventually(async () => (await membersOf(id)).length === 2, 5000, `${id} sees 2 instances`);
    // A stream the third instance will own (ids are placed by hash: find one).
    const future = new HashRing(128);
    future.setMembers([...(await membersOf('p')), { id: 'r', url: 'ws://127.0.0.1:1' }]);
    let id = '';
    for (let i = 0; id === ''; i++) if (future.ownerOf(`stream:big${i}`)!.id === 'r') id = `big${i}`;
    const data = randomBytes(1_200_000);
    await client('p').upload(id, data);
    await eventually(async () => (await held('p')).includes(id) && (await held('q')).includes(id), 10_000, 'two copies');
    // r fetches at 100 kB/s: killed in the middle of the copy.
    await start('r', ['--replication-bytes-per-sec', '100000', '--flush-interval-ms', '100', '--scrub-bytes-per-sec', '0']);
    await eventually(async () => (await status('r')).active === 1, 10_000, 'r is fetching');
    await eventually(async () => (await status('r')).bytesCopied > 300_000, 10_000, 'r has part of it');
    await nodes.r.kill();
    await eventually(async () => (await membersOf('p')).length === 2 && (await membersOf('q')).length === 2, 5000, 'r left');
    expect(await held('p')).toContain(id);
    expect(await held('q')).toContain(id);
    expect(sha(await client('q').read(id, 0, data.length))).toBe(sha(data));
    // r comes back (same id and directory): the partial copy is resumed with a Range, then p or q hands it off.
    await start('r', ['--scrub-bytes-per-sec', '0']);
    await eventually(async () => (await held('r')).includes(id), 15_000, 'r has its copy');
    expect(sha(readFileSync(join(root, 'r', `${id}.audio`)))).toBe(sha(data));
    expect((await status('r')).bytesCopied).toBeLessThan(data.length); // resumed, not fetched again whole
    const want = future.successors(`stream:${id}`, 2).map((m) => m.id).sort();
    await eventually(async () => (await Promise.all(['p', 'q', 'r'].map(held))).map((h, i) => (h.includes(id) ? ['p', 'q', 'r'][i] : '')).filter(Boolean).join() === want.join(), 10_000, 'the hand-off completed');
  }, 60_000);

  it('DELETE through a new owner whose copies are still on their way (one being fetched, one queued) deletes every copy', async () => {
    redisCli('FLUSHALL');
    for (const id of ['x', 'y']) await start(id, ['--scrub-bytes-per-sec', '0']);
    for (const id of ['x', 'y']) await eventually(async () => (await membersOf(id)).length === 2, 5000, `${id} sees 2 instances`);
    const future = new HashRing(128);
    future.setMembers([...(await membersOf('x')), { id: 'z', url: 'ws://127.0.0.1:1' }]);
    const ids: string[] = [];
    for (let i = 0; ids.length < 2; i++) if (future.ownerOf(`stream:mv${i}`)!.id === 'z') ids.push(`mv${i}`);
    for (const id of ids) await client('x').upload(id, randomBytes(800_000));
    await eventually(async () => (await held('x')).length === 2 && (await held('y')).length === 2, 10_000, 'two copies of both');
    await start('z', ['--replication-bytes-per-sec', '100000', '--replication-concurrency', '1', '--scrub-bytes-per-sec', '0']);
    await eventually(async () => {
      const s = await status('z');
      return s.active === 1 && s.queued === 1;
    }, 10_000, 'z fetches one and queues the other');
    const viaR = client('z', false);
    for (const id of ids) await viaR.delete(id); // z owns both: no MOVED; neither is complete on z
    await eventually(async () => (await Promise.all(['x', 'y', 'z'].map(held))).every((h) => h.length === 0) && (await status('z')).active === 0, 10_000, 'no copy anywhere');
    for (const id of ids) {
      expect(Number(redisCli('GET', `slabcast:stream:${id}:deleted`))).toBeGreaterThan(0);
      expect(existsSync(join(root, 'z', `${id}.audio`))).toBe(false);
    }
    await new Promise((r) => setTimeout(r, 1000)); // several passes: nothing comes back
    expect((await Promise.all(['x', 'y', 'z'].map(held))).flat()).toEqual([]);
  }, 60_000);

  it('DELETE while a copy is being made: no copy anywhere afterwards, and none comes back', async () => {
    redisCli('FLUSHALL');
    // Copies crawl at 100 kB/s: the DELETE lands in the middle of one.
    for (const id of ['e', 'f']) await start(id, ['--replication-bytes-per-sec', '100000', '--scrub-bytes-per-sec', '0']);
    for (const id of ['e', 'f']) await eventually(async () => (await membersOf(id)).length === 2, 5000, `${id} sees 2 instances`);
    const data = randomBytes(1_500_000);
    await client('e').upload('slow', data);
    const ring = await ringOf('e');
    const owner = ring.ownerOf('stream:slow')!.id;
    const other = owner === 'e' ? 'f' : 'e';
    await eventually(async () => (await status(other)).active === 1, 5000, 'the copy is under way');
    await client(owner).delete('slow');
    await eventually(async () => (await held(owner)).length === 0 && (await held(other)).length === 0 && (await status(other)).active === 0, 5000, 'no copy left');
    expect(existsSync(join(root, other, 'slow.audio'))).toBe(false);
    // Two more passes later: nothing came back; reads say NOT_FOUND everywhere.
    await new Promise((r) => setTimeout(r, 1000));
    for (const n of [owner, other]) {
      expect(await held(n)).toEqual([]);
      await expect(client(n, false).info('slow')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    expect(Number(redisCli('GET', 'slabcast:stream:slow:deleted'))).toBeGreaterThan(0);
  }, 60_000);

  it('LRU eviction on any instance deletes the stream everywhere (its tombstone), not one copy', async () => {
    redisCli('FLUSHALL');
    // Room for two streams of 250 kB (plus their sidecars' minimum cost), not three.
    const limits = ['--max-cache-bytes', '700000', '--max-stream-bytes', '300000', '--scrub-bytes-per-sec', '0'];
    for (const id of ['i1', 'i2']) await start(id, limits);
    for (const id of ['i1', 'i2']) await eventually(async () => (await membersOf(id)).length === 2, 5000, `${id} sees 2 instances`);
    const data = ['old', 'mid', 'new'].map(() => randomBytes(250_000));
    await client('i1').upload('old', data[0]);
    await client('i1').upload('mid', data[1]);
    await eventually(async () => (await held('i1')).length === 2 && (await held('i2')).length === 2, 10_000, 'two copies of both');
    // The cache that takes it evicts its least recently used stream: 'old' or 'mid', whichever
    // reached it last (a copy counts from its arrival; another instance taking a copy is not a use).
    await client('i1').upload('new', data[2]);
    let seen = '';
    let kept = '';
    await eventually(async () => {
      const [a, b] = await Promise.all(['i1', 'i2'].map(held));
      seen = `i1 holds [${a.join()}], i2 [${b.join()}]`;
      kept = a.find((id) => id !== 'new') ?? '';
      return a.length === 2 && a.includes('new') && kept !== '' && b.join() === a.join();
    }, 20_000, () => `one of 'old' and 'mid' gone from both instances, the other and 'new' on both (last seen: ${seen})`);
    const evicted = kept === 'old' ? 'mid' : 'old';
    expect(Number(redisCli('GET', `slabcast:stream:${evicted}:deleted`))).toBeGreaterThan(0);
    for (const n of ['i1', 'i2']) await expect(client(n, false).info(evicted)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(sha(await client('i2').read('new', 0, data[2].length))).toBe(sha(data[2]));
    expect(sha(await client('i2').read(kept, 0, 250_000))).toBe(sha(data[kept === 'old' ? 0 : 1]));
  }, 60_000);

  it('a join that moves more copies than the hold requests one instance keeps in flight: the newcomer gets every copy without waiting for a periodic pass', async () => {
    // A periodic pass far away: only ring changes, STOPs and answers drive the asks here, so a
    // window of asks that answered 202 ("fetching") must not hold back the asks behind it.
    redisCli('FLUSHALL');
    const extra = ['--scrub-bytes-per-sec', '0', '--replication-interval-ms', '600000'];
    for (const id of ['k1', 'k2', 'k3']) await start(id, extra);
    for (const id of ['k1', 'k2', 'k3']) await eventually(async () => (await membersOf(id)).length === 3, 5000, `${id} sees 3 instances`);
    const streams = new Map<string, Buffer>();
    for (let i = 0; i < 150; i++) streams.set(`many${i}`, randomBytes(4096 + i));
    const uploader = client('k1');
    for (const [id, data] of streams) await uploader.upload(id, data);
    const ring3 = await ringOf('k1');
    // Every owner holds its streams (the second copies may still be on their way).
    await eventually(async () => {
      const holdings = Object.fromEntries(await Promise.all(live().map(async (n) => [n, await held(n)] as const)));
      return [...streams.keys()].every((id) => holdings[ring3.ownerOf(`stream:${id}`)!.id].includes(id));
    }, 10_000, 'every stream on its owner');

    await start('k4', extra);
    for (const n of live()) await eventually(async () => (await membersOf(n)).length === 4, 5000, `${n} sees k4`);
    const ring4 = await ringOf('k4');
    const toD = [...streams.keys()].filter((id) => ring4.successors(`stream:${id}`, 2).some((m) => m.id === 'k4'));
    // More than the 16 hold requests an instance keeps in flight, from each old holder.
    expect(toD.length).toBeGreaterThan(3 * 16);
    await eventually(async () => {
      const onD = await held('k4');
      return toD.every((id) => onD.includes(id));
    }, 20_000, `all ${toD.length} copies on k4`);
    for (const id of toD.slice(0, 5)) expect(sha(await client('k4').read(id, 0, streams.get(id)!.length)), `${id} via k4`).toBe(sha(streams.get(id)!));
  }, 90_000);

  it('a stream completed before digests were kept is hashed (recorded in its sidecar), then copied like any other', async () => {
    redisCli('FLUSHALL');
    const data = randomBytes(300_000);
    const dir = join(root, 'l1');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'legacy.audio'), data);
    writeFileSync(join(dir, 'legacy.meta'), JSON.stringify({ id: 'legacy', size: data.length, complete: true, createdAt: 1_700_000_000_000, updatedAt: 1_700_000_000_500 }));
    for (const id of ['l1', 'l2']) await start(id, ['--scrub-bytes-per-sec', '0']);
    for (const id of ['l1', 'l2']) await eventually(async () => (await membersOf(id)).length === 2, 5000, `${id} sees 2 instances`);
    await eventually(async () => (await held('l2')).includes('legacy'), 10_000, 'copied to l2');
    expect(JSON.parse(readFileSync(join(dir, 'legacy.meta'), 'utf8'))).toMatchObject({ sha256: sha(data) });
    expect(sha(readFileSync(join(root, 'l2', 'legacy.audio')))).toBe(sha(data));
    expect(await client('l2', false).info('legacy')).toMatchObject({ sha256: sha(data), createdAt: 1_700_000_000_000, updatedAt: 1_700_000_000_500 });
  }, 60_000);

  it('a copy whose bytes were damaged on disk is found by its SHA-256 and fetched again', async () => {
    redisCli('FLUSHALL');
    for (const id of ['g', 'h']) await start(id, ['--scrub-bytes-per-sec', '50000000']);
    for (const id of ['g', 'h']) await eventually(async () => (await membersOf(id)).length === 2, 5000, `${id} sees 2 instances`);
    const data = randomBytes(400_000);
    await client('g').upload('fragile', data);
    const ring = await ringOf('g');
    const replica = ring.successors('stream:fragile', 2)[1].id;
    await eventually(async () => (await held(replica)).includes('fragile'), 10_000, 'the copy was made');
    const path = join(root, replica, 'fragile.audio');
    const fd = openSync(path, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, 123_456);
    byte[0] ^= 0xff;
    writeSync(fd, byte, 0, 1, 123_456);
    closeSync(fd);
    expect(sha(readFileSync(path))).not.toBe(sha(data));
    await eventually(async () => (await status(replica)).corrupt === 1, 10_000, 'the scrubber found the damage');
    await eventually(async () => existsSync(path) && sha(readFileSync(path)) === sha(data) && (await held(replica)).includes('fragile'), 10_000, 'fetched again, byte-identical');
  }, 60_000);
});

// Once (the socket transport plays no part in where the copies go): the same copies over a Redis Cluster.
describe.runIf(redisAvailable() && process.env.SLABCAST_TRANSPORT !== 'node')('audio streams across instances over a Redis Cluster', () => {
  let cluster: TestRedisCluster | null = null;
  beforeAll(async () => {
    assertBuilt();
    cluster = await startRedisCluster();
    redisUrl = cluster.seeds;
    root = mkdtempSync(join(tmpdir(), 'slabcast-streams-rc-'));
  }, 30_000);
  afterEach(closeAll, 20_000);
  afterAll(async () => {
    await cluster?.stop();
    if (root !== '') rmSync(root, { recursive: true, force: true });
  }, 20_000);

  it('two copies of every stream (holders and tombstones hash-tagged per stream); SIGKILL an owner → reads byte-identical; DELETE leaves no copy', async () => {
    for (const id of ['a', 'b', 'c']) await start(id, ['--scrub-bytes-per-sec', '0']);
    for (const id of ['a', 'b', 'c']) await eventually(async () => (await membersOf(id)).length === 3, 10_000, `${id} sees 3 instances`);
    const streams = new Map<string, Buffer>();
    for (let i = 0; i < 6; i++) streams.set(`rc${i}`, randomBytes(40_000 + i * 20_000));
    for (const [id, data] of streams) await client('a').upload(id, data);
    const ring = await ringOf('a');
    await eventually(async () => {
      const holdings = Object.fromEntries(await Promise.all(live().map(async (n) => [n, await held(n)] as const)));
      return [...streams.keys()].every((id) => live().filter((n) => holdings[n].includes(id)).length === 2);
    }, 15_000, 'two copies of every stream');
    const victim = ring.ownerOf('stream:rc0')!.id;
    await nodes[victim].kill();
    for (const n of live()) await eventually(async () => (await membersOf(n)).length === 2, 5000, `${n}: the victim left the ring`);
    for (const via of live()) for (const [id, data] of streams) expect(sha(await client(via).read(id, 0, data.length)), `${id} via ${via}`).toBe(sha(data));
    await client(live()[0]).delete('rc1');
    await eventually(async () => (await Promise.all(live().map(held))).every((h) => !h.includes('rc1')), 5000, 'rc1 gone everywhere');
    // The tombstone, on the shard of the stream's hash tag (-c follows MOVED).
    expect(Number((await cluster!.cli((await cluster!.shards())[0].master, '-c', 'GET', '{slabcast:stream:rc1}:deleted')).trim())).toBeGreaterThan(0);
  }, 90_000);
});
