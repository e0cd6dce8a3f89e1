import type { Connection } from './connection.js';
import type { Releasable } from './message-writer.js';
import { PauseReason } from './pause-reason.js';

/** Returned by {@link OversizeArea.allocate} when the budget has no room now. */
export const NO_BLOCK = -1;

/** Allocation unit of the area: blocks are whole units, so a handful of extents describe it. */
export const OVERSIZE_UNIT_BYTES = 64 * 1024;

/** Counters of the oversize area. */
export interface OversizeStats {
  /** The budget (`--max-oversize-bytes`). */
  budgetBytes: number;
  /** Bytes of blocks in use now (whole units). */
  inUseBytes: number;
  /** Most bytes in use at once. */
  highWaterBytes: number;
  /** Blocks handed out. */
  allocations: number;
  /** Connections paused because the budget had no room (woken in FIFO order as blocks are freed). */
  waits: number;
  /** Connections waiting now. */
  waiting: number;
  /** Requests that could never fit the budget (the protocol answers 1009). */
  tooLarge: number;
  /** Waiters refused because every byte in use was held by waiters (no free could ever come). */
  deadlocks: number;
}

/** One reference to a block, released once (the owner of a zero-copy write). */
class BlockLease implements Releasable {
  constructor(
    private area: OversizeArea | null,
    private readonly block: number,
  ) {}

  release(): void {
    const area = this.area;
    this.area = null;
    area?.release(this.block);
  }
}

interface Waiter {
  conn: Connection;
  units: number;
  /** Units `conn` holds while it waits (a message that must grow). */
  heldUnits: number;
}

/**
 * The memory for messages larger than a large slab section: one block of `budgetBytes`, reserved
 * (not touched: untouched pages cost no RSS) on first use and cut into blocks of whole
 * {@link OVERSIZE_UNIT_BYTES} units, first fit, freed blocks coalescing with their neighbours. Its
 * bound is hard: nothing outside it is allocated for big messages, so what the server holds for
 * them never passes the budget, and nothing is allocated per message.
 *
 * A block is named by its first unit (an int handle, like a slab section) and reference-counted: the
 * protocol holds it while it assembles a message, and a zero-copy send of it (echo, fan-out) holds it
 * until the socket took the bytes.
 *
 * When the budget has no room, the connection is paused (not failed) and queued: each free wakes the
 * oldest waiter whose block now fits, and keeps that block for it, so a newcomer cannot overtake the
 * queue. A request larger than the whole budget can never fit (the caller answers 1009). A waiter that
 * holds a block itself (a fragmented message growing) could wait forever when every byte in use is
 * held by waiters: the waiter whose wait closed that circle is refused (the protocol closes it 1013)
 * and what it held wakes the others.
 */
export class OversizeArea {
  readonly budgetBytes: number;
  private readonly units: number;
  private memory: Buffer | null = null;
  /** Units of the block starting at each unit (0 where no allocated block starts). */
  private readonly blockUnits: Int32Array;
  private readonly refs: Int32Array;
  /** Free extents, sorted by start. */
  private freeStart: number[];
  private freeUnits: number[];
  private inUseUnits = 0;
  private highWaterUnits = 0;
  private allocations = 0;
  private waits = 0;
  private tooLarge = 0;
  private deadlocks = 0;
  private readonly waiters: Waiter[] = [];
  /** Blocks allocated for woken waiters, until they take them. */
  private readonly granted = new Map<Connection, number>();

  constructor(budgetBytes: number) {
    if (!Number.isSafeInteger(budgetBytes) || budgetBytes < 0) throw new RangeError(`oversize area: bad budget ${budgetBytes}`);
    this.units = Math.floor(budgetBytes / OVERSIZE_UNIT_BYTES);
    this.budgetBytes = this.units * OVERSIZE_UNIT_BYTES;
    this.blockUnits = new Int32Array(this.units);
    this.refs = new Int32Array(this.units);
    this.freeStart = this.units > 0 ? [0] : [];
    this.freeUnits = this.units > 0 ? [this.units] : [];
  }

