/**
 * One audio stream: its data file (mapped while it is uploaded or read), its metadata, geometric
 * growth and durable checkpoints.
 *
 * Invariants:
 * - Bytes [0, size) of the file are the stream; the file (its capacity) may be longer while the
 *   upload runs, and is trimmed to exactly `size` by {@link AudioStream.finish}. An upload writes
 *   with pwrite and maps only when a reader needs the bytes (a live follower, a GET, an HTTP read),
 *   so a mapping covers at least what its reader was handed, and an upload nobody reads never
 *   remaps (each remap is a new external buffer, which drives major GCs).
 * - Space before bytes: every page of [size, reservedBytes) of the upload's file has a disk block
 *   (posix_fallocate through the upload's descriptor), and append() writes only below
 *   `reservedBytes`. A sparse page written through the mapping would raise SIGBUS on a full disk;
 *   a stream opened for upload (new, resumed after a restart or after another process's
 *   checkpoint) starts with nothing reserved past its size, because its file may have holes there
 *   (grown by ftruncate, or left by a crash).
 * - Descriptors: only an uploading stream keeps its data file open (writable; bounded by
 *   --max-uploads). Every other stream holds no descriptor: it is mapped read-only on its first
 *   read, the descriptor closed right after mmap, and never further than the size it verified
 *   (its record AND the file's length). A stream that is neither uploaded nor read holds nothing.
 * - `persistedSize` is the size the sidecar on disk records, and every byte below it was made
 *   durable (fdatasync of the data file) before the sidecar was written: after SIGKILL or a crash
 *   the reloaded stream reports a size whose bytes are all on disk.
 * - Checkpoints, finish, the end of an upload and removal run one after the other (a per-stream
 *   chain), so sidecars never overtake each other and a removed stream's sidecar is not written again.
 * - A sync keeps the data file's descriptor open until it is done, even if the stream is removed.
 * - One writer across processes: an upload holds an exclusive flock on the data file (a second
 *   descriptor, released with the file when the upload ends), taken by the store before it opens the
 *   file for writing; the store then takes the sidecar, not its memory, as the truth.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { sha256File } from '../../storage/file-digest.js';
import type { FileLock } from '../../storage/file-lock.js';
import { MappedFile, MappedFileErrorCode, type MappingLease } from '../../storage/mapped-file.js';
import { DATA_SUFFIX, META_SUFFIX, streamPath, type StreamMeta, writeMeta } from './stream-meta.js';

/** Smallest capacity a growing stream gets (one grow per 64 KiB at first, then doubling). */
export const MIN_CAPACITY_BYTES = 64 * 1024;

/** The lease of an empty stream: nothing is mapped, nothing to release. */
const EMPTY_LEASE: MappingLease = Object.freeze({ view: Buffer.alloc(0), release() {} });

/** One stream; see the module comment for the invariants. */
export class AudioStream {
  readonly id: string;
  readonly dataPath: string;
  readonly metaPath: string;
  size: number;
  complete: boolean;
  readonly createdAt: number;
  updatedAt: number;
  /**
   * Whether another state of the stream had the same Last-Modified second as the current one (it
   * changed twice within that second), or whether that is unknown (read from a sidecar, or a file
   * found shorter than its record). Then its Last-Modified is a weak validator (RFC 9110 §8.8.2.2),
   * which If-Range never accepts (§13.1.5); else the server knows it names exactly these bytes.
   */
  lastModifiedShared = true;
  /** Size the sidecar on disk records (all of it made durable first). */
  persistedSize: number;
  /** SHA-256 (hex) of bytes [0, size) once complete and hashed (STOP, or a verified copy), else null. */
  sha256: string | null = null;
  /** Copies of it known to be complete and durable in the cluster, this one included (INFO's `replicas`). */
  copies = 1;
  /** Its media type once sniffed from enough first bytes (stream-info.ts), else null. */
  mediaType: string | null = null;
  /** The connection uploading it (opaque to the stream), or null: then it can be resumed at once. */
  uploader: object | null = null;
  /** Set once DELETE or eviction removed it: every later use is refused by the store. */
  removed = false;
  /** A checkpoint is queued or running (the flush policy does not queue a second one). */
  checkpointing = false;
  /** The sidecar this view was last read from (inode and mtime), to see another process replace it. */
  recordIno = -1;
  recordMtimeMs = -1;
  /** The writable file while uploading, a read-only mapping (no descriptor) after a read, else null. */
  private file: MappedFile | null = null;
  /** Every page of the writable file below this has a disk block: append() writes only below it (see the module comment). */
  private reservedEnd = 0;
  /** The cross-process writer lock, held from START until the upload's file is closed. */
  private lock: FileLock | null = null;
  private chain: Promise<void> = Promise.resolve();
  /** A sidecar write (tmp + rename) is in flight: it could put the sidecar back after remove() unlinked it. */
  private writingMeta = false;

