import type { createClient, RedisClusterType } from 'redis';

/** A pub/sub listener: the message as bytes, and its channel. */
export type ChannelListener = (message: Buffer, channel: Buffer | string) => void;

/**
 * The Redis commands the cluster parts send, the same on a single Redis and on a Redis Cluster.
 * Multi-key commands and scripts take keys of one slot (on a single Redis anything goes; on a
 * cluster the keys' hash tags make it so: see {@link RedisKeys}), except {@link del}, which splits
 * by key where it must. Room channels are classic pub/sub on a single Redis and sharded pub/sub
 * (SPUBLISH/SSUBSCRIBE: a room's traffic stays on the shard that owns its slot) on a cluster.
 */
export interface RedisOps {
  /** PUBLISH or SPUBLISH, the command {@link publish} sends (scripts publishing a room's message call it). */
  readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  eval(script: string, keys: string[], args: (string | Buffer)[]): Promise<unknown>;
  publish(channel: string, message: Buffer): Promise<unknown>;
  subscribe(channel: string, listener: ChannelListener): Promise<void>;
  unsubscribe(channel: string, listener: ChannelListener): Promise<void>;
  setPx(key: string, value: string, ttlMs: number): Promise<unknown>;
  /** Deletes keys of any slots. */
  del(keys: string[]): Promise<unknown>;
  mGet(keys: string[]): Promise<(string | null)[]>;
  sUnion(keys: string[]): Promise<string[]>;
  exists(key: string): Promise<number>;
  pExpire(key: string, ms: number): Promise<unknown>;
  /** Rewrites set `key` as `members` with a TTL, atomically (MULTI). */
  replaceSet(key: string, members: string[], ttlMs: number): Promise<unknown>;
  /**
   * Every key matching `pattern`, in batches. `slotOf`: the keys all share this key's slot, so on a
   * cluster only the shard owning it is scanned (otherwise every master is).
   */
  scan(pattern: string, count: number, slotOf?: string): AsyncIterable<string[]>;
}

type Client = ReturnType<typeof createClient>;
type Cluster = RedisClusterType;

/** {@link RedisOps} over one Redis: a command connection and a subscriber connection. */
export class SingleRedisOps implements RedisOps {
  readonly publishCommand = 'PUBLISH';
  constructor(
    private readonly cmd: Client,
    private readonly sub: Client,
  ) {}

  eval(script: string, keys: string[], args: (string | Buffer)[]): Promise<unknown> {
    return this.cmd.eval(script, { keys, arguments: args });
  }
  publish(channel: string, message: Buffer): Promise<unknown> {
    return this.cmd.publish(channel, message);
  }
  subscribe(channel: string, listener: ChannelListener): Promise<void> {
    return this.sub.subscribe(channel, listener, true);
  }
  unsubscribe(channel: string, listener: ChannelListener): Promise<void> {
    return this.sub.unsubscribe(channel, listener, true);
  }
  setPx(key: string, value: string, ttlMs: number): Promise<unknown> {
    return this.cmd.set(key, value, { expiration: { type: 'PX', value: ttlMs } });
  }
  del(keys: string[]): Promise<unknown> {
    return this.cmd.del(keys);
  }
  mGet(keys: string[]): Promise<(string | null)[]> {
    return this.cmd.mGet(keys);
  }
  sUnion(keys: string[]): Promise<string[]> {
    return this.cmd.sUnion(keys);
  }
  exists(key: string): Promise<number> {
    return this.cmd.exists(key);
  }
  pExpire(key: string, ms: number): Promise<unknown> {
    return this.cmd.pExpire(key, ms);
  }
  replaceSet(key: string, members: string[], ttlMs: number): Promise<unknown> {
    return this.cmd.multi().del(key).sAdd(key, members).pExpire(key, ttlMs).exec();
  }
  async *scan(pattern: string, count: number): AsyncIterable<string[]> {
    for await (const batch of this.cmd.scanIterator({ MATCH: pattern, COUNT: count })) yield batch;
  }
}

/** A script refused TRYAGAIN (its slot migrating) is sent again up to this many times (about 1.3 s in all)... */
const TRYAGAIN_RETRIES = 7;
/** ...the first time after this long, each next one after twice as long. */
const TRYAGAIN_FIRST_MS = 10;

/** {@link RedisOps} over a Redis Cluster (node-redis routes each command by its first key's slot; MOVED/ASK are followed). */
export class ClusterRedisOps implements RedisOps {
  readonly publishCommand = 'SPUBLISH';
  constructor(private readonly cluster: Cluster) {}

  /**
   * node-redis follows MOVED and ASK, not TRYAGAIN: while a slot migrates, a script whose keys are
   * partly on the old master and partly moved (or partly missing: a room's `evicted` key often is)
   * is refused TRYAGAIN until the migration of the slot ends. It is sent again after a short wait,
   * at most {@link TRYAGAIN_RETRIES} times (doubling from {@link TRYAGAIN_FIRST_MS}), then fails.
   */
  async eval(script: string, keys: string[], args: (string | Buffer)[]): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.cluster.eval(script, { keys, arguments: args });
      } catch (err) {
        if (attempt >= TRYAGAIN_RETRIES || !(err instanceof Error) || !err.message.startsWith('TRYAGAIN')) throw err;
        await new Promise((r) => setTimeout(r, TRYAGAIN_FIRST_MS * 2 ** attempt));
      }
    }
  }
  publish(channel: string, message: Buffer): Promise<unknown> {
    return this.cluster.sPublish(channel, message);
  }
  subscribe(channel: string, listener: ChannelListener): Promise<void> {
    return this.cluster.sSubscribe(channel, listener, true);
  }
  unsubscribe(channel: string, listener: ChannelListener): Promise<void> {
    return this.cluster.sUnsubscribe(channel, listener, true);
  }
  setPx(key: string, value: string, ttlMs: number): Promise<unknown> {
    return this.cluster.set(key, value, { expiration: { type: 'PX', value: ttlMs } });
  }
  del(keys: string[]): Promise<unknown> {
    // Keys of different rooms live on different slots: one DEL each (pipelined by the client).
    return Promise.all(keys.map((k) => this.cluster.del(k)));
  }
  mGet(keys: string[]): Promise<(string | null)[]> {
    return this.cluster.mGet(keys);
  }
  sUnion(keys: string[]): Promise<string[]> {
    return this.cluster.sUnion(keys);
  }
  exists(key: string): Promise<number> {
    return this.cluster.exists(key);
  }
  pExpire(key: string, ms: number): Promise<unknown> {
    return this.cluster.pExpire(key, ms);
  }
  replaceSet(key: string, members: string[], ttlMs: number): Promise<unknown> {
    return this.cluster.multi().del(key).sAdd(key, members).pExpire(key, ttlMs).exec();
  }
  async *scan(pattern: string, count: number, slotOf?: string): AsyncIterable<string[]> {
    const clients = slotOf === undefined ? await Promise.all(this.cluster.masters.map((m) => this.cluster.nodeClient(m))) : [await this.cluster.getNodeClientForKey(slotOf)];
    for (const client of clients) for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: count })) yield batch;
  }
}
