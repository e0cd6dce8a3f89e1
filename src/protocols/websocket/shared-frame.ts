import type { Releasable } from '../../core/message-writer.js';
import { NO_SECTION, type SlabAllocator } from '../../core/slab.js';
import { frameHeaderLength, writeFrameHeader } from './frame-writer.js';

/**
 * One encoded frame sent to many sockets (uWS `TopicTree`): encoded once into a write-slab section
 * (or a heap buffer when no section is free or it is too large), the same bytes are queued on every
 * recipient, and a reference count frees the section when the last write completed.
 */
export class SharedFrame implements Releasable {
  /**
   * Where the frame bytes (header + payload, or only the header when {@link payload} is set) are:
   * `buffer[offset, offset + length)`, the write slab itself or a heap buffer. Every recipient queues
   * this same range (no view per frame: the slab is one long-lived buffer).
   */
  readonly buffer: Buffer;
  readonly offset: number;
  readonly length: number;
  /**
   * A payload sent from where it already is (a message assembled in the oversize area), after
   * {@link bytes}; null when the payload was copied into {@link bytes}.
   */
  readonly payload: Uint8Array | null = null;
  private refs = 1;
  private section: number;
  private lent: Releasable | null = null;

  /**
   * @param owner the owner of `payload`'s memory (a mapping lease, an oversize block), or null. A
   *   payload too large for a write section is then sent from where it is, held by `owner` until the
   *   last recipient's write completed, instead of being copied; otherwise `owner` is released at once.
   */
  constructor(
    private readonly slab: SlabAllocator,
    opcode: number,
    payload: Uint8Array | string,
    owner: Releasable | null = null,
    /** The payload is compressed (permessage-deflate): RSV1 is set. */
    compressed = false,
  ) {
    const length = typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
    const total = frameHeaderLength(length) + length;
    let target: Buffer;
    let at = 0;
    if (owner !== null) {
      if (total > slab.maxSectionBytes && typeof payload !== 'string') {
        this.lent = owner;
        this.section = NO_SECTION;
        this.buffer = Buffer.allocUnsafe(frameHeaderLength(length));
        this.offset = 0;
        this.length = writeFrameHeader(this.buffer, 0, opcode, true, length, compressed);
        this.payload = payload;
        return;
      }
      owner.release();
    }
    this.section = total <= slab.maxSectionBytes ? slab.allocate(total) : NO_SECTION;
    if (this.section !== NO_SECTION) {
      target = slab.buffer;
      at = slab.offsetOf(this.section);
    } else target = Buffer.allocUnsafe(total);
    const h = writeFrameHeader(target, at, opcode, true, length, compressed);
    if (typeof payload === 'string') target.write(payload, at + h, length, 'utf8');
    else target.set(payload, at + h);
    this.buffer = target;
    this.offset = at;
    this.length = total;
  }

  /** Takes a reference for one more recipient (released by its writer when the write completed). */
  retain(): this {
    this.refs++;
    return this;
  }

  /** Drops a reference; the last one frees the section (or lets go of the lent payload). */
  release(): void {
    if (--this.refs !== 0) return;
    if (this.section !== NO_SECTION) {
      this.slab.free(this.section);
      this.section = NO_SECTION;
    }
    if (this.lent !== null) {
      this.lent.release();
      this.lent = null;
    }
  }
}
