import { ErrorCode, SlabcastError } from '../errors.js';

/** Returned by {@link SlabAllocator.allocate} when no free section can hold the request. */
export const NO_SECTION = -1;

/** Section tiers, smallest first. */
export const Tier = { Small: 0, Medium: 1, Large: 2 } as const;
export type Tier = (typeof Tier)[keyof typeof Tier];
const TIER_COUNT = 3;
const TIER_NAMES = ['small', 'medium', 'large'] as const;

/** Size and count of one tier's sections. */
export interface TierSpec {
  sectionBytes: number;
  sections: number;
}

/** Per-tier figures, as exposed by {@link SlabAllocator.stats}. */
export interface TierStats {
  tier: (typeof TIER_NAMES)[number];
  sectionBytes: number;
  sections: number;
  inUse: number;
  free: number;
  highWater: number;
  /** allocate() calls this tier could not serve (it was the smallest tier that fits and was full). */
  refusals: number;
}

/** Counters for one slab. */
export interface SlabStats {
  name: string;
  totalBytes: number;
  tiers: TierStats[];
  allocations: number;
  frees: number;
  /** Allocations that fell back to a larger tier because the fitting one was exhausted. */
  fallbacks: number;
  /** allocate() calls that failed: no tier that fits had a free section. */
  exhausted: number;
}

/**
 * One preallocated memory block cut into small, medium and large sections (jjenkov `MessageBuffer`).
 *
 * A section is named by an int handle (its global index). Free sections of each tier are kept on an
 * `Int32Array` stack: LIFO, so the most recently used (cache-warm, already-touched) sections are reused
 * first and pages of a rarely used tail are never touched (RSS stays low). Every section is freed exactly
 * once: a double free throws {@link ErrorCode.SlabDoubleFree} (a programmer error, never a client one).
 */
export class SlabAllocator {
  /** The whole slab; sections are `[offsetOf(s), offsetOf(s) + capacityOf(s))` of it. */
  readonly buffer: Buffer;
  readonly name: string;
  private readonly sectionOffset: Float64Array;
  private readonly sectionCapacity: Int32Array;
  private readonly sectionTier: Uint8Array;
  private readonly allocated: Uint8Array;
  private readonly tierBytes: number[];
  private readonly freeStacks: Int32Array[];
  private readonly freeTop: Int32Array;
  private readonly highWater: Int32Array;
  private readonly refusals: Float64Array;
  private allocations = 0;
  private frees = 0;
  private fallbacks = 0;
  private exhausted = 0;
  /**
   * Called after every free() with the freed section's tier, when set: the processor wakes the
   * connection waiting longest for a section of that tier (see section-waiters.ts).
   */
  onFree: ((tier: Tier) => void) | null = null;

  constructor(name: string, tiers: readonly [TierSpec, TierSpec, TierSpec]) {
    this.name = name;
    let total = 0;
    let count = 0;
    for (const t of tiers) {
      if (!Number.isInteger(t.sectionBytes) || t.sectionBytes <= 0) throw new RangeError(`slab ${name}: bad sectionBytes ${t.sectionBytes}`);
      if (!Number.isInteger(t.sections) || t.sections <= 0) throw new RangeError(`slab ${name}: bad sections ${t.sections}`);
      total += t.sectionBytes * t.sections;
      count += t.sections;
    }
    // allocUnsafeSlow: one block outside Node's pool; untouched pages cost no RSS until first used.
    this.buffer = Buffer.allocUnsafeSlow(total);
    this.sectionOffset = new Float64Array(count);
    this.sectionCapacity = new Int32Array(count);
    this.sectionTier = new Uint8Array(count);
    this.allocated = new Uint8Array(count);
    this.tierBytes = tiers.map((t) => t.sectionBytes);
    this.freeStacks = [];
    this.freeTop = new Int32Array(TIER_COUNT);
    this.highWater = new Int32Array(TIER_COUNT);
    this.refusals = new Float64Array(TIER_COUNT);
    let offset = 0;
    let index = 0;
    for (let tier = 0; tier < TIER_COUNT; tier++) {
      const spec = tiers[tier];
      const stack = new Int32Array(spec.sections);
      for (let i = 0; i < spec.sections; i++) {
        this.sectionOffset[index] = offset;
        this.sectionCapacity[index] = spec.sectionBytes;
        this.sectionTier[index] = tier;
        // Lowest index on top of the stack: allocation starts at the front of the block.
        stack[spec.sections - 1 - i] = index;
        offset += spec.sectionBytes;
        index++;
      }
      this.freeStacks.push(stack);
      this.freeTop[tier] = spec.sections;
    }
  }

