import type { Socket } from 'node:net';
import type { ChannelSocket } from './channel.js';
import type { Connection } from './connection.js';
import { PauseReason } from './pause-reason.js';
import { InflightWrites } from './inflight-writes.js';
import { NativeSocket } from './native-socket.js';
import { isArenaView } from './native-transport.js';
import { OutputQueue } from './output-queue.js';
import { NO_SECTION, type SlabAllocator } from './slab.js';
import type { NativeWriteBatch } from './write-batch.js';

/** Something that must be released once the bytes it lent to a write have left (mmap lease, shared frame). */
export interface Releasable {
  release(): void;
}

/** Result of queuing output (uWS-style typed send results). */
export const WriteStatus = {
  /** Queued; pending output is under the connection's limit. */
  Ok: 0,
  /** Queued, but pending output passed `maxWriteQueueBytes`: reading from this connection is paused. */
  Backpressure: 1,
  /** Nothing queued: no write-slab section was free. The caller waits (pause) or refuses. */
  NoMemory: 2,
  /** Nothing queued: the connection is closed or closing. */
  Closed: 3,
} as const;
export type WriteStatus = (typeof WriteStatus)[keyof typeof WriteStatus];

/**
 * A connection's outgoing bytes (jjenkov `MessageWriter`, uWS cork buffer).
 *
 * Small output (responses, frame headers) is written straight into a "fill" section of the shared write
 * slab; everything produced in one turn leaves in one write (or one writev when external buffers are
 * queued in between). Large payloads are queued as external buffers — views of a mapping or a shared
 * broadcast frame — and never copied. A section (and an external buffer's {@link Releasable}) is
 * released only once the kernel has taken its bytes, or when the socket is closed.
 *
 * On the native transport a write is a synchronous attempt: when the kernel takes everything (the
 * common case) sections are freed on the spot and nothing is tracked; only a partial write is
 * tracked until the addon's WRITE_DONE. On the node transport every write is tracked until
 * `net.Socket`'s write callback.
 */
export class MessageWriter {
  /** Section being filled this turn, or NO_SECTION. */
  private fill = NO_SECTION;
  private fillLength = 0;
  /** Output queued before the fill section, in order (only when external buffers are involved). */
  private queued: OutputQueue | null = null;
  /** Writes handed to the socket that the kernel has not taken yet (created on first need). */
  private inflight: InflightWrites | null = null;
  /** Bytes queued or in flight. */
  pendingBytes = 0;
  /** Bytes whose write completed since this writer was taken (see {@link sentBytes}). */
  private sent = 0;
  /** Released with writes in flight (the socket closed under them): not reused. */
  private spoiled = false;
  /** The connection holding this writer (null while it is free in the processor's {@link IoPool}). */
  private owner: Connection | null = null;

  /** @internal taken from the pool by `conn`. */
  attach(conn: Connection): void {
    this.owner = conn;
    this.sent = 0;
    this.pendingBytes = 0;
  }

  /**
   * @internal given back to the pool: true when it may be reused, false when writes are still in
   * flight (a closed socket's late callbacks must not reach another connection's writer).
   */
  detach(): boolean {
    this.owner = null;
    return !this.spoiled && (this.inflight === null || this.inflight.count === 0);
  }

  private get conn(): Connection {
    return this.owner as Connection;
  }

  /**
   * The socket closed (or this writer went back to the pool): nothing is queued or written any more
   * (release() runs right after the close).
   */
  private get released(): boolean {
    return this.owner === null || this.owner.closed;
  }

  /**
   * Nothing is queued or in flight: the connection gives this writer back to the processor's pool.
   */
  get idle(): boolean {
    return this.pendingBytes === 0 && this.fill === NO_SECTION && (this.queued === null || this.queued.count === 0) && (this.inflight === null || this.inflight.count === 0);
  }

  /** The connection's socket when it is native (synchronous writes), else null. */
  private get native(): NativeSocket | null {
    const socket = this.conn.socket;
    return socket instanceof NativeSocket ? socket : null;
  }

  /** The shared write slab (the processor's: not a field, every field is paid per connection). */
  private get slab(): SlabAllocator {
    return this.conn.loop.writeSlab;
  }

