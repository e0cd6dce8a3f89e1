import { describe, expect, it } from 'vitest';
import { RingQueue } from '../../../src/core/ring-queue.js';

describe('RingQueue', () => {
  it('is FIFO across wrap-around and refuses pushes past capacity', () => {
    const q = new RingQueue<number>(3);
    expect(q.push(1) && q.push(2) && q.push(3)).toBe(true);
    expect(q.push(4)).toBe(false);
    expect(q.shift()).toBe(1);
    expect(q.push(4)).toBe(true);
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual([2, 3, 4, undefined]);
    expect(q.isEmpty).toBe(true);
  });

  it('rejects a bad capacity', () => {
    expect(() => new RingQueue(0)).toThrow(RangeError);
  });
});
