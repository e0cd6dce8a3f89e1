import type { LocalRooms, PresenceChange, PresenceStore } from '../services/rooms/presence.js';
import { DEFAULT_KEYS, type RedisKeys } from './redis-keys.js';
import { LinkState, type RedisLink } from './redis-link.js';

/** The set of users instance `instance` has in `room` (under `keys`' prefix, the default one unless given). */
export function presenceKey(room: string, instance: string, keys: RedisKeys = DEFAULT_KEYS): string {
  return keys.presence(room, instance);
}

/**
 * Lifetime of a presence set, in heartbeat TTLs. An instance rewrites its sets every heartbeat, so a
 * dead one's sets outlive its heartbeat key (TTL after its last beat) by at least two TTLs minus a
 * heartbeat: time enough for every survivor's ring poll (≤ one heartbeat) to see it leave and read
 * who was there (src/cluster/ring-presence.ts). Queries read only the sets of instances on the ring,
 * so the lingering sets of a dead instance are never counted.
 */
export const PRESENCE_TTL_HEARTBEAT_TTLS = 3;

/** The presence sets' TTL for a `--heartbeat-ttl-ms`. */
export function presenceTtlMs(heartbeatTtlMs: number): number {
  return PRESENCE_TTL_HEARTBEAT_TTLS * heartbeatTtlMs;
}


/**
 * A user's first/last local session: SADD/SREM on this instance's set (refreshing its TTL), then
 * whether another instance's set has the user, and the size of the union.
 * KEYS own set, then the other live instances' sets; ARGV '+'|'-', user, TTL ms → {elsewhere, count}.
 */
const CHANGE = `if ARGV[1] == '+' then redis.call('SADD', KEYS[1], ARGV[2]) else redis.call('SREM', KEYS[1], ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local elsewhere = 0
for i = 2, #KEYS do if redis.call('SISMEMBER', KEYS[i], ARGV[2]) == 1 then elsewhere = 1; break end end
return {elsewhere, #redis.call('SUNION', unpack(KEYS))}`;

/** KEYS the other live instances' sets; ARGV user → 1 when any has it. */
const ELSEWHERE = `for i = 1, #KEYS do if redis.call('SISMEMBER', KEYS[i], ARGV[1]) == 1 then return 1 end end
return 0`;

/** Counters of the presence store. */
export interface RedisPresenceStats {
  changes: number;
  /** Answers given from local knowledge only (Redis unreachable or a command failed). */
  fallbacks: number;
  /** Times this instance's sets were rewritten (every heartbeat, and when Redis came back). */
  refreshes: number;
  /** Sets left by an earlier run under this instance id, deleted at start. */
  leftoversDeleted: number;
}

/**
 * Cluster-wide presence ({@link PresenceStore}) in Redis: each instance keeps, per room, the set
 * `{prefix}:presence:{room}:{instance}` of its users, with a TTL ({@link presenceTtlMs}) that
 * {@link refresh} renews every heartbeat by rewriting the set from this instance's own record — so
 * it also comes back whole after Redis lost its data — and a dead instance's sets expire some
 * TTLs after it stopped. Queries only read the sets of instances on the ring (`peers()`, live ones),
 * so a dead instance's members stop counting as soon as it leaves the ring; until its sets expire
 * the survivors can still read who was there (`leave` for them: src/cluster/ring-presence.ts). Counts are distinct
 * users across instances. While Redis is unreachable every answer is local.
 *
 * Cost: a join or leave computes SUNION of the room's sets in Redis (O(room size)), so presence
 * in very large rooms costs Redis CPU per join; `who` transfers the whole union.
 */
export class RedisPresence implements PresenceStore {
  readonly stats: RedisPresenceStats = { changes: 0, fallbacks: 0, refreshes: 0, leftoversDeleted: 0 };
  /** The room service's local rooms, once it attached (see {@link LocalRooms}). */
  rooms: LocalRooms | null = null;
  /** Sets of an earlier run under this id are still to be deleted (done once, when Redis answers). */
  private leftovers = true;
  /** This instance's users per room: the source of truth its Redis sets are rebuilt from. */
  private readonly local = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | null = null;
  private readonly linkListener = (next: LinkState): void => {
    if (next !== LinkState.Ready) return;
    this.refresh();
    if (this.timer !== null) this.deleteLeftovers();
  };
  /** A Redis Cluster shard came back (or went): the sets of its rooms are rewritten now, not a heartbeat later. */
  private readonly shardsListener = (): void => {
    if (this.link.ready) this.linkListener(LinkState.Ready);
  };

  constructor(
    private readonly link: RedisLink,
    private readonly self: string,
    /** Ids of the other live instances (the ring's members but this one). */
    private readonly peers: () => readonly string[],
    private readonly ttlMs: number,
    private readonly onFailure: (err: Error) => void = () => undefined,
  ) {
    link.on('state', this.linkListener);
    link.on('shards', this.shardsListener);
  }

  /**
   * Refreshes this instance's sets every `intervalMs` (the heartbeat), and deletes the sets an earlier
   * run under the same id left (they linger {@link PRESENCE_TTL_HEARTBEAT_TTLS} TTLs and would be
   * counted as this instance's users again now that it is back on the ring).
   */
  start(intervalMs: number): void {
    this.timer = setInterval(() => this.refresh(), intervalMs);
    this.timer.unref();
    this.deleteLeftovers();
  }

