/**
 * What start-up finds in the cache directory, entry by entry, without trusting any of them: each
 * stream's two names are checked with lstat(2) before anything is opened, so a FIFO, a socket, a
 * directory or a symlink (to anywhere) is never opened, read or followed. A sidecar is read through
 * O_NOFOLLOW | O_NONBLOCK and fstat'ed again, so an entry swapped after the lstat cannot hang or
 * redirect the read either.
 *
 * What cannot be loaded is moved aside ({@link quarantineEntry}) into `.quarantine/` inside the
 * cache directory, renamed `{name}.{ms since the epoch}-{n}`: nothing is deleted, the operator
 * decides. Names that are neither `{id}.meta` nor `{id}.audio` for a valid id (a `.meta.tmp`
 * left by a crash, the quarantine itself, foreign files) are not streams and are left alone.
 */
import { closeSync, constants as fsConstants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, type Stats, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { FileLock, LockRefusal } from '../../storage/file-lock.js';
import { DATA_SUFFIX, MAX_SIDECAR_BYTES, META_SUFFIX, parseMeta, type StreamMeta } from './stream-meta.js';
import { isValidStreamId } from './stream-id.js';

export { MAX_SIDECAR_BYTES } from './stream-meta.js';

/** Subdirectory of the cache directory that holds quarantined entries. */
export const QUARANTINE_DIR = '.quarantine';

/** Quarantined names get a per-process sequence number: two in the same millisecond never collide. */
let quarantined = 0;

/** A directory entry that cannot be loaded, and why (for the log line and the operator). */
export interface BadEntry {
  /** The entry's name in the cache directory (`x.audio`, `f.meta`). */
  readonly name: string;
  readonly reason: string;
  /**
   * The failure says nothing about the entry (out of descriptors or memory, an I/O error): it is
   * left where it is and tried again at the next start, never quarantined.
   */
  readonly transient: boolean;
}

/**
 * Error codes that do not condemn the entry they came from: resource exhaustion and I/O errors.
 * Every other failure to load an entry (EISDIR, ELOOP, EACCES, ERR_MMAP_NOT_A_FILE…) quarantines it.
 */
const TRANSIENT_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN', 'EINTR', 'EIO', 'EBUSY']);

/** True when a failure with this error leaves the entry in place (see {@link BadEntry.transient}). */
export function isTransientFailure(error: unknown): boolean {
  return TRANSIENT_CODES.has((error as NodeJS.ErrnoException | null)?.code ?? '');
}

/** The streams that look loadable (both files regular, sidecar valid), and the entries that do not. */
export interface CacheDirScan {
  readonly streams: StreamMeta[];
  readonly bad: BadEntry[];
}

/** Lists `dir` (readdir errors are thrown: the caller decides) and sorts every stream name into good or bad. */
export function scanCacheDir(dir: string): CacheDirScan {
  const ids = new Set<string>();
  for (const name of readdirSync(dir)) {
    const id = streamIdOf(name);
    if (id !== null) ids.add(id);
  }
  const streams: StreamMeta[] = [];
  const bad: BadEntry[] = [];
  for (const id of ids) {
    const metaName = `${id}${META_SUFFIX}`;
    const dataName = `${id}${DATA_SUFFIX}`;
    const meta = entryType(join(dir, metaName));
    const data = entryType(join(dir, dataName));
    // lstat itself failed: the type is unknown, so nothing is moved (transient), only reported.
    const transient = (meta !== null && typeof meta !== 'string') || (data !== null && typeof data !== 'string');
    const problem = pairProblem(meta, data);
    if (problem !== null) {
      if (meta !== null) bad.push({ name: metaName, reason: problem.meta, transient });
      if (data !== null) bad.push({ name: dataName, reason: problem.data, transient });
      continue;
    }
    const read = readSidecar(join(dir, metaName), id);
    if ('reason' in read) {
      bad.push({ name: metaName, reason: `sidecar ${read.reason}`, transient: read.transient }, { name: dataName, reason: `its sidecar ${read.reason}`, transient: read.transient });
      continue;
    }
    streams.push(read);
  }
  return { streams, bad };
}

/**
 * Moves `name` from `dir` into `dir/.quarantine/` (rename(2): the entry itself, a symlink is never
 * followed). Returns the new path, or the error when the entry cannot be moved (a read-only
 * directory, a `.quarantine` that is not a directory…): the caller then leaves it where it is.
 *
 * A data file is moved only under its writer lock (`--workers` share the directory): one another
 * process holds is being created (its sidecar follows within milliseconds) or deleted right now,
 * so it is left alone (`held`). The lock is kept through the rename, so no START elsewhere can
 * take it in between.
 */
export function quarantineEntry(dir: string, name: string, now = Date.now()): { to: string } | { error: NodeJS.ErrnoException } | { held: true } {
  const quarantine = join(dir, QUARANTINE_DIR);
  let lock: FileLock | null = null;
  try {
    if (name.endsWith(DATA_SUFFIX) && entryType(join(dir, name)) === 'file') {
      const taken = FileLock.acquireExisting(join(dir, name));
      if (taken === LockRefusal.Held) return { held: true };
      if (taken instanceof FileLock) lock = taken;
    }
    try {
      mkdirSync(quarantine, 0o755);
    } catch (error) {
      // Already there (from an earlier start): fine, its type is checked next.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    // Never move anything through a symlink named .quarantine (it could point outside the cache).
    if (!lstatSync(quarantine).isDirectory()) {
      return { error: Object.assign(new Error(`${quarantine} is not a directory`), { code: 'ENOTDIR', syscall: 'lstat', path: quarantine }) };
    }
    const to = join(quarantine, `${name}.${now}-${++quarantined}`);
    renameSync(join(dir, name), to);
    return { to };
  } catch (error) {
    return { error: error as NodeJS.ErrnoException };
  } finally {
    lock?.release();
  }
}

/** Errors of a write probe that mean "this directory cannot be written": the cache goes read-only. */
const READ_ONLY_CODES: ReadonlySet<string> = new Set(['EROFS', 'EACCES', 'EPERM']);

/**
 * Creates and removes a probe file (`.write-probe-{pid}`) in `dir`. Returns the error code when the
 * directory cannot be written (`EROFS`, `EACCES`, `EPERM`), null when it can. Any other failure
 * (ENOSPC: no room for even an empty file) is thrown: the directory is not read-only.
 */
export function probeReadOnly(dir: string): string | null {
  const probe = join(dir, `.write-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW, 0o600));
    unlinkSync(probe);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (READ_ONLY_CODES.has(code)) return code;
    throw error;
  }
}

/** The stream id of a `{id}.meta` or `{id}.audio` name, else null. */
function streamIdOf(name: string): string | null {
  const suffix = name.endsWith(META_SUFFIX) ? META_SUFFIX : name.endsWith(DATA_SUFFIX) ? DATA_SUFFIX : null;
  if (suffix === null) return null;
  const id = name.slice(0, -suffix.length);
  return isValidStreamId(id) ? id : null;
}

type EntryType = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'device';

/** lstat of a path: its type, null when it does not exist, or `{ code }` when lstat itself failed. */
function entryType(path: string): EntryType | { code: string } | null {
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    return code === 'ENOENT' ? null : { code };
  }
  return typeOf(stats);
}

function typeOf(stats: Stats): EntryType {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isFIFO()) return 'fifo';
  if (stats.isSocket()) return 'socket';
  return 'device';
}

/** Why a stream's pair of entries cannot be loaded (the reason for each name), or null when both are regular files. */
function pairProblem(meta: EntryType | { code: string } | null, data: EntryType | { code: string } | null): { meta: string; data: string } | null {
  if (meta === 'file' && data === 'file') return null;
  const describe = (t: EntryType | { code: string }): string => (typeof t === 'string' ? `a ${t}, not a regular file` : `unknown (lstat failed: ${t.code})`);
  if (meta !== 'file' && meta !== null) return { meta: `sidecar is ${describe(meta)}`, data: `its sidecar is ${describe(meta)}` };
  if (data !== 'file' && data !== null) return { meta: `its data file is ${describe(data)}`, data: `data file is ${describe(data)}` };
  if (data === null) return { meta: 'sidecar without a data file', data: '' };
  return { meta: '', data: 'data file without a sidecar' };
}

type SidecarProblem = { reason: string; transient: boolean };

/** Reads and checks a sidecar without following a symlink or blocking on a FIFO. */
function readSidecar(path: string, id: string): StreamMeta | SidecarProblem {
  const failed = (what: string, error: unknown): SidecarProblem => ({
    reason: `${what}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    transient: isTransientFailure(error),
  });
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    return failed('cannot be opened', error);
  }
  try {
    const stats = fstatSync(fd);
    const type = typeOf(stats);
    if (type !== 'file') return { reason: `is a ${type}, not a regular file`, transient: false };
    if (stats.size > MAX_SIDECAR_BYTES) return { reason: `is ${stats.size} bytes, not a sidecar (at most ${MAX_SIDECAR_BYTES})`, transient: false };
    return parseMeta(readFileSync(fd, 'utf8'), id) ?? { reason: 'is torn or not a valid record', transient: false };
  } catch (error) {
    return failed('cannot be read', error);
  } finally {
    closeSync(fd);
  }
}
