import type { SharedOutput } from './shared-output.js';

/**
 * Shared frames one connection queued in a turn without a writer, after its first
 * (`Connection.sharedMore`): the frames in order and their bytes. Lent by the processor's pool and
 * reused, so the frames a member gets per turn under load cost no allocation.
 */
export class SharedRun {
  private readonly frames: (SharedOutput | null)[] = [];
  count = 0;
  bytes = 0;

  push(out: SharedOutput): void {
    this.frames[this.count++] = out;
    this.bytes += out.length;
  }

  at(i: number): SharedOutput {
    return this.frames[i]!;
  }

  /** Forgets the frames (their references were released or handed on). */
  clear(): void {
    for (let i = 0; i < this.count; i++) this.frames[i] = null;
    this.count = 0;
    this.bytes = 0;
  }
}