  attach(rooms: LocalRooms): void {
    this.rooms = rooms;
  }

  joined(room: string, user: string, local: ReadonlyMap<string, unknown>): Promise<PresenceChange> {
    let users = this.local.get(room);
    if (users === undefined) this.local.set(room, (users = new Set()));
    users.add(user);
    return this.change(room, '+', user, local);
  }

  left(room: string, user: string, local: ReadonlyMap<string, unknown>): Promise<PresenceChange> {
    const users = this.local.get(room);
    if (users !== undefined) {
      users.delete(user);
      if (users.size === 0) this.local.delete(room);
    }
    return this.change(room, '-', user, local);
  }

  users(room: string, local: ReadonlyMap<string, unknown>): Promise<string[]> {
    const fallback = (): string[] => {
      this.stats.fallbacks++;
      return [...local.keys()];
    };
    const keys = this.keys(room, true);
    if (!this.link.readyFor(keys[0])) return Promise.resolve(fallback());
    return this.link.track(this.link.ops.sUnion(keys)).then(
      (remote) => {
        const all = new Set(remote);
        for (const u of local.keys()) all.add(u);
        return [...all];
      },
      (err: unknown) => {
        this.onFailure(err as Error);
        return fallback();
      },
    );
  }

  elsewhere(room: string, user: string): Promise<boolean> {
    const peers = this.keys(room, false);
    if (peers.length === 0 || !this.link.readyFor(peers[0])) return Promise.resolve(false);
    return this.link.track(this.link.ops.eval(ELSEWHERE, peers, [user])).then(
      (r) => Number(r) === 1,
      (err: unknown) => {
        this.onFailure(err as Error);
        this.stats.fallbacks++;
        return false;
      },
    );
  }

  /** Rewrites this instance's sets from its own record, with a fresh TTL (one MULTI per room). */
  refresh(): void {
    if (!this.link.ready) return;
    this.stats.refreshes++;
    for (const [room, users] of this.local) {
      const key = this.link.keys.presence(room, this.self);
      // A room whose shard is down keeps its set until the shard is back (the set outlives a failover).
      if (!this.link.readyFor(key)) continue;
      this.link.ops
        .replaceSet(key, [...users], this.ttlMs)
        .catch((err: unknown) => this.onFailure(err as Error));
    }
  }

  /** Stops refreshing and deletes this instance's sets (a clean leave: its members vanish at once). */
  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.link.off('state', this.linkListener);
    this.link.off('shards', this.shardsListener);
    if (!this.link.ready || this.local.size === 0) return;
    const keys = [...this.local.keys()].map((room) => this.link.keys.presence(room, this.self)).filter((key) => this.link.readyFor(key));
    this.local.clear();
    try {
      await this.link.ops.del(keys);
    } catch (err) {
      this.onFailure(err as Error);
    }
  }

  /** Deletes this id's sets of rooms it has no user in (once, the first time Redis answers after start). */
  private deleteLeftovers(): void {
    // Every master is scanned: only when every shard answers.
    if (!this.leftovers || !this.link.whole) return;
    this.leftovers = false;
    void (async () => {
      const found = new Map<string, string>();
      // On a Redis Cluster the sets live on every shard (each with its room): every master is scanned.
      for await (const batch of this.link.ops.scan(this.link.keys.presencePattern(this.self), 500)) {
        for (const key of batch) {
          // Room ids have no ':': a key whose room part has one is the set of an id ending in `:{self}`.
          const room = this.link.keys.presenceRoom(key, this.self);
          if (room !== null) found.set(room, key);
        }
      }
      // Filtered now, not during the scan: a room a user joined meanwhile keeps its set.
      const stale = [...found].filter(([room]) => !this.local.has(room)).map(([, key]) => key);
      if (stale.length > 0) await this.link.ops.del(stale);
      this.stats.leftoversDeleted += stale.length;
    })().catch((err: unknown) => {
      this.leftovers = true;
      this.onFailure(err as Error);
    });
  }

  private change(room: string, op: '+' | '-', user: string, local: ReadonlyMap<string, unknown>): Promise<PresenceChange> {
    this.stats.changes++;
    const fallback = (): PresenceChange => {
      this.stats.fallbacks++;
      return { elsewhere: false, count: local.size };
    };
    const keys = this.keys(room, true);
    if (!this.link.readyFor(keys[0])) return Promise.resolve(fallback());
    return this.link.track(this.link.ops.eval(CHANGE, keys, [op, user, String(this.ttlMs)])).then(
      (r) => {
        const [elsewhere, count] = r as [number, number];
        return { elsewhere: Number(elsewhere) === 1, count: Number(count) };
      },
      (err: unknown) => {
        this.onFailure(err as Error);
        return fallback();
      },
    );
  }

  /** Keys of the room's sets: this instance's first (when `own`), then every live peer's. */
  keys(room: string, own: boolean): string[] {
    const keys = own ? [this.link.keys.presence(room, this.self)] : [];
    for (const id of this.peers()) if (id !== this.self) keys.push(this.link.keys.presence(room, id));
    return keys;
  }
}