  private constructor(dir: string, meta: StreamMeta) {
    this.id = meta.id;
    this.dataPath = streamPath(dir, meta.id, DATA_SUFFIX);
    this.metaPath = streamPath(dir, meta.id, META_SUFFIX);
    this.size = meta.size;
    this.complete = meta.complete;
    this.createdAt = meta.createdAt;
    this.updatedAt = meta.updatedAt;
    this.persistedSize = meta.size;
    this.sha256 = meta.complete ? (meta.sha256 ?? null) : null;
  }

  /**
   * A stream not known yet: nothing opened; {@link AudioStream.takeRecord} and openForUpload()
   * follow. `createdAt`: a copy of another instance's stream keeps the original's.
   */
  static fresh(dir: string, id: string, now: number, createdAt = now): AudioStream {
    const stream = new AudioStream(dir, { id, size: 0, complete: false, createdAt, updatedAt: now });
    stream.persistedSize = -1; // no sidecar yet
    stream.lastModifiedShared = false; // empty, and nothing else was it
    return stream;
  }

  /**
   * Takes the sidecar read from disk as the truth (another process may have written it): its
   * size, completeness and times; null means no sidecar — a new, empty stream.
   */
  takeRecord(meta: StreamMeta | null, now: number): void {
    if (meta === null) {
      this.size = 0;
      this.persistedSize = -1;
      this.complete = false;
      this.updatedAt = now;
      this.lastModifiedShared = false;
      return;
    }
    this.lastModifiedShared = true; // another process wrote it: what it was within that second is not known
    this.size = meta.size;
    this.persistedSize = meta.size;
    this.complete = meta.complete;
    this.updatedAt = meta.updatedAt;
    this.sha256 = meta.complete ? (meta.sha256 ?? null) : null;
  }

  /**
   * A stream found on disk with its sidecar; nothing is opened (lstat only: a symlink is never
   * followed). A data file shorter than the recorded size wins (bytes past it do not exist); null
   * when the data file is missing. Throws `ERR_MMAP_NOT_A_FILE` (syscall lstat) for anything but a
   * regular file: it could never be mapped.
   */
  static load(dir: string, meta: StreamMeta): AudioStream | null {
    const path = streamPath(dir, meta.id, DATA_SUFFIX);
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (stat === undefined) return null;
    if (!stat.isFile()) {
      throw Object.assign(new Error(`AudioStream.load: '${path}' is not a regular file`), { code: MappedFileErrorCode.NotAFile, syscall: 'lstat', path });
    }
    if (stat.size < meta.size) meta = { ...meta, size: stat.size, complete: false };
    return new AudioStream(dir, meta);
  }

  /** True while the data file is open for writing (an upload, or its last checkpoint). */
  get writable(): boolean {
    return this.file !== null && this.file.writable;
  }

  /** True while a read-only mapping is held (the store bounds how many). */
  get mapped(): boolean {
    return this.file !== null && !this.file.writable;
  }

