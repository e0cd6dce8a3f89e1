import type { LocalRooms, PresenceNote } from '../services/rooms/presence.js';
import type { RingChange } from './instance-registry.js';
import { LinkState, type RedisLink } from './redis-link.js';
import type { RedisPresence } from './redis-presence.js';

/**
 * Instances that left the ring remembered (the run that left, its heartbeat `startedAt`, and the
 * rooms here whose members were told `leave` for its users) so that their coming back announces
 * `join`; past it the oldest is forgotten (if it comes back, its users appear in `who` without a
 * `join`). An entry holds an id, a number and at most this instance's room ids.
 */
export const MAX_DEPARTED_INSTANCES = 1024;

/** A run that left the ring, and where its users were announced gone. */
interface Departed {
  readonly run: number;
  /** Rooms whose members here got a `leave` when it left (filled as the scripts answer). */
  readonly rooms: Set<string>;
  /** Settles once every room's answer is in `rooms`. */
  ready: Promise<unknown>;
}

/**
 * KEYS: the sets of the instances that left or came back (the first ARGV[1]), then the room's other
 * live sets (this instance's first); ARGV[2] '1' when the count includes the first sets.
 * → {users in the first sets and in none of the others, distinct users counted}.
 */
const SEPARATE = `local n = tonumber(ARGV[1])
local only = {}
for _, u in ipairs(redis.call('SUNION', unpack(KEYS, 1, n))) do
  local other = 0
  for i = n + 1, #KEYS do if redis.call('SISMEMBER', KEYS[i], u) == 1 then other = 1; break end end
  if other == 0 then only[#only + 1] = u end
end
local from = n + 1
if ARGV[2] == '1' then from = 1 end
return {only, #redis.call('SUNION', unpack(KEYS, from, #KEYS))}`;

/** Counters of ring-caused presence (`/api/push/status` → `cluster.ringPresence`). */
export interface RingPresenceStats {
  /** `leave` notes delivered to this instance's members because an instance left the ring. */
  leaves: number;
  /** `join` notes delivered because an instance that had left came back (the same run). */
  joins: number;
  /** Instances seen leaving / coming back (acted on). */
  departures: number;
  returns: number;
  /** Ring changes held back while this instance's own Redis link was settling after an outage. */
  deferred: number;
  /** Departed instances forgotten (over {@link MAX_DEPARTED_INSTANCES}) or back as a new run. */
  forgotten: number;
}

/** What one acted-on ring change announced (for the log line). */
export interface RingPresenceSummary {
  readonly left: readonly string[];
  readonly returned: readonly string[];
  readonly rooms: number;
  readonly leaves: number;
  readonly joins: number;
}

/**
 * Presence changes the ring causes: when an instance leaves the ring (dead, paused or cut off past
 * its heartbeat TTL), this instance tells ITS OWN members `leave` for that instance's users who have
 * a session on no live instance — read from the departed instance's presence sets, which outlive its
 * heartbeat key (redis-presence.ts) — and `join` when the same run comes back. Every instance does
 * this for its own members and publishes nothing, so each member hears each change exactly once,
 * however far apart the instances saw it. Counts are the cluster-wide distinct users after each note,
 * as in the normal path, so `who` agrees with the join/leave stream.
 *
 * State is the ring as last acted on (id → run); a change is acted on by diffing it with the ring
 * now. While this instance's Redis link is down the ring is frozen (nothing is acted on), and after
 * it comes back changes wait `settleMs` (instances reconnecting a little later than this one are not
 * announced as gone), then the net difference is acted on once.
 *
 * Cost per acted-on change: one script per room with members here, O(room size) in Redis.
 */
export class RingPresence {
  readonly stats: RingPresenceStats = { leaves: 0, joins: 0, departures: 0, returns: 0, deferred: 0, forgotten: 0 };
  /** The ring (other instances → run) this instance's members were last told about. */
  private acked = new Map<string, number>();
  /** The ring (other instances → run) as the registry last reported it. */
  private readonly seen = new Map<string, number>();
  /** Instances that left; oldest first. */
  private readonly departed = new Map<string, Departed>();
  private settleUntil = 0;
  private settleTimer: NodeJS.Timeout | null = null;
  private wasDown = false;

  constructor(
    private readonly link: RedisLink,
    private readonly presence: RedisPresence,
    private readonly self: string,
    private readonly settleMs: number,
    private readonly onFailure: (err: Error) => void,
    private readonly onSummary: (summary: RingPresenceSummary) => void = () => undefined,
  ) {}

  /** The registry's ring changed (it changes only on a successful poll). */
  ringChanged(change: RingChange): void {
    for (const id of change.left) this.seen.delete(id);
    for (const id of change.joined) if (id !== this.self) this.seen.set(id, change.startedAt[id] ?? 0);
    if (this.settling()) this.stats.deferred++;
    else this.reconcile();
  }

