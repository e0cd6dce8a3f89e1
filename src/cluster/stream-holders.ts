/**
 * What Redis knows about a stream's copies: the set of instances holding a complete copy
 * (`{p}:stream:{id}:holders`), and after DELETE or eviction its tombstone
 * (`{p}:stream:{id}:deleted`, the deletion's time in ms, kept `--stream-tombstone-seconds`). Both
 * keys of a stream share one hash tag, so each script below runs on one Redis Cluster slot.
 *
 * Every call goes through {@link RedisLink.track}: a Redis that stops answering fails the call
 * (and counts against the link) rather than leaving it pending.
 */
import type { RedisLink } from './redis-link.js';

/** Adds the instance to the stream's holders unless a tombstone at or after the copy's creation says it was deleted: 1 added, 0 deleted. */
const REGISTER = `
local d = redis.call('GET', KEYS[2])
if d and tonumber(d) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1`;

/** Writes the tombstone (the latest time wins), forgets the holders and returns them. */
const TOMBSTONE = `
local d = redis.call('GET', KEYS[2])
if not d or tonumber(d) < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end
local holders = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return holders`;

/** The tombstone's time (ms), or false. */
const TOMBSTONE_OF = `return redis.call('GET', KEYS[1])`;

const HOLDERS = `return redis.call('SMEMBERS', KEYS[1])`;
const UNREGISTER = `return redis.call('SREM', KEYS[1], ARGV[1])`;

export class StreamHolders {
  constructor(private readonly link: RedisLink) {}

  /** Whether Redis can be asked now. */
  get ready(): boolean {
    return this.link.ready;
  }

  /** Records `instance` as holding a copy of `id` created at `createdAt`; false when a tombstone at or after that time says the stream was deleted. */
  async register(id: string, instance: string, createdAt: number): Promise<boolean> {
    const keys = this.link.keys.stream(id);
    return Number(await this.link.track(this.link.ops.eval(REGISTER, [keys.holders, keys.deleted], [instance, String(createdAt)]))) === 1;
  }

  /** Forgets that `instance` holds a copy of `id`. */
  async unregister(id: string, instance: string): Promise<void> {
    await this.link.track(this.link.ops.eval(UNREGISTER, [this.link.keys.stream(id).holders], [instance]));
  }

  /** The instances holding a complete copy of `id`. */
  async of(id: string): Promise<string[]> {
    return (await this.link.track(this.link.ops.eval(HOLDERS, [this.link.keys.stream(id).holders], []))) as string[];
  }

  /** Writes the tombstone of `id` at `deletedAt` (the latest deletion wins), kept `ttlMs`; returns the holders it forgot. */
  async tombstone(id: string, deletedAt: number, ttlMs: number): Promise<string[]> {
    const keys = this.link.keys.stream(id);
    return (await this.link.track(this.link.ops.eval(TOMBSTONE, [keys.holders, keys.deleted], [String(deletedAt), String(ttlMs)]))) as string[];
  }

  /** When `id` was last deleted (ms), or null. */
  async deletedAt(id: string): Promise<number | null> {
    const reply = await this.link.track(this.link.ops.eval(TOMBSTONE_OF, [this.link.keys.stream(id).deleted], []));
    return reply === null || reply === undefined ? null : Number(reply);
  }
}