  /**
   * START of a stream that has no open writer: opens its data file for writing (a read mapping is
   * dropped; leases keep it alive). The caller counts the descriptor against --max-uploads.
   */
  openForUpload(lock: FileLock | null): void {
    if (this.writable) return; // still open from the last upload (its end is queued): its lock is still held
    if (lock === null) throw new Error(`AudioStream.openForUpload: stream ${this.id} needs its writer lock`);
    this.dropMapping();
    const file = MappedFile.open(this.dataPath, { create: true, writable: true });
    this.lock?.release();
    this.lock = lock;
    if (file.size < this.size) {
      this.lastModifiedShared = true; // shorter under the same Last-Modified
      this.size = file.size; // bytes past the file's end do not exist
      this.persistedSize = Math.min(this.persistedSize, file.size);
    }
    this.file = file;
    this.reservedEnd = this.size; // the file may have holes past the size: nothing there is trusted
  }

  /**
   * The upload ended (STOP answered or the uploader left): once the checkpoints queued so far are
   * done, the data file is closed — the stream keeps no descriptor until it is read or resumed.
   */
  endUpload(): Promise<void> {
    return this.enqueue(async () => {
      if (this.uploader !== null || this.file === null || !this.file.writable) return; // resumed meanwhile
      if (this.unpersistedBytes > 0 && !this.removed) await this.flushTo(this.size);
      const file = this.file;
      if (this.uploader !== null || file === null || !file.writable) return; // resumed or removed meanwhile
      this.file = null;
      file.close();
      this.releaseLock();
    });
  }

  private releaseLock(): void {
    const lock = this.lock;
    this.lock = null;
    lock?.release();
  }

  /** Closes a read-only mapping (leases keep theirs until released); the next read maps again. */
  dropMapping(): void {
    if (this.file === null || this.file.writable) return;
    const file = this.file;
    this.file = null;
    file.close();
  }

  /** Bytes written since the last durable checkpoint. */
  get unpersistedBytes(): number {
    return this.size - Math.max(0, this.persistedSize);
  }

  /** INFO / LIST record. */
  meta(): StreamMeta {
    const meta: StreamMeta = { id: this.id, size: this.size, complete: this.complete, createdAt: this.createdAt, updatedAt: this.updatedAt };
    if (this.complete && this.sha256 !== null) meta.sha256 = this.sha256;
    return meta;
  }

  /** Bytes from the start of the upload's file whose pages all have disk blocks: append() may write below it. */
  get reservedBytes(): number {
    return this.reservedEnd;
  }

  /**
   * The capacity to reserve so the stream can reach `end`: the file's length when it already
   * reaches `end` (a resumed stream's unreserved tail), else geometric growth (doubling, at least
   * {@link MIN_CAPACITY_BYTES}); never past `maxBytes` unless `end` itself is.
   */
  growthTarget(end: number, maxBytes: number): number {
    // The file reaches reservedBytes (reserve extends it) though the mapping may stop short of it.
    const length = Math.max(this.writer('growthTarget').size, this.reservedEnd);
    if (end <= length) return Math.max(end, Math.min(length, maxBytes));
    return Math.max(end, Math.min(maxBytes, Math.max(length * 2, MIN_CAPACITY_BYTES)));
  }

  /**
   * Reserves disk blocks for [reservedBytes, target) through the upload's descriptor (the file
   * grows to `target` if shorter). Throws the system error (`ENOSPC`, `EDQUOT`…) and then changes
   * nothing. The mapping is not grown: bytes are written with pwrite, and a reader that needs them
   * maps them ({@link region}, {@link retain}), so an upload nobody reads never remaps.
   */
  reserve(target: number): void {
    if (target <= this.reservedEnd) return;
    const file = this.writer('reserve');
    file.reserve(this.reservedEnd, target - this.reservedEnd);
    this.reservedEnd = target;
  }

