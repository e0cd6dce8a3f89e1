/**
 * One audio stream: its mapped data file, its metadata, geometric growth and durable checkpoints.
 *
 * Invariants:
 * - Bytes [0, size) of the mapping are the stream; the file (its capacity) may be longer while the
 *   upload runs, and is trimmed to exactly `size` by {@link AudioStream.finish}.
 * - Space before bytes: every page of [size, reservedBytes) has a disk block (posix_fallocate), and
 *   append() writes only below `reservedBytes`. A sparse page written through the mapping would
 *   raise SIGBUS on a full disk; a stream loaded from disk starts with nothing reserved past its
 *   size, because its file may have holes there (grown by ftruncate, or left by a crash).
 * - `persistedSize` is the size the sidecar on disk records, and every byte below it was msync'ed
 *   (MS_SYNC) before the sidecar was written: after SIGKILL or a crash the reloaded stream reports
 *   a size whose bytes are all on disk.
 * - Checkpoints, finish and removal run one after the other (a per-stream chain), so sidecars never
 *   overtake each other and a removed stream's sidecar is not written again.
 * - Every msync holds a lease on the mapping it flushes: a grow() during the flush cannot unmap it.
 */
import { unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { MappedFile, type MappingLease } from '../../storage/mapped-file.js';
import { DATA_SUFFIX, META_SUFFIX, streamPath, type StreamMeta, writeMeta } from './stream-meta.js';

/** Smallest capacity a growing stream gets (one grow per 64 KiB at first, then doubling). */
export const MIN_CAPACITY_BYTES = 64 * 1024;

/** One stream; see the module comment for the invariants. */
export class AudioStream {
  readonly id: string;
  readonly dataPath: string;
  readonly metaPath: string;
  size: number;
  complete: boolean;
  readonly createdAt: number;
  updatedAt: number;
  /** Size the sidecar on disk records (all of it msync'ed first). */
  persistedSize: number;
  /** Every page below this has a disk block: append() writes only below it (see the module comment). */
  private reservedEnd: number;
  /** The connection uploading it (opaque to the stream), or null: then it can be resumed at once. */
  uploader: object | null = null;
  /** Set once DELETE or eviction removed it: every later use is refused by the store. */
  removed = false;
  /** A checkpoint is queued or running (the flush policy does not queue a second one). */
  checkpointing = false;
  private readonly file: MappedFile;
  private chain: Promise<void> = Promise.resolve();

  private constructor(dir: string, meta: StreamMeta, file: MappedFile) {
    this.id = meta.id;
    this.dataPath = streamPath(dir, meta.id, DATA_SUFFIX);
    this.metaPath = streamPath(dir, meta.id, META_SUFFIX);
    this.size = meta.size;
    this.complete = meta.complete;
    this.createdAt = meta.createdAt;
    this.updatedAt = meta.updatedAt;
    this.persistedSize = meta.size;
    this.reservedEnd = meta.size;
    this.file = file;
  }

  /** Creates an empty stream's data file in `dir` (its sidecar follows with the first checkpoint). */
  static create(dir: string, id: string, now: number): AudioStream {
    const file = MappedFile.open(streamPath(dir, id, DATA_SUFFIX), { create: true, writable: true, size: 0 });
    const stream = new AudioStream(dir, { id, size: 0, complete: false, createdAt: now, updatedAt: now }, file);
    stream.persistedSize = -1; // no sidecar yet
    return stream;
  }

  /**
   * Opens a stream found on disk with its sidecar, mapped read-write unless `writable` is false (a
   * read-only cache). A file shorter than the recorded size wins (bytes past it do not exist).
   */
  static load(dir: string, meta: StreamMeta, writable = true): AudioStream {
    const file = MappedFile.open(streamPath(dir, meta.id, DATA_SUFFIX), { writable });
    if (file.size < meta.size) meta = { ...meta, size: file.size, complete: false };
    return new AudioStream(dir, meta, file);
  }

  /** Bytes written since the last durable checkpoint. */
  get unpersistedBytes(): number {
    return this.size - Math.max(0, this.persistedSize);
  }

  /** INFO / LIST record. */
  meta(): StreamMeta {
    return { id: this.id, size: this.size, complete: this.complete, createdAt: this.createdAt, updatedAt: this.updatedAt };
  }

  /** Bytes from the start of the file whose pages all have disk blocks: append() may write below it. */
  get reservedBytes(): number {
    return this.reservedEnd;
  }

  /**
   * The capacity to reserve so the stream can reach `end`: the file's length when it already
   * reaches `end` (a loaded stream's unreserved tail), else geometric growth (doubling, at least
   * {@link MIN_CAPACITY_BYTES}); never past `maxBytes` unless `end` itself is.
   */
  growthTarget(end: number, maxBytes: number): number {
    const length = this.file.size;
    if (end <= length) return Math.max(end, Math.min(length, maxBytes));
    return Math.max(end, Math.min(maxBytes, Math.max(length * 2, MIN_CAPACITY_BYTES)));
  }

  /**
   * Reserves disk blocks for [reservedBytes, target) (the file grows to `target` if shorter) and
   * maps them. Throws the system error (`ENOSPC`, `EDQUOT`…) and then changes nothing.
   */
  reserve(target: number): void {
    if (target <= this.reservedEnd) return;
    this.file.reserve(this.reservedEnd, target - this.reservedEnd);
    if (target > this.file.size) this.file.grow(target);
    this.reservedEnd = target;
  }

  /**
   * Copies `chunk` into the mapping at the end of the stream. The caller checked the limits and
   * reserved the space ({@link AudioStream.reserve}): writing an unreserved page is a bug here.
   */
  append(chunk: Uint8Array, now: number): void {
    const end = this.size + chunk.length;
    if (end > this.reservedEnd) throw new RangeError(`AudioStream.append: stream ${this.id}: bytes up to ${end} are not reserved (reserved: ${this.reservedEnd})`);
    this.file.view.set(chunk, this.size);
    this.size = end;
    this.updatedAt = now;
  }

  /** Holds the current mapping until release(): for a socket write of a view of it (GET, FOLLOW). */
  retain(): MappingLease {
    return this.file.retain();
  }

  /** Durable checkpoint: msync [0, size) on a worker, then the sidecar with that size. */
  checkpoint(): Promise<void> {
    this.checkpointing = true;
    return this.enqueue(async () => {
      this.checkpointing = false;
      if (this.removed) return;
      await this.flushTo(this.size);
    });
  }

  /**
   * STOP: msync everything, trim the file to its exact size, mark complete, write the sidecar.
   * Resolves with the final size once all of it is durable.
   */
  finish(): Promise<number> {
    let size = 0;
    return this.enqueue(async () => {
      size = this.size;
      await this.flushTo(size, () => {
        this.file.truncate(size);
        this.reservedEnd = Math.min(this.reservedEnd, size);
      }, true);
      this.complete = true;
    }).then(() => size);
  }

  /**
   * Removes the stream: closes the file now (readers' leases keep their mapping alive until their
   * writes complete; unlink(2) of a mapped file is safe on POSIX), deletes the data file now and
   * the sidecar after any checkpoint in flight.
   */
  remove(): Promise<void> {
    this.removed = true;
    this.file.close();
    unlinkSync(this.dataPath);
    return this.enqueue(async () => {
      try {
        await unlink(this.metaPath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    });
  }

  /** Shutdown: a last checkpoint, then the file is closed. */
  async close(): Promise<void> {
    if (this.removed) return;
    if (this.unpersistedBytes > 0 || this.persistedSize < 0) await this.checkpoint();
    else await this.enqueue(async () => {});
    if (!this.file.closed) this.file.close();
  }

  private async flushTo(size: number, beforeMeta?: () => void, complete = this.complete): Promise<void> {
    const lease = this.file.retain();
    try {
      if (size > 0) await this.file.flushSync(0, size);
    } finally {
      lease.release();
    }
    if (this.removed) return;
    beforeMeta?.();
    await writeMeta(this.metaPath, { ...this.meta(), size, complete });
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
