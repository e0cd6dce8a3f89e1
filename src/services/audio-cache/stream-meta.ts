/**
 * The metadata sidecar of one stream (`{id}.meta` next to `{id}.audio`): size, complete, times.
 * The data file's length is its capacity (grown geometrically), not its size, so the size lives
 * here. It is replaced atomically (write `{id}.meta.tmp`, fdatasync, rename: POSIX rename(2) is
 * atomic), so after a SIGKILL or a crash the sidecar is the old one or the new one, never torn.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SHA256_HEX } from '../../storage/file-digest.js';
import { isValidStreamId } from './stream-id.js';

/** Suffix of a stream's data file. */
export const DATA_SUFFIX = '.audio';
/** Suffix of a stream's metadata sidecar. */
export const META_SUFFIX = '.meta';
const TMP_SUFFIX = '.tmp';

/** A sidecar is a one-line JSON record of about 150 bytes; a larger file is not one (and is never read whole). */
export const MAX_SIDECAR_BYTES = 64 * 1024;

/** What the sidecar records (and what INFO / LIST report). */
export interface StreamMeta {
  id: string;
  size: number;
  complete: boolean;
  /** ms since the epoch */
  createdAt: number;
  updatedAt: number;
  /** SHA-256 of the stream's bytes (hex), written with `complete` at STOP; absent while incomplete. */
  sha256?: string;
}

/**
 * The path of a stream's data (`.audio`) or metadata (`.meta`) file in `dir`.
 * @throws TypeError if `id` is not a valid stream id: callers validate first, so this is a bug.
 */
export function streamPath(dir: string, id: string, suffix: typeof DATA_SUFFIX | typeof META_SUFFIX): string {
  const path = join(dir, `${id}${suffix}`);
  // Belt and braces: a valid id has no separator, so the file is always directly inside `dir`.
  if (!isValidStreamId(id) || resolve(dirname(path)) !== resolve(dir) || basename(path) !== `${id}${suffix}`) {
    throw new TypeError(`streamPath: ${JSON.stringify(id)} is not a valid stream id`);
  }
  return path;
}

/** Checks a sidecar's text; null if it is not a valid record for `id` (torn, foreign, another id). */
export function parseMeta(text: string, id: string): StreamMeta | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null; // a torn or foreign file: never trusted; the caller counts and reports it
  }
  const m = value as Partial<StreamMeta> | null;
  if (m === null || typeof m !== 'object' || m.id !== id) return null;
  if (!Number.isSafeInteger(m.size) || (m.size as number) < 0 || typeof m.complete !== 'boolean') return null;
  if (typeof m.createdAt !== 'number' || typeof m.updatedAt !== 'number') return null;
  if (m.sha256 !== undefined && (typeof m.sha256 !== 'string' || !SHA256_HEX.test(m.sha256))) return null;
  const meta: StreamMeta = { id, size: m.size as number, complete: m.complete, createdAt: m.createdAt, updatedAt: m.updatedAt };
  if (m.sha256 !== undefined && m.complete) meta.sha256 = m.sha256;
  return meta;
}

/**
 * Reads a sidecar at run time (START, a lookup for another worker's stream): the record, or null
 * when it is missing or not a valid record (torn, foreign, not a regular file, too large). Opened
 * with O_NOFOLLOW | O_NONBLOCK and checked with fstat, so a symlink or FIFO put in its place can
 * neither redirect nor hang the loop. Other failures (EMFILE, EIO…) are thrown.
 */
export function readMeta(path: string, id: string): StreamMeta | null {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return null;
    throw error;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile() || stats.size > MAX_SIDECAR_BYTES) return null;
    return parseMeta(readFileSync(fd, 'utf8'), id);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces the sidecar at `path` with `meta`, atomically and durably: tmp + fdatasync + rename, then
 * fsync of the directory so the rename itself survives a power cut (not only a process kill).
 */
export async function writeMeta(path: string, meta: StreamMeta): Promise<void> {
  const tmp = `${path}${TMP_SUFFIX}`;
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(JSON.stringify(meta));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
