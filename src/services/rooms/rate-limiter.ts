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

/** One bucket: tokens left and when it was last refilled. */
interface Bucket {
  tokens: number;
  lastMs: number;
}

/**
 * Per-key token buckets (RFC 2697-style single-rate bucket): each key starts full (`burst`
 * tokens), one message takes one token, tokens refill continuously at `ratePerSec`. State is one
 * small object per key; the owner calls {@link forget} when the key goes away (the user's last
 * session closed), so the map is bounded by the number of connected users.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(readonly limit: RateLimit) {
    this.perMs = limit.ratePerSec / 1000;
  }

  /** Takes one token for `key` at `nowMs`; false when the bucket is empty (the message is refused). */
  take(key: string, nowMs: number): boolean {
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.limit.burst, lastMs: nowMs };
      this.buckets.set(key, b);
    } else if (nowMs > b.lastMs) {
      b.tokens = Math.min(this.limit.burst, b.tokens + (nowMs - b.lastMs) * this.perMs);
      b.lastMs = nowMs;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Drops `key`'s bucket. */
  forget(key: string): void {
    this.buckets.delete(key);
  }

  /** Keys with a bucket (for stats). */
  get size(): number {
    return this.buckets.size;
  }
}
