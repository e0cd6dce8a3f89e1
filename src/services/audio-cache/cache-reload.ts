/**
 * Start-up of the audio cache over an existing directory: is it writable, which streams load, and
 * what is set aside. Never throws: start-up must not depend on the cache directory or on any entry
 * in it (a FIFO, a directory named like a stream, a torn sidecar, a read-only filesystem…).
 *
 * Loading opens no data file (descriptors are budgeted): sidecars are read, data files lstat'ed
 * for their type and length; a stream is mapped read-only on its first read (AudioStream.retain),
 * where a file that fails to map fails that read only.
 */
import type { DiskSpace } from '../../storage/disk-space.js';
import { AudioStream } from './audio-stream.js';
import { type BadEntry, type CacheDirScan, isTransientFailure, probeReadOnly, quarantineEntry, scanCacheDir } from './cache-dir-scan.js';
import { DATA_SUFFIX, META_SUFFIX, type StreamMeta } from './stream-meta.js';

/**
 * An entry reload could not load: moved to `to`, or left in place (`to` null; `error` when the move
 * failed; `held` when another process holds the data file's writer lock: it is creating or deleting it).
 */
export interface SetAsideReport extends BadEntry {
  readonly to: string | null;
  readonly error: NodeJS.ErrnoException | null;
  readonly held: boolean;
}

/** Start-up reports, delivered while the store's constructor reloads (so they are passed to it, not set later). */
export interface AudioStoreStartupEvents {
  /** Once per entry reload could not load. */
  setAside?(report: SetAsideReport): void;
  /** A failure of the directory itself (probing, listing it); the store starts anyway. */
  startupError?(error: unknown, what: string): void;
}

/** What {@link reloadCacheDir} found. */
export interface ReloadResult {
  /** Loaded streams, least recently updated first. */
  readonly streams: AudioStream[];
  /** Why the directory cannot be written (`EROFS`, `EACCES`, `EPERM`, or the listing's error), or null. */
  readonly readOnlyReason: string | null;
  /** Entries moved into `.quarantine/`. */
  readonly quarantined: number;
  /** Entries left in place: a transient failure, or the move itself failed (a read-only directory). */
  readonly skipped: number;
  /** Failures of the directory itself (also reported through `startupError`). */
  readonly storageErrors: number;
}

/**
 * Probes `dir` for writing, lists it, loads every stream whose two entries are regular files with a
 * valid sidecar (its record only: nothing is opened), and sets the rest aside, one report each.
 */
export function reloadCacheDir(dir: string, disk: DiskSpace, events: AudioStoreStartupEvents): ReloadResult {
  const result = { streams: [] as AudioStream[], readOnlyReason: null as string | null, quarantined: 0, skipped: 0, storageErrors: 0 };
  result.readOnlyReason = disk.sample().readOnly ? 'EROFS' : null;
  try {
    result.readOnlyReason ??= probeReadOnly(dir);
  } catch (error) {
    result.storageErrors++;
    events.startupError?.(error, 'write probe of the cache directory');
  }
  let scan: CacheDirScan;
  try {
    scan = scanCacheDir(dir);
  } catch (error) {
    // Not even listable (ENOTDIR, EACCES…): start with an empty cache that refuses writes.
    result.storageErrors++;
    events.startupError?.(error, 'listing the cache directory');
    result.readOnlyReason ??= (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    return result;
  }
  const setAside = (entry: BadEntry): void => {
    const report = quarantine(dir, entry);
    if (report.to !== null) result.quarantined++;
    else result.skipped++;
    events.setAside?.(report);
  };
  for (const entry of scan.bad) setAside(entry);
  scan.streams.sort((a, b) => a.updatedAt - b.updatedAt);
  for (const meta of scan.streams) {
    const stream = load(dir, meta, setAside);
    if (stream !== null) result.streams.push(stream);
  }
  return result;
}

/**
 * Loads one stream's record (lstat of its data file, which is not opened), or sets both its entries
 * aside when the data file is not a regular file; one that vanished since the scan is left alone.
 */
function load(dir: string, meta: StreamMeta, setAside: (entry: BadEntry) => void): AudioStream | null {
  try {
    const stream = AudioStream.load(dir, meta);
    if (stream === null) setAside({ name: `${meta.id}${META_SUFFIX}`, reason: 'its data file vanished during reload', transient: true });
    return stream;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const reason = `data file cannot be loaded: ${e.code ?? String(error)}${e.syscall !== undefined ? ` (${e.syscall})` : ''}`;
    const transient = isTransientFailure(error);
    setAside({ name: `${meta.id}${DATA_SUFFIX}`, reason, transient });
    setAside({ name: `${meta.id}${META_SUFFIX}`, reason: `its ${reason}`, transient });
    return null;
  }
}

/** Moves a non-transient bad entry into quarantine; reports where it went, or why it stayed. */
function quarantine(dir: string, entry: BadEntry): SetAsideReport {
  if (entry.transient) return { ...entry, to: null, error: null, held: false };
  const moved = quarantineEntry(dir, entry.name);
  if ('to' in moved) return { ...entry, to: moved.to, error: null, held: false };
  if ('held' in moved) return { ...entry, to: null, error: null, held: true };
  return { ...entry, to: null, error: moved.error, held: false };
}
