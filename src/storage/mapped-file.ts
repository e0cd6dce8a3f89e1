/**
 * A file mapped into memory, for the audio stream cache: the writer appends
 * (pwrite through the descriptor, or into the mapping) and grows it; readers send
 * views of it to sockets. The file may be longer than its mapping (reserve() extends the file, not
 * the mapping): a writer that only pwrites maps more only when a reader needs the bytes (grow()),
 * and makes its writes durable with syncData().
 *
 * Invariants:
 * - `view` always covers exactly `size` bytes of the file; size 0 maps nothing
 *   (mmap of 0 bytes is invalid) and `view` is then an empty Buffer.
 * - A superseded mapping (after grow/truncate/close) is unmapped as soon as no
 *   lease holds it. Unmapping detaches its views (length 0), so code holding a
 *   stale view reads nothing instead of crashing; code that must keep using a
 *   view across grow() (a socket write in progress) takes a lease first.
 * - The file is never shorter than a live mapping: touching a mapped page past
 *   end of file raises SIGBUS and kills the process. So truncate() shrinks the
 *   file only once no leased mapping reaches past the new size.
 * - grow() extends the file sparsely (ftruncate): a page without a disk block
 *   raises SIGBUS when it is first written and the filesystem is full. A writer
 *   calls reserve() (posix_fallocate) for a range before writing into it; that
 *   fails with ENOSPC/EDQUOT instead of faulting.
 * - Only regular files are mapped, and never through a symlink: open() uses
 *   O_NOFOLLOW and O_NONBLOCK (a FIFO cannot block it) and checks the type.
 *
 * fs calls are synchronous on purpose: they happen at stream open/grow/stop,
 * never per byte. Durable flushes (msync MS_SYNC) run on a libuv worker.
 */
