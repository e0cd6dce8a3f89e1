import type { Releasable } from './message-writer.js';

/** One queued piece of output: a write-slab section, or `buf[offset, offset + length)` with its owner. */
export interface QueuedOutput {
  section: number;
  length: number;
  buf: Uint8Array | null;
  /** Where the bytes start in `buf` (0 for a section). */
  offset: number;
  owner: Releasable | null;
}

/**
 * A writer's output queued before its fill section, in order. Records are reused from flush to
 * flush, so queuing a broadcast frame on a member allocates nothing once the queue has grown.
 */
export class OutputQueue {
  private readonly records: QueuedOutput[] = [];
  /** Records in use, from index 0. */
  count = 0;

  push(section: number, length: number, buf: Uint8Array | null, offset: number, owner: Releasable | null): void {
    if (this.count < this.records.length) {
      const r = this.records[this.count];
      r.section = section;
      r.length = length;
      r.buf = buf;
      r.offset = offset;
      r.owner = owner;
    } else this.records.push({ section, length, buf, offset, owner });
    this.count++;
  }

  at(i: number): QueuedOutput {
    return this.records[i];
  }

  /** Forgets every record (drops their references; the caller has released what they held). */
  clear(): void {
    for (let i = 0; i < this.count; i++) {
      const r = this.records[i];
      r.buf = null;
      r.owner = null;
    }
    this.count = 0;
  }
}
