/**
 * Free space on the filesystem that holds a directory (statvfs through the addon), and the reserve
 * a writer keeps free on it.
 *
 * A sample is one statvfs(2) call into a preallocated array: it is taken when a writer is about to
 * reserve blocks (geometric growth, so rarely; per chunk only once the disk is nearly full), and
 * when an operator asks (`/readyz`, `/metrics`). No timer polls it.
 *
 * The figure is `f_bavail × f_frsize`: the bytes an unprivileged writer may still take (root's
 * reserved blocks are not counted as free), which is what a later posix_fallocate can get.
 */
import { dirname } from 'node:path';
import { mmap } from '../native.js';

/** How full the filesystem is, relative to the reserve ({@link DiskSpace.minFreeBytes}). */
export const DiskState = {
  /** More than twice the reserve is free. */
  Ok: 'ok',
  /** Less than twice the reserve is free: storing still works, the operator should act. */
  Low: 'low',
  /** The reserve (or less) is free: nothing more is stored until space is freed. */
  Full: 'full',
  /** statvfs failed (the error is in `lastError`); writers rely on posix_fallocate alone. */
  Unknown: 'unknown',
} as const;
export type DiskState = (typeof DiskState)[keyof typeof DiskState];

// Slots of the statvfs out-array (native/mmap.cc Statvfs).
const FRSIZE = 0;
const BLOCKS = 1;
const BAVAIL = 3;
const RDONLY = 4;

/** The filesystem under one directory; see the module comment. */
export class DiskSpace {
  /** Bytes always left free: a writer is admitted only while more than this stays free. */
  readonly minFreeBytes: number;
  /** Bytes free at the last sample (NaN before the first, or after a failed one). */
  freeBytes = Number.NaN;
  /** Size of the filesystem at the last sample. */
  totalBytes = Number.NaN;
  /** The filesystem was mounted read-only at the last sample (ST_RDONLY). */
  readOnly = false;
  /** The `code` of the last failed statvfs, or null after a good sample. */
  lastError: string | null = null;
  readonly #dir: string;
  readonly #out = new Float64Array(5);

  constructor(dir: string, minFreeBytes: number) {
    if (!Number.isSafeInteger(minFreeBytes) || minFreeBytes < 0) throw new RangeError(`DiskSpace: minFreeBytes must be an integer >= 0, got ${minFreeBytes}`);
    this.#dir = dir;
    this.minFreeBytes = minFreeBytes;
  }

  /**
   * Samples statvfs of the directory, or of its nearest existing ancestor while it does not exist
   * yet (it will be created on that filesystem). A failure is recorded in `lastError`, not thrown.
   */
  sample(): this {
    let path = this.#dir;
    for (;;) {
      try {
        mmap.statvfs(path, this.#out);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
        const parent = dirname(path);
        if (code === 'ENOENT' && parent !== path) {
          path = parent;
          continue;
        }
        this.lastError = code;
        this.freeBytes = Number.NaN;
        this.totalBytes = Number.NaN;
        return this;
      }
    }
    const out = this.#out;
    this.freeBytes = out[BAVAIL] * out[FRSIZE];
    this.totalBytes = out[BLOCKS] * out[FRSIZE];
    this.readOnly = out[RDONLY] === 1;
    this.lastError = null;
    return this;
  }

  /**
   * Samples, then: true when `bytes` more can be stored with more than the reserve left free
   * (`free - bytes >= minFreeBytes`). True as well when the sample failed: posix_fallocate is then
   * the only guard, and it still refuses with ENOSPC rather than letting a write fault.
   */
  admits(bytes: number): boolean {
    this.sample();
    if (Number.isNaN(this.freeBytes)) return true;
    return this.freeBytes - bytes >= this.minFreeBytes;
  }

  /** Bytes that must be freed before `bytes` more are admitted (0 when they are, or unknown). */
  shortfall(bytes: number): number {
    if (Number.isNaN(this.freeBytes)) return 0;
    return Math.max(0, bytes + this.minFreeBytes - this.freeBytes);
  }

  /** Bytes that may still be stored at the last sample: free space above the reserve (NaN if unknown). */
  get headroomBytes(): number {
    return Math.max(0, this.freeBytes - this.minFreeBytes);
  }

  /** The state at the last sample. */
  get state(): DiskState {
    if (Number.isNaN(this.freeBytes)) return DiskState.Unknown;
    if (this.freeBytes <= this.minFreeBytes) return DiskState.Full;
    if (this.freeBytes < 2 * this.minFreeBytes) return DiskState.Low;
    return DiskState.Ok;
  }
}
