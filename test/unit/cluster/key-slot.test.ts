import { describe, expect, it } from 'vitest';
import { keySlot } from '../../../src/cluster/key-slot.js';

describe('keySlot', () => {
  it('is CRC16-XMODEM mod 16384, as CLUSTER KEYSLOT answers', () => {
    expect(keySlot('123456789')).toBe(0x31c3); // the CRC16 check value
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('')).toBe(0);
  });

  it('hashes only a non-empty hash tag, the first {…}', () => {
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('{user1000}.followers')).toBe(3443);
    expect(keySlot('{slabcast:room:r1}:seq')).toBe(keySlot('{slabcast:room:r1}'));
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
    expect(keySlot('foo{bar}{zap}')).toBe(keySlot('bar'));
  });
});