  /** The link's state changed: an outage freezes acting, and its end starts the settle time. */
  linkChanged(next: LinkState): void {
    if (next === LinkState.Down) this.wasDown = true;
    else if (next === LinkState.Closed) this.stop();
    else if (next === LinkState.Ready && this.wasDown) {
      this.wasDown = false;
      this.settleUntil = Date.now() + this.settleMs;
      if (this.settleTimer !== null) clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => {
        this.settleTimer = null;
        if (!this.settling()) this.reconcile();
      }, this.settleMs);
      this.settleTimer.unref();
    }
  }

  /** Clears the settle timer. */
  stop(): void {
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    this.settleTimer = null;
  }

  /** Instances remembered as departed (bounded by {@link MAX_DEPARTED_INSTANCES}). */
  get departedCount(): number {
    return this.departed.size;
  }

  private settling(): boolean {
    // The heartbeats' shard (on a Redis Cluster, one shard holds them all) must answer.
    return !this.link.readyFor(this.link.keys.instancePrefix) || this.wasDown || Date.now() < this.settleUntil;
  }

  /** Acts on the difference between the ring last acted on and the ring now. */
  private reconcile(): void {
    const left: Departed[] = [];
    const leftIds: string[] = [];
    const back: Departed[] = [];
    const backIds: string[] = [];
    for (const [id, run] of this.acked) {
      const now = this.seen.get(id);
      if (now === run) continue;
      if (now === undefined) {
        leftIds.push(id);
        left.push(this.remember(id, run));
      } else {
        // Restarted under the same id while changes were held back: its sets are the new run's now,
        // so the old run's users cannot be named (and the new run's announce themselves).
        this.stats.forgotten++;
      }
    }
    for (const [id, run] of this.seen) {
      if (this.acked.get(id) === run) continue;
      const before = this.departed.get(id);
      if (before === undefined) continue;
      this.departed.delete(id);
      // A new run under the same id: its users are announced by their own joins.
      if (before.run === run) {
        back.push(before);
        backIds.push(id);
      } else this.stats.forgotten++;
    }
    this.acked = new Map(this.seen);
    this.stats.departures += left.length;
    this.stats.returns += back.length;
    const rooms = this.presence.rooms;
    if (rooms === null || (left.length === 0 && back.length === 0)) return;
    const leaves = left.length > 0 ? this.tellLeft(rooms, leftIds, left) : [];
    // Joins only where leaves were told, once those answers are in (a run that left and came back
    // within one settle time is both, in that order).
    const joins = back.length > 0 ? Promise.allSettled(back.map((d) => d.ready)).then(() => this.tellBack(rooms, backIds, back)) : Promise.resolve([]);
    void joins.then((j) => Promise.allSettled([...leaves, ...j])).then((results) => {
      let l = 0;
      let j = 0;
      for (const r of results) {
        if (r.status !== 'fulfilled') continue;
        for (const n of r.value) {
          if (n.type === 'leave') l++;
          else j++;
        }
      }
      this.onSummary({ left: leftIds, returned: backIds, rooms: results.length, leaves: l, joins: j });
    });
  }

  /** `leave` in every room with members here; records where it was told on each departed run. */
  private tellLeft(rooms: LocalRooms, ids: readonly string[], departed: readonly Departed[]): Promise<readonly PresenceNote[]>[] {
    const all: Promise<readonly PresenceNote[]>[] = [];
    for (const room of [...rooms.roomIds()]) {
      const notes = this.separate(room, ids, 'leave');
      rooms.announce(room, notes);
      all.push(notes);
      notes.then(
        (n) => {
          if (n.length > 0) for (const d of departed) d.rooms.add(room);
        },
        // Already counted and reported by separate() and by the room's step queue.
        () => undefined,
      );
    }
    const ready = Promise.allSettled(all);
    for (const d of departed) d.ready = ready;
    return all;
  }

  /** `join` in the rooms (still with members here) where the returning runs' users were told `leave`. */
  private tellBack(rooms: LocalRooms, ids: readonly string[], returning: readonly Departed[]): Promise<readonly PresenceNote[]>[] {
    const where = new Set<string>();
    for (const d of returning) for (const room of d.rooms) where.add(room);
    const all: Promise<readonly PresenceNote[]>[] = [];
    for (const room of where) {
      if (rooms.users(room) === undefined) continue;
      const notes = this.separate(room, ids, 'join');
      rooms.announce(room, notes);
      all.push(notes);
    }
    return all;
  }

  /** Remembers a departed run, forgetting the oldest past the bound. */
  private remember(id: string, run: number): Departed {
    const d: Departed = { run, rooms: new Set(), ready: Promise.resolve() };
    this.departed.delete(id);
    this.departed.set(id, d);
    while (this.departed.size > MAX_DEPARTED_INSTANCES) {
      this.departed.delete(this.departed.keys().next().value!);
      this.stats.forgotten++;
    }
    return d;
  }

  /**
   * The users of `ids`' sets in `room` who are on no other live instance: `leave` for instances
   * that left, `join` for ones that came back, each with the count after it.
   */
  private separate(room: string, ids: readonly string[], type: 'leave' | 'join'): Promise<readonly PresenceNote[]> {
    const first = ids.map((id) => this.link.keys.presence(room, id));
    const others = this.presence.keys(room, true).filter((k) => !first.includes(k));
    return this.link.ops.eval(SEPARATE, [...first, ...others], [String(first.length), type === 'join' ? '1' : '0']).then(
      (r) => {
        const [only, total] = r as [string[], number];
        const local = this.presence.rooms?.users(room);
        const users = only.filter((u) => local?.has(u) !== true).sort();
        const count = Number(total);
        const notes: PresenceNote[] = users.map((user, i) => ({ type, user, count: type === 'leave' ? count + users.length - 1 - i : count - users.length + 1 + i }));
        if (type === 'leave') this.stats.leaves += notes.length;
        else this.stats.joins += notes.length;
        return notes;
      },
      (err: unknown) => {
        this.onFailure(err as Error);
        throw err;
      },
    );
  }
}