  /** The area's memory: blocks are `[offsetOf(b), offsetOf(b) + capacityOf(b))` of it. */
  get buffer(): Buffer {
    // allocUnsafeSlow: one block outside Node's pool; its pages cost RSS only once written.
    return (this.memory ??= Buffer.allocUnsafeSlow(this.budgetBytes));
  }

  /** Units a request of `bytes` takes. */
  static unitsFor(bytes: number): number {
    return Math.max(1, Math.ceil(bytes / OVERSIZE_UNIT_BYTES));
  }

  /** Whether `bytes` could ever fit (the budget is larger). */
  fits(bytes: number): boolean {
    return OversizeArea.unitsFor(bytes) <= this.units;
  }

  /**
   * A block of at least `bytes` for `conn` (reference count 1), or {@link NO_BLOCK} when it must wait
   * (then call {@link wait}). A block kept for `conn` when it was woken is handed over first.
   */
  allocate(conn: Connection, bytes: number): number {
    const units = OversizeArea.unitsFor(bytes);
    const kept = this.granted.get(conn);
    if (kept !== undefined) {
      this.granted.delete(conn);
      if (this.blockUnits[kept] >= units) return kept;
      this.free(kept); // its need grew since: ask again like anyone else
    }
    if (this.waiters.length === 0) return this.take(units);
    if (this.waiters[0].conn !== conn) return NO_BLOCK; // others wait first
    const block = this.take(units);
    if (block !== NO_BLOCK) this.waiters.shift();
    return block;
  }

  /**
   * Pauses `conn` (memory) until a block of `bytes` can be allocated for it; `heldBytes` is what it
   * holds meanwhile. False when that can never happen: the request is larger than the budget, or
   * waiters hold every byte in use (the caller refuses the message; see the class comment).
   */
  wait(conn: Connection, bytes: number, heldBytes: number): boolean {
    const units = OversizeArea.unitsFor(bytes);
    if (units > this.units) {
      this.tooLarge++;
      return false;
    }
    const i = this.indexOf(conn);
    if (i < 0) {
      this.waiters.push({ conn, units, heldUnits: heldBytes > 0 ? OversizeArea.unitsFor(heldBytes) : 0 });
      this.waits++;
    } else this.waiters[i].units = units;
    conn.pause(PauseReason.Memory);
    if (this.deadlocked()) {
      this.deadlocks++;
      this.cancel(conn);
      return false;
    }
    this.wake();
    return true;
  }

  /** `conn` no longer waits (it closed): a block kept for it goes to the next waiter. */
  cancel(conn: Connection): void {
    if (this.waiters.length === 0 && this.granted.size === 0) return;
    const i = this.indexOf(conn);
    if (i >= 0) this.waiters.splice(i, 1);
    const kept = this.granted.get(conn);
    if (kept !== undefined) {
      this.granted.delete(conn);
      this.release(kept);
    } else if (i >= 0) this.wake();
  }

  /** One more owner of `block` (a write that sends it without copying). */
  retain(block: number): void {
    this.refs[block]++;
  }

  /** Drops one owner; the last one frees the block and wakes waiters. */
  release(block: number): void {
    if (!(block >= 0 && block < this.units) || this.refs[block] <= 0) throw new RangeError(`oversize area: bad release of block ${block}`);
    if (--this.refs[block] > 0) return;
    this.free(block);
    this.wake();
  }

  /**
   * When `view` lies inside a block in use: one more reference to that block, returned as the
   * owner to release once a write that sends `view` completed (a zero-copy send). Else null.
   */
  lend(view: Uint8Array): Releasable | null {
    const memory = this.memory;
    if (memory === null || view.buffer !== memory.buffer) return null;
    const offset = view.byteOffset - memory.byteOffset;
    if (offset < 0 || offset + view.length > memory.length) return null;
    let block = Math.floor(offset / OVERSIZE_UNIT_BYTES);
    while (block > 0 && this.blockUnits[block] === 0) block--;
    if (this.refs[block] <= 0 || (block + this.blockUnits[block]) * OVERSIZE_UNIT_BYTES < offset + view.length) return null;
    this.refs[block]++;
    return new BlockLease(this, block);
  }

