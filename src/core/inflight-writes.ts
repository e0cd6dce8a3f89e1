import type { Releasable } from './message-writer.js';
import { NO_SECTION, type SlabAllocator } from './slab.js';

/**
 * Writes a connection handed to its socket that the kernel has not taken yet, oldest first: the
 * section (or external buffer owner) to release and the byte count of each. Writes complete in
 * order, so completion always pops the head. Created on a writer's first tracked write: on the
 * native transport that is only a partial write, so most connections never have one.
 */
export class InflightWrites {
  private readonly sections: number[] = [];
  private readonly owners: (Releasable | null)[] = [];
  private readonly bytes: number[] = [];
  private head = 0;
  /** Bytes of the writes in flight (handed to the socket, not completed). */
  total = 0;
  /** `net.Socket` write callback (node transport), bound once per writer. */
  readonly afterWrite: () => void;

  constructor(onComplete: () => void) {
    this.afterWrite = onComplete;
  }

  /** Writes in flight. */
  get count(): number {
    return this.sections.length - this.head;
  }

  push(section: number, owner: Releasable | null, bytes: number): void {
    this.sections.push(section);
    this.owners.push(owner);
    this.bytes.push(bytes);
    this.total += bytes;
  }

  /** Releases the oldest write; returns its byte count, or -1 when nothing is in flight. */
  shift(slab: SlabAllocator): number {
    const i = this.head;
    if (i >= this.sections.length) return -1;
    this.head++;
    const section = this.sections[i];
    if (section !== NO_SECTION) slab.free(section);
    const owner = this.owners[i];
    if (owner !== null) {
      this.owners[i] = null;
      owner.release();
    }
    const n = this.bytes[i];
    this.total -= n;
    if (this.head === this.sections.length) this.clear();
    return n;
  }

  /** Releases everything still in flight (the socket closed). */
  releaseAll(slab: SlabAllocator): void {
    for (let i = this.head; i < this.sections.length; i++) {
      if (this.sections[i] !== NO_SECTION) slab.free(this.sections[i]);
      const owner = this.owners[i];
      if (owner !== null) owner.release();
    }
    this.clear();
  }

  private clear(): void {
    this.sections.length = 0;
    this.owners.length = 0;
    this.bytes.length = 0;
    this.head = 0;
    this.total = 0;
  }
}