  /** The largest message a section can hold. */
  get maxSectionBytes(): number {
    return this.tierBytes[TIER_COUNT - 1];
  }

  /** The smallest tier whose sections hold `bytes`, or -1 when even a large section is too small. */
  tierFor(bytes: number): Tier | -1 {
    for (let tier = 0; tier < TIER_COUNT; tier++) if (this.tierBytes[tier] >= bytes) return tier as Tier;
    return -1;
  }

  /** Section size of `tier`. */
  sectionBytesOf(tier: Tier): number {
    return this.tierBytes[tier];
  }

  /** Free sections of `tier`. */
  freeIn(tier: Tier): number {
    return this.freeTop[tier];
  }

  /**
   * A free section of exactly `tier`, or {@link NO_SECTION} when that tier is exhausted: no fallback
   * to a larger tier (the reader's rule, so a small tail never takes a large section).
   */
  allocateTier(tier: Tier): number {
    const top = this.freeTop[tier];
    if (top === 0) {
      this.refusals[tier]++;
      this.exhausted++;
      return NO_SECTION;
    }
    return this.take(tier, top);
  }

  /**
   * A free section of at least `minBytes`, from the smallest tier that fits, falling back to larger
   * tiers when that one is exhausted. Returns {@link NO_SECTION} when nothing fits; the caller must
   * choose what happens then (pause, refuse, or close) and that outcome is counted.
   */
  allocate(minBytes: number): number {
    let tier = 0;
    while (tier < TIER_COUNT && this.tierBytes[tier] < minBytes) tier++;
    if (tier === TIER_COUNT) {
      this.exhausted++;
      return NO_SECTION;
    }
    const first = tier;
    for (; tier < TIER_COUNT; tier++) {
      const top = this.freeTop[tier];
      if (top === 0) continue;
      if (tier !== first) this.fallbacks++;
      return this.take(tier, top);
    }
    this.refusals[first]++;
    this.exhausted++;
    return NO_SECTION;
  }

  /** Pops the top of `tier`'s free stack (`top` > 0 free sections). */
  private take(tier: number, top: number): number {
    const section = this.freeStacks[tier][top - 1];
    this.freeTop[tier] = top - 1;
    this.allocated[section] = 1;
    const inUse = this.freeStacks[tier].length - (top - 1);
    if (inUse > this.highWater[tier]) this.highWater[tier] = inUse;
    this.allocations++;
    return section;
  }

  /** Returns `section` to its free-list. Throws on a double free or a bad handle. */
  free(section: number): void {
    if (!(section >= 0 && section < this.allocated.length)) {
      throw new SlabcastError(ErrorCode.SlabBadSection, `slab ${this.name}: bad section ${section}`);
    }
    if (this.allocated[section] === 0) {
      throw new SlabcastError(ErrorCode.SlabDoubleFree, `slab ${this.name}: section ${section} freed twice`);
    }
    this.allocated[section] = 0;
    const tier = this.sectionTier[section];
    this.freeStacks[tier][this.freeTop[tier]++] = section;
    this.frees++;
    if (this.onFree !== null) this.onFree(tier as Tier);
  }

  /** Byte offset of `section` in {@link buffer}. */
  offsetOf(section: number): number {
    return this.sectionOffset[section];
  }

  /** Capacity of `section` in bytes. */
  capacityOf(section: number): number {
    return this.sectionCapacity[section];
  }

  /** Whether `section` is currently allocated (for tests and assertions). */
  isAllocated(section: number): boolean {
    return this.allocated[section] === 1;
  }

  /** Sections currently allocated, all tiers. */
  get inUse(): number {
    let n = 0;
    for (let t = 0; t < TIER_COUNT; t++) n += this.freeStacks[t].length - this.freeTop[t];
    return n;
  }

  /** Whether every free-list is full again (the no-leak property). */
  get allFree(): boolean {
    return this.inUse === 0;
  }

  /** A snapshot of the slab's counters. */
  stats(): SlabStats {
    const tiers: TierStats[] = [];
    for (let t = 0; t < TIER_COUNT; t++) {
      const sections = this.freeStacks[t].length;
      tiers.push({
        tier: TIER_NAMES[t],
        sectionBytes: this.tierBytes[t],
        sections,
        inUse: sections - this.freeTop[t],
        free: this.freeTop[t],
        highWater: this.highWater[t],
        refusals: this.refusals[t],
      });
    }
    return {
      name: this.name,
      totalBytes: this.buffer.length,
      tiers,
      allocations: this.allocations,
      frees: this.frees,
      fallbacks: this.fallbacks,
      exhausted: this.exhausted,
    };
  }
}
