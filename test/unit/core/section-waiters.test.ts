import { describe, expect, it } from 'vitest';
import type { Connection } from '../../../src/core/connection.js';
import { PauseReason } from '../../../src/core/connection.js';
import { SectionWaiters } from '../../../src/core/section-waiters.js';
import { NO_SECTION, SlabAllocator, Tier } from '../../../src/core/slab.js';

/** The two things the queue touches on a connection: its queued bit and unpause(Memory). */
interface FakeConn {
  name: string;
  waitingForSection: boolean;
  woken: number;
  unpause(reason: number): void;
}

function conn(name: string): FakeConn & Connection {
  const c: FakeConn = {
    name,
    waitingForSection: false,
    woken: 0,
    unpause(reason: number) {
      expect(reason).toBe(PauseReason.Memory);
      this.woken++;
    },
  };
  return c as FakeConn & Connection;
}

function setup(maxWaiters = 100): { slab: SlabAllocator; q: SectionWaiters } {
  const slab = new SlabAllocator('t', [
    { sectionBytes: 16, sections: 2 },
    { sectionBytes: 64, sections: 1 },
    { sectionBytes: 256, sections: 1 },
  ]);
  const q = new SectionWaiters(slab, maxWaiters);
  slab.onFree = (tier) => q.onFree(tier);
  return { slab, q };
}

describe('SectionWaiters', () => {
  it('take() serves the exact tier only: an empty small tier is not served from medium or large', () => {
    const { slab, q } = setup();
    const a = conn('a');
    expect(q.take(a, Tier.Small)).not.toBe(NO_SECTION);
    expect(q.take(a, Tier.Small)).not.toBe(NO_SECTION);
    expect(q.take(a, Tier.Small)).toBe(NO_SECTION);
    expect(slab.stats().tiers[Tier.Medium].free).toBe(1);
    expect(slab.stats().tiers[Tier.Large].free).toBe(1);
  });

  it('wakes one waiter per freed section, oldest first, and keeps the section for it', () => {
    const { slab, q } = setup();
    const holder = conn('holder');
    const s1 = q.take(holder, Tier.Small);
    const s2 = q.take(holder, Tier.Small);
    const [a, b, c] = [conn('a'), conn('b'), conn('c')];
    for (const w of [a, b, c]) expect(q.wait(w, Tier.Small)).toBe(true);
    expect(q.waiting(Tier.Small)).toBe(3);
    slab.free(s1);
    expect([a.woken, b.woken, c.woken]).toEqual([1, 0, 0]);
    // A newcomer cannot overtake: the free section is kept for a.
    expect(q.take(conn('newcomer'), Tier.Small)).toBe(NO_SECTION);
    // Nor can b, which was not woken yet.
    expect(q.take(b, Tier.Small)).toBe(NO_SECTION);
    expect(q.take(a, Tier.Small)).toBe(s1);
    expect(a.waitingForSection).toBe(false);
    slab.free(s2);
    expect([a.woken, b.woken, c.woken]).toEqual([1, 1, 0]);
    expect(q.take(b, Tier.Small)).toBe(s2);
    expect(q.stats).toEqual({ waits: 3, wakes: 2, refusedFull: 0 });
    expect(q.waiting(Tier.Small)).toBe(1);
  });

  it('queues are per tier: a freed medium section does not wake a small waiter', () => {
    const { slab, q } = setup();
    const holder = conn('holder');
    q.take(holder, Tier.Small);
    q.take(holder, Tier.Small);
    const m = q.take(holder, Tier.Medium);
    const small = conn('small');
    const medium = conn('medium');
    q.wait(small, Tier.Small);
    q.wait(medium, Tier.Medium);
    slab.free(m);
    expect(small.woken).toBe(0);
    expect(medium.woken).toBe(1);
  });

  it('a waiter that closes before its turn leaves the queue; one that closes after being woken passes its section on', () => {
    const { slab, q } = setup();
    const holder = conn('holder');
    const s1 = q.take(holder, Tier.Small);
    const s2 = q.take(holder, Tier.Small);
    const [a, b, c] = [conn('a'), conn('b'), conn('c')];
    for (const w of [a, b, c]) q.wait(w, Tier.Small);
    q.cancel(b); // closed while queued, never woken
    expect(b.waitingForSection).toBe(false);
    slab.free(s1);
    expect(a.woken).toBe(1);
    q.cancel(a); // woken, then closed before taking its section: c is next
    expect(c.woken).toBe(1);
    expect(q.take(c, Tier.Small)).toBe(s1);
    expect(q.waiting(Tier.Small)).toBe(0);
    slab.free(s1);
    slab.free(s2);
    expect(slab.allFree).toBe(true);
  });

  it('is bounded: past maxWaiters per tier, wait() refuses and counts', () => {
    const { q } = setup(2);
    const holder = conn('holder');
    q.take(holder, Tier.Small);
    q.take(holder, Tier.Small);
    expect(q.wait(conn('a'), Tier.Small)).toBe(true);
    expect(q.wait(conn('b'), Tier.Small)).toBe(true);
    expect(q.wait(conn('c'), Tier.Small)).toBe(false);
    expect(q.stats.refusedFull).toBe(1);
    // Another tier has its own bound.
    expect(q.wait(conn('d'), Tier.Medium)).toBe(true);
  });

  it('a woken waiter whose kept section was taken by a direct slab user goes back to the front', () => {
    const { slab, q } = setup();
    const holder = conn('holder');
    const s1 = q.take(holder, Tier.Small);
    q.take(holder, Tier.Small);
    const [a, b] = [conn('a'), conn('b')];
    q.wait(a, Tier.Small);
    q.wait(b, Tier.Small);
    slab.free(s1);
    expect(slab.allocateTier(Tier.Small)).toBe(s1); // bypasses the queue
    expect(q.take(a, Tier.Small)).toBe(NO_SECTION);
    expect(a.waitingForSection).toBe(true);
    slab.free(s1);
    expect(a.woken).toBe(2);
    expect(b.woken).toBe(0);
    expect(q.take(a, Tier.Small)).toBe(s1);
  });
});
