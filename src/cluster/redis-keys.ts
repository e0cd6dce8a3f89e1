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
 */
export class RedisKeys {
  constructor(readonly prefix: string = DEFAULT_REDIS_PREFIX) {
    if (!REDIS_PREFIX_PATTERN.test(prefix)) throw new RangeError(`RedisKeys: bad prefix ${JSON.stringify(prefix)} (letters, digits, '_', '.', '-'; 1 to 64)`);
  }

  /** `{p}:room:{room}` */
  roomChannel(room: string): string {
    return `${this.prefix}:room:${room}`;
  }

  /** The three keys of a room's ids and history. */
  history(room: string): { seq: string; list: string; evicted: string } {
    const r = `${this.prefix}:room:${room}`;
    return { seq: `${r}:seq`, list: `${r}:history`, evicted: `${r}:evicted` };
  }

  /** `{p}:presence:` */
  get presencePrefix(): string {
    return `${this.prefix}:presence:`;
  }

  /** `{p}:presence:{room}:{instance}` */
  presence(room: string, instance: string): string {
    return `${this.presencePrefix}${room}:${instance}`;
  }

  /** SCAN pattern of `instance`'s presence sets, glob characters of the id escaped. */
  presencePattern(instance: string): string {
    return `${this.presencePrefix}*:${instance.replace(/[\\*?[\]]/g, '\\$&')}`;
  }

  /** `{p}:instance:` */
  get instancePrefix(): string {
    return `${this.prefix}:instance:`;
  }

  /** `{p}:instance:{id}` */
  instance(id: string): string {
    return this.instancePrefix + id;
  }
}

/** The keys under the default prefix. */
export const DEFAULT_KEYS = new RedisKeys();
