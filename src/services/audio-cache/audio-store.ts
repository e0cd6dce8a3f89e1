/**
 * The cache directory: every stream by id, reload on start, the limits (stream size, cache size,
 * free disk space, concurrent uploads, streams, live mappings), LRU eviction of complete streams,
 * the flush policy and the counters.
 *
 * Space before bytes: a chunk is written to the file only below the stream's reserved size;
 * growth first asks the disk (statvfs, above --min-free-disk-bytes: disk-budget.ts) and then
 * reserves the blocks (posix_fallocate through the upload's descriptor). A refusal is
 * `ERR_AUDIO_NO_SPACE` and stores nothing. Every stream costs at least STREAM_MIN_COST_BYTES
 * against the budget, which is min(--max-cache-bytes, bytes stored + free space above the reserve).
 *
 * Descriptors and mappings are budgeted: reload reads sidecars and lstats data files, opening none;
 * a stream holds a descriptor only while it is uploaded (at most --max-uploads), and a read-only
 * mapping (no descriptor) from its first read until it is one of the least recently read past
 * --max-mapped-streams. A data file that cannot be mapped then fails that read (ERR_AUDIO_STORAGE).
 *
 * Start-up never depends on one entry: reload checks every entry's type with lstat and quarantines
 * what it cannot load (cache-reload.ts, cache-dir-scan.ts); a directory that cannot be written puts
 * the cache in read-only mode (reads served; START and DELETE refused with `ERR_AUDIO_READ_ONLY`
 * before any lock is tried).
 *
 * One writer per stream across processes (--workers share the directory): START, DELETE and
 * eviction take the stream's FileLock first, and after START took it the sidecar on disk, not
 * memory, says what the stream is. With `sharedDir`, lookups find streams other processes made and
 * re-read those they changed (disk-view.ts).
 *
 * All methods run on the loop. File names come only from validated ids (stream-id.ts) joined to
 * the cache directory (stream-meta.ts `streamPath`): client input never names another path.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DiskSpace, DiskState } from '../../storage/disk-space.js';
import { FileLock, LockRefusal } from '../../storage/file-lock.js';
import type { MappingLease } from '../../storage/mapped-file.js';
import { AudioStream } from './audio-stream.js';
import { AudioErrorCode, audioError, isNoSpaceError, type AudioError } from './audio-errors.js';
import { type AudioStoreStartupEvents, reloadCacheDir } from './cache-reload.js';
import { DiskBudget } from './disk-budget.js';
import { DiskView } from './disk-view.js';
import { type AudioStats, type AudioStoreOptions, SIDECAR_DISK_BYTES, type StoreListener, streamCost } from './store-options.js';
import { DATA_SUFFIX, readMeta, streamPath } from './stream-meta.js';
import { describeStream, type StreamInfo } from './stream-info.js';

export { type AudioStats, type AudioStoreOptions, SIDECAR_DISK_BYTES, STREAM_MIN_COST_BYTES, type StoreListener, streamCost } from './store-options.js';

/** The audio stream cache over one directory; see the module comment. */
export class AudioStore {
  readonly options: Readonly<AudioStoreOptions>;
  readonly stats: AudioStats;
  /** Free space on the cache's filesystem: admission above --min-free-disk-bytes, the `full` state, the budget. */
  readonly space: DiskBudget;
  /** Why the cache is read-only (`EROFS`, `EACCES`… of the start-up probe or listing), or null: read-write. */
  /** Why the cache directory cannot be written (set by {@link open}), or null. */
  get readOnlyReason(): string | null {
    return this.readOnlyCause;
  }
  private readOnlyCause: string | null = null;
  /** Hook for a file system failure outside a client's command (logging); it is counted either way. */
  onStorageError: ((error: unknown, stream: AudioStream | null) => void) | null = null;
  listener: StoreListener | null = null;
  /**
   * A stream was deleted (DELETE) or evicted here: what a cluster needs to delete its other copies.
   * Not called for {@link dropCopy} (a copy that moved away) nor for another process's deletion.
   */
  onDeleted: ((stream: AudioStream, evicted: boolean) => void) | null = null;
  /** Streams in least-recently-used order (Map keeps insertion order; touch = delete + set). */
  private readonly streams = new Map<string, AudioStream>();
  /** Removals whose sidecar is still being deleted: the id cannot be reused until they finish. */
  private readonly removing = new Map<string, Promise<void>>();
  /** Streams holding a read-only mapping, least recently read first. */
  private readonly mapped = new Set<AudioStream>();
  /** What other processes did to the directory (sharedDir only). */
  private readonly diskView: DiskView;
  private flushTimer: NodeJS.Timeout | null = null;
  private dirExists: boolean;
  private opened = false;
  /** When {@link open} ran: an upload found at start-up gets the whole expiry from then (a server that was down does not delete uploads at once). */
  private openedAt = 0;
  private closed = false;

