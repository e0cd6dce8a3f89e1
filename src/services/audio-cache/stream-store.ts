/**
 * The cache directory: every stream by id, reload on start, the limits (stream size, cache size,
 * concurrent uploads, streams, live mappings), LRU eviction of complete streams, the flush policy
 * and the counters.
 *
 * Descriptors and mappings are budgeted: reload reads sidecars only; a stream holds a descriptor
 * only while it is uploaded (at most --max-uploads), and a read-only mapping (no descriptor) from
 * its first read until it is one of the least recently read past --max-mapped-streams.
 *
 * All methods run on the loop. File names come only from validated ids (stream-id.ts) joined to
 * the cache directory (stream-meta.ts `streamPath`): client input never names another path.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import type { MappingLease } from '../../storage/mapped-file.js';
import { AudioStream } from './audio-stream.js';
import { AudioErrorCode, audioError, type AudioError } from './audio-errors.js';
import { idOfMetaFile, META_SUFFIX, readMeta, streamPath, type StreamMeta } from './stream-meta.js';

/** The limits and policies of a store (from the `// audio cache` knobs of the config). */
export interface AudioStoreOptions {
  cacheDir: string;
  maxStreamBytes: number;
  maxCacheBytes: number;
  /** Evict least-recently-used complete streams when the cache is full (else refuse with `cache full`). */
  evict: boolean;
  maxUploads: number;
  /** Streams in the store; START of a new one past it is refused. */
  maxStreams: number;
  /** Streams mapped for reading at once; past it the least recently read one is unmapped. */
  maxMappedStreams: number;
  /** A checkpoint runs this long after the first unpersisted byte of a stream. */
  flushIntervalMs: number;
  /** …or as soon as a stream has this many unpersisted bytes. */
  flushBytes: number;
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
  /** Refused commands and data by error code. */
  refusals: Record<string, number>;
  /** Streams reloaded at start, and entries skipped (torn sidecar, missing data file). */
  reloaded: number;
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

/** A stream of `size` bytes against --max-cache-bytes. */
export function streamCost(size: number): number {
  return Math.max(size, STREAM_MIN_COST_BYTES);
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
  /** Hook for a file system failure outside a client's command (logging); it is counted either way. */
  onStorageError: ((error: unknown, stream: AudioStream) => void) | null = null;
  listener: StoreListener | null = null;
  /** Streams in least-recently-used order (Map keeps insertion order; touch = delete + set). */
  private readonly streams = new Map<string, AudioStream>();
  /** Removals whose sidecar is still being deleted: the id cannot be reused until they finish. */
  private readonly removing = new Map<string, Promise<void>>();
  /** Streams holding a read-only mapping, least recently read first. */
  private readonly mapped = new Set<AudioStream>();
  private flushTimer: NodeJS.Timeout | null = null;
  private dirExists: boolean;
  private closed = false;

  constructor(options: AudioStoreOptions, now = Date.now()) {
    this.options = Object.freeze({ ...options });
    this.stats = {
      streams: 0, cacheBytes: 0, mappedStreams: 0, uploadsInProgress: 0, bytesStored: 0, bytesServed: 0, streamsCreated: 0, streamsCompleted: 0,
      streamsDeleted: 0, evictions: 0, refusals: {}, reloaded: 0, reloadSkipped: 0, storageErrors: 0, startedAt: now,
    };
    // The directory is created with the first stream, so a server that never stores audio leaves no trace.
    this.dirExists = existsSync(options.cacheDir);
    if (this.dirExists) this.reload();
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
    if (stream === undefined) {
      if (this.streams.size + this.removing.size >= this.options.maxStreams) {
        return this.refuse(AudioErrorCode.TooManyStreams, `cannot start stream ${id}: too many streams (limit ${this.options.maxStreams}); DELETE some first`);
      }
      const cost = streamCost(0);
      if (this.stats.cacheBytes + cost > this.options.maxCacheBytes && !this.makeRoom(cost, null)) {
        return this.refuse(AudioErrorCode.CacheFull, `cache full: cannot start stream ${id} (limit ${this.options.maxCacheBytes} bytes)`);
      }
      try {
        if (!this.dirExists) mkdirSync(this.options.cacheDir, { recursive: true });
        this.dirExists = true;
        stream = AudioStream.create(this.options.cacheDir, id, Date.now());
      } catch (error) {
        return this.refuse(AudioErrorCode.Storage, `cannot create stream ${id}: ${errorCode(error)}`);
      }
      this.streams.set(id, stream);
      this.stats.streams++;
      this.stats.cacheBytes += cost;
      this.stats.streamsCreated++;
    } else {
      const before = stream.size;
      try {
        this.forgetMapping(stream);
        stream.openForUpload();
      } catch (error) {
        return this.refuse(AudioErrorCode.Storage, `cannot resume stream ${id}: ${errorCode(error)}`);
      }
      this.stats.cacheBytes += streamCost(stream.size) - streamCost(before);
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
    const more = streamCost(stream.size + n) - streamCost(stream.size);
    if (this.stats.cacheBytes + more > this.options.maxCacheBytes && !this.makeRoom(more, stream)) {
      return this.refuse(AudioErrorCode.CacheFull, `cache full: stream ${stream.id} cannot store ${n} more bytes (limit ${this.options.maxCacheBytes} bytes); chunk not stored`);
    }
    try {
      stream.append(chunk, this.options.maxStreamBytes, Date.now());
    } catch (error) {
      return this.refuse(AudioErrorCode.Storage, `stream ${stream.id}: cannot store ${n} bytes: ${errorCode(error)}`);
    }
    this.stats.cacheBytes += more;
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
  }

  /**
   * A lease on `stream`'s bytes for a socket write (GET, FOLLOW): maps it read-only on first use
   * (no descriptor kept) and unmaps the least recently read stream past --max-mapped-streams.
   */
  lease(stream: AudioStream): MappingLease | AudioError {
    if (stream.writable || stream.size === 0) return stream.retain();
    const before = stream.size;
    let lease: MappingLease;
    try {
      lease = stream.retain();
    } catch (error) {
      return this.refuse(AudioErrorCode.Storage, `cannot read stream ${stream.id}: ${errorCode(error)}`);
    }
    // The file was shorter than its record (truncated behind our back): only what exists counts.
    if (stream.size !== before) this.stats.cacheBytes += streamCost(stream.size) - streamCost(before);
    this.mapped.delete(stream);
    this.mapped.add(stream);
    for (const oldest of this.mapped) {
      if (this.mapped.size <= this.options.maxMappedStreams) break;
      this.forgetMapping(oldest);
      oldest.dropMapping();
    }
    this.stats.mappedStreams = this.mapped.size;
    return lease;
  }

  /** DELETE: refused while uploading; readers holding leases finish their writes. Resolves once the files are gone. */
  delete(id: string): Promise<void> | AudioError {
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

  /** Frees the upload slot; the stream's last checkpoint runs and its descriptor is closed in the background. */
  private endUpload(stream: AudioStream): void {
    if (stream.uploader === null) return;
    stream.uploader = null;
    this.stats.uploadsInProgress--;
    if (!stream.removed) stream.endUpload().catch((error: unknown) => this.storageError(error, stream));
  }

  private forgetMapping(stream: AudioStream): void {
    if (this.mapped.delete(stream)) this.stats.mappedStreams = this.mapped.size;
  }

  /** Evicts LRU complete, idle streams (never `except`) until `need` more bytes fit; false if they cannot. */
  private makeRoom(need: number, except: AudioStream | null): boolean {
    if (!this.options.evict) return false;
    const evictable = (s: AudioStream): boolean => s !== except && s.complete && s.uploader === null;
    let freeable = 0;
    for (const s of this.streams.values()) if (evictable(s)) freeable += streamCost(s.size);
    // Evict nothing when even evicting everything would not make room: a refusal must not cost data.
    if (this.stats.cacheBytes - freeable + need > this.options.maxCacheBytes) return false;
    for (const candidate of [...this.streams.values()]) {
      if (this.stats.cacheBytes + need <= this.options.maxCacheBytes) return true;
      if (!evictable(candidate)) continue;
      this.stats.evictions++;
      this.remove(candidate, true).catch((error: unknown) => this.storageError(error, candidate));
    }
    return this.stats.cacheBytes + need <= this.options.maxCacheBytes;
  }

  private remove(stream: AudioStream, evicted: boolean): Promise<void> {
    this.streams.delete(stream.id);
    this.forgetMapping(stream);
    this.stats.streams--;
    this.stats.cacheBytes -= streamCost(stream.size);
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

  /** Loads every stream with a valid sidecar and data file, least recently updated first (LRU order). Opens nothing. */
  private reload(): void {
    const dir = this.options.cacheDir;
    const metas: StreamMeta[] = [];
    for (const name of readdirSync(dir)) {
      const id = idOfMetaFile(name);
      if (id === null) continue;
      const meta = readMeta(streamPath(dir, id, META_SUFFIX), id);
      if (meta === null) this.stats.reloadSkipped++;
      else metas.push(meta);
    }
    metas.sort((a, b) => a.updatedAt - b.updatedAt);
    for (const meta of metas) {
      const stream = AudioStream.load(dir, meta);
      if (stream === null) {
        this.stats.reloadSkipped++;
        continue;
      }
      this.streams.set(stream.id, stream);
      this.stats.streams++;
      this.stats.cacheBytes += streamCost(stream.size);
      this.stats.reloaded++;
    }
  }
}

function errorCode(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return typeof e?.code === 'string' ? `${e.code} (${e.syscall ?? 'fs'})` : String(error);
}
