import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src/errors.js';
import { parseRateLimit, RateLimiter } from '../../../../src/services/rooms/rate-limiter.js';

describe('RateLimiter (token bucket)', () => {
  it('allows a burst, then the refill rate', () => {
    const rl = new RateLimiter({ ratePerSec: 10, burst: 20 });
    let ok = 0;
    for (let i = 0; i < 30; i++) if (rl.take('u', 1000)) ok++;
    expect(ok).toBe(20);
    expect(rl.take('u', 1099)).toBe(false); // 0.99 token refilled
    expect(rl.take('u', 1100)).toBe(true); // 100 ms = 1 token at 10/s
    expect(rl.take('u', 1100)).toBe(false);
    // Refill is capped at the burst.
    let after = 0;
    for (let i = 0; i < 30; i++) if (rl.take('u', 100_000)) after++;
    expect(after).toBe(20);
  });

  it('keeps one bucket per key; a forgotten key keeps its empty bucket until it refills, then goes', () => {
    const rl = new RateLimiter({ ratePerSec: 1, burst: 1 });
    expect(rl.take('a', 0)).toBe(true);
    expect(rl.take('a', 0)).toBe(false);
    expect(rl.take('b', 0)).toBe(true);
    expect(rl.size).toBe(2);
    rl.forget('a', 0);
    // Leaving and coming back at once does not refill the bucket (no reconnect to dodge the limit).
    expect(rl.take('a', 10)).toBe(false);
    rl.forget('a', 10);
    expect(rl.size).toBe(2);
    // Once it would be full again it is dropped: the map stays bounded.
    expect(rl.take('b', 2000)).toBe(true);
    expect(rl.size).toBe(1);
    rl.forget('b', 2000);
    expect(rl.take('c', 5000)).toBe(true);
    expect(rl.size).toBe(1);
  });

  it('parses --rate-limit rate/burst and refuses anything else with ConfigError', () => {
    expect(parseRateLimit('10/20')).toEqual({ ratePerSec: 10, burst: 20 });
    for (const bad of ['10', '10/', '/20', '0/5', '5/0', 'a/b', '10/20/30', '-1/2']) {
      expect(() => parseRateLimit(bad), bad).toThrow(ConfigError);
    }
    expect(() => parseRateLimit('x')).toThrow(/--rate-limit/);
  });
});
