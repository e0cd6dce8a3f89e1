/**
 * Presence when an instance leaves the ring, end to end: a real redis-server and three real
 * slabcast processes (a, b, c; heartbeat 200 ms, TTL 1 s), real `ws` clients. Members on the
 * survivors get exactly one `leave` per user who was only on the instance that left (count after
 * it), none for a user with a session elsewhere, and `join` when the same run comes back; a member
 * list kept like the demo's (`who` after `ready`, then join/leave) agrees with `who`. The tests run
 * in order on one cluster: pause and resume c, restart Redis (single Redis only), then SIGKILL c.
 * Run `npm run build:ts` first (the processes run dist/).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { assertBuilt, eventually, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';
import { type Msg, RoomClient, WHO_POLL_MS } from './rooms-helpers.js';

const run = redisAvailable();
const HEARTBEAT_MS = 200;
const TTL_MS = 1000;
/** After its own Redis link comes back an instance holds ring changes back TTL + 2 s. */
const SETTLE_MS = TTL_MS + 2000;

/**
 * The Redis behind the instances: one redis-server, or a Redis Cluster of three shards (in the
 * native project only: the socket transport has nothing to do with the Redis behind it).
 */
const BACKENDS = ['redis', ...(process.env.SLABCAST_TRANSPORT === 'node' ? [] : ['redis-cluster'])];

