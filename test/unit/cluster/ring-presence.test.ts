/**
 * RingPresence's bookkeeping without rooms (so no Redis command is sent): which ring changes it acts
 * on, the bound on remembered departed instances, runs, and holding changes back after an outage.
 * The Redis side (leave/join to members) is tested for real in
 * test/integration/cluster-presence.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { RingChange } from '../../../src/cluster/instance-registry.js';
import { LinkState, type RedisLink } from '../../../src/cluster/redis-link.js';
import type { RedisPresence } from '../../../src/cluster/redis-presence.js';
import { MAX_DEPARTED_INSTANCES, RingPresence } from '../../../src/cluster/ring-presence.js';

function setup(settleMs = 0): { rp: RingPresence; link: { ready: boolean; readyFor(key: string): boolean } } {
  // On a Redis Cluster the ring waits for the heartbeats' shard: readyFor(keys.instancePrefix).
  const link = {
    ready: true,
    keys: { instancePrefix: 'slabcast:instance:' },
    readyFor(_key: string): boolean {
      return this.ready;
    },
  };
  const presence = { rooms: null };
  const rp = new RingPresence(link as unknown as RedisLink, presence as unknown as RedisPresence, 'self', settleMs, (err) => {
    throw err;
  });
  return { rp, link };
}

const change = (joined: Record<string, number>, left: Record<string, number>): RingChange => ({
  joined: Object.keys(joined),
  left: Object.keys(left),
  members: [],
  startedAt: { ...joined, ...left },
});

/** `n` instances join, then all leave at once. */
function churn(rp: RingPresence, n: number, prefix = 'i'): void {
  const ids: Record<string, number> = {};
  for (let i = 0; i < n; i++) ids[`${prefix}${i}`] = 1000 + i;
  rp.ringChanged(change(ids, {}));
  rp.ringChanged(change({}, ids));
}

describe('RingPresence', () => {
  it(`remembers up to MAX_DEPARTED_INSTANCES (${MAX_DEPARTED_INSTANCES}) departed instances`, () => {
    const { rp } = setup();
    churn(rp, MAX_DEPARTED_INSTANCES);
    expect(rp.departedCount).toBe(MAX_DEPARTED_INSTANCES);
    expect(rp.stats.departures).toBe(MAX_DEPARTED_INSTANCES);
    expect(rp.stats.forgotten).toBe(0);
  });

  it('forgets the oldest one past the bound: it no longer counts as coming back', () => {
    const { rp } = setup();
    churn(rp, MAX_DEPARTED_INSTANCES + 1);
    expect(rp.departedCount).toBe(MAX_DEPARTED_INSTANCES);
    expect(rp.stats.forgotten).toBe(1);
    rp.ringChanged(change({ i0: 1000 }, {})); // the oldest, forgotten
    rp.ringChanged(change({ i1: 1001 }, {})); // the next, still remembered
    expect(rp.stats.returns).toBe(1);
    expect(rp.departedCount).toBe(MAX_DEPARTED_INSTANCES - 1);
  });

  it('counts the same run coming back as a return, a new run under the same id as a new instance', () => {
    const { rp } = setup();
    rp.ringChanged(change({ b: 1, c: 2 }, {}));
    rp.ringChanged(change({}, { b: 1, c: 2 }));
    expect(rp.departedCount).toBe(2);
    rp.ringChanged(change({ b: 1, c: 99 }, {}));
    expect(rp.stats.returns).toBe(1);
    expect(rp.stats.forgotten).toBe(1);
    expect(rp.departedCount).toBe(0);
    expect(rp.stats.departures).toBe(2);
  });

  it('acts on nothing while the link is down and holds changes back for the settle time after it is back', async () => {
    const { rp, link } = setup(50);
    rp.ringChanged(change({ b: 1, c: 2 }, {}));
    link.ready = false;
    rp.linkChanged(LinkState.Down);
    link.ready = true;
    rp.linkChanged(LinkState.Ready);
    // A poll right after the outage misses b (not re-registered yet), the next one finds it again.
    rp.ringChanged(change({}, { b: 1 }));
    rp.ringChanged(change({ b: 1 }, {}));
    expect(rp.stats.deferred).toBe(2);
    await new Promise((r) => setTimeout(r, 120));
    expect(rp.stats.departures).toBe(0); // net: nothing changed
    // c really left during the settle time: acted on once it is over.
    rp.ringChanged(change({}, { c: 2 }));
    expect(rp.stats.departures).toBe(1);
    rp.stop();
  });
});
