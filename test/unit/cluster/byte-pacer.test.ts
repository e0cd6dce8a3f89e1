import { describe, expect, it } from 'vitest';
import { BytePacer } from '../../../src/cluster/byte-pacer.js';

describe('BytePacer', () => {
  it('lets a second of bytes through at once, then makes the rest wait in proportion', () => {
    const p = new BytePacer(1000, 0);
    expect(p.take(1000, 0)).toBe(0);
    expect(p.take(500, 0)).toBe(500); // 500 bytes over: half a second
    expect(p.take(0, 500)).toBe(0); // refilled by then
    expect(p.take(1000, 1500)).toBe(0);
    expect(p.take(1, 1500)).toBe(1);
  });

  it('never waits when unbounded (0)', () => {
    const p = new BytePacer(0, 0);
    expect(p.take(1 << 30, 0)).toBe(0);
  });
});