  /**
   * The writable mapping's bytes [offset, offset + n) as a view (a chunk just committed, for its
   * live followers). Only reserved bytes are handed out (see the module comment); valid until the
   * mapping grows (the next reserve): hold a lease to keep it.
   */
  region(offset: number, n: number): Buffer {
    const file = this.writer('region');
    if (offset + n > this.reservedEnd) throw new RangeError(`AudioStream.region: stream ${this.id}: bytes up to ${offset + n} are not reserved (reserved: ${this.reservedEnd})`);
    if (offset + n > file.size) file.grow(this.reservedEnd); // map what was reserved since (one remap per reservation at most)
    return file.view.subarray(offset, offset + n);
  }

  /**
   * Writes `piece` at `offset` of the upload's file (pwrite through its descriptor: one copy into
   * the page cache the mappings share). Only reserved bytes past the stream's end are written.
   */
  writeAt(offset: number, piece: Uint8Array): void {
    const file = this.writer('writeAt');
    if (offset < this.size || offset + piece.length > this.reservedEnd) {
      throw new RangeError(`AudioStream.writeAt: stream ${this.id}: [${offset}, ${offset + piece.length}) is not reserved past the end (size ${this.size}, reserved ${this.reservedEnd})`);
    }
    file.write(piece, offset);
  }

  /** The `n` bytes written after the end of the stream (through {@link writeAt} or {@link region}) are part of it now. */
  commit(n: number, now: number): void {
    const end = this.size + n;
    if (end > this.reservedEnd) throw new RangeError(`AudioStream.commit: stream ${this.id}: bytes up to ${end} are not reserved (reserved: ${this.reservedEnd})`);
    this.size = end;
    // RFC 9110 §8.8.2.2: the date stays strong only while one state of the stream carried its second.
    this.lastModifiedShared = Math.floor(now / 1000) === Math.floor(this.updatedAt / 1000);
    this.updatedAt = now;
  }

  /**
   * Holds the current mapping until release(): for a socket write of a view of it (GET, FOLLOW).
   * A stream that is not uploaded is mapped read-only here on first use, no further than `size`
   * (and the file's length), without keeping a descriptor. Throws the system error of open/mmap.
   */
  retain(): MappingLease {
    if (this.file === null) {
      if (this.size === 0) return EMPTY_LEASE;
      this.file = MappedFile.open(this.dataPath, { detach: true, maxLength: this.size });
      if (this.file.size < this.size) {
        this.size = this.file.size; // the file is shorter: only what exists is served
        this.lastModifiedShared = true; // shorter under the same Last-Modified
      }
    } else if (this.file.writable && this.file.size < this.size) {
      this.file.grow(this.reservedEnd); // an upload's mapping follows its readers, not its writes (see reserve)
    }
    return this.file.retain();
  }

  /** Durable checkpoint: fdatasync on a worker, then the sidecar with the size it covers. */
  checkpoint(): Promise<void> {
    this.checkpointing = true;
    return this.enqueue(async () => {
      this.checkpointing = false;
      if (this.removed || !this.writable) return;
      await this.flushTo(this.size);
    });
  }

  /**
   * STOP: hash the bytes (SHA-256, read back off the loop), sync everything, trim the file to its
   * exact size, mark complete, write the sidecar with the digest. Resolves with the final size once
   * all of it is durable. `original` (a copy of another instance's stream): a digest that differs
   * rejects with `ERR_AUDIO_DIGEST` and leaves the stream incomplete; the copy keeps the original's
   * last-modified time.
   */
  finish(original?: { sha256: string; updatedAt: number }): Promise<number> {
    let size = 0;
    return this.enqueue(async () => {
      size = this.size;
      const digest = await sha256File(this.dataPath, size);
      if (original !== undefined && digest !== original.sha256) {
        throw Object.assign(new Error(`stream ${this.id}: SHA-256 ${digest} of ${size} bytes, expected ${original.sha256}`), { code: 'ERR_AUDIO_DIGEST' });
      }
      this.sha256 = digest;
      if (original !== undefined) {
        this.updatedAt = original.updatedAt;
        this.lastModifiedShared = true; // the original's history within that second is not known here
      }
      await this.flushTo(size, () => {
        this.writer('finish').truncate(size);
        this.reservedEnd = Math.min(this.reservedEnd, size);
      }, true);
      this.complete = true;
    }).then(() => size);
  }

