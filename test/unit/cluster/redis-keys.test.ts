import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../../src/cluster/redis-keys.js';

/** The slot-deciding part of a key, as Redis Cluster computes it (the first non-empty `{…}`). */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close <= open + 1 ? key : key.slice(open + 1, close);
}

describe('RedisKeys', () => {
  it('keeps the single-Redis names as they were', () => {
    const k = new RedisKeys('sc');
    expect(k.roomChannel('r1')).toBe('sc:room:r1');
    expect(k.history('r1')).toEqual({ seq: 'sc:room:r1:seq', list: 'sc:room:r1:history', evicted: 'sc:room:r1:evicted' });
    expect(k.presence('r1', 'i-1')).toBe('sc:presence:r1:i-1');
    expect(k.instance('i-1')).toBe('sc:instance:i-1');
    expect(k.presencePattern('i*1')).toBe('sc:presence:*:i\\*1');
    expect(k.rate('u')).toBe('sc:user:u:rate');
  });

  it('hash-tags every key of a room on one slot, every heartbeat on another, each user on its own (Redis Cluster)', () => {
    const k = new RedisKeys('sc', true);
    const room = [k.roomChannel('r1'), ...Object.values(k.history('r1')), k.presence('r1', 'a'), k.presence('r1', 'b')];
    expect(new Set(room.map(hashTag))).toEqual(new Set(['sc:room:r1']));
    expect(hashTag(k.roomChannel('r2'))).toBe('sc:room:r2');
    expect(new Set([k.instance('a'), k.instance('b'), `${k.instancePrefix}x`].map(hashTag))).toEqual(new Set(['sc:instance']));
    expect(hashTag(k.rate('u1'))).toBe('sc:user:u1');
  });

  it('reads the room back from an instance presence set found by SCAN, and only that instance’s', () => {
    for (const tagged of [false, true]) {
      const k = new RedisKeys('sc', tagged);
      expect(k.presenceRoom(k.presence('r1', 'a'), 'a')).toBe('r1');
      expect(k.presenceRoom(k.presence('r1', 'x:a'), 'a')).toBeNull(); // another instance whose id ends in ':a'
      expect(k.presenceRoom(k.presence('r1', 'a'), 'b')).toBeNull();
      expect(k.presenceRoom(k.history('r1').seq, 'a')).toBeNull();
    }
  });
});
