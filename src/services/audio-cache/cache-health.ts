/**
 * The audio cache's state for operators: the `audioCache` object of `GET /readyz`. Neither a full
 * disk nor a read-only directory that holds streams fails readiness: HTTP, rooms and reads of
 * cached streams still work, and in cluster mode a stream's instance is fixed by placement, so
 * taking the instance out of rotation would only take those away too. They are reported here, in
 * `/metrics` and in the log. A read-only directory with no stream (it cannot be created or written:
 * the cache can do nothing) fails readiness (see mount-audio-cache.ts).
 */
import type { DiskState } from '../../storage/disk-space.js';
import type { AudioStore } from './audio-store.js';

/** The `audioCache` object of `GET /readyz`. Byte figures are null when the disk could not be sampled. */
export interface AudioCacheHealth {
  /** `read-only`: the directory cannot be written (`readOnlyReason`); complete streams are still served. */
  mode: 'read-write' | 'read-only';
  readOnlyReason: string | null;
  disk: {
    /** `ok`; `low`: under twice the reserve free; `full`: writes are refused for want of space; `unknown`: statvfs failed. */
    state: DiskState;
    freeBytes: number | null;
    totalBytes: number | null;
    /** --min-free-disk-bytes */
    minFreeBytes: number;
    /** The statvfs error code when the sample failed. */
    error: string | null;
  };
  /** min(--max-cache-bytes, bytes stored + free space above the reserve). */
  budgetBytes: number;
  cacheBytes: number;
  streams: number;
  /** Entries set aside at start-up: moved into `.quarantine/`, or left in place. */
  quarantined: number;
  reloadSkipped: number;
}

/** Samples the disk and reports (one statvfs). */
export function cacheHealth(store: AudioStore): AudioCacheHealth {
  const state = store.diskState();
  const d = store.disk;
  const bytes = (n: number): number | null => (Number.isNaN(n) ? null : n);
  const s = store.stats;
  return {
    mode: store.readOnly ? 'read-only' : 'read-write',
    readOnlyReason: store.readOnlyReason,
    disk: { state, freeBytes: bytes(d.freeBytes), totalBytes: bytes(d.totalBytes), minFreeBytes: d.minFreeBytes, error: d.lastError },
    budgetBytes: store.budgetBytes,
    cacheBytes: s.cacheBytes,
    streams: s.streams,
    quarantined: s.quarantined,
    reloadSkipped: s.reloadSkipped,
  };
}
