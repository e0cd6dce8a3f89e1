import type { Releasable } from './message-writer.js';

/**
 * Bytes queued on many connections at once (a broadcast frame): `buffer[offset, offset + length)`,
 * reference-counted — each connection it is queued on holds one reference ({@link retain}) and
 * releases it once the kernel has taken the bytes or the connection closed.
 */
export interface SharedOutput extends Releasable {
  readonly buffer: Uint8Array;
  readonly offset: number;
  readonly length: number;
  /** Takes one more reference (the caller's connection releases it). */
  retain(): SharedOutput;
}
