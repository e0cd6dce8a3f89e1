/**
 * The cache directory: every stream by id, reload on start, the limits (stream size, cache size,
 * free disk space, concurrent uploads), LRU eviction of complete streams, the flush policy and the
 * counters.
 *
 * Space before bytes: a chunk is written into the mapping only below the stream's reserved size;
 * growth first asks the disk (statvfs, above --min-free-disk-bytes) and then reserves the blocks
 * (posix_fallocate). A refusal is `ERR_AUDIO_NO_SPACE` and stores nothing.
 *
 * Start-up never depends on one entry: reload checks every entry's type before opening it and
 * quarantines what it cannot load (cache-dir-scan.ts); a directory that cannot be written puts the
 * cache in read-only mode (reads served, writes refused with `ERR_AUDIO_READ_ONLY`).
 *
 * All methods run on the loop. File names come only from validated ids (stream-id.ts) joined to
 * the cache directory (stream-meta.ts `streamPath`): client input never names another path.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { PAGE_SIZE } from '../../native.js';
import { DiskSpace, DiskState } from '../../storage/disk-space.js';
import { AudioStream } from './audio-stream.js';
import { AudioErrorCode, audioError, isNoSpaceError, type AudioError } from './audio-errors.js';
import { type AudioStoreStartupEvents, reloadCacheDir } from './cache-reload.js';
import type { StreamMeta } from './stream-meta.js';

/** Disk a START needs above the reserve: one page for its sidecar (a new one is written before the ack). */
export const SIDECAR_DISK_BYTES = PAGE_SIZE;

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
  /** A checkpoint runs this long after the first unpersisted byte of a stream. */
  flushIntervalMs: number;
  /** …or as soon as a stream has this many unpersisted bytes. */
  flushBytes: number;
}

/** Counters and gauges (monotonic unless marked as a gauge). */
export interface AudioStats {
  /** gauge: streams in the cache */
  streams: number;
  /** gauge: bytes of all streams (the figure --max-cache-bytes bounds) */
  cacheBytes: number;
  /** gauge */
  uploadsInProgress: number;
  bytesStored: number;
  bytesServed: number;
  streamsCreated: number;
  streamsCompleted: number;
  streamsDeleted: number;
  evictions: number;
  /** Refused commands and data by error code. */
  refusals: Record<string, number>;
  /** Streams reloaded at start. */
  reloaded: number;
  /** Entries reload could not load and moved into `.quarantine/`. */
  quarantined: number;
  /** Entries reload could not load and left in place (transient failure, or the move failed: read-only dir). */
  reloadSkipped: number;
  /** File system failures (checkpoint, removal), also reported through `onStorageError`. */
  storageErrors: number;
  /** ms since the epoch when the store opened: throughput = bytes / (now - startedAt). */
  startedAt: number;
}

/** Notifications for the endpoint (live listeners). */
export interface StoreListener {
  /** `chunk` was appended to `stream` (a view valid only during the call). */
  appended(stream: AudioStream, chunk: Uint8Array): void;
  /** `stream` is complete and durable. */
  completed(stream: AudioStream): void;
  /** `stream` was deleted or evicted. */
  removed(stream: AudioStream, evicted: boolean): void;
}

/** The audio stream cache over one directory; see the module comment. */
export class AudioStore {
  readonly options: Readonly<AudioStoreOptions>;
  readonly stats: AudioStats;
  /** The filesystem of the cache directory and its reserve (--min-free-disk-bytes). */
  readonly disk: DiskSpace;
  /** Why the cache is read-only (`EROFS`, `EACCES`… of the start-up probe or listing), or null: read-write. */
  readonly readOnlyReason: string | null = null;
  /** Hook for a file system failure outside a client's command (logging); it is counted either way. */
  onStorageError: ((error: unknown, stream: AudioStream) => void) | null = null;
  /** Hook for the change between storing and refusing for want of space (logged once per change). */
  onDiskFull: ((full: boolean, disk: DiskSpace) => void) | null = null;
  listener: StoreListener | null = null;
  /** Streams in least-recently-used order (Map keeps insertion order; touch = delete + set). */
  private readonly streams = new Map<string, AudioStream>();
  /** Removals whose sidecar is still being deleted: the id cannot be reused until they finish. */
  private readonly removing = new Map<string, Promise<void>>();
  private flushTimer: NodeJS.Timeout | null = null;
  private dirExists: boolean;
  private closed = false;
  /** Bytes the last refusal for want of space needed; 0 once something fits again (flips are reported through onDiskFull). */
  private refusedBytes = 0;

