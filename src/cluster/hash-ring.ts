/** A member of the ring: an instance id and the URL clients use to reach it. */
export interface RingMember {
  readonly id: string;
  readonly url: string;
}

/** FNV-1a, 32-bit: stable across processes and Node versions (placement must agree everywhere). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h ^= c & 0xff;
    h = Math.imul(h, 0x01000193);
    if (c > 0xff) {
      h ^= c >>> 8;
      h = Math.imul(h, 0x01000193);
    }
  }
  // Final avalanche (murmur3 fmix32) so near-identical vnode names spread over the whole ring.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Consistent hashing with virtual nodes: each member owns `vnodes` points on a 32-bit ring; a key
 * belongs to the first point at or after its hash. Every instance that knows the same members places
 * every key the same way, and a member leaving moves only the keys it owned.
 */
export class HashRing {
  private points = new Uint32Array(0);
  private owners: RingMember[] = [];
  private memberList: RingMember[] = [];

  constructor(readonly vnodes = 128) {
    if (!Number.isInteger(vnodes) || vnodes < 1) throw new RangeError(`HashRing: vnodes must be a positive integer, got ${vnodes}`);
  }

  /** The members, sorted by id. */
  get members(): readonly RingMember[] {
    return this.memberList;
  }

  /** Replaces the member set. Returns true when it changed (ids or URLs). */
  setMembers(members: readonly RingMember[]): boolean {
    const sorted = [...new Map(members.map((m) => [m.id, m])).values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const same = sorted.length === this.memberList.length && sorted.every((m, i) => m.id === this.memberList[i].id && m.url === this.memberList[i].url);
    if (same) return false;
    this.memberList = sorted;
    const entries: [number, RingMember][] = [];
    for (const m of sorted) for (let v = 0; v < this.vnodes; v++) entries.push([fnv1a32(`${m.id}#${v}`), m]);
    // Ties (hash collisions) break by id so every instance builds the identical ring.
    entries.sort((a, b) => a[0] - b[0] || (a[1].id < b[1].id ? -1 : a[1].id > b[1].id ? 1 : 0));
    this.points = Uint32Array.from(entries.map((e) => e[0]));
    this.owners = entries.map((e) => e[1]);
    return true;
  }

  /** The member owning `key` (e.g. `room:lobby`, `stream:abc`), or null when the ring is empty. */
  ownerOf(key: string): RingMember | null {
    const n = this.points.length;
    return n === 0 ? null : this.owners[this.firstPoint(key)];
  }

  /**
   * The first `count` distinct members met walking the ring from `key`'s point: its owner, then
   * where its copies go (fewer when the ring has fewer members). A member leaving moves each key's
   * list up by one; a member joining takes its place in the lists of the keys it now precedes.
   */
  successors(key: string, count: number): RingMember[] {
    const n = this.points.length;
    const found: RingMember[] = [];
    if (n === 0) return found;
    const want = Math.min(count, this.memberList.length);
    for (let i = this.firstPoint(key), seen = 0; found.length < want && seen < n; i = i + 1 === n ? 0 : i + 1, seen++) {
      const m = this.owners[i];
      if (!found.includes(m)) found.push(m);
    }
    return found;
  }

  /** Index of the first point at or after `key`'s hash (wrapping). */
  private firstPoint(key: string): number {
    const n = this.points.length;
    const h = fnv1a32(key);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === n ? 0 : lo;
  }
}
