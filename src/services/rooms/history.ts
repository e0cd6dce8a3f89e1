import type { RoomEnvelope } from './bus.js';

/** A value now (an in-process store) or later (a shared store answers over the network). */
export type MaybePromise<T> = T | Promise<T>;

/** Whether a store answered later. */
export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}

/** One kept room message: its id, time, and the exact JSON text clients received. */
export interface HistoryEntry {
  readonly id: number;
  readonly ts: number;
  readonly json: string;
}

/** What a joining client is sent: kept messages after `since`, the room's last id, and the gap flag. */
export interface HistoryRead {
  readonly entries: readonly HistoryEntry[];
  /** Last id allocated in the room (0 when none). */
  readonly lastId: number;
  /** Some message after `since` is no longer kept (evicted by size or TTL, or `since` is unknown). */
  readonly gap: boolean;
}

/**
 * Message ids and history of rooms: the second seam, next to `BroadcastBus`, that the cluster
 * issue replaces (shared counters and lists). Ids are integers, monotonic per room, starting at 1;
 * whispers take ids but are not kept, so kept ids may have holes — `gap` is therefore computed
 * from what was evicted, not from id contiguity.
 *
 * Results may be synchronous (MemoryHistory) or Promises (RedisHistory, src/cluster): the room
 * service keeps one room's messages in order either way (see RoomStepQueue). A store that answers
 * later never rejects for an outage: it falls back (a local id, an empty read with `gap`) and counts.
 */
export interface HistoryStore {
  /** The next id of `room` (monotonic per room). */
  allocateId(room: string): MaybePromise<number>;
  /** Keeps a message (`id` from {@link allocateId}) of `room`, evicting past size or TTL. */
  append(room: string, entry: HistoryEntry): MaybePromise<void>;
  /** Kept messages of `room` with id > `since` (all kept when `since` is null), oldest first. */
  read(room: string, since: number | null, nowMs: number): MaybePromise<HistoryRead>;
  /** Whether `room` has any state (kept messages or allocated ids). */
  has(room: string): MaybePromise<boolean>;
  /** Forgets `room` (MemoryHistory: ids restart at 1; RedisHistory: ids go on above the highest seen). */
  delete(room: string): MaybePromise<void>;
  /**
   * Drops expired messages everywhere, and forgets rooms left with nothing kept, idle past the TTL
   * and not `inUse` (a room with members keeps its id counter).
   */
  sweep(nowMs: number, inUse?: (room: string) => boolean): void;
  /**
   * Optional (a store shared by instances): takes the next id of `room`, writes it into
   * `envelope.payload` (the message JSON, built with `"id":0`), keeps the message when `keep`, and
   * publishes the envelope, as one step in one order for every instance. The store's bus delivers
   * it, on this instance too, when it comes back in that order, so every member sees a room's ids
   * increase, and a joiner's history read holds every message up to its `lastId` and none after.
   * Resolves to the id. Without it the service allocates an id, appends, then publishes.
   */
  sequence?(room: string, envelope: RoomEnvelope, ts: number, keep: boolean): MaybePromise<number>;
  /** Optional: an id this instance delivered (a shared store re-seeds its counter from the highest). */
  observe?(room: string, id: number): void;
}

/** Per-room state of {@link MemoryHistory}: a ring of at most `size` entries. */
interface RoomHistory {
  lastId: number;
  /** Highest id evicted (by size or TTL): a reader with `since` below it has a gap. */
  evictedUpTo: number;
  ring: (HistoryEntry | undefined)[];
  head: number;
  count: number;
  lastActivityMs: number;
}

/**
 * {@link HistoryStore} in this process: per room, a fixed-capacity ring (no `Array#shift`)
 * of the last `size` messages, each expiring `ttlMs` after its `ts`. Expiry is applied lazily on
 * append/read, and by {@link sweep} for rooms nobody touches.
 */
export class MemoryHistory implements HistoryStore {
  private readonly rooms = new Map<string, RoomHistory>();

  constructor(
    readonly size: number,
    readonly ttlMs: number,
  ) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`MemoryHistory: bad size ${size}`);
    if (!(ttlMs > 0)) throw new RangeError(`MemoryHistory: bad ttl ${ttlMs}`);
  }

  private room(room: string, nowMs: number): RoomHistory {
    let h = this.rooms.get(room);
    if (h === undefined) {
      h = { lastId: 0, evictedUpTo: 0, ring: new Array<HistoryEntry | undefined>(this.size), head: 0, count: 0, lastActivityMs: nowMs };
      this.rooms.set(room, h);
    }
    return h;
  }

  allocateId(room: string): number {
    const now = Date.now();
    const h = this.room(room, now);
    h.lastActivityMs = now;
    return ++h.lastId;
  }

  append(room: string, entry: HistoryEntry): void {
    const h = this.room(room, entry.ts);
    h.lastActivityMs = entry.ts;
    if (entry.id > h.lastId) h.lastId = entry.id;
    if (this.size === 0) {
      h.evictedUpTo = Math.max(h.evictedUpTo, entry.id);
      return;
    }
    this.expire(h, entry.ts);
    if (h.count === this.size) this.evictOldest(h);
    h.ring[(h.head + h.count) % this.size] = entry;
    h.count++;
  }

  read(room: string, since: number | null, nowMs: number): HistoryRead {
    const h = this.rooms.get(room);
    if (h === undefined) return { entries: [], lastId: 0, gap: since !== null && since > 0 };
    this.expire(h, nowMs);
    const entries: HistoryEntry[] = [];
    for (let i = 0; i < h.count; i++) {
      const e = h.ring[(h.head + i) % this.size]!;
      if (since === null || e.id > since) entries.push(e);
    }
    // A `since` from the future (ids restarted: room deleted, server restarted) is a gap too.
    const gap = since !== null && (since < h.evictedUpTo || since > h.lastId);
    return { entries, lastId: h.lastId, gap };
  }

  has(room: string): boolean {
    return this.rooms.has(room);
  }

  delete(room: string): void {
    this.rooms.delete(room);
  }

  sweep(nowMs: number, inUse?: (room: string) => boolean): void {
    for (const [room, h] of this.rooms) {
      this.expire(h, nowMs);
      if (h.count === 0 && nowMs - h.lastActivityMs >= this.ttlMs && !(inUse?.(room) ?? false)) this.rooms.delete(room);
    }
  }

  /** Kept entries of `room` (tests and the admin API). */
  countOf(room: string): number {
    return this.rooms.get(room)?.count ?? 0;
  }

  private expire(h: RoomHistory, nowMs: number): void {
    const oldest = nowMs - this.ttlMs;
    while (h.count > 0 && h.ring[h.head]!.ts <= oldest) this.evictOldest(h);
  }

  private evictOldest(h: RoomHistory): void {
    const e = h.ring[h.head]!;
    h.evictedUpTo = Math.max(h.evictedUpTo, e.id);
    h.ring[h.head] = undefined;
    h.head = (h.head + 1) % this.size;
    h.count--;
  }
}