  constructor(options: AudioStoreOptions, events: AudioStoreStartupEvents = {}) {
    this.options = Object.freeze({ ...options });
    this.stats = {
      streams: 0, cacheBytes: 0, uploadsInProgress: 0, bytesStored: 0, bytesServed: 0, streamsCreated: 0, streamsCompleted: 0, streamsDeleted: 0,
      evictions: 0, refusals: {}, reloaded: 0, quarantined: 0, reloadSkipped: 0, storageErrors: 0, startedAt: Date.now(),
    };
    this.disk = new DiskSpace(options.cacheDir, options.minFreeDiskBytes);
    // The directory is created with the first stream, so a server that never stores audio leaves no trace.
    this.dirExists = existsSync(options.cacheDir);
    if (this.dirExists) this.readOnlyReason = this.reload(events);
  }

  /** Loads what reload found (cache-reload.ts), least recently updated first: LRU order. */
  private reload(events: AudioStoreStartupEvents): string | null {
    const found = reloadCacheDir(this.options.cacheDir, this.disk, events);
    for (const stream of found.streams) {
      this.streams.set(stream.id, stream);
      this.stats.streams++;
      this.stats.cacheBytes += stream.size;
    }
    this.stats.reloaded += found.streams.length;
    this.stats.quarantined += found.quarantined;
    this.stats.reloadSkipped += found.skipped;
    this.stats.storageErrors += found.storageErrors;
    return found.readOnlyReason;
  }

  /** True when the cache directory cannot be written: GET/INFO/LIST/FOLLOW only. */
  get readOnly(): boolean {
    return this.readOnlyReason !== null;
  }

  /** Looks a stream up and marks it recently used. */
  get(id: string): AudioStream | AudioError {
    const stream = this.streams.get(id);
    if (stream === undefined) return this.refuse(AudioErrorCode.NotFound, `stream ${id} not found`);
    this.touch(stream);
    return stream;
  }

  /** Every stream's record, least recently used first. */
  list(): StreamMeta[] {
    return [...this.streams.values()].map((s) => s.meta());
  }

