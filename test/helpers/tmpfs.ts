/**
 * Small real filesystems for fault tests: a tmpfs of a few MiB fills up for real (ENOSPC), and can
 * be remounted read-only (EROFS). Needs root (CAP_SYS_ADMIN): without it the tests skip with a loud
 * message, and under CI=true they fail instead (CI runs as root).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let probed: boolean | null = null;

/** Whether this process can mount a tmpfs (tried once, for real). */
function canMount(): boolean {
  if (probed !== null) return probed;
  probed = false;
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const dir = mkdtempSync(join(tmpdir(), 'slabcast-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    probed = true;
  } catch {
    // Probing for a capability: a failed mount is the answer (not root, no CAP_SYS_ADMIN), not an error.
    probed = false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return probed;
}

/**
 * Whether the tmpfs tests run here. Under CI=true they must: no mount is a failure, never a silent
 * skip. Elsewhere they skip with a loud message naming `what`.
 */
export function tmpfsAvailable(what: string): boolean {
  if (canMount()) return true;
  if (process.env.CI === 'true') throw new Error(`${what}: cannot mount a tmpfs (needs root / CAP_SYS_ADMIN) but CI=true`);
  process.stderr.write(`\n*** ${what} SKIPPED: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN). Run as root to run them. ***\n\n`);
  return false;
}

/** A mounted tmpfs of `bytes` bytes on a fresh directory under os.tmpdir(). */
export interface Tmpfs {
  readonly dir: string;
  /** `mount -o remount,<options>` (e.g. `ro`, `rw`). */
  remount(options: string): void;
  /** Unmounts (lazily if busy) and removes the mount point; idempotent. */
  unmount(): void;
}

/** Mounts a tmpfs of `bytes` (a multiple of the page size) for one test. */
export function mountTmpfs(bytes: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'slabcast-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  let mounted = true;
  return {
    dir,
    remount(options) {
      execFileSync('mount', ['-o', `remount,${options}`, dir]);
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes zeros to `path` until the filesystem is full (ENOSPC); returns the bytes written. */
export function fillDisk(path: string): number {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, block, 0, block.length);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
    // The last partial page: write single small blocks until nothing more fits.
    for (const size of [4096, 512, 1]) {
      for (;;) {
        try {
          written += writeSync(fd, block, 0, size);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}
