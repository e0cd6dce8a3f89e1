import type { Connection } from './connection.js';
import { PauseReason } from './pause-reason.js';
import { NO_SECTION, type SlabAllocator, type Tier } from './slab.js';

const TIER_COUNT = 3;

/** Counters of the wait queues, all monotonic. */
export interface SectionWaitStats {
  /** Connections that started waiting for a read section. */
  waits: number;
  /** Waiters woken because a section of their tier was freed (one per freed section). */
  wakes: number;
  /** Connections refused because their tier's queue held `maxSectionWaiters` already. */
  refusedFull: number;
}

/** A FIFO of connections over an array with a moving head (entries are removed mostly at the front). */
class Fifo {
  private items: (Connection | null)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  at(i: number): Connection {
    return this.items[this.head + i] as Connection;
  }

  push(conn: Connection): void {
    this.items.push(conn);
  }

  /** Puts `conn` back at the front (it keeps its turn). */
  unshift(conn: Connection): void {
    if (this.head > 0) this.items[--this.head] = conn;
    else this.items.unshift(conn);
  }

  indexOf(conn: Connection, from: number, to: number): number {
    for (let i = from; i < to; i++) if (this.items[this.head + i] === conn) return i;
    return -1;
  }

  removeAt(i: number): void {
    if (i !== 0) {
      this.items.splice(this.head + i, 1);
      return;
    }
    this.items[this.head++] = null;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }
}

/**
 * Connections waiting for a read-slab section, one bounded FIFO per tier.
 *
 * A connection that needs a section of a tier with none free sleeps here, paused for
 * {@link PauseReason.Memory}; nothing retries it. Each free of a section of that tier wakes exactly one
 * waiter, the oldest, and keeps the section for it: until the woken connections have taken theirs,
 * {@link take} refuses that tier to everyone else, so a newcomer cannot overtake the queue. A waiter
 * that closes (or stops reading) is removed with {@link cancel}, and its kept section goes to the next.
 * A connection is in at most one queue (the {@link Connection.waitingForSection} bit).
 */
export class SectionWaiters {
  readonly stats: SectionWaitStats = { waits: 0, wakes: 0, refusedFull: 0 };
  private readonly queues: Fifo[] = [new Fifo(), new Fifo(), new Fifo()];
  /** Per tier: the first `woken[t]` waiters were woken, and as many free sections are kept for them. */
  private readonly woken = new Int32Array(TIER_COUNT);

  /**
   * @param maxWaiters capacity of each tier's queue (`maxSectionWaiters`): past it a connection is
   *   refused (the protocol answers 503 / closes 1013) instead of waiting.
   */
  constructor(
    private readonly slab: SlabAllocator,
    readonly maxWaiters: number,
  ) {}

  /** Connections waiting (woken or not) for a section of `tier`. */
  waiting(tier: Tier): number {
    return this.queues[tier].size;
  }

  /**
   * A section of exactly `tier` for `conn`, or NO_SECTION when it must wait: the tier is exhausted, or
   * every free section is kept for connections that waited longer.
   */
  take(conn: Connection, tier: Tier): number {
    if (conn.waitingForSection) {
      const q = this.queues[tier];
      const i = q.indexOf(conn, 0, this.woken[tier]);
      if (i < 0) {
        // Not woken for this tier. Still in its turn for this tier: keep waiting; queued for another
        // tier (its need changed): leave that queue and ask like anyone else.
        if (q.indexOf(conn, this.woken[tier], q.size) >= 0) return NO_SECTION;
        this.cancel(conn);
        return this.take(conn, tier);
      }
      q.removeAt(i);
      this.woken[tier]--;
      conn.waitingForSection = false;
      const section = this.slab.allocateTier(tier);
      if (section === NO_SECTION) {
        // Another slab user (fragment assembly) took the kept section: back to the front.
        q.unshift(conn);
        conn.waitingForSection = true;
      }
      return section;
    }
    if (this.slab.freeIn(tier) > this.woken[tier]) return this.slab.allocateTier(tier);
    return NO_SECTION;
  }

  /**
   * Queues `conn` for a section of `tier` (the caller pauses it for memory). False when that queue is
   * full: the caller refuses the connection instead. Idempotent while `conn` is queued.
   */
  wait(conn: Connection, tier: Tier): boolean {
    if (conn.waitingForSection) return true;
    const q = this.queues[tier];
    if (q.size >= this.maxWaiters) {
      this.stats.refusedFull++;
      return false;
    }
    q.push(conn);
    conn.waitingForSection = true;
    this.stats.waits++;
    this.wake(tier);
    return true;
  }

  /** A section of `tier` was freed (the slab's `onFree`): wakes the oldest waiter not woken yet. */
  onFree(tier: Tier): void {
    if (this.queues[tier].size > this.woken[tier]) this.wake(tier);
  }

  /** Removes `conn` from its queue (closing, or no longer reading); a section kept for it goes to the next. */
  cancel(conn: Connection): void {
    if (!conn.waitingForSection) return;
    conn.waitingForSection = false;
    for (let tier = 0; tier < TIER_COUNT; tier++) {
      const q = this.queues[tier];
      const i = q.indexOf(conn, 0, q.size);
      if (i < 0) continue;
      q.removeAt(i);
      if (i < this.woken[tier]) this.woken[tier]--;
      this.wake(tier as Tier);
      return;
    }
  }

  /** Wakes waiters in order while free sections outnumber the ones already kept. */
  private wake(tier: Tier): void {
    const q = this.queues[tier];
    while (this.woken[tier] < q.size && this.slab.freeIn(tier) > this.woken[tier]) {
      const conn = q.at(this.woken[tier]);
      this.woken[tier]++;
      this.stats.wakes++;
      conn.unpause(PauseReason.Memory);
    }
  }
}
