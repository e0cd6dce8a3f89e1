import { ConfigError } from '../../errors.js';

/** A token bucket's shape: `ratePerSec` tokens refill per second, up to `burst`. */
export interface RateLimit {
  ratePerSec: number;
  burst: number;
}

/**
 * Parses `--rate-limit` ("rate/burst", e.g. "10/20"). Throws {@link ConfigError} naming the knob,
 * at construction time, never in the loop.
 */
export function parseRateLimit(spec: string): RateLimit {
  const m = /^(\d{1,7})\/(\d{1,7})$/.exec(spec.trim());
  if (m === null) throw new ConfigError('--rate-limit', `must be rate/burst (e.g. 10/20), got ${JSON.stringify(spec)}`);
  const ratePerSec = Number(m[1]);
  const burst = Number(m[2]);
  if (ratePerSec < 1 || burst < 1) throw new ConfigError('--rate-limit', `rate and burst must be at least 1, got ${spec}`);
  return { ratePerSec, burst };
}

/**
 * What the rooms ask before acting on a member's text message: one token of the user's bucket, now
 * (synchronously: no round trip per message). {@link RateLimiter} is the per-instance one; cluster
 * mode plugs in a cluster-wide one (src/cluster/redis-rate.ts).
 */
export interface RateGate {
  /**
   * Takes one token for `user` at `nowMs`; false: refused (`RATE_LIMITED`). A promise when the
   * answer is on its way (cluster mode, a lease from the shared bucket in flight): the caller holds
   * that member's later messages behind it, in order.
   */
  take(user: string, nowMs: number): boolean | Promise<boolean>;
  /** The user's last session here closed at `nowMs`. */
  forget(user: string, nowMs: number): void;
  /** Users with state here (for stats). */
  readonly size: number;
}

/** One bucket: tokens left and when it was last refilled. */
interface Bucket {
  tokens: number;
  lastMs: number;
  /** The key's owner left (see {@link RateLimiter.forget}); the bucket goes once it is full again. */
  departed: boolean;
}

/**
 * Per-key token buckets (RFC 2697-style single-rate bucket): each key starts full (`burst`
 * tokens), one message takes one token, tokens refill continuously at `ratePerSec`. State is one
 * small object per key. When the key's owner goes away (the user's last session closed) the owner
 * calls {@link forget}: the bucket is kept until it would have refilled to `burst`, so leaving and
 * reconnecting never refills it early, then dropped. The map is bounded by the users connected now
 * plus those who left within the last `burst / ratePerSec` seconds.
 */
export class RateLimiter implements RateGate {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  /** Departed keys with the time their bucket is full again, oldest first (head index, no shift). */
  private departedKeys: string[] = [];
  private departedAt: number[] = [];
  private departedHead = 0;

  constructor(readonly limit: RateLimit) {
    this.perMs = limit.ratePerSec / 1000;
  }

  /** Takes one token for `key` at `nowMs`; false when the bucket is empty (the message is refused). */
  take(key: string, nowMs: number): boolean {
    if (this.departedHead < this.departedKeys.length) this.expire(nowMs);
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.limit.burst, lastMs: nowMs, departed: false };
      this.buckets.set(key, b);
    } else {
      b.departed = false;
    }
    if (nowMs > b.lastMs) {
      b.tokens = Math.min(this.limit.burst, b.tokens + (nowMs - b.lastMs) * this.perMs);
      b.lastMs = nowMs;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** `key`'s owner left at `nowMs`: its bucket is dropped once it would be full again. */
  forget(key: string, nowMs: number): void {
    const b = this.buckets.get(key);
    if (b === undefined) return;
    const fullAt = b.lastMs + (this.limit.burst - b.tokens) / this.perMs;
    if (fullAt <= nowMs) {
      this.buckets.delete(key);
      return;
    }
    b.departed = true;
    this.departedKeys.push(key);
    this.departedAt.push(fullAt);
    this.expire(nowMs);
  }

  /** Drops departed buckets that are full again (and were not taken up by a returning owner). */
  private expire(nowMs: number): void {
    const keys = this.departedKeys;
    while (this.departedHead < keys.length && this.departedAt[this.departedHead] <= nowMs) {
      const key = keys[this.departedHead++];
      const b = this.buckets.get(key);
      if (b !== undefined && b.departed) this.buckets.delete(key);
    }
    if (this.departedHead === keys.length) {
      this.departedKeys = [];
      this.departedAt = [];
      this.departedHead = 0;
    }
  }

  /** Keys with a bucket (for stats). */
  get size(): number {
    return this.buckets.size;
  }
}
