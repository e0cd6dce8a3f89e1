/** The default namespace (`--redis-prefix`). */
export const DEFAULT_REDIS_PREFIX = 'slabcast';

/** What a prefix may hold: no glob characters (SCAN patterns are built from it), no separator games. */
export const REDIS_PREFIX_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Every Redis key and pub/sub channel name of one deployment, under its prefix (`--redis-prefix`).
 * Two deployments sharing a Redis (or a Redis Cluster) are isolated by their prefixes: pub/sub
 * channels ignore the database number, so `redis://…/7` vs `/8` alone would still hear each other.
 *
 *   {p}:instance:{id}                heartbeat of an instance (JSON, TTL)
 *   {p}:room:{room}                  the room's pub/sub channel
 *   {p}:room:{room}:seq|history|evicted   the room's ids and history
 *   {p}:presence:{room}:{instance}   the users an instance has in a room (set, TTL)
 *   {p}:user:{user}:rate             a user's cluster-wide rate bucket (hash, TTL)
 *   {p}:stream:{id}:holders          instances holding a complete copy of an audio stream (set)
 *   {p}:stream:{id}:deleted          when the stream was deleted (ms; TTL): copies older never come back
 *
 * On a Redis Cluster (`tagged`) the same keys carry hash tags, so that what one script or one
 * multi-key command touches lives on one slot: everything of a room (channel, ids, history, every
 * instance's presence set) hashes on `{p:room:ID}`, every heartbeat on `{p:instance}`:
 *
 *   {p:instance}:{id}                heartbeats (one slot: the ring is read from one shard)
 *   {p:room:ID}                      the room's sharded pub/sub channel
 *   {p:room:ID}:seq|history|evicted  the room's ids and history
 *   {p:room:ID}:presence:{instance}  the users an instance has in the room
 *   {p:user:ID}:rate                 a user's cluster-wide rate bucket
 *   {p:stream:ID}:holders|deleted    an audio stream's copies and tombstone
 */
export class RedisKeys {
  constructor(
    readonly prefix: string = DEFAULT_REDIS_PREFIX,
    /** Hash-tagged names (Redis Cluster). */
    readonly tagged = false,
  ) {
    if (!REDIS_PREFIX_PATTERN.test(prefix)) throw new RangeError(`RedisKeys: bad prefix ${JSON.stringify(prefix)} (letters, digits, '_', '.', '-'; 1 to 64)`);
  }

  /** `{p}:room:{room}` (tagged: `{p:room:ID}`) */
  roomChannel(room: string): string {
    return this.tagged ? `{${this.prefix}:room:${room}}` : `${this.prefix}:room:${room}`;
  }

  /** The three keys of a room's ids and history. */
  history(room: string): { seq: string; list: string; evicted: string } {
    const r = this.roomChannel(room);
    return { seq: `${r}:seq`, list: `${r}:history`, evicted: `${r}:evicted` };
  }

  /** `{p}:presence:{room}:{instance}` (tagged: `{p:room:ID}:presence:{instance}`) */
  presence(room: string, instance: string): string {
    return this.tagged ? `${this.roomChannel(room)}:presence:${instance}` : `${this.prefix}:presence:${room}:${instance}`;
  }

  /** SCAN pattern of `instance`'s presence sets, glob characters of the id escaped. */
  presencePattern(instance: string): string {
    const id = instance.replace(/[\\*?[\]]/g, '\\$&');
    return this.tagged ? `{${this.prefix}:room:*}:presence:${id}` : `${this.prefix}:presence:*:${id}`;
  }

  /**
   * The room of `instance`'s presence set `key` (a key {@link presencePattern} matched), or null
   * when the key is another instance's whose id ends like this one's. Room ids have no ':'.
   */
  presenceRoom(key: string, instance: string): string | null {
    const head = this.tagged ? `{${this.prefix}:room:` : `${this.prefix}:presence:`;
    const tail = this.tagged ? `}:presence:${instance}` : `:${instance}`;
    if (!key.startsWith(head) || !key.endsWith(tail)) return null;
    const room = key.slice(head.length, key.length - tail.length);
    return room.includes(':') || room.includes('}') ? null : room;
  }

  /** The prefix of every heartbeat key: `{p}:instance:` (tagged: `{p:instance}:`) */
  get instancePrefix(): string {
    return this.tagged ? `{${this.prefix}:instance}:` : `${this.prefix}:instance:`;
  }

  /** `{p}:instance:{id}` (tagged: `{p:instance}:{id}`) */
  instance(id: string): string {
    return this.instancePrefix + id;
  }

  /** An audio stream's holders set and tombstone (one slot when tagged: one script touches both). */
  stream(id: string): { holders: string; deleted: string } {
    const s = this.tagged ? `{${this.prefix}:stream:${id}}` : `${this.prefix}:stream:${id}`;
    return { holders: `${s}:holders`, deleted: `${s}:deleted` };
  }

  /** A user's cluster-wide rate bucket: `{p}:user:{user}:rate` (tagged: `{p:user:ID}:rate`). */
  rate(user: string): string {
    return this.tagged ? `{${this.prefix}:user:${user}}:rate` : `${this.prefix}:user:${user}:rate`;
  }
}

/** The keys under the default prefix. */
export const DEFAULT_KEYS = new RedisKeys();