import { constants as bufferConstants } from 'node:buffer';
import { closeSync, fdatasync, constants as fsConstants, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { MS_ASYNC, PAGE_SIZE, mmap } from '../native.js';

const fdatasyncAsync = promisify(fdatasync);

/**
 * Error codes thrown by MappedFile besides Node's own (`E…` system errors,
 * `ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`). Stable, never reused.
 */
export const MappedFileErrorCode = {
  /** The MappedFile (or the mapping) is closed. */
  Closed: 'ERR_MMAP_CLOSED',
  /** The file was opened read-only and the operation must change its size. */
  ReadOnly: 'ERR_MMAP_READ_ONLY',
  /** The path is not a regular file (a directory, FIFO, socket or device): it is never mapped. */
  NotAFile: 'ERR_MMAP_NOT_A_FILE',
} as const;

/** Options of {@link MappedFile.open}. */
export interface MappedFileOptions {
  /** Minimum size in bytes: a smaller file is extended (zero-filled) to it. Default: the file's size. */
  size?: number;
  /** Create the file if missing (mode 0o644). Default false. */
  create?: boolean;
  /** Map read-write (the file is opened O_RDWR). Default false: read-only. */
  writable?: boolean;
  /**
   * Read-only only: close the descriptor right after mmap (a mapping does not need it). Such a file
   * cannot grow or shrink; it is a fixed view that costs no descriptor. Default false.
   */
  detach?: boolean;
  /** Map at most this many bytes (a reader maps no further than the size it verified). Default: the whole file. */
  maxLength?: number;
}

/**
 * A hold on the mapping that was current at {@link MappedFile.retain} time: it
 * stays mapped, and `view` stays valid, until `release()`, even across grow(),
 * truncate() and close().
 */
export interface MappingLease {
  /** The whole mapping current at retain() time. Length 0 once released and unmapped. */
  readonly view: Buffer;
  /** Drops the hold; idempotent. May surface an OS error from a deferred unmap, shrink or close. */
  release(): void;
}

/** One mmap of the file; `buffer` null is the mapping-less state of a 0-byte file. */
interface Mapping {
  readonly buffer: ArrayBuffer | null;
  readonly view: Buffer;
  readonly length: number;
  leases: number;
  /** Superseded or closed: unmap when `leases` reaches 0. */
  retired: boolean;
}

class Lease implements MappingLease {
  readonly view: Buffer;
  #release: (() => void) | null;

  constructor(view: Buffer, release: () => void) {
    this.view = view;
    this.#release = release;
  }

  release(): void {
    const release = this.#release;
    if (release === null) return;
    this.#release = null;
    release();
  }
}

/** A file mapped MAP_SHARED; see the module comment for the invariants. */
export class MappedFile {
  /** The path the file was opened with, carried by every error. */
  readonly path: string;
  /** True if mapped read-write. */
  readonly writable: boolean;
  #fd: number;
  #size: number;
  #current: Mapping;
  /** Retired mappings still held by leases. */
  readonly #retained = new Set<Mapping>();
  #closed = false;
  /** truncate() shrank `size` but a leased mapping still reaches past it, so the file keeps its length for now. */
  #shrinkPending = false;
  /** syncData() calls running: the descriptor stays open until they are done. */
  #syncing = 0;

  private constructor(path: string, fd: number, writable: boolean, size: number, mapping: Mapping) {
    this.path = path;
    this.#fd = fd;
    this.writable = writable;
    this.#size = size;
    this.#current = mapping;
  }

  /**
   * Opens (with `create`, creates) `path`, extends it to `options.size` if it is
   * smaller, and maps all of it. Throws Node-style system errors with `path`
   * (`ELOOP` for a symlink), and `ERR_MMAP_NOT_A_FILE` for anything but a regular file.
   */
  static open(path: string, options: MappedFileOptions = {}): MappedFile {
    if (typeof path !== 'string' || path.length === 0) throw typeError('path must be a non-empty string');
    if (options === null || typeof options !== 'object') throw typeError('options must be an object');
    const { size, create = false, writable = false, detach = false, maxLength } = options;
    if (typeof create !== 'boolean') throw typeError('options.create must be a boolean');
    if (typeof writable !== 'boolean') throw typeError('options.writable must be a boolean');
    if (typeof detach !== 'boolean') throw typeError('options.detach must be a boolean');
    if (detach && writable) throw typeError('options.detach needs a read-only file (writable: false)');
    if (size !== undefined) checkLength('options.size', size);
    if (maxLength !== undefined) checkLength('options.maxLength', maxLength);
    const flags = (writable ? fsConstants.O_RDWR : fsConstants.O_RDONLY) | (create ? fsConstants.O_CREAT : 0) | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;
    const fd = openSync(path, flags, 0o644);
    let mapped: MappedFile;
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw notAFileError(path);
      let actual = stat.size;
      if (size !== undefined && size > actual) {
        if (!writable) throw readOnlyError(path, `extend to ${size} bytes`);
        ftruncateSync(fd, size);
        actual = size;
      }
      if (maxLength !== undefined && maxLength < actual) actual = maxLength;
      checkLength('file size', actual);
      mapped = new MappedFile(path, fd, writable, actual, mapFile(fd, actual, writable, path));
    } catch (error) {
      closeSync(fd);
      throw withPath(error, path);
    }
    if (detach) mapped.#detachDescriptor();
    return mapped;
  }

  /** False once the descriptor was closed after mapping (`detach`): the file keeps its size for good. */
  get hasDescriptor(): boolean {
    return this.#fd >= 0;
  }

  /** File size in bytes (after a deferred shrink: the size the file will have). */
  get size(): number {
    this.#assertOpen('size');
    return this.#size;
  }

  /** The current mapping, exactly `size` bytes. Detached (length 0) once superseded, unless leased. */
  get view(): Buffer {
    this.#assertOpen('view');
    return this.#current.view;
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Extends the file to `newSize` (unless it already is that long, e.g. grown
   * by a writer this reader follows) and maps it anew. Bytes are kept: it is
   * the same file. The old mapping is unmapped once unleased.
   */
  grow(newSize: number): void {
    this.#assertOpen('grow');
    checkLength('newSize', newSize);
    if (newSize < this.#size) {
      throw rangeError(`newSize (${newSize}) must be >= size (${this.#size}); use truncate() to shrink`);
    }
    if (newSize === this.#size) return;
    if (this.#fd < 0) throw readOnlyError(this.path, `grow to ${newSize} bytes (mapped without a descriptor)`);
    const actual = this.#fs(() => fstatSync(this.#fd).size);
    if (actual < newSize) {
      if (!this.writable) throw readOnlyError(this.path, `grow to ${newSize} bytes`);
      this.#fs(() => ftruncateSync(this.#fd, newSize));
    }
    this.#replace(mapFile(this.#fd, newSize, this.writable, this.path), newSize);
  }

  /**
   * Reserves disk blocks for [offset, offset + length) with posix_fallocate, widened to whole
   * pages inside the file (a write fault allocates the whole page), so writing that range through
   * a mapping cannot raise SIGBUS for want of a block. The file grows to at least
   * `offset + length`; the mapping does not (grow() maps it). On failure (`ENOSPC`, `EDQUOT`…) the
   * file keeps the length it had, and the error is thrown with `path`.
   */
  reserve(offset: number, length: number): void {
    this.#assertOpen('reserve');
    checkLength('offset', offset);
    checkLength('length', length);
    if (!this.writable) throw readOnlyError(this.path, `reserve ${length} bytes`);
    if (length === 0) return;
    const fd = this.#fd;
    const before = this.#fs(() => fstatSync(fd).size);
    const start = offset - (offset % PAGE_SIZE);
    const end = Math.min(Math.ceil((offset + length) / PAGE_SIZE) * PAGE_SIZE, Math.max(offset + length, before));
    try {
      mmap.fallocate(fd, start, end - start);
    } catch (error) {
      // A failed fallocate may have extended the file part of the way: give those bytes back, so
      // the file never claims a length it could not reserve. No mapping reaches past `before`.
      try {
        if (fstatSync(fd).size > before) ftruncateSync(fd, before);
      } catch (restoreError) {
        throw withPath(Object.assign(restoreError as Error, { cause: error }), this.path);
      }
      throw withPath(error, this.path);
    }
  }

  /**
   * Writes `data` at `position` through the descriptor (pwrite(2)): the kernel copies it into the
   * page cache the mapping shares, so the mapping sees it at once. Cheaper than storing through a
   * fresh writable mapping, where every first write to a page faults and zero-fills it. The range
   * must be inside the file (reserve() it first: no write here extends the file). Throws the system
   * error with `path`.
   */
  write(data: Uint8Array, position: number): void {
    this.#assertOpen('write');
    if (!this.writable || this.#fd < 0) throw readOnlyError(this.path, `write ${data.length} bytes`);
    const fd = this.#fd;
    let done = 0;
    while (done < data.length) {
      const at = done;
      done += this.#fs(() => writeSync(fd, data, at, data.length - at, position + at));
    }
  }

  /**
   * Sets the file to exactly `exactSize` bytes (trimming to the stream's real
   * length at STOP), remapping smaller if needed. When a leased mapping still
   * reaches past `exactSize`, the file shrinks when that lease is released.
   */
  truncate(exactSize: number): void {
    this.#assertOpen('truncate');
    checkLength('exactSize', exactSize);
    if (!this.writable) throw readOnlyError(this.path, `truncate to ${exactSize} bytes`);
    if (exactSize >= this.#size) {
      this.grow(exactSize);
    } else {
      this.#replace(mapFile(this.#fd, exactSize, this.writable, this.path), exactSize);
    }
    this.#shrinkPending = true;
    this.#settle();
  }

  /** Holds the current mapping (and its view) until `release()`. */
  retain(): MappingLease {
    this.#assertOpen('retain');
    const mapping = this.#current;
    mapping.leases++;
    return new Lease(mapping.view, () => this.#release(mapping));
  }

  /** Schedules writeback of [offset, offset + length) (msync MS_ASYNC): cheap, returns at once, not durable. */
  flush(offset = 0, length?: number): void {
    this.#assertOpen('flush');
    const count = checkRange(offset, length, this.#size);
    const { buffer } = this.#current;
    if (buffer === null || count === 0) return;
    try {
      mmap.sync(buffer, offset, count, MS_ASYNC);
    } catch (error) {
      throw withPath(error, this.path);
    }
  }

  /**
   * Writes [offset, offset + length) back and resolves once it is durable
   * (msync MS_SYNC on a libuv worker: a large flush never stalls the loop).
   * Rejects on bad arguments, on a closed file, or with the msync errno error.
   */
  async flushSync(offset = 0, length?: number): Promise<void> {
    this.#assertOpen('flushSync');
    const count = checkRange(offset, length, this.#size);
    const { buffer } = this.#current;
    if (buffer === null || count === 0) return;
    try {
      await mmap.syncAsync(buffer, offset, count);
    } catch (error) {
      throw withPath(error, this.path);
    }
  }

  /**
   * fdatasync(2) on a libuv worker: resolves once every byte written to the file, by {@link write}
   * or through a mapping of it, is durable, whatever part of the file is mapped. The descriptor
   * stays open until it resolves (a close() meanwhile closes it afterwards). Rejects with the system
   * error, with `path`.
   */
  async syncData(): Promise<void> {
    this.#assertOpen('syncData');
    if (this.#fd < 0) throw readOnlyError(this.path, 'sync (mapped without a descriptor)');
    this.#syncing++;
    try {
      await fdatasyncAsync(this.#fd);
    } catch (error) {
      throw withPath(error, this.path);
    } finally {
      this.#syncing--;
      this.#settle();
    }
  }

  /** madvise on [offset, offset + length) with one of native.ts's MADV_* constants (MADV_SEQUENTIAL for replay). */
  advise(advice: number, offset = 0, length?: number): void {
    this.#assertOpen('advise');
    const count = checkRange(offset, length, this.#size);
    const { buffer } = this.#current;
    if (buffer === null || count === 0) return;
    try {
      mmap.advise(buffer, offset, count, advice);
    } catch (error) {
      throw withPath(error, this.path);
    }
  }

  /**
   * Closes at once: every later use throws `ERR_MMAP_CLOSED`. The mapping is
   * unmapped now, or when its last lease is released. The fd is closed now,
   * unless a shrink is waiting for a lease or a {@link syncData} is running; then it closes after
   * them.
   * Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const current = this.#current;
    this.#current = emptyMapping();
    try {
      this.#retire(current);
    } finally {
      // The fd must not leak even if the unmap failed; that error still propagates.
      this.#settle();
    }
  }

  /** Closes the descriptor of a read-only file; the mapping stays valid (POSIX: mmap keeps its own reference). */
  #detachDescriptor(): void {
    const fd = this.#fd;
    this.#fd = -1;
    this.#fs(() => closeSync(fd));
  }

  #assertOpen(operation: string): void {
    if (this.#closed) {
      throw Object.assign(new Error(`MappedFile.${operation}: '${this.path}' is closed`), {
        code: MappedFileErrorCode.Closed,
        path: this.path,
      });
    }
  }

  /** Runs an fd-based fs call, adding `path` to its error (fd calls carry none). */
  #fs<T>(call: () => T): T {
    try {
      return call();
    } catch (error) {
      throw withPath(error, this.path);
    }
  }

  #replace(next: Mapping, size: number): void {
    const previous = this.#current;
    this.#current = next;
    this.#size = size;
    this.#retire(previous);
  }

  #retire(mapping: Mapping): void {
    mapping.retired = true;
    if (mapping.leases === 0) this.#unmap(mapping);
    else this.#retained.add(mapping);
  }

  #unmap(mapping: Mapping): void {
    if (mapping.buffer === null) return;
    try {
      mmap.unmap(mapping.buffer);
    } catch (error) {
      throw withPath(error, this.path);
    }
  }

  #release(mapping: Mapping): void {
    mapping.leases--;
    if (mapping.leases > 0 || !mapping.retired) return;
    this.#retained.delete(mapping);
    this.#unmap(mapping);
    this.#settle();
  }

  /** Applies a pending shrink once no mapping reaches past `size`, then closes the fd if close() left it open. */
  #settle(): void {
    if (this.#fd < 0) return;
    if (this.#shrinkPending && !this.#mappedPastSize()) {
      this.#fs(() => ftruncateSync(this.#fd, this.#size));
      this.#shrinkPending = false;
    }
    if (this.#closed && !this.#shrinkPending && this.#syncing === 0) {
      const fd = this.#fd;
      this.#fd = -1;
      this.#fs(() => closeSync(fd));
    }
  }

  #mappedPastSize(): boolean {
    if (this.#current.length > this.#size) return true;
    for (const mapping of this.#retained) if (mapping.length > this.#size) return true;
    return false;
  }
}

function emptyMapping(): Mapping {
  return { buffer: null, view: Buffer.alloc(0), length: 0, leases: 0, retired: false };
}

/** Maps the first `length` bytes of `fd`; 0 bytes is the mapping-less state. */
function mapFile(fd: number, length: number, writable: boolean, path: string): Mapping {
  if (length === 0) return emptyMapping();
  let buffer: ArrayBuffer;
  try {
    buffer = mmap.map(fd, length, 0, writable);
  } catch (error) {
    throw withPath(error, path);
  }
  return { buffer, view: Buffer.from(buffer, 0, length), length, leases: 0, retired: false };
}

/** Adds `path` to a system error (node:fs style); other values pass through untouched. */
function withPath(error: unknown, path: string): unknown {
  if (error instanceof Error && 'syscall' in error && !('path' in error)) {
    Object.assign(error, { path });
  }
  return error;
}

function typeError(message: string): TypeError {
  return Object.assign(new TypeError(`MappedFile: ${message}`), { code: 'ERR_INVALID_ARG_TYPE' });
}

function rangeError(message: string): RangeError {
  return Object.assign(new RangeError(`MappedFile: ${message}`), { code: 'ERR_OUT_OF_RANGE' });
}

function notAFileError(path: string): Error {
  return Object.assign(new Error(`MappedFile: '${path}' is not a regular file`), { code: MappedFileErrorCode.NotAFile, path });
}

function readOnlyError(path: string, operation: string): Error {
  return Object.assign(new Error(`MappedFile: cannot ${operation}: '${path}' was opened read-only`), {
    code: MappedFileErrorCode.ReadOnly,
    path,
  });
}

/** A byte count: an integer in [0, buffer.constants.MAX_LENGTH] (a Buffer view must cover it). */
function checkLength(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number') throw typeError(`${name} must be a number`);
  if (!Number.isSafeInteger(value) || value < 0 || value > bufferConstants.MAX_LENGTH) {
    throw rangeError(`${name} must be an integer in [0, ${bufferConstants.MAX_LENGTH}], got ${value}`);
  }
}

/** Validates [offset, offset + length) within `size`; returns the length (default: to the end). */
function checkRange(offset: number, length: number | undefined, size: number): number {
  checkLength('offset', offset);
  if (offset > size) throw rangeError(`offset (${offset}) is past size (${size})`);
  const count = length ?? size - offset;
  checkLength('length', count);
  if (count > size - offset) throw rangeError(`offset + length (${offset + count}) is past size (${size})`);
  return count;
}