  /**
   * START: opens a new stream or resumes an incomplete one for `owner`. Synchronous checks; the
   * caller awaits `stream.checkpoint()` for a new stream so its sidecar exists before the ack.
   */
  start(id: string, owner: object): AudioStream | AudioError {
    if (this.readOnlyReason !== null) return this.refuseReadOnly(`cannot start stream ${id}`);
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      if (existing.uploader !== null) return this.refuse(AudioErrorCode.Busy, `stream ${id} is busy: another connection is uploading it`);
      if (existing.complete) return this.refuse(AudioErrorCode.Complete, `stream ${id} is complete; DELETE it before uploading it again`);
    } else if (this.removing.has(id)) {
      return this.refuse(AudioErrorCode.Busy, `stream ${id} is busy: it is being deleted, retry`);
    }
    if (this.stats.uploadsInProgress >= this.options.maxUploads) {
      return this.refuse(AudioErrorCode.TooManyUploads, `cannot start stream ${id}: too many uploads in progress (limit ${this.options.maxUploads})`);
    }
    let stream = existing;
    if (stream === undefined && this.stats.cacheBytes >= this.options.maxCacheBytes && !this.makeRoom(1, null)) {
      return this.refuse(AudioErrorCode.CacheFull, `cache full: cannot start stream ${id} (limit ${this.options.maxCacheBytes} bytes)`);
    }
    // Room for the sidecar, and for what the last refused request needed (the disk state is `full`
    // until that fits): an upload that could not store its first chunk is refused now, not later.
    const startBytes = Math.max(SIDECAR_DISK_BYTES, this.refusedBytes);
    if (!this.admitDisk(startBytes, null)) return this.refuseNoSpace(`cannot start stream ${id}`, startBytes, null);
    this.setRefusedBytes(0);
    if (stream === undefined) {
      try {
        if (!this.dirExists) mkdirSync(this.options.cacheDir, { recursive: true });
        this.dirExists = true;
        stream = AudioStream.create(this.options.cacheDir, id, Date.now());
      } catch (error) {
        return this.refuse(AudioErrorCode.Storage, `cannot create stream ${id}: ${errorCode(error)}`);
      }
      this.streams.set(id, stream);
      this.stats.streams++;
      this.stats.streamsCreated++;
    }
    stream.uploader = owner;
    this.stats.uploadsInProgress++;
    this.touch(stream);
    return stream;
  }

  /** Appends one data chunk to `stream` within the limits; null when stored. */
  append(stream: AudioStream, chunk: Uint8Array): AudioError | null {
    const n = chunk.length;
    if (stream.removed) return this.refuse(AudioErrorCode.NotFound, `stream ${stream.id} was deleted`);
    if (stream.size + n > this.options.maxStreamBytes) {
      return this.refuse(
        AudioErrorCode.StreamTooLarge,
        `stream ${stream.id}: a ${n}-byte chunk would take it to ${stream.size + n} bytes, past the maximum stream size (${this.options.maxStreamBytes} bytes); chunk not stored`,
      );
    }
    if (this.stats.cacheBytes + n > this.options.maxCacheBytes && !this.makeRoom(n, stream)) {
      return this.refuse(AudioErrorCode.CacheFull, `cache full: stream ${stream.id} cannot store ${n} more bytes (limit ${this.options.maxCacheBytes} bytes); chunk not stored`);
    }
    if (stream.size + n > stream.reservedBytes) {
      const refused = this.reserveFor(stream, stream.size + n);
      if (refused !== null) return refused;
    }
    stream.append(chunk, Date.now());
    this.stats.cacheBytes += n;
    this.stats.bytesStored += n;
    if (stream.unpersistedBytes >= this.options.flushBytes && !stream.checkpointing) this.checkpointInBackground(stream);
    else this.armFlush();
    this.listener?.appended(stream, chunk);
    return null;
  }

  /** STOP: durable, trimmed, complete. Resolves with the size; the upload slot is freed either way. */
  async stop(stream: AudioStream): Promise<number> {
    try {
      const size = await stream.finish();
      this.stats.streamsCompleted++;
      this.listener?.completed(stream);
      return size;
    } finally {
      this.endUpload(stream);
    }
  }

  /** The uploading connection went away without STOP: the stream stays incomplete and resumable at once. */
  abandon(stream: AudioStream): void {
    this.endUpload(stream);
    if (!stream.removed && !stream.checkpointing) this.checkpointInBackground(stream);
  }

  /** DELETE: refused while uploading; readers holding leases finish their writes. Resolves once the files are gone. */
  delete(id: string): Promise<void> | AudioError {
    if (this.readOnlyReason !== null) return this.refuseReadOnly(`cannot delete stream ${id}`);
    const stream = this.streams.get(id);
    if (stream === undefined) return this.refuse(AudioErrorCode.NotFound, `stream ${id} not found`);
    if (stream.uploader !== null) return this.refuse(AudioErrorCode.Busy, `stream ${id} is busy: it is being uploaded (STOP it first)`);
    this.stats.streamsDeleted++;
    return this.remove(stream, false);
  }

  /** Counts a refusal and returns it. */
  refuse(code: AudioErrorCode, message: string): AudioError {
    this.stats.refusals[code] = (this.stats.refusals[code] ?? 0) + 1;
    return audioError(code, message);
  }

  /** `ERR_AUDIO_READ_ONLY` for `what` (START, data, DELETE, FOLLOW of an incomplete stream). */
  refuseReadOnly(what: string): AudioError {
    return this.refuse(AudioErrorCode.ReadOnly, `read-only cache (${this.readOnlyReason ?? 'EROFS'}): ${what}; streams can be read, not written`);
  }

  /** `ERR_AUDIO_NO_SPACE` for `what`, which needed `bytes`; `failure` is the refused reservation's error, if it got that far. */
  refuseNoSpace(what: string, bytes: number, failure: unknown): AudioError {
    this.setRefusedBytes(Math.max(1, bytes));
    const d = this.disk;
    const why = failure !== null ? `the filesystem refused to reserve the blocks (${errorCode(failure)})` : `${d.freeBytes} bytes free on the cache's filesystem, ${d.minFreeBytes} kept free (--min-free-disk-bytes)`;
    return this.refuse(AudioErrorCode.NoSpace, `no space: ${what}: ${why}`);
  }

  /**
   * Samples the disk: `full` while the last request refused for want of space still would not fit
   * (or at most the reserve is free), else the disk's own state. Space freed meanwhile (a file
   * removed by the operator) is noticed here too, and reported once through onDiskFull.
   */
  diskState(): DiskState {
    const state = this.disk.sample().state;
    if (this.refusedBytes === 0 || state === DiskState.Unknown) return state;
    if (this.disk.headroomBytes < this.refusedBytes) return DiskState.Full;
    this.setRefusedBytes(0);
    return state;
  }

  /** The effective cache budget: min(--max-cache-bytes, bytes stored + what the disk can still take above its reserve), at the last disk sample. */
  get budgetBytes(): number {
    const headroom = this.disk.headroomBytes;
    return Number.isNaN(headroom) ? this.options.maxCacheBytes : Math.min(this.options.maxCacheBytes, this.stats.cacheBytes + headroom);
  }

  /** Shutdown: every stream checkpointed (msync + sidecar) and closed; resolves when all are durable. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const results = await Promise.allSettled([...[...this.streams.values()].map((s) => s.close()), ...this.removing.values()]);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (failures.length > 0) throw new AggregateError(failures, `audio cache: ${failures.length} stream(s) failed to flush on close`);
  }

  private endUpload(stream: AudioStream): void {
    if (stream.uploader === null) return;
    stream.uploader = null;
    this.stats.uploadsInProgress--;
  }

  /** Evicts LRU complete, idle streams (never `except`) until `need` more bytes fit in --max-cache-bytes; false if they cannot. */
  private makeRoom(need: number, except: AudioStream | null): boolean {
    return this.evict(this.stats.cacheBytes + need - this.options.maxCacheBytes, except);
  }

  /** Evicts LRU complete, idle streams (never `except`) of at least `bytes` in all; false (and evicts nothing) if there are not enough. */
  private evict(bytes: number, except: AudioStream | null): boolean {
    if (bytes <= 0) return true;
    if (!this.options.evict) return false;
    const evictable = (s: AudioStream): boolean => s !== except && s.complete && s.uploader === null;
    let freeable = 0;
    for (const s of this.streams.values()) if (evictable(s)) freeable += s.size;
    // Evict nothing when even evicting everything would not make room: a refusal must not cost data.
    if (freeable < bytes) return false;
    let freed = 0;
    for (const candidate of [...this.streams.values()]) {
      if (freed >= bytes) break;
      if (!evictable(candidate)) continue;
      freed += candidate.size;
      this.stats.evictions++;
      this.remove(candidate, true).catch((error: unknown) => this.storageError(error, candidate));
    }
    return true;
  }

  /**
   * True when `bytes` more fit on the disk above its reserve, evicting (when allowed) what frees
   * enough first. An evicted stream still being read frees its blocks when the read completes,
   * so the disk is asked again rather than trusted to have room.
   */
  private admitDisk(bytes: number, except: AudioStream | null): boolean {
    if (this.disk.admits(bytes)) return true;
    return this.evict(this.disk.shortfall(bytes), except) && this.disk.admits(bytes);
  }

  /**
   * Space before bytes: reserves disk blocks so `stream` can grow to `end`, its growth target when
   * the disk has room for it, else exactly `end`. Nothing is written; a refusal leaves the stream as it was.
   */
  private reserveFor(stream: AudioStream, end: number): AudioError | null {
    const target = stream.growthTarget(end, this.options.maxStreamBytes);
    let failure: unknown = null;
    for (const upTo of target > end ? [target, end] : [end]) {
      if (!this.admitDisk(upTo - stream.reservedBytes, stream)) continue;
      try {
        stream.reserve(upTo);
        this.setRefusedBytes(0);
        return null;
      } catch (error) {
        if (!isNoSpaceError(error)) {
          return this.refuse(AudioErrorCode.Storage, `stream ${stream.id}: cannot reserve space for ${end - stream.size} bytes: ${errorCode(error)}; chunk not stored`);
        }
        failure = error;
      }
    }
    return this.refuseNoSpace(`stream ${stream.id} cannot store ${end - stream.size} more bytes (chunk not stored)`, end - stream.reservedBytes, failure);
  }

  private setRefusedBytes(bytes: number): void {
    const wasFull = this.refusedBytes > 0;
    this.refusedBytes = bytes;
    if (wasFull !== bytes > 0) this.onDiskFull?.(bytes > 0, this.disk);
  }

  private remove(stream: AudioStream, evicted: boolean): Promise<void> {
    this.streams.delete(stream.id);
    this.stats.streams--;
    this.stats.cacheBytes -= stream.size;
    let done: Promise<void>;
    try {
      done = stream.remove();
    } catch (error) {
      done = Promise.reject(error);
    }
    const settled = done.finally(() => {
      if (this.removing.get(stream.id) === settled) this.removing.delete(stream.id);
    });
    this.removing.set(stream.id, settled);
    this.listener?.removed(stream, evicted);
    return settled;
  }

  private touch(stream: AudioStream): void {
    this.streams.delete(stream.id);
    this.streams.set(stream.id, stream);
  }

  private armFlush(): void {
    if (this.flushTimer !== null || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      for (const stream of this.streams.values()) {
        if (stream.unpersistedBytes > 0 && !stream.checkpointing) this.checkpointInBackground(stream);
      }
    }, this.options.flushIntervalMs);
    this.flushTimer.unref();
  }

  private checkpointInBackground(stream: AudioStream): void {
    stream.checkpoint().catch((error: unknown) => this.storageError(error, stream));
  }

  private storageError(error: unknown, stream: AudioStream): void {
    this.stats.storageErrors++;
    if (this.onStorageError !== null) this.onStorageError(error, stream);
  }
}

function errorCode(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return typeof e?.code === 'string' ? `${e.code} (${e.syscall ?? 'fs'})` : String(error);
}