  /**
   * Reserves `n` contiguous bytes in the write slab and returns their absolute offset in
   * {@link buffer}, or -1 when no section is free ({@link WriteStatus.NoMemory}). Write exactly `n` bytes
   * there, then call {@link commit}. `n` must not exceed the largest section (queue big payloads with
   * {@link queueExternal} instead).
   */
  reserve(n: number): number {
    const slab = this.slab;
    if (this.released) return -1;
    if (this.fill !== NO_SECTION) {
      if (this.fillLength + n <= slab.capacityOf(this.fill)) return slab.offsetOf(this.fill) + this.fillLength;
      if (this.fillLength > 0) this.sealFill();
      else {
        slab.free(this.fill);
        this.fill = NO_SECTION;
      }
    }
    if (n > slab.maxSectionBytes) throw new RangeError(`reserve(${n}) exceeds the largest write section (${slab.maxSectionBytes})`);
    const section = slab.allocate(n);
    if (section === NO_SECTION) return -1;
    this.fill = section;
    this.fillLength = 0;
    return slab.offsetOf(section);
  }

  /** The write slab's memory (offsets from {@link reserve} point into it). */
  get buffer(): Buffer {
    return this.slab.buffer;
  }

  /** Marks `n` reserved bytes as written; they leave in this turn's write phase. */
  commit(n: number): WriteStatus {
    this.fillLength += n;
    return this.queuedBytes(n);
  }

  /** Copies `bytes` into the write slab (for small, pre-built output). */
  write(bytes: Uint8Array): WriteStatus {
    if (this.released) return WriteStatus.Closed;
    const at = this.reserve(bytes.length);
    if (at < 0) return WriteStatus.NoMemory;
    this.slab.buffer.set(bytes, at);
    return this.commit(bytes.length);
  }

  /**
   * Queues `buf[offset, offset + length)` (all of `buf` by default) to be written without copying.
   * `owner.release()` is called once the write completed or the connection closed (whichever comes
   * first), exactly once.
   */
  queueExternal(buf: Uint8Array, owner: Releasable | null, offset = 0, length = buf.length - offset): WriteStatus {
    if (this.released) {
      if (owner !== null) owner.release();
      return WriteStatus.Closed;
    }
    if (this.fill !== NO_SECTION && this.fillLength > 0) this.sealFill();
    (this.queued ??= new OutputQueue()).push(NO_SECTION, length, buf, offset, owner);
    return this.queuedBytes(length);
  }

  /**
   * Whether `bytes` may be queued with {@link queueExternal} without a copy although they are input
   * being parsed: they are in the native transport's read arena and this turn's write phase comes
   * before the arena is reused (the addon copies what the kernel does not take at once). An echo
   * then sends the payload where it was read. False on the node transport, for bytes in a read
   * section (compacted as soon as the protocol returns) and outside a read batch.
   */
  canSendInPlace(bytes: Uint8Array): boolean {
    return this.native !== null && this.conn.loop.inReadBatch && isArenaView(bytes);
  }

  /**
   * Bytes the kernel has taken from this connection since this writer was taken (native transport)
   * or over the socket's life (node transport), partial writes included (a write in
   * flight counts for what already left libuv's queue): it grows while the peer reads, also in the
   * middle of one long write. For telling a slow peer that still reads from one that stopped.
   */
  get sentBytes(): number {
    const native = this.native;
    if (native === null) return nodeSentBytes(this.conn.socket, this.sent);
    const inflight = this.inflight;
    if (inflight === null || inflight.total === 0) return this.sent;
    return this.sent + inflight.total - native.writeQueueSize;
  }

  /** Whether anything waits for the write phase. */
  get hasQueued(): boolean {
    return this.fillLength > 0 || (this.queued !== null && this.queued.count > 0);
  }

  /** The write phase for this connection: hands everything queued to the socket in one go. */
  flush(): void {
    const native = this.native;
    if (this.released) return;
    if (native !== null) this.flushNative(native);
    else this.flushNode(this.conn.socket as Socket);
  }

