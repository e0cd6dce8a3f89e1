/**
 * An exclusive, advisory lock on one file shared by several processes (flock(2), LOCK_EX | LOCK_NB,
 * from the addon): the audio cache's "one writer per stream" across `--workers`. The lock belongs to
 * the open file description, so it is released when {@link FileLock.release} closes the descriptor —
 * or when the process dies, however it dies: a crashed worker never leaves a stream locked.
 *
 * A lock is only worth something while the path still names the locked file: a process that opened
 * the file just before another one unlinked it would otherwise lock a file nobody else will ever
 * open. So after locking, the path is checked to name the same device and inode.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, statSync } from 'node:fs';
import { mmap } from '../native.js';

/** Why {@link FileLock.acquire} returned no lock. */
export const LockRefusal = {
  /** Another open file description (another process, or another open here) holds the lock. */
  Held: 'held',
  /** The file does not exist (and `create` was false). */
  Missing: 'missing',
  /** The path kept naming another file each time it was locked (unlinked or replaced meanwhile). */
  Stale: 'stale',
} as const;
export type LockRefusal = (typeof LockRefusal)[keyof typeof LockRefusal];

/** Tries before {@link LockRefusal.Stale}: each one lost a race with an unlink of the path. */
const MAX_ATTEMPTS = 3;

/** A held lock: one descriptor, released (closed) once. */
export class FileLock {
  #fd: number;

  private constructor(readonly path: string, fd: number) {
    this.#fd = fd;
  }

  /**
   * Opens `path` (creating it, mode 0o644, when `create`) and locks it without waiting. Returns the
   * lock or why there is none; throws Node-style system errors (EMFILE, EACCES…) with `path`.
   */
  static acquire(path: string, create: boolean): FileLock | LockRefusal {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, fsConstants.O_RDWR | (create ? fsConstants.O_CREAT : 0), 0o644);
      } catch (error) {
        if (!create && (error as NodeJS.ErrnoException).code === 'ENOENT') return LockRefusal.Missing;
        throw error;
      }
      let locked: boolean;
      let current: boolean;
      try {
        locked = mmap.lockExclusive(fd);
        current = locked && namesSameFile(path, fd);
      } catch (error) {
        closeSync(fd);
        throw Object.assign(error as Error, { path });
      }
      if (current) return new FileLock(path, fd);
      closeSync(fd);
      if (!locked) return LockRefusal.Held;
    }
    return LockRefusal.Stale;
  }

  /**
   * Locks an existing file without creating it, following a symlink or blocking on a FIFO
   * (O_RDONLY | O_NOFOLLOW | O_NONBLOCK: flock needs no write access): for a process that must not
   * touch a file another one holds (quarantine at start-up). Refusals as {@link FileLock.acquire};
   * a symlink throws ELOOP.
   */
  static acquireExisting(path: string): FileLock | LockRefusal {
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return LockRefusal.Missing;
      throw error;
    }
    try {
      if (!mmap.lockExclusive(fd)) {
        closeSync(fd);
        return LockRefusal.Held;
      }
      if (!namesSameFile(path, fd)) {
        closeSync(fd);
        return LockRefusal.Stale;
      }
    } catch (error) {
      closeSync(fd);
      throw Object.assign(error as Error, { path });
    }
    return new FileLock(path, fd);
  }

  /** True until release(). */
  get held(): boolean {
    return this.#fd >= 0;
  }

  /** Closes the descriptor, which releases the lock. Idempotent. */
  release(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    closeSync(fd);
  }
}

/** Whether `path` names the file open as `fd` (same device and inode). */
function namesSameFile(path: string, fd: number): boolean {
  const named = statSync(path, { throwIfNoEntry: false });
  if (named === undefined) return false;
  const open = fstatSync(fd);
  return named.ino === open.ino && named.dev === open.dev;
}
