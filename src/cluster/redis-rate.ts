import { type RateGate, type RateLimit, RateLimiter } from '../services/rooms/rate-limiter.js';
import type { RedisLink } from './redis-link.js';

/**
 * A user's bucket in Redis (hash `tokens`, `ts`; Redis's clock), refilled at ARGV rate per second up
 * to ARGV burst. First charged ARGV owe (tokens an instance admitted on credit: the bucket may go
 * below zero, so the user waits for them), then ARGV want tokens are handed out if the bucket has
 * them all, none otherwise (a negative want gives unused tokens back, up to burst). The key expires when the bucket would be full again
 * (a missing key is a full bucket). KEYS bucket; ARGV rate, burst, want, owe → {granted, ms until
 * `want` more tokens are there}: a user at the limit costs one script per lease, not per message.
 */
const LEASE = `local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  ts = now
end
tokens = tokens - tonumber(ARGV[4])
local granted = 0
if want < 0 then
  tokens = math.min(burst, tokens - want)
elseif tokens >= want then
  granted = want
  tokens = tokens - granted
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', ts)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
local wait = 0
if want > 0 and tokens < want then wait = math.ceil((math.min(want, burst) - tokens) * 1000 / rate) end
return {granted, wait}`;

/** A user's lease idle this long gives its unused tokens back (and pays what it owes). */
export const LEASE_IDLE_MS = 1000;

/** Counters of the cluster-wide rate limit (`/api/push/status` → `cluster.rate`). */
export interface RedisRateStats {
  /** Lease scripts run (take, give back, settle). */
  leases: number;
  leaseFailures: number;
  /** Tokens handed out by Redis to this instance. */
  granted: number;
  /** Messages admitted on credit while a lease was on its way (charged to the bucket by the next one). */
  credited: number;
  /** Messages refused by the cluster-wide bucket. */
  refused: number;
  /** Unused tokens given back (the user left or went idle). */
  returned: number;
  /** Decisions taken by the per-instance bucket because Redis was unreachable. */
  fallbacks: number;
}

/** What this instance holds of a user's bucket. */
interface Lease {
  /** Leased and unspent; below zero: admitted on credit, owed to the bucket. */
  tokens: number;
  inFlight: boolean;
  /** The last lease got nothing (the bucket had less than a batch): no credit until one is granted. */
  exhausted: boolean;
  /** Exhausted: no lease is asked before this (the bucket has no whole batch until then). */
  retryAt: number;
  lastMs: number;
  /** Settles when the lease in flight is back (asked for by takes that wait for it). */
  back: Promise<void> | null;
  wake: (() => void) | null;
}

/**
 * The per-user rate limit (`--rate-limit` rate/burst) across every instance: one token bucket per
 * user in Redis (`{prefix}:user:{id}:rate`, hash-tagged on a Redis Cluster), from which each
 * instance leases tokens in batches of `--rate-lease` with a small script, so a message costs no
 * round trip: it spends a leased token; the next batch is asked when half the lease is spent.
 *
 * While a lease is on its way, a user whose last lease was granted whole may send up to one batch
 * on credit; the next lease charges the bucket for it (it may go below zero: the user then waits
 * for those tokens). So across N instances a user gets at most burst + rate × t messages in any
 * time t, plus at most N × `--rate-lease` admitted on credit at that moment and paid for
 * afterwards; and tokens leased but not spent (at most 1.5 × `--rate-lease` per instance) are
 * missing from the other instances until they are given back — when the user's last session here
 * closes, or after {@link LEASE_IDLE_MS} unused. While Redis is unreachable the per-instance bucket
 * decides (each instance allows the full rate, as without `--redis`).
 */