  /**
   * A complete stream found without a digest (completed before digests were kept): records
   * `sha256`, computed by the caller from its bytes, in memory and in its sidecar.
   */
  adoptDigest(sha256: string): Promise<void> {
    return this.enqueue(async () => {
      if (this.removed || !this.complete || this.sha256 !== null) return;
      this.sha256 = sha256;
      this.writingMeta = true;
      try {
        await writeMeta(this.metaPath, this.meta());
      } finally {
        this.writingMeta = false;
      }
    });
  }

  /**
   * Removes the stream under its writer lock (`lock`, or the one its upload still holds): closes
   * the file now (readers' leases keep their mapping alive until their writes complete; unlink(2)
   * of a mapped file is safe on POSIX), deletes the sidecar and then the data file now, the sidecar
   * once more after a sidecar write in flight, and only then lets go of the lock. With none in
   * flight the lock goes at once: its descriptor is the last one on the unlinked file, so its blocks
   * are freed now (eviction for disk space asks the disk again right after).
   */
  remove(lock: FileLock | null): Promise<void> {
    this.removed = true;
    const file = this.file;
    this.file = null;
    file?.close();
    if (lock !== null) {
      this.lock?.release();
      this.lock = lock; // held until the files are gone: no other process starts this stream meanwhile
    }
    // The sidecar first: another process that then finds the data file without one (and the lock
    // free) treats the stream as new, never as a stale complete one.
    try {
      unlinkQuiet(this.metaPath);
      unlinkSync(this.dataPath);
    } catch (error) {
      this.releaseLock();
      throw error;
    }
    if (!this.writingMeta) {
      this.releaseLock(); // no sidecar write in flight can put it back (later ones see `removed`)
      return Promise.resolve();
    }
    return this.enqueue(async () => {
      try {
        await unlink(this.metaPath); // a checkpoint that was in flight may have renamed it back
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      } finally {
        this.releaseLock();
      }
    });
  }

  /** Shutdown: a last checkpoint, then the file is closed. */
  async close(): Promise<void> {
    if (this.removed) return;
    if (this.writable && (this.unpersistedBytes > 0 || this.persistedSize < 0)) await this.checkpoint();
    else await this.enqueue(async () => {});
    const file = this.file;
    this.file = null;
    if (file !== null && !file.closed) file.close();
    this.releaseLock();
  }

  /** The writable file; its absence is a bug of the caller (the store opens it at START). */
  private writer(operation: string): MappedFile {
    if (this.file === null || !this.file.writable) throw new Error(`AudioStream.${operation}: stream ${this.id} is not open for upload`);
    return this.file;
  }

  private async flushTo(size: number, beforeMeta?: () => void, complete = this.complete): Promise<void> {
    // fdatasync writes back only what is dirty: the bytes since the last checkpoint (pwritten, and
    // any written through a mapping), however little of the file is mapped.
    if (size > Math.max(0, this.persistedSize)) await this.writer('checkpoint').syncData();
    if (this.removed) return;
    beforeMeta?.();
    this.writingMeta = true;
    try {
      const meta = { ...this.meta(), size, complete };
      if (complete && this.sha256 !== null) meta.sha256 = this.sha256;
      await writeMeta(this.metaPath, meta);
    } finally {
      this.writingMeta = false;
    }
    this.persistedSize = size;
  }

  /** Runs `step` after every earlier one; a failure rejects this step only, never the chain. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(step);
    this.chain = run.then(
      () => undefined,
      () => undefined, // the failure is reported through `run`, which every caller handles
    );
    return run;
  }
}

/** unlink(2), a missing file being fine. */
function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