  /** Touches no file: {@link open} reads the cache directory. */
  constructor(options: AudioStoreOptions) {
    this.options = Object.freeze({ ...options });
    this.stats = {
      streams: 0, cacheBytes: 0, mappedStreams: 0, uploadsInProgress: 0, bytesStored: 0, bytesServed: 0, streamsCreated: 0, streamsCompleted: 0,
      streamsDeleted: 0, evictions: 0, uploadsExpired: 0, refusals: {}, reloaded: 0, quarantined: 0, reloadSkipped: 0, storageErrors: 0, startedAt: Date.now(),
    };
    this.space = new DiskBudget(options.cacheDir, options.minFreeDiskBytes);
    this.diskView = new DiskView(options.cacheDir);
    this.dirExists = false;
  }

  /**
   * Reads the cache directory: every stream's record is reloaded (no data file is opened), bad
   * entries are set aside (`events` hears of each). Call once, before serving. A directory that does
   * not exist is created with the first stream, so a server that never stores audio leaves no trace.
   */
  open(events: AudioStoreStartupEvents = {}): this {
    if (this.opened) throw new TypeError('AudioStore.open: already open');
    this.opened = true;
    this.openedAt = Date.now();
    this.dirExists = existsSync(this.options.cacheDir);
    if (this.dirExists) this.readOnlyCause = this.reload(events);
    else this.readOnlyCause = this.creatable(events);
    return this;
  }

