/**
 * The audio cache's share of its filesystem: whether the disk admits more bytes above
 * --min-free-disk-bytes (after the store evicted what it can), the effective cache budget
 * min(--max-cache-bytes, bytes stored + free space above the reserve), and the `full` state that
 * holds from a refusal for want of space until what that request needed fits again (each change
 * reported once through {@link DiskBudget.onDiskFull}).
 */
import { DiskSpace, DiskState } from '../../storage/disk-space.js';

/** Free-space admission and state for one cache directory; see the module comment. */
export class DiskBudget {
  /** The filesystem of the cache directory and its reserve (--min-free-disk-bytes). */
  readonly disk: DiskSpace;
  /** Hook for the change between storing and refusing for want of space (logged once per change). */
  onDiskFull: ((full: boolean, disk: DiskSpace) => void) | null = null;
  /** Bytes the last refusal for want of space needed; 0 once something fits again. */
  #refusedBytes = 0;

  constructor(dir: string, minFreeBytes: number) {
    this.disk = new DiskSpace(dir, minFreeBytes);
  }

  /** What the last refusal for want of space needed (0: none pending): a START must fit that much too. */
  get refusedBytes(): number {
    return this.#refusedBytes;
  }

  /**
   * True when `bytes` more fit on the disk above its reserve; when they do not, `evict` is asked to
   * free the shortfall and the disk is sampled again (an evicted stream still being read frees its
   * blocks only when the read completes, so it is not trusted to have made room).
   */
  admits(bytes: number, evict: (shortfall: number) => boolean): boolean {
    if (this.disk.admits(bytes)) return true;
    return evict(this.disk.shortfall(bytes)) && this.disk.admits(bytes);
  }

  /** A request needing `bytes` was refused for want of space: the state is `full` until that fits. */
  refused(bytes: number): void {
    this.#set(Math.max(1, bytes));
  }

  /** Something was stored or admitted: the disk is no longer held `full`. */
  fits(): void {
    this.#set(0);
  }

  /** Why a request found no space: the refused reservation's error (`failure`), or the sampled figures. */
  reason(failure: unknown, code: (error: unknown) => string): string {
    const d = this.disk;
    if (failure !== null) return `the filesystem refused to reserve the blocks (${code(failure)})`;
    return `${d.freeBytes} bytes free on the cache's filesystem, ${d.minFreeBytes} kept free (--min-free-disk-bytes)`;
  }

  /**
   * Samples the disk: `full` while the last refused request still would not fit (or at most the
   * reserve is free), else the disk's own state. Space freed meanwhile (a file removed by the
   * operator) is noticed here too, and reported once through onDiskFull.
   */
  state(): DiskState {
    const state = this.disk.sample().state;
    if (this.#refusedBytes === 0 || state === DiskState.Unknown) return state;
    if (this.disk.headroomBytes < this.#refusedBytes) return DiskState.Full;
    this.fits();
    return state;
  }

  /** min(`maxCacheBytes`, `storedBytes` + free space above the reserve) at the last sample; `maxCacheBytes` when unknown. */
  budget(storedBytes: number, maxCacheBytes: number): number {
    const headroom = this.disk.headroomBytes;
    return Number.isNaN(headroom) ? maxCacheBytes : Math.min(maxCacheBytes, storedBytes + headroom);
  }

  #set(bytes: number): void {
    const wasFull = this.#refusedBytes > 0;
    this.#refusedBytes = bytes;
    if (wasFull !== bytes > 0) this.onDiskFull?.(bytes > 0, this.disk);
  }
}
