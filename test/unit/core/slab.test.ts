import { describe, expect, it } from 'vitest';
import { NO_SECTION, SlabAllocator } from '../../../src/core/slab.js';

const tiers = [
  { sectionBytes: 16, sections: 4 },
  { sectionBytes: 64, sections: 2 },
  { sectionBytes: 256, sections: 1 },
] as const;

describe('SlabAllocator', () => {
  it('serves the smallest tier that fits, with disjoint sections inside one block', () => {
    const slab = new SlabAllocator('t', tiers);
    expect(slab.buffer.length).toBe(16 * 4 + 64 * 2 + 256);
    const a = slab.allocate(1);
    const b = slab.allocate(16);
    const m = slab.allocate(17);
    const l = slab.allocate(65);
    expect([slab.capacityOf(a), slab.capacityOf(b), slab.capacityOf(m), slab.capacityOf(l)]).toEqual([16, 16, 64, 256]);
    const ranges = [a, b, m, l].map((s) => [slab.offsetOf(s), slab.offsetOf(s) + slab.capacityOf(s)]).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThanOrEqual(ranges[i - 1][1]);
    for (const r of ranges) expect(r[1]).toBeLessThanOrEqual(slab.buffer.length);
  });

  it('falls back to a larger tier when the fitting one is exhausted, and reports NO_SECTION past that', () => {
    const slab = new SlabAllocator('t', tiers);
    const small = Array.from({ length: 4 }, () => slab.allocate(8));
    expect(small.every((s) => slab.capacityOf(s) === 16)).toBe(true);
    const fallback = slab.allocate(8);
    expect(slab.capacityOf(fallback)).toBe(64);
    expect(slab.stats().fallbacks).toBe(1);
    slab.allocate(8);
    slab.allocate(8);
    expect(slab.allocate(8)).toBe(NO_SECTION);
    expect(slab.allocate(257)).toBe(NO_SECTION);
    const st = slab.stats();
    expect(st.exhausted).toBe(2);
    expect(st.tiers[0].refusals).toBe(1);
  });

  it('free returns sections to their free-list (LIFO) and tracks high-water marks', () => {
    const slab = new SlabAllocator('t', tiers);
    const a = slab.allocate(1);
    const b = slab.allocate(1);
    slab.free(b);
    expect(slab.allocate(1)).toBe(b);
    slab.free(a);
    slab.free(b);
    expect(slab.allFree).toBe(true);
    const st = slab.stats();
    expect(st.tiers[0]).toMatchObject({ inUse: 0, free: 4, highWater: 2 });
    expect(st.allocations).toBe(3);
    expect(st.frees).toBe(3);
  });

  it('throws on a double free or a bad handle (programmer errors)', () => {
    const slab = new SlabAllocator('t', tiers);
    const a = slab.allocate(1);
    slab.free(a);
    expect(() => slab.free(a)).toThrow(expect.objectContaining({ code: 'ERR_SLAB_DOUBLE_FREE' }));
    expect(() => slab.free(999)).toThrow(expect.objectContaining({ code: 'ERR_SLAB_BAD_SECTION' }));
    expect(() => slab.free(NO_SECTION)).toThrow(expect.objectContaining({ code: 'ERR_SLAB_BAD_SECTION' }));
  });

  it('calls onFree after every free (the processor wakes memory waiters with it)', () => {
    const slab = new SlabAllocator('t', tiers);
    let n = 0;
    slab.onFree = () => n++;
    slab.free(slab.allocate(1));
    expect(n).toBe(1);
  });

  it('rejects bad tier specs', () => {
    expect(() => new SlabAllocator('t', [{ sectionBytes: 0, sections: 1 }, tiers[1], tiers[2]])).toThrow(RangeError);
  });
});
