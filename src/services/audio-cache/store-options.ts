/**
 * The audio store's options (its limits and policies), its counters, its listener, and what a
 * stream costs against --max-cache-bytes and on the disk.
 */
import { PAGE_SIZE } from '../../native.js';
import type { AudioStream } from './audio-stream.js';

/** The limits and policies of a store (from the `// audio cache` knobs of the config). */
export interface AudioStoreOptions {
  cacheDir: string;
  maxStreamBytes: number;
  maxCacheBytes: number;
  /** Bytes always left free on the cache's filesystem: past it a chunk or START gets `ERR_AUDIO_NO_SPACE`. */
  minFreeDiskBytes: number;
  /** Evict least-recently-used complete streams when the cache is full (else refuse with `cache full`). */
  evict: boolean;
  maxUploads: number;
  /** Streams in the store; START of a new one past it is refused. */
  maxStreams: number;
  /** Streams mapped for reading at once; past it the least recently read one is unmapped. */
  maxMappedStreams: number;
  /**
   * Other processes (--workers) use the directory too: a lookup finds streams they made on disk, and
   * a stream this process does not upload is re-read when its sidecar changed. Default false.
   */
  sharedDir?: boolean;
  /** A checkpoint runs this long after the first unpersisted byte of a stream. */
  flushIntervalMs: number;
  /** …or as soon as a stream has this many unpersisted bytes. */
  flushBytes: number;
  /** An incomplete stream nobody uploads to is deleted this long after its last write (0: never). */
  uploadExpiryMs?: number;
}

/** Counters and gauges (monotonic unless marked as a gauge). */
export interface AudioStats {
  /** gauge: streams in the cache */
  streams: number;
  /** gauge: what all streams cost against --max-cache-bytes: each its size, at least {@link STREAM_MIN_COST_BYTES} */
  cacheBytes: number;
  /** gauge: streams mapped for reading (bounded by --max-mapped-streams) */
  mappedStreams: number;
  /** gauge */
  uploadsInProgress: number;
  bytesStored: number;
  bytesServed: number;
  streamsCreated: number;
  streamsCompleted: number;
  streamsDeleted: number;
  evictions: number;
  /** Incomplete streams deleted because nobody resumed them within the upload expiry. */
  uploadsExpired: number;
  /** Refused commands and data by error code. */
  refusals: Record<string, number>;
  /** Streams reloaded at start (their records: no data file is opened). */
  reloaded: number;
  /** Entries reload could not load and moved into `.quarantine/`. */
  quarantined: number;
  /**
   * Entries reload could not load and left in place (transient failure, the move failed: read-only
   * dir, or a data file without a sidecar that another process holds locked: it is creating it).
   */
  reloadSkipped: number;
  /** File system failures (checkpoint, removal), also reported through `onStorageError`. */
  storageErrors: number;
  /** ms since the epoch when the store opened: throughput = bytes / (now - startedAt). */
  startedAt: number;
}

/**
 * What a stream costs at least against --max-cache-bytes, however small: an empty stream still
 * takes an inode, a sidecar block and a directory entry, so streams without bytes are not free.
 */
export const STREAM_MIN_COST_BYTES = 4096;

/** Disk a START needs above the reserve: one page for its sidecar (a new one is written before the ack). */
export const SIDECAR_DISK_BYTES = PAGE_SIZE;

/** A stream of `size` bytes against --max-cache-bytes. */
export function streamCost(size: number): number {
  return Math.max(size, STREAM_MIN_COST_BYTES);
}

/** Notifications for the endpoint (live listeners). */
export interface StoreListener {
  /**
   * `n` bytes were appended to `stream` at `offset`; `stream.region(offset, n)` is a view of them
   * (valid during the call), mapped only when asked for.
   */
  appended(stream: AudioStream, offset: number, n: number): void;
  /** `stream` is complete and durable. */
  completed(stream: AudioStream): void;
  /** `stream` was deleted or evicted. */
  removed(stream: AudioStream, evicted: boolean): void;
  /** `stream`'s upload ended (after `completed` on STOP; without it when its connection went away). */
  uploadEnded?(stream: AudioStream): void;
}
