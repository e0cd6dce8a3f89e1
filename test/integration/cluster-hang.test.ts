/**
 * A hung Redis under traffic, end to end: a real redis-server SIGSTOPped (connections stay open, no
 * answer) while a member of a two-instance cluster keeps sending. Members on the sender's instance
 * keep getting every message, in order, with increasing ids; the commands waiting on Redis stay
 * under --redis-max-pending; /readyz turns 503 and the outage is counted and logged once; after
 * SIGCONT both instances are ready again and deliver across instances; an instance shut down while
 * Redis is stopped still exits on its own. Run `npm run build:ts` first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/listen.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { assertBuilt, eventually, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';
import { type Msg, RoomClient, WHO_POLL_MS } from './rooms-helpers.js';

const run = redisAvailable();
const MAX_PENDING = 64;
const OUTAGE_LOG = 'cluster: redis unreachable; cross-instance delivery paused, local delivery continues';

let redis: TestRedis;
let cacheDir: string;
const nodes: Record<string, SlabcastProcess> = {};
const clients: RoomClient[] = [];

async function open(node: string, room: string, user: string): Promise<RoomClient> {
  const c = await RoomClient.open(nodes[node].port, room, { user });
  clients.push(c);
  return c;
}

async function redisStatus(node: string): Promise<any> {
  return (await nodes[node].http('GET', '/api/push/status')).json.cluster.redis;
}

async function readyz(node: string): Promise<number> {
  return (await nodes[node].http('GET', '/readyz')).status;
}

const danmaku = (c: RoomClient): Msg[] => c.of('danmaku');

describe.runIf(run)('cluster: a Redis that stops answering (SIGSTOP) under traffic', () => {
  beforeAll(async () => {
    assertBuilt();
    redis = await startRedis();
    cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-hang-'));
    const args = (id: string): string[] => [
      '--redis', redis.url, '--instance-id', id, '--heartbeat-ms', '200', '--heartbeat-ttl-ms', '1000',
      '--redis-ping-ms', '200', '--redis-timeout-ms', '1000', '--redis-max-pending', String(MAX_PENDING),
      '--cache-dir', join(cacheDir, id), '--log-level', 'info', '--rate-limit', '1000/1000',
    ];
    const started = await Promise.all(['a', 'b'].map((id) => startSlabcast(id, args(id))));
    for (const p of started) nodes[p.name] = p;
    for (const id of ['a', 'b']) {
      await eventually(async () => (await nodes[id].http('GET', '/api/push/status')).json.cluster.ring.members.length === 2, 5000, `${id} sees 2 instances`);
    }
  }, 30_000);

  afterEach(() => {
    redis?.resume(); // a failed test must never leave a stopped redis-server behind
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    redis?.resume();
    await Promise.all(Object.values(nodes).map((n) => n.stop()));
    await redis?.stop();
    if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
  }, 20_000);

  it('keeps local delivery going in order with bounded waiting commands, reports 503 and one outage, and recovers on SIGCONT', async () => {
    const a1 = await open('a', 'hang', 'h-a1');
    const a2 = await open('a', 'hang', 'h-a2');
    const b1 = await open('b', 'hang', 'h-b1');
    await a1.until((m) => m.type === 'join' && m.user === 'h-b1', 'b1 joined');
    a1.send({ type: 'danmaku', text: 'before' });
    await b1.until((m) => m.text === 'before', 'cross-instance delivery before');
    await a2.until((m) => m.text === 'before', 'local delivery before'); // not always first under load
    const base = danmaku(a2).length;

    // Traffic: two messages every 5 ms from a1, before, during and after the stop.
    let sent = 0;
    let joiner: Promise<RoomClient>;
    const pace = setInterval(() => {
      for (let k = 0; k < 2; k++) a1.send({ type: 'danmaku', text: `m${++sent}` });
    }, 5);
    try {
      await waitFor(() => sent >= 40, 5000, 'traffic before the stop');
      redis.pause();
      const pausedAt = sent;
      // A join now waits on a SUBSCRIBE the stopped server never confirms: released with the rest.
      joiner = open('a', 'hang-join', 'h-joiner');
      // Declared down within the bounds (ping 200 + timeout 1000 ms), with generous margins.
      await eventually(async () => (await readyz('a')) === 503, 10_000, 'a: /readyz 503', 50);
      await eventually(async () => (await readyz('b')) === 503, 10_000, 'b: /readyz 503', 50);
      const stopAt = sent + 100;
      await waitFor(() => sent >= stopAt, 10_000, 'traffic during the outage');
      expect(sent - pausedAt).toBeGreaterThan(100);
    } finally {
      clearInterval(pace);
    }

    // Every message reached the other member on a: all of them, in order, ids increasing.
    await waitFor(() => danmaku(a2).length - base >= sent, 10_000, `all ${sent} messages on a2`);
    const got = danmaku(a2).slice(base);
    expect(got.map((m) => m.text)).toEqual(Array.from({ length: sent }, (_, i) => `m${i + 1}`));
    const ids = got.map((m) => m.id as number);
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]);

    const st = (await nodes.a.http('GET', '/api/push/status')).json.cluster;
    expect(st.redis).toMatchObject({ state: 'down', outage: true, outages: 1, stalls: 1, maxPending: MAX_PENDING });
    expect(st.redis.pendingPeak).toBeLessThanOrEqual(MAX_PENDING); // nothing piled up past the bound
    expect(st.redis.pending).toBe(0); // released: nothing waits on the stopped server
    expect(st.history.localIds).toBeGreaterThan(0);
    expect(st.bus.publishDropped).toBeGreaterThan(0); // dropped for the other instance, never queued
    const metrics = (await fetch(`http://127.0.0.1:${nodes.a.port}/metrics`).then((r) => r.text()));
    expect(metrics).toMatch(/^slabcast_cluster_redis_up 0$/m);
    expect(metrics).toMatch(/^slabcast_cluster_redis_stalls_total 1$/m);
    // No log storm: past the start-up warnings, the outage line is the only warning.
    expect(nodes.a.logs.filter((l) => (l.level as number) >= 40 && !l.msg.startsWith('WARNING:')).map((l) => l.msg)).toEqual([OUTAGE_LOG]);
    const outageLogs = nodes.a.logs.filter((l) => l.msg === OUTAGE_LOG);
    expect(outageLogs).toHaveLength(1);
    expect(outageLogs[0].err).toMatch(/no reply to PING|commands waiting for a reply/);
    expect((await joiner).of('ready')).toHaveLength(1);
    expect(b1.texts.some((m) => m.text === `m${sent}`)).toBe(false); // b was cut off, as in any outage

    redis.resume();
    for (const id of ['a', 'b']) {
      await eventually(async () => (await readyz(id)) === 200 && (await redisStatus(id)).state === 'ready', 10_000, `${id} ready again`, 50);
    }
    expect((await redisStatus('a')).outages).toBe(1);
    expect(nodes.a.logs.filter((l) => l.msg === 'cluster: redis back; cross-instance delivery resumed')).toHaveLength(1);
    // Re-registered and presence rewritten (their keys' TTLs ran on while Redis was stopped).
    for (const id of ['a', 'b']) {
      await eventually(async () => (await nodes[id].http('GET', '/api/push/status')).json.cluster.ring.members.length === 2, 5000, `${id}: ring of 2 again`);
    }
    await eventually(async () => ((await a1.who(2000)).users as string[]).includes('h-b1'), 5000, 'a sees b1 in presence again', WHO_POLL_MS);
    await eventually(async () => {
      a1.send({ type: 'danmaku', text: 'after' });
      await new Promise((r) => setTimeout(r, 150));
      return b1.texts.some((m) => m.text === 'after');
    }, 8000, 'a → b after SIGCONT', 0);
    b1.send({ type: 'danmaku', text: 'back from b' });
    await a2.until((m) => m.text === 'back from b', 'b → a after SIGCONT');
    const after = danmaku(a2).filter((m) => m.text === 'after');
    expect(after[0].id as number).toBeGreaterThan(ids.at(-1)!); // ids went on above the local ones
    for (const n of Object.values(nodes)) expect(n.alive).toBe(true);

    // Stopped again, then b is asked to shut down before anyone noticed: its clean leave (presence
    // and heartbeat deletes, Redis quit) is released by the same bounds and b exits by itself.
    redis.pause();
    await nodes.b.stop(15_000); // SIGTERM; SIGKILL only past 15 s
    expect(nodes.b.child.signalCode).toBe(null);
    expect(nodes.b.child.exitCode).toBe(0);
  }, 60_000);
});
