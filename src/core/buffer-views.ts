import { Buffer } from 'node:buffer';

/**
 * Makes Buffer views of the few long-lived buffers input is parsed from (the transport's read arena,
 * the read slab). `buf.subarray()` reads `buf.buffer` and `buf.byteOffset`, each a call into the
 * runtime in optimized code; the last buffer's are kept here, so a view costs its allocation only.
 * Holds the last buffer seen until another one replaces it.
 */
export class BufferViews {
  private last: Buffer | null = null;
  private lastBuffer: ArrayBufferLike = EMPTY;
  private lastBase = 0;

  /** `buf[start, end)` as a Buffer sharing its memory (as `buf.subarray(start, end)`; 0 ≤ start ≤ end ≤ buf.length). */
  view(buf: Buffer, start: number, end: number): Buffer {
    if (buf !== this.last) {
      this.last = buf;
      this.lastBuffer = buf.buffer;
      this.lastBase = buf.byteOffset;
    }
    return Buffer.from(this.lastBuffer as ArrayBuffer, this.lastBase + start, end - start);
  }
}

const EMPTY = new ArrayBuffer(0);