  /** Native transport: one synchronous write (or writev); free at once what the kernel took. */
  private flushNative(socket: NativeSocket): void {
    const slab = this.slab;
    const queued = this.queued;
    const nQueued = queued === null ? 0 : queued.count;
    if (nQueued === 0) {
      // The common case: this turn's output is one fill section.
      const length = this.fillLength;
      if (length === 0) return;
      this.settle(socket.writeSlice(slab.buffer, slab.offsetOf(this.fill), length), length);
      return;
    }
    if (this.fillLength > 0) this.sealFill();
    const q0 = queued!.at(0);
    if (queued!.count === 1 && q0.buf !== null) {
      // One external buffer (a broadcast frame, a mapped range, an echo in the read arena): no array, no view.
      this.settle(socket.writeSlice(q0.buf, q0.offset, q0.length), q0.length);
      return;
    }
    const views = SCRATCH_VIEWS;
    const n = queued!.count;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const q = queued!.at(i);
      let view = q.buf;
      if (view === null) {
        const off = slab.offsetOf(q.section);
        view = slab.buffer.subarray(off, off + q.length);
      } else if (q.offset !== 0 || q.length !== view.length) view = view.subarray(q.offset, q.offset + q.length);
      views[i] = view;
      total += q.length;
    }
    const done = socket.writev(views, n, total);
    for (let i = 0; i < n; i++) views[i] = EMPTY;
    this.settle(done, total);
  }

  /**
   * The batched write phase (native transport): appends this turn's output to `batch` as one
   * socket's record. False when this writer must flush on its own ({@link flush}): node transport,
   * an ended or destroyed socket, nothing to write, more pieces than a plan holds. Nothing changes
   * here until {@link settleBatch}.
   */
  planBatch(batch: NativeWriteBatch): boolean {
    const socket = this.native;
    if (socket === null || this.released || !socket.writable || !socket.batched) return false;
    const queued = this.queued;
    const nQueued = queued === null ? 0 : queued.count;
    const fillLength = this.fillLength;
    const pieces = nQueued + (fillLength > 0 ? 1 : 0);
    if (pieces === 0 || !batch.open(this.conn, socket.slot, pieces)) return false;
    const slab = this.slab;
    for (let i = 0; i < nQueued; i++) {
      const q = queued!.at(i);
      if (q.buf === null) batch.slabPiece(slab.offsetOf(q.section), q.length);
      else batch.viewPiece(q.buf, q.offset, q.length);
    }
    if (fillLength > 0) batch.slabPiece(slab.offsetOf(this.fill), fillLength);
    batch.close();
    return true;
  }

  /**
   * @internal a shared frame sent without a writer (`Connection.settleShared`) was taken only in
   * part: its `total` bytes are pending, and `owner` is released at their WRITE_DONE (or the close).
   */
  trackPartial(owner: Releasable, total: number): void {
    this.pendingBytes += total;
    this.track(NO_SECTION, owner, total);
  }

  /** The batch wrote `written` of the `total` bytes {@link planBatch} planned (negative: it failed, reported by the batch). */
  settleBatch(written: number, total: number): void {
    const pieces = (this.queued === null ? 0 : this.queued.count) + (this.fillLength > 0 ? 1 : 0);
    this.settle(this.native!.settleBatch(written, total, pieces), total);
  }

  /**
   * After this turn's write of everything queued (`total` bytes): `done`, free every section and
   * release every owner at once; otherwise track each piece until its WRITE_DONE (or the close).
   */
  private settle(done: boolean, total: number): void {
    const slab = this.slab;
    const queued = this.queued;
    if (queued === null || queued.count === 0) {
      const section = this.fill;
      this.fill = NO_SECTION;
      this.fillLength = 0;
      if (done) {
        slab.free(section);
        this.written(total);
      } else this.track(section, null, total);
      return;
    }
    if (this.fillLength > 0) this.sealFill();
    const n = queued.count;
    for (let i = 0; i < n; i++) {
      const q = queued.at(i);
      if (!done) this.track(q.section, q.owner, q.length);
      else {
        if (q.section !== NO_SECTION) slab.free(q.section);
        if (q.owner !== null) q.owner.release();
      }
    }
    queued.clear();
    if (done) this.written(total);
  }

  /** Node transport: every buffer goes through `socket.write`, corked when there are several. */
  private flushNode(socket: Socket): void {
    const queued = this.queued;
    const nQueued = queued === null ? 0 : queued.count;
    // Several buffers leave as one writev; a single one needs no cork.
    const multiple = nQueued + (this.fillLength > 0 ? 1 : 0) > 1;
    if (multiple) socket.cork();
    if (queued !== null && nQueued > 0) {
      for (let i = 0; i < nQueued; i++) {
        const q = queued.at(i);
        if (q.buf !== null) this.send(socket, q.offset === 0 && q.length === q.buf.length ? q.buf : q.buf.subarray(q.offset, q.offset + q.length), NO_SECTION, q.owner);
        else {
          const off = this.slab.offsetOf(q.section);
          this.send(socket, this.slab.buffer.subarray(off, off + q.length), q.section, null);
        }
      }
      queued.clear();
    }
    if (this.fillLength > 0) {
      const off = this.slab.offsetOf(this.fill);
      const section = this.fill;
      const length = this.fillLength;
      this.fill = NO_SECTION;
      this.fillLength = 0;
      this.send(socket, this.slab.buffer.subarray(off, off + length), section, null);
    }
    if (multiple) socket.uncork();
  }

  /** Releases every section and external buffer, queued or in flight (the socket is closed). Idempotent. */
  release(): void {
    if (this.fill !== NO_SECTION) this.slab.free(this.fill);
    this.fill = NO_SECTION;
    this.fillLength = 0;
    const queued = this.queued;
    if (queued !== null) {
      for (let i = 0; i < queued.count; i++) {
        const q = queued.at(i);
        if (q.section !== NO_SECTION) this.slab.free(q.section);
        if (q.owner !== null) q.owner.release();
      }
      queued.clear();
    }
    if (this.inflight !== null && this.inflight.count > 0) {
      this.inflight.releaseAll(this.slab);
      // The socket may still call back for those writes: this writer is never lent again.
      this.spoiled = true;
    }
    this.pendingBytes = 0;
  }

  private queuedBytes(n: number): WriteStatus {
    this.pendingBytes += n;
    const conn = this.conn;
    if (!conn.dirty) conn.loop.markDirty(conn);
    if (this.pendingBytes > conn.loop.config.maxWriteQueueBytes) {
      if ((conn.pausedMask & PauseReason.Backpressure) === 0) conn.pause(PauseReason.Backpressure);
      return WriteStatus.Backpressure;
    }
    return WriteStatus.Ok;
  }

  private sealFill(): void {
    (this.queued ??= new OutputQueue()).push(this.fill, this.fillLength, null, 0, null);
    this.fill = NO_SECTION;
    this.fillLength = 0;
  }

  /** Node transport: tracks the write, then hands it to the socket. */
  private send(socket: Socket, view: Uint8Array, section: number, owner: Releasable | null): void {
    socket.write(view, this.track(section, owner, view.length).afterWrite);
  }

  /** Remembers a write the kernel has not taken yet: released by {@link completeHead}, in order. */
  private track(section: number, owner: Releasable | null, bytes: number): InflightWrites {
    const inflight = (this.inflight ??= new InflightWrites(() => this.completeHead()));
    inflight.push(section, owner, bytes);
    return inflight;
  }

  /** Native transport: `n` bytes left at once; once under half the limit, a paused reader may go on. */
  private written(n: number): void {
    this.pendingBytes -= n;
    this.sent += n;
    // Not from inside the flush (an endpoint's onDrain may write and flush again): end of the turn.
    if (this.mayResume()) this.conn.loop.deferDrain(this.conn);
  }

  /** Paused for backpressure, and pending output is back under half the limit. */
  private mayResume(): boolean {
    const conn = this.conn;
    return (conn.pausedMask & PauseReason.Backpressure) !== 0 && this.pendingBytes <= conn.loop.config.maxWriteQueueBytes >>> 1;
  }

  /** Lifts the backpressure pause and tells the protocol it may write again. */
  private resume(): void {
    this.conn.unpause(PauseReason.Backpressure);
    this.conn.protocol.onDrain(this.conn);
  }

  /** @internal the end-of-turn half of {@link written}: unpause and tell the protocol. */
  drained(): void {
    if (!this.released && this.mayResume()) this.resume();
  }

  /** @internal the socket's write callback: writes complete in order, so the head is the one done. */
  completeHead(): void {
    if (this.released || this.inflight === null) return;
    const n = this.inflight.shift(this.slab);
    if (n < 0) return;
    this.pendingBytes -= n;
    this.sent += n;
    const conn = this.conn;
    if (this.mayResume()) this.resume();
    if (conn.heldWriter === this && this.idle) conn.loop.io.giveBackWriter(conn);
  }
}

/**
 * A `net.Socket`'s bytes the kernel took: its handle's bytes dispatched minus those still in libuv's
 * queue (`fallback` when it has no handle, and for a native socket).
 */
export function nodeSentBytes(socket: ChannelSocket, fallback: number): number {
  const handle = (socket as Socket & { _handle?: { bytesWritten?: unknown; writeQueueSize?: unknown } | null })._handle;
  if (typeof handle?.bytesWritten === 'number' && typeof handle.writeQueueSize === 'number') return handle.bytesWritten - handle.writeQueueSize;
  return fallback;
}

/** Views of one native writev, reused by every writer (a flush finishes with it before returning). */
const SCRATCH_VIEWS: Uint8Array[] = [];
const EMPTY = new Uint8Array(0);