describe.runIf(run).each(BACKENDS)('cluster presence when an instance leaves the ring (real processes, over %s)', (backend) => {
  let redis: TestRedis | null = null;
  let redisCluster: TestRedisCluster | null = null;
  let cacheDir: string;
  const nodes: Record<string, SlabcastProcess> = {};
  const clients: RoomClient[] = [];

  async function open(node: string, room: string, user: string): Promise<RoomClient> {
    const c = await RoomClient.open(nodes[node].port, room, { user });
    clients.push(c);
    return c;
  }

  async function ringOf(node: string): Promise<string[]> {
    return (await nodes[node].http('GET', '/api/push/status')).json.cluster.ring.members.map((m: { id: string }) => m.id);
  }

  /** Asks `who` and returns the sorted users of the answer. */
  async function who(c: RoomClient): Promise<string[]> {
    return [...((await c.who()).users as string[])].sort();
  }

  /** Waits until `who` on `c` answers exactly `users`. */
  async function whoIs(c: RoomClient, users: string[]): Promise<void> {
    const want = [...users].sort();
    await eventually(async () => JSON.stringify(await who(c)) === JSON.stringify(want), 5000, `who = ${want.join(',')}`, WHO_POLL_MS);
  }

  /** Waits until every instance's Redis link is ready again. */
  async function linksReady(): Promise<void> {
    for (const id of Object.keys(nodes)) {
      await eventually(async () => (await nodes[id].http('GET', '/api/push/status')).json.cluster.redis.state === 'ready', 10_000, `${id}'s Redis link ready`, 50);
    }
  }

  /** Index in each client's log of the `who` its member list starts from (see {@link baseline}). */
  const baselines = new Map<RoomClient, number>();

  /**
   * Waits until every client's `who` is `users`, lets joins still in flight arrive (a user is in
   * `who` a moment before its `join` has crossed instances), then asks `who` once more: the member
   * list starts there.
   */
  async function baseline(cs: RoomClient[], users: string[]): Promise<void> {
    for (const c of cs) await whoIs(c, users);
    await pause(300);
    for (const c of cs) {
      expect(await who(c)).toEqual([...users].sort());
      baselines.set(c, c.texts.length - 1);
    }
  }

  /** The member list a client keeps like the demo: a `who`, then join/leave in order. */
  function memberList(c: RoomClient): string[] {
    const start = baselines.get(c)!;
    const members = new Set(c.texts[start].users as string[]);
    for (const m of c.texts.slice(start + 1)) {
      if (m.type === 'join') members.add(m.user as string);
      if (m.type === 'leave') members.delete(m.user as string);
    }
    return [...members].sort();
  }

  /** join/leave a client got after its baseline `who`, as `type user count`. */
  function presenceAfterWho(c: RoomClient): string[] {
    return c.texts.slice(baselines.get(c)! + 1).filter((m: Msg) => m.type === 'join' || m.type === 'leave').map((m) => `${m.type} ${String(m.user)} ${String(m.count)}`);
  }

  async function ringIs(ids: string[], on: string[]): Promise<void> {
    for (const id of on) await eventually(async () => JSON.stringify(await ringOf(id)) === JSON.stringify(ids), TTL_MS + 8000, `${id} sees ${ids.join(',')}`, 50);
  }

  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    assertBuilt();
    let url: string;
    if (backend === 'redis') url = (redis = await startRedis()).url;
    else url = (redisCluster = await startRedisCluster()).seeds;
    cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-presence-'));
    const args = (id: string): string[] => [
      '--redis', url, '--instance-id', id, '--heartbeat-ms', String(HEARTBEAT_MS), '--heartbeat-ttl-ms', String(TTL_MS),
      '--cache-dir', join(cacheDir, id), '--log-level', 'info',
    ];
    const started = await Promise.all(['a', 'b', 'c'].map((id) => startSlabcast(id, args(id))));
    for (const p of started) nodes[p.name] = p;
    await ringIs(['a', 'b', 'c'], ['a', 'b', 'c']);
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    if (nodes.c?.alive) nodes.c.child.kill('SIGCONT');
    await Promise.all(Object.values(nodes).map((n) => n.stop()));
    await redis?.stop();
    await redisCluster?.stop();
    if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
  }, 20_000);

  it('tells the survivors `leave` when an instance is paused past its TTL, and `join` when it resumes', async () => {
    const onA = await open('a', 'pause', 'p-a');
    const onB = await open('b', 'pause', 'p-b');
    const onC = await open('c', 'pause', 'p-c');
    await baseline([onA, onB, onC], ['p-a', 'p-b', 'p-c']);

    nodes.c.child.kill('SIGSTOP');
    try {
      await ringIs(['a', 'b'], ['a', 'b']);
      for (const c of [onA, onB]) await c.until((m) => m.type === 'leave' && m.user === 'p-c', 'leave p-c');
      for (const c of [onA, onB]) await whoIs(c, ['p-a', 'p-b']);
    } finally {
      nodes.c.child.kill('SIGCONT');
    }
    await ringIs(['a', 'b', 'c'], ['a', 'b', 'c']);
    for (const c of [onA, onB]) await c.until((m) => m.type === 'join' && m.user === 'p-c', 'join p-c');
    await pause(4 * HEARTBEAT_MS + 500); // several ring polls: time for a duplicate to show up
    for (const c of [onA, onB]) {
      expect(presenceAfterWho(c)).toEqual(['leave p-c 2', 'join p-c 3']);
      expect(memberList(c)).toEqual(await who(c));
    }
    // c's own member heard nothing: on c's ring nobody left.
    expect(presenceAfterWho(onC)).toEqual([]);
    expect(await who(onC)).toEqual(['p-a', 'p-b', 'p-c']);
  }, 30_000);

  it.runIf(backend === 'redis')('tells nobody anything when Redis restarts empty (the ring was unknown, not changed)', async () => {
    const onA = await open('a', 'steady', 's-a');
    const onB = await open('b', 'steady', 's-b');
    const onC = await open('c', 'steady', 's-c');
    await baseline([onA, onB, onC], ['s-a', 's-b', 's-c']);
    await redis!.stop();
    await pause(TTL_MS + 500);
    await redis!.start();
    // Until an instance's link is back its `who` is local only; the ring it kept was never changed.
    await linksReady();
    await ringIs(['a', 'b', 'c'], ['a', 'b', 'c']);
    for (const c of [onA, onB, onC]) await whoIs(c, ['s-a', 's-b', 's-c']);
    await pause(SETTLE_MS + 1000); // past the settle time: held-back ring changes would be acted on by now
    for (const c of [onA, onB, onC]) {
      expect(presenceAfterWho(c)).toEqual([]);
      expect(await who(c)).toEqual(['s-a', 's-b', 's-c']);
    }
  }, 40_000);

  it('tells every survivor member one `leave` per user only on a SIGKILLed instance, none for a user still elsewhere', async () => {
    const dA = await open('a', 'death', 'd-a');
    const dB = await open('b', 'death', 'd-b');
    const sharedB = await open('b', 'death', 'd-shared');
    await open('c', 'death', 'd-c1');
    await open('c', 'death', 'd-c2');
    await open('c', 'death', 'd-shared'); // the same user on b and c
    const calmA = await open('a', 'calm', 'q-a');
    const calmB = await open('b', 'calm', 'q-b');
    const everyone = ['d-a', 'd-b', 'd-c1', 'd-c2', 'd-shared'];
    await baseline([dA, dB, sharedB], everyone);
    await baseline([calmA, calmB], ['q-a', 'q-b']);

    await nodes.c.kill();
    await ringIs(['a', 'b'], ['a', 'b']);
    for (const c of [dA, dB, sharedB]) await c.until((m) => m.type === 'leave' && m.user === 'd-c2', 'leave d-c2');
    await pause(4 * HEARTBEAT_MS + 500); // several ring polls on both survivors: time for a duplicate
    for (const c of [dA, dB, sharedB]) {
      // Sorted by user, the count after each: 5 users → 4 → 3. d-shared is still on b: no leave.
      expect(presenceAfterWho(c)).toEqual(['leave d-c1 4', 'leave d-c2 3']);
      expect(await who(c)).toEqual(['d-a', 'd-b', 'd-shared']);
      expect(memberList(c)).toEqual(['d-a', 'd-b', 'd-shared']);
    }
    for (const c of [calmA, calmB]) expect(presenceAfterWho(c)).toEqual([]);
    for (const id of ['a', 'b']) {
      const rp = (await nodes[id].http('GET', '/api/push/status')).json.cluster.ringPresence;
      expect(rp.leaves).toBeGreaterThanOrEqual(2);
      const metrics = await fetch(`http://127.0.0.1:${nodes[id].port}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/slabcast_cluster_presence_ring_notes_total\{type="leave"\} [1-9]/);
      expect(nodes[id].logs.some((l) => l.msg === 'cluster: presence after ring change' && (l.left as string[]).includes('c'))).toBe(true);
    }
  }, 30_000);
});
