import type { SlabAllocator } from '../../core/slab.js';

/**
 * Memory use as a fraction in [0, 1]: the fuller of the given slabs, by bytes of sections in use.
 * Asked once per START (not per chunk), so the stats snapshot it takes is cheap enough.
 */
export function slabPressure(slabs: readonly SlabAllocator[]): () => number {
  return () => {
    let worst = 0;
    for (const slab of slabs) {
      const s = slab.stats();
      let used = 0;
      for (const tier of s.tiers) used += tier.inUse * tier.sectionBytes;
      if (s.totalBytes > 0) worst = Math.max(worst, used / s.totalBytes);
    }
    return worst;
  };
}