  /** Byte offset of `block` in {@link buffer}. */
  offsetOf(block: number): number {
    return block * OVERSIZE_UNIT_BYTES;
  }

  /** Capacity of `block` in bytes. */
  capacityOf(block: number): number {
    return this.blockUnits[block] * OVERSIZE_UNIT_BYTES;
  }

  /** Bytes in use now. */
  get inUseBytes(): number {
    return this.inUseUnits * OVERSIZE_UNIT_BYTES;
  }

  stats(): OversizeStats {
    return {
      budgetBytes: this.budgetBytes,
      inUseBytes: this.inUseUnits * OVERSIZE_UNIT_BYTES,
      highWaterBytes: this.highWaterUnits * OVERSIZE_UNIT_BYTES,
      allocations: this.allocations,
      waits: this.waits,
      waiting: this.waiters.length,
      tooLarge: this.tooLarge,
      deadlocks: this.deadlocks,
    };
  }

  private indexOf(conn: Connection): number {
    for (let i = 0; i < this.waiters.length; i++) if (this.waiters[i].conn === conn) return i;
    return -1;
  }

  /** Wakes waiters in order while the oldest one's block can be cut: it is kept for it. */
  private wake(): void {
    while (this.waiters.length > 0) {
      const head = this.waiters[0];
      const block = this.take(head.units);
      if (block === NO_BLOCK) return;
      this.waiters.shift();
      this.granted.set(head.conn, block);
      head.conn.unpause(PauseReason.Memory);
    }
  }

  /** Every unit in use is held by waiters, and the oldest one's block cannot be cut: nothing will ever free. */
  private deadlocked(): boolean {
    if (this.waiters.length === 0 || this.granted.size > 0) return false;
    let held = 0;
    for (const w of this.waiters) held += w.heldUnits;
    return held > 0 && held >= this.inUseUnits && !this.canCut(this.waiters[0].units);
  }

  private canCut(units: number): boolean {
    for (let i = 0; i < this.freeUnits.length; i++) if (this.freeUnits[i] >= units) return true;
    return false;
  }

  /** First fit: cuts `units` from the first free extent that holds them. */
  private take(units: number): number {
    for (let i = 0; i < this.freeUnits.length; i++) {
      const n = this.freeUnits[i];
      if (n < units) continue;
      const block = this.freeStart[i];
      if (n === units) {
        this.freeStart.splice(i, 1);
        this.freeUnits.splice(i, 1);
      } else {
        this.freeStart[i] = block + units;
        this.freeUnits[i] = n - units;
      }
      this.blockUnits[block] = units;
      this.refs[block] = 1;
      this.inUseUnits += units;
      if (this.inUseUnits > this.highWaterUnits) this.highWaterUnits = this.inUseUnits;
      this.allocations++;
      return block;
    }
    return NO_BLOCK;
  }

  /** Returns `block` to the free extents, merged with free neighbours. */
  private free(block: number): void {
    const units = this.blockUnits[block];
    this.blockUnits[block] = 0;
    this.refs[block] = 0;
    this.inUseUnits -= units;
    let i = 0;
    while (i < this.freeStart.length && this.freeStart[i] < block) i++;
    const mergesBefore = i > 0 && this.freeStart[i - 1] + this.freeUnits[i - 1] === block;
    const mergesAfter = i < this.freeStart.length && block + units === this.freeStart[i];
    if (mergesBefore && mergesAfter) {
      this.freeUnits[i - 1] += units + this.freeUnits[i];
      this.freeStart.splice(i, 1);
      this.freeUnits.splice(i, 1);
    } else if (mergesBefore) this.freeUnits[i - 1] += units;
    else if (mergesAfter) {
      this.freeStart[i] = block;
      this.freeUnits[i] += units;
    } else {
      this.freeStart.splice(i, 0, block);
      this.freeUnits.splice(i, 0, units);
    }
  }
}
