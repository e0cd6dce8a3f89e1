/**
 * The Redis Cluster test harness itself (test/helpers/redis-cluster.ts): three shards of a master
 * and a replica covering every slot, keys routed by hash tag, and a killed master replaced by its
 * replica — what the cluster-mode tests build on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable } from '../helpers/redis.js';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';

// No slabcast socket is involved: vitest.config.ts runs it in the native project only.
const run = redisAvailable();

describe.runIf(run)('test harness: a real Redis Cluster (3 masters + 3 replicas)', () => {
  let cluster: TestRedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('has three shards, each a master with one replica, covering all 16384 slots', async () => {
    const shards = await cluster.shards();
    expect(shards).toHaveLength(3);
    let covered = 0;
    for (const s of shards) {
      expect(s.replicas).toHaveLength(1);
      for (const [a, b] of s.slots) covered += b - a + 1;
    }
    expect(covered).toBe(16384);
    for (const s of cluster.servers) expect(await cluster.cli(s.port, 'CLUSTER', 'INFO')).toMatch(/cluster_state:ok/);
    // A hash tag decides the slot: two keys with the same tag share it.
    const port = cluster.servers[0].port;
    expect(await cluster.cli(port, 'CLUSTER', 'KEYSLOT', '{x:room:r1}:seq')).toBe(await cluster.cli(port, 'CLUSTER', 'KEYSLOT', '{x:room:r1}:history'));
  });

  it('replaces a SIGKILLed master by its replica', async () => {
    const [first] = await cluster.shards();
    const victim = cluster.servers.find((s) => s.port === first.master)!;
    await victim.kill();
    await cluster.waitOk(10_000);
    const after = await cluster.shards();
    expect(after).toHaveLength(3);
    expect(after.map((s) => s.master)).toContain(first.replicas[0]);
    expect(after.map((s) => s.master)).not.toContain(first.master);
  }, 20_000);
});
