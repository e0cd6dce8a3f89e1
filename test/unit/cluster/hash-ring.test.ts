import { describe, expect, it } from 'vitest';
import { fnv1a32, HashRing } from '../../../src/cluster/hash-ring.js';

const members = [
  { id: 'a', url: 'ws://a' },
  { id: 'b', url: 'ws://b' },
  { id: 'c', url: 'ws://c' },
];
const keys = Array.from({ length: 3000 }, (_, i) => `room:r${i}`);

describe('HashRing', () => {
  it('places every key the same way whatever the order members were given in', () => {
    const r1 = new HashRing();
    const r2 = new HashRing();
    r1.setMembers(members);
    r2.setMembers([...members].reverse());
    for (const k of keys) expect(r1.ownerOf(k)?.id).toBe(r2.ownerOf(k)?.id);
  });

  it('spreads keys over the members (128 vnodes: each gets a fair share)', () => {
    const ring = new HashRing(128);
    ring.setMembers(members);
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(ring.ownerOf(k)!.id, (counts.get(ring.ownerOf(k)!.id) ?? 0) + 1);
    for (const m of members) expect(counts.get(m.id)!).toBeGreaterThan(keys.length / 3 / 2);
  });

  it('moves only the keys of a member that leaves', () => {
    const ring = new HashRing();
    ring.setMembers(members);
    const before = new Map(keys.map((k) => [k, ring.ownerOf(k)!.id]));
    expect(ring.setMembers(members.filter((m) => m.id !== 'b'))).toBe(true);
    for (const k of keys) {
      const now = ring.ownerOf(k)!.id;
      if (before.get(k) !== 'b') expect(now).toBe(before.get(k));
      else expect(now).not.toBe('b');
    }
  });

  it('reports no change for the same set, and null on an empty ring', () => {
    const ring = new HashRing();
    expect(ring.ownerOf('room:x')).toBeNull();
    expect(ring.setMembers(members)).toBe(true);
    expect(ring.setMembers([...members])).toBe(false);
  });

  it('hashes are stable (pinned values, so a change of function is caught)', () => {
    expect(fnv1a32('')).toBe(fnv1a32(''));
    expect(fnv1a32('room:lobby')).toMatchInlineSnapshot(`2123619552`);
  });
});

describe('HashRing.successors', () => {
  const members = ['a', 'b', 'c', 'd'].map((id) => ({ id, url: `ws://${id}` }));

  it('starts with the owner, lists distinct members, and at most as many as the ring has', () => {
    const ring = new HashRing(64);
    ring.setMembers(members);
    for (let i = 0; i < 200; i++) {
      const key = `stream:s${i}`;
      const two = ring.successors(key, 2);
      expect(two).toHaveLength(2);
      expect(two[0]).toBe(ring.ownerOf(key));
      expect(new Set(two.map((m) => m.id)).size).toBe(2);
      expect(ring.successors(key, 9).map((m) => m.id).sort()).toEqual(['a', 'b', 'c', 'd']);
    }
    expect(new HashRing().successors('k', 2)).toEqual([]);
  });

  it('losing a member moves each list up by one: the next copy was already there', () => {
    const ring = new HashRing(64);
    ring.setMembers(members);
    const without = new HashRing(64);
    without.setMembers(members.filter((m) => m.id !== 'b'));
    for (let i = 0; i < 200; i++) {
      const key = `stream:s${i}`;
      const before = ring.successors(key, 3).map((m) => m.id).filter((id) => id !== 'b');
      expect(without.successors(key, 3).map((m) => m.id).slice(0, before.length)).toEqual(before.slice(0, 3));
    }
  });
});