  /**
   * Whether the missing cache directory could be created at the first START: its nearest existing
   * ancestor must be a directory this process can write. Returns the reason it cannot (`ENOTDIR`,
   * `EACCES`…) and reports it, or null. Nothing is created here.
   */
  private creatable(events: AudioStoreStartupEvents): string | null {
    try {
      let dir = resolve(this.options.cacheDir);
      for (;;) {
        const parent = dirname(dir);
        // ENOENT walks up; ENOTDIR (a file on the way) throws into the report below.
        const st = statSync(parent, { throwIfNoEntry: false });
        if (st !== undefined) {
          if (!st.isDirectory()) throw Object.assign(new Error(`${parent} is not a directory`), { code: 'ENOTDIR' });
          accessSync(parent, constants.W_OK | constants.X_OK);
          return null;
        }
        if (parent === dir) return null;
        dir = parent;
      }
    } catch (error) {
      this.stats.storageErrors++;
      events.startupError?.(error, 'creating the cache directory');
      return (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    }
  }

  /** Adds what reload found (cache-reload.ts: records only, nothing opened), least recently updated first: LRU order. */
  private reload(events: AudioStoreStartupEvents): string | null {
    const found = reloadCacheDir(this.options.cacheDir, this.space.disk, events);
    for (const stream of found.streams) this.add(stream);
    this.stats.reloaded += found.streams.length;
    this.stats.quarantined += found.quarantined;
    this.stats.reloadSkipped += found.skipped;
    this.stats.storageErrors += found.storageErrors;
    return found.readOnlyReason;
  }

  /** The filesystem of the cache directory and its reserve (--min-free-disk-bytes). */
  get disk(): DiskSpace {
    return this.space.disk;
  }

  /** Hook for the change between storing and refusing for want of space (logged once per change). */
  get onDiskFull(): ((full: boolean, disk: DiskSpace) => void) | null {
    return this.space.onDiskFull;
  }

  set onDiskFull(hook: ((full: boolean, disk: DiskSpace) => void) | null) {
    this.space.onDiskFull = hook;
  }

  /** True when the cache directory cannot be written: GET/INFO/LIST/FOLLOW only. */
  get readOnly(): boolean {
    return this.readOnlyReason !== null;
  }

  /** Looks a stream up (with sharedDir: as the disk has it now) and marks it recently used. */
  get(id: string): AudioStream | AudioError {
    const stream = this.lookup(id);
    if (stream === undefined) return this.refuse(AudioErrorCode.NotFound, `stream ${id} not found`);
    this.touch(stream);
    return stream;
  }

  /** The stream `id` as far as this process knows it; with sharedDir, brought up to date with the disk first. */
  private lookup(id: string): AudioStream | undefined {
    const stream = this.streams.get(id);
    if (this.options.sharedDir !== true || this.removing.has(id)) return stream;
    try {
      if (stream === undefined) {
        const found = this.diskView.find(id);
        if (found !== null) this.add(found);
        return found ?? undefined;
      }
      const change = this.diskView.refresh(stream);
      if (change === null) return stream;
      if (change === 'gone') {
        this.forget(stream);
        return undefined;
      }
      this.forgetMapping(stream);
      stream.dropMapping();
      this.stats.cacheBytes += streamCost(stream.size) - streamCost(change);
      return stream;
    } catch (error) {
      this.storageError(error, stream ?? null);
      return stream;
    }
  }

  /** Adds a stream found on disk (reload, another process's) to the known ones. */
  private add(stream: AudioStream): void {
    this.streams.set(stream.id, stream);
    this.stats.streams++;
    this.stats.cacheBytes += streamCost(stream.size);
  }

  /** Another process deleted `stream`: it leaves memory (followers are told), the disk is not touched. */
  private forget(stream: AudioStream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    this.forgetMapping(stream);
    stream.dropMapping();
    this.stats.streams--;
    this.stats.cacheBytes -= streamCost(stream.size);
    this.listener?.removed(stream, false);
  }

  /** The cross-process writer lock of stream `id`, or why not (an error already counted). */
  private lockStream(id: string, create: boolean): FileLock | AudioError | null {
    let taken: FileLock | LockRefusal;
    try {
      taken = FileLock.acquire(streamPath(this.options.cacheDir, id, DATA_SUFFIX), create);
    } catch (error) {
      return this.refuse(AudioErrorCode.Storage, `cannot lock stream ${id}: ${errorCode(error)}`);
    }
    if (taken === LockRefusal.Held) return this.refuse(AudioErrorCode.Busy, `stream ${id} is busy: another process is uploading or deleting it`);
    if (taken === LockRefusal.Stale) return this.refuse(AudioErrorCode.Busy, `stream ${id} is busy: another process is deleting it, retry`);
    if (taken === LockRefusal.Missing) return null;
    return taken;
  }

  /** Every stream's record, least recently used first. */
  list(): StreamInfo[] {
    return [...this.streams.values()].map(describeStream);
  }

  /** The stream `id` if this process has it, without marking it used (placement asks this). */
  peek(id: string): AudioStream | undefined {
    return this.lookup(id);
  }

  /** Streams being uploaded now (a snapshot). */
  uploads(): AudioStream[] {
    return [...this.streams.values()].filter((s) => s.uploader !== null && !s.complete && !s.removed);
  }

  /** Complete streams nobody uploads, least recently used first (a snapshot). */
  completeStreams(): AudioStream[] {
    return [...this.streams.values()].filter((s) => s.complete && s.uploader === null && !s.removed);
  }

  /**
   * START: opens a new stream or resumes an incomplete one for `owner`. Synchronous checks; the
   * caller awaits `stream.checkpoint()` for a new stream so its sidecar exists before the ack.
   */
  start(id: string, owner: object, createdAt?: number): AudioStream | AudioError {
    if (this.readOnlyReason !== null) return this.refuseReadOnly(`cannot start stream ${id}`);
    const existing = this.lookup(id);
    if (existing !== undefined) {
      if (existing.uploader !== null) return this.refuse(AudioErrorCode.Busy, `stream ${id} is busy: another connection is uploading it`);
      if (existing.complete) return this.refuse(AudioErrorCode.Complete, `stream ${id} is complete; DELETE it before uploading it again`);
    } else if (this.removing.has(id)) {
      return this.refuse(AudioErrorCode.Busy, `stream ${id} is busy: it is being deleted, retry`);
    }
    if (this.stats.uploadsInProgress >= this.options.maxUploads) {
      return this.refuse(AudioErrorCode.TooManyUploads, `cannot start stream ${id}: too many uploads in progress (limit ${this.options.maxUploads})`);
    }
    if (existing === undefined) {
      if (this.streams.size + this.removing.size >= this.options.maxStreams) {
        return this.refuse(AudioErrorCode.TooManyStreams, `cannot start stream ${id}: too many streams (limit ${this.options.maxStreams}); DELETE some first`);
      }
      const cost = streamCost(0);
      if (this.stats.cacheBytes + cost > this.options.maxCacheBytes && !this.makeRoom(cost, null)) {
        return this.refuse(AudioErrorCode.CacheFull, `cache full: cannot start stream ${id} (limit ${this.options.maxCacheBytes} bytes)`);
      }
    }
    // Room for the sidecar, and for what the last refused request needed (the disk state is `full`
    // until that fits): an upload that could not store its first chunk is refused now, not later.
    const startBytes = Math.max(SIDECAR_DISK_BYTES, this.space.refusedBytes);
    if (!this.admitDisk(startBytes, null)) return this.refuseNoSpace(`cannot start stream ${id}`, startBytes, null);
    this.space.fits();
    if (existing === undefined) {
      try {
        if (!this.dirExists) mkdirSync(this.options.cacheDir, { recursive: true });
        this.dirExists = true;
      } catch (error) {
        return this.refuse(AudioErrorCode.Storage, `cannot create stream ${id}: ${errorCode(error)}`);
      }
    }
    const stream = this.openUpload(id, existing, createdAt);
    if (!(stream instanceof AudioStream)) return stream;
    stream.uploader = owner;
    this.stats.uploadsInProgress++;
    this.touch(stream);
    return stream;
  }

  /**
   * One writer across processes: the lock first (a stream still open from its last upload here
   * holds it already), then the sidecar on disk, not memory, says what the stream is (complete →
   * refused, incomplete → resumed at its recorded size, missing → new). Opens the data file for
   * writing, with nothing reserved past its size.
   */
  private openUpload(id: string, existing: AudioStream | undefined, createdAt?: number): AudioStream | AudioError {
    let lock: FileLock | null = null;
    if (existing === undefined || !existing.writable) {
      const taken = this.lockStream(id, true);
      if (taken === null) return this.refuse(AudioErrorCode.Busy, `stream ${id} is busy: it is being deleted, retry`);
      if (!(taken instanceof FileLock)) return taken;
      lock = taken;
    }
    const now = Date.now();
    const stream = existing ?? AudioStream.fresh(this.options.cacheDir, id, now, createdAt ?? now);
    const before = stream.size;
    try {
      if (lock !== null) {
        const record = readMeta(stream.metaPath, id);
        if (record?.complete === true) {
          lock.release();
          if (existing !== undefined) {
            stream.takeRecord(record, Date.now());
            this.stats.cacheBytes += streamCost(stream.size) - streamCost(before);
          }
          return this.refuse(AudioErrorCode.Complete, `stream ${id} is complete; DELETE it before uploading it again`);
        }
        stream.takeRecord(record, Date.now());
      }
      this.forgetMapping(stream);
      stream.openForUpload(lock);
    } catch (error) {
      lock?.release();
      return this.refuse(AudioErrorCode.Storage, `cannot ${existing === undefined ? 'create' : 'resume'} stream ${id}: ${errorCode(error)}`);
    }
    if (existing === undefined) {
      this.add(stream);
      if (stream.persistedSize < 0) this.stats.streamsCreated++;
    } else {
      this.stats.cacheBytes += streamCost(stream.size) - streamCost(before);
    }
    return stream;
  }

  /** Appends one data chunk to `stream` within the limits; null when stored. */
  append(stream: AudioStream, chunk: Uint8Array): AudioError | null {
    const refused = this.reserveChunk(stream, 0, chunk.length);
    if (refused !== null) return refused;
    const written = this.writeChunk(stream, 0, chunk);
    if (written !== null) return written;
    this.commitChunk(stream, chunk.length);
    return null;
  }

  /**
   * Makes room for `n` more bytes of the chunk being received, of which `pending` bytes were
   * reserved already: checks the stream, cache and disk limits for the whole chunk so far and
   * reserves its disk blocks; null when they fit. Nothing counts as stored before
   * {@link commitChunk}: a chunk that is refused or never completes leaves the stream as it was.
   */
  reserveChunk(stream: AudioStream, pending: number, n: number): AudioError | null {
    const chunk = pending + n;
    if (stream.removed) return this.refuse(AudioErrorCode.NotFound, `stream ${stream.id} was deleted`);
    if (stream.size + chunk > this.options.maxStreamBytes) {
      return this.refuse(
        AudioErrorCode.StreamTooLarge,
        `stream ${stream.id}: a ${chunk}-byte chunk would take it to ${stream.size + chunk} bytes, past the maximum stream size (${this.options.maxStreamBytes} bytes); chunk not stored`,
      );
    }
    const more = streamCost(stream.size + chunk) - streamCost(stream.size);
    if (this.stats.cacheBytes + more > this.options.maxCacheBytes && !this.makeRoom(more, stream)) {
      return this.refuse(AudioErrorCode.CacheFull, `cache full: stream ${stream.id} cannot store ${chunk} more bytes (limit ${this.options.maxCacheBytes} bytes); chunk not stored`);
    }
    if (stream.size + chunk > stream.reservedBytes) {
      const refused = this.reserveFor(stream, stream.size + chunk);
      if (refused !== null) return refused;
    }
    return null;
  }

  /**
   * Writes `piece`, the bytes of the chunk being received from its byte `at` on, to the file
   * (reserved by {@link reserveChunk}); an AudioError when the disk fails the write (the chunk is
   * then not stored: nothing is committed).
   */
  writeChunk(stream: AudioStream, at: number, piece: Uint8Array): AudioError | null {
    try {
      stream.writeAt(stream.size + at, piece);
      return null;
    } catch (error) {
      if (isNoSpaceError(error)) return this.refuseNoSpace(`stream ${stream.id} cannot store this chunk (not stored)`, piece.length, error);
      return this.refuse(AudioErrorCode.Storage, `stream ${stream.id}: writing the chunk failed: ${errorCode(error)}; chunk not stored`);
    }
  }

  /** The chunk whose `n` bytes were reserved and written through {@link reserveChunk} is complete: it is stored. */
  commitChunk(stream: AudioStream, n: number): void {
    const before = stream.size;
    stream.commit(n, Date.now());
    this.stats.cacheBytes += streamCost(stream.size) - streamCost(before);
    this.stats.bytesStored += n;
    if (stream.unpersistedBytes >= this.options.flushBytes && !stream.checkpointing) this.checkpointInBackground(stream);
    else this.armFlush();
    if (this.listener !== null) this.listener.appended(stream, before, n);
  }

  /**
   * STOP: durable, trimmed, complete, hashed. Resolves with the size; the upload slot is freed
   * either way. `original`: a copy of another instance's stream must have its digest (else it
   * rejects with ERR_AUDIO_DIGEST and stays incomplete) and keeps its last-modified time.
   */
  async stop(stream: AudioStream, original?: { sha256: string; updatedAt: number }): Promise<number> {
    try {
      const size = await stream.finish(original);
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
   * (no descriptor kept) and unmaps the least recently read stream past --max-mapped-streams. A
   * data file that cannot be mapped (gone, replaced by a directory, EMFILE…) fails this read only.
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
    if (this.readOnlyReason !== null) return this.refuseReadOnly(`cannot delete stream ${id}`);
    const stream = this.lookup(id);
    if (stream === undefined) return this.refuse(AudioErrorCode.NotFound, `stream ${id} not found`);
    if (stream.uploader !== null) return this.refuse(AudioErrorCode.Busy, `stream ${id} is busy: it is being uploaded (STOP it first)`);
    let lock: FileLock | null = null;
    if (!stream.writable) {
      const taken = this.lockStream(id, false);
      if (taken !== null && !(taken instanceof FileLock)) return taken;
      if (taken === null) {
        this.forget(stream); // its data file is gone: another process deleted it
        return this.refuse(AudioErrorCode.NotFound, `stream ${id} not found`);
      }
      lock = taken;
    }
    this.stats.streamsDeleted++;
    const done = this.remove(stream, false, lock);
    this.onDeleted?.(stream, false);
    return done;
  }

  /**
   * Removes this instance's copy of a complete stream that lives on elsewhere (it moved to the
   * instances that own it now, or it failed its digest check): like DELETE for this process, but
   * not a deletion of the stream ({@link onDeleted} is not called). An AudioError when it is being
   * uploaded or is gone.
   */
  dropCopy(id: string): Promise<void> | AudioError {
    const stream = this.lookup(id);
    if (stream === undefined) return this.refuse(AudioErrorCode.NotFound, `stream ${id} not found`);
    if (stream.uploader !== null) return this.refuse(AudioErrorCode.Busy, `stream ${id} is busy: it is being uploaded`);
    let lock: FileLock | null = null;
    if (!stream.writable) {
      const taken = this.lockStream(id, false);
      if (taken !== null && !(taken instanceof FileLock)) return taken;
      if (taken === null) {
        this.forget(stream);
        return Promise.resolve();
      }
      lock = taken;
    }
    return this.remove(stream, false, lock);
  }

  /**
   * Deletes every incomplete stream that nobody uploads to and that was last written (or found at
   * start-up) more than `uploadExpiryMs` before `now`: an abandoned upload, as tus expires them.
   * Streams another process is uploading are skipped. Returns the ids deleted.
   */
  expireUploads(now: number): string[] {
    const expiry = this.options.uploadExpiryMs ?? 0;
    if (expiry <= 0 || this.readOnlyReason !== null || this.closed) return [];
    const expired: string[] = [];
    for (const stream of [...this.streams.values()]) {
      if (stream.complete || stream.uploader !== null || now - Math.max(stream.updatedAt, this.openedAt) <= expiry) continue;
      let lock: FileLock | LockRefusal | null = null;
      try {
        if (!stream.writable) lock = FileLock.acquire(stream.dataPath, false);
      } catch (error) {
        this.storageError(error, stream);
        continue;
      }
      if (lock === LockRefusal.Held) continue; // another process is uploading it: not abandoned
      if (lock === LockRefusal.Missing || lock === LockRefusal.Stale) {
        this.forget(stream); // another process deleted it
        continue;
      }
      this.stats.uploadsExpired++;
      expired.push(stream.id);
      this.remove(stream, false, lock).catch((error: unknown) => this.storageError(error, stream));
    }
    return expired;
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
    this.space.refused(bytes);
    return this.refuse(AudioErrorCode.NoSpace, `no space: ${what}: ${this.space.reason(failure, errorCode)}`);
  }

  /** Samples the disk: its state, `full` while the last request refused for want of space still would not fit (disk-budget.ts). */
  diskState(): DiskState {
    return this.space.state();
  }

  /** The effective cache budget: min(--max-cache-bytes, bytes stored + what the disk can still take above its reserve), at the last disk sample. */
  get budgetBytes(): number {
    return this.space.budget(this.stats.cacheBytes, this.options.maxCacheBytes);
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
    this.listener?.uploadEnded?.(stream);
    if (!stream.removed) stream.endUpload().catch((error: unknown) => this.storageError(error, stream));
  }

  private forgetMapping(stream: AudioStream): void {
    if (this.mapped.delete(stream)) this.stats.mappedStreams = this.mapped.size;
  }

  /** Evicts LRU complete, idle streams (never `except`) until `need` more bytes fit in --max-cache-bytes; false if they cannot. */
  private makeRoom(need: number, except: AudioStream | null): boolean {
    return this.evict(this.stats.cacheBytes + need - this.options.maxCacheBytes, except);
  }

  /**
   * Evicts LRU complete, idle streams (never `except`) costing at least `bytes` in all; false if
   * there are not enough (then nothing is evicted: a refusal must not cost data). Each eviction
   * takes the stream's writer lock first: one another process uploads again is skipped, one it
   * deleted is forgotten.
   */
  private evict(bytes: number, except: AudioStream | null): boolean {
    if (bytes <= 0) return true;
    if (!this.options.evict) return false;
    const evictable = (s: AudioStream): boolean => s !== except && s.complete && s.uploader === null;
    let freeable = 0;
    for (const s of this.streams.values()) if (evictable(s)) freeable += streamCost(s.size);
    if (freeable < bytes) return false;
    let freed = 0;
    for (const candidate of [...this.streams.values()]) {
      if (freed >= bytes) break;
      if (!evictable(candidate)) continue;
      let lock: FileLock | LockRefusal | null = null;
      try {
        if (!candidate.writable) lock = FileLock.acquire(candidate.dataPath, false);
      } catch (error) {
        this.storageError(error, candidate);
        continue;
      }
      if (lock === LockRefusal.Held) continue; // another process is uploading it again: not evictable
      freed += streamCost(candidate.size);
      if (lock === LockRefusal.Missing || lock === LockRefusal.Stale) {
        this.forget(candidate); // already deleted by another process
        continue;
      }
      this.stats.evictions++;
      this.remove(candidate, true, lock).catch((error: unknown) => this.storageError(error, candidate));
      this.onDeleted?.(candidate, true);
    }
    return freed >= bytes;
  }

  /** True when `bytes` more fit on the disk above its reserve, evicting (when allowed, never `except`) what frees enough first. */
  private admitDisk(bytes: number, except: AudioStream | null): boolean {
    return this.space.admits(bytes, (shortfall) => this.evict(shortfall, except));
  }

  /**
   * Space before bytes: reserves disk blocks so `stream` can grow to `end`, its growth target when
   * the disk has room for it and a sidecar more (speculative growth never takes the page a STOP
   * needs), else exactly `end`. Nothing is written; a refusal leaves the stream as it was.
   */
  private reserveFor(stream: AudioStream, end: number): AudioError | null {
    const target = stream.growthTarget(end, this.options.maxStreamBytes);
    let failure: unknown = null;
    for (const upTo of target > end ? [target, end] : [end]) {
      const spare = upTo > end ? SIDECAR_DISK_BYTES : 0;
      if (!this.admitDisk(upTo - stream.reservedBytes + spare, stream)) continue;
      try {
        stream.reserve(upTo);
        this.space.fits();
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

  private remove(stream: AudioStream, evicted: boolean, lock: FileLock | null): Promise<void> {
    this.streams.delete(stream.id);
    this.forgetMapping(stream);
    this.stats.streams--;
    this.stats.cacheBytes -= streamCost(stream.size);
    let done: Promise<void>;
    try {
      done = stream.remove(lock);
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

  private storageError(error: unknown, stream: AudioStream | null): void {
    this.stats.storageErrors++;
    if (this.onStorageError !== null) this.onStorageError(error, stream);
  }
}

function errorCode(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return typeof e?.code === 'string' ? `${e.code} (${e.syscall ?? 'fs'})` : String(error);
}