export class RedisRateLeases implements RateGate {
  readonly stats: RedisRateStats = { leases: 0, leaseFailures: 0, granted: 0, credited: 0, refused: 0, returned: 0, fallbacks: 0 };
  private readonly leases = new Map<string, Lease>();
  private readonly fallback: RateLimiter;
  /** Tokens per lease. */
  readonly batch: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly link: RedisLink,
    readonly limit: RateLimit,
    /** `--rate-lease`: tokens per lease; 0 = a quarter of the burst (at least 1). */
    leaseTokens: number,
    private readonly onFailure: (err: Error) => void = () => undefined,
  ) {
    if (!Number.isInteger(leaseTokens) || leaseTokens < 0) throw new RangeError(`RedisRateLeases: bad lease ${leaseTokens}`);
    this.fallback = new RateLimiter(limit);
    this.batch = Math.min(leaseTokens === 0 ? Math.ceil(limit.burst / 4) : leaseTokens, limit.burst);
    this.timer = setInterval(() => this.sweep(Date.now()), LEASE_IDLE_MS);
    this.timer.unref();
  }

  /**
   * A leased token (or one on credit) now; when neither is left but the bucket is not known to be
   * dry, the answer once the lease on its way is back (a promise: the rooms hold the member's later
   * messages behind it); refused when the bucket ran dry.
   */
  take(user: string, nowMs: number): boolean | Promise<boolean> {
    return this.takeNow(user, nowMs) ?? this.wait(user);
  }

  /**
   * The answer once the lease in flight is back, waiting again while the bucket keeps granting
   * (each lease either grants a batch or marks the bucket dry, and a failed one marks it dry too).
   */
  private wait(user: string): Promise<boolean> {
    const s = this.leases.get(user)!;
    s.back ??= new Promise<void>((resolve) => (s.wake = resolve));
    return s.back.then(() => this.takeNow(user, Date.now()) ?? this.wait(user));
  }

  /** {@link take} without waiting: null when it has to wait for the lease in flight. */
  private takeNow(user: string, nowMs: number): boolean | null {
    if (!this.link.readyFor(this.link.keys.rate(user))) {
      this.stats.fallbacks++;
      return this.fallback.take(user, nowMs);
    }
    let s = this.leases.get(user);
    if (s === undefined) this.leases.set(user, (s = { tokens: 0, inFlight: false, exhausted: false, retryAt: 0, lastMs: nowMs, back: null, wake: null }));
    s.lastMs = nowMs;
    if (s.tokens >= 1) {
      s.tokens--;
      // Half spent: the next batch, unless the bucket ran dry last time (then asked when it has one: retryAt).
      if (s.tokens < this.batch / 2 && !s.exhausted) this.lease(user, s, this.batch);
      return true;
    }
    if (!s.exhausted && s.tokens > -this.batch) {
      s.tokens--;
      this.stats.credited++;
      this.lease(user, s, this.batch);
      return true;
    }
    if (nowMs >= s.retryAt) this.lease(user, s, this.batch);
    if (!s.exhausted && s.inFlight) return null;
    this.stats.refused++;
    return false;
  }

  forget(user: string, nowMs: number): void {
    this.fallback.forget(user, nowMs);
    const s = this.leases.get(user);
    if (s === undefined || s.inFlight) return; // an idle sweep settles it once the lease is back
    this.settle(user, s);
  }

  get size(): number {
    return this.leases.size;
  }

  /** Stops the idle sweep (unused tokens still held are not given back: they refill anyway). */
  close(): void {
    clearInterval(this.timer);
  }

  /** Gives back what `user` holds unused, or pays what it owes, and forgets the user here. */
  private settle(user: string, s: Lease): void {
    if (this.leases.get(user) === s) this.leases.delete(user);
    const held = Math.floor(s.tokens);
    if (held === 0 || !this.link.readyFor(this.link.keys.rate(user))) return;
    if (held > 0) this.stats.returned += held;
    this.run(user, held > 0 ? -held : 0, held < 0 ? -held : 0).catch((err: unknown) => this.onFailure(err as Error));
  }

  private lease(user: string, s: Lease, want: number): void {
    if (s.inFlight) return;
    s.inFlight = true;
    const owe = s.tokens < 0 ? -s.tokens : 0;
    const back = (): void => {
      s.inFlight = false;
      const wake = s.wake;
      s.back = s.wake = null;
      wake?.();
    };
    this.run(user, want, owe).then(
      ([granted, waitMs]) => {
        s.tokens += owe + granted;
        this.stats.granted += granted;
        s.exhausted = granted < want;
        s.retryAt = Date.now() + waitMs;
        back();
      },
      (err: unknown) => {
        this.onFailure(err as Error);
        // Refused until one token's time passed (no retry loop against a failing Redis).
        s.exhausted = true;
        s.retryAt = Date.now() + Math.ceil(1000 / this.limit.ratePerSec);
        back();
      },
    );
  }

  private run(user: string, want: number, owe: number): Promise<[number, number]> {
    this.stats.leases++;
    const l = this.limit;
    return this.link.track(this.link.ops.eval(LEASE, [this.link.keys.rate(user)], [String(l.ratePerSec), String(l.burst), String(want), String(owe)])).then(
      (r) => {
        const [granted, waitMs] = r as [number, number];
        return [Number(granted), Number(waitMs)];
      },
      (err: unknown) => {
        this.stats.leaseFailures++;
        throw err;
      },
    );
  }

  /** Leases unused for {@link LEASE_IDLE_MS}: tokens given back, credit paid, the user forgotten here. */
  private sweep(nowMs: number): void {
    for (const [user, s] of this.leases) if (!s.inFlight && nowMs - s.lastMs >= LEASE_IDLE_MS) this.settle(user, s);
  }
}
