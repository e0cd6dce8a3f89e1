import type { ChannelSocket } from './channel.js';
import type { Connection } from './connection.js';
import { transport as binding } from '../native.js';
import { nativeTransportStats } from './native-transport-stats.js';
import { systemError } from './system-error.js';

const Bit = { Destroyed: 1, Ended: 2, Reading: 4 } as const;
/** The slot number sits above the bits. */
const SLOT_SHIFT = 3;

/**
 * One connection of the native transport, as the core sees it: a slot number in the addon plus the
 * little state `net.Socket` would keep (reading or paused, ended, destroyed) — a few dozen bytes, no
 * EventEmitter, no stream states.
 *
 * Writes are synchronous attempts ({@link writeSlice}, {@link writev}): when the kernel takes every
 * byte (the common case) the caller may reuse the memory at once; otherwise the addon queues the rest
 * and the writer is told on the WRITE_DONE event ({@link MessageWriter.completeHead}, once per
 * buffer of the batch), in order.
 */
export class NativeSocket implements ChannelSocket {
  /** Set when the processor registers the socket. */
  conn: Connection | null = null;
  /**
   * The slot number and the Destroyed / Ended / Reading bits, in one small integer (there is one
   * socket per connection: every field is paid per connection).
   */
  private bits: number;
  /** For every write the addon queued (oldest first): how many buffers it completes. */
  private queuedBatches: number[] | null = null;

  constructor(slot: number) {
    this.bits = slot << SLOT_SHIFT;
  }

  /** The connection's slot in the addon. */
  get slot(): number {
    return this.bits >>> SLOT_SHIFT;
  }

  /** close() was called or the handle closed. */
  get destroyed(): boolean {
    return (this.bits & Bit.Destroyed) !== 0;
  }

  /** end() was called. */
  get writableEnded(): boolean {
    return (this.bits & Bit.Ended) !== 0;
  }

  pause(): void {
    if ((this.bits & (Bit.Reading | Bit.Destroyed)) !== Bit.Reading) return;
    this.bits &= ~Bit.Reading;
    binding.readStop(this.slot);
  }

  resume(): void {
    if ((this.bits & (Bit.Reading | Bit.Destroyed)) !== 0) return;
    this.bits |= Bit.Reading;
    binding.readStart(this.slot);
  }

  /**
   * The peer's IP address (getpeername(2) in the addon, asked each time: it is needed at handshakes,
   * not per message, and an idle connection keeps no string for it); undefined once destroyed.
   */
  get remoteAddress(): string | undefined {
    if ((this.bits & Bit.Destroyed) !== 0) return undefined;
    return binding.peerAddress(this.slot);
  }

  /** Whether writes are queued in the addon (the next write waits behind them). */
  get hasQueuedWrites(): boolean {
    return this.queuedBatches !== null && this.queuedBatches.length > 0;
  }

  /**
   * Writes `buffer[offset, offset + length)`: true when the kernel took it all; false when the rest
   * is queued (one completion later) or the write failed (the connection is being destroyed).
   */
  writeSlice(buffer: Uint8Array, offset: number, length: number): boolean {
    if ((this.bits & (Bit.Ended | Bit.Destroyed)) !== 0) return false;
    return this.settle(binding.writeSlice(this.slot, buffer, offset, length), length, 1);
  }

  /** As {@link writeSlice} for `views[0..count)` (`total` bytes), one completion per view if queued. */
  writev(views: readonly Uint8Array[], count: number, total: number): boolean {
    if ((this.bits & (Bit.Ended | Bit.Destroyed)) !== 0) return false;
    return this.settle(binding.writev(this.slot, views, count), total, count);
  }

  /**
   * Whether the processor writes this socket in its batch ({@link NativeWriteBatch}, one call into
   * the addon for every socket of a turn) rather than with {@link writeSlice}/{@link writev}.
   */
  get batched(): boolean {
    return true;
  }

  /** Neither ended nor destroyed: a write would reach the addon. */
  get writable(): boolean {
    return (this.bits & (Bit.Ended | Bit.Destroyed)) === 0;
  }

  /**
   * A batched write of `buffers` pieces (`total` bytes) came back with `written` (see
   * {@link NativeWriteBatch}): as {@link writeSlice}'s answer, except that a failure is reported
   * later, with {@link failWrite}, once the whole batch is settled.
   */
  settleBatch(written: number, total: number, buffers: number): boolean {
    if (written < 0) return false;
    return this.settle(written, total, buffers);
  }

  /** @internal a batched write failed with `errno` (negative). */
  failWrite(errno: number): void {
    this.fail(errno, 'write');
  }

  /** Bytes of the queued writes the kernel has not taken yet (0 when none are queued). */
  get writeQueueSize(): number {
    if (!this.hasQueuedWrites || (this.bits & Bit.Destroyed) !== 0) return 0;
    return binding.writeQueueSize(this.slot);
  }

  /** FIN once queued writes have left. */
  end(): void {
    if ((this.bits & (Bit.Ended | Bit.Destroyed)) !== 0) return;
    this.bits |= Bit.Ended;
    binding.shutdown(this.slot);
  }

  /** Closes now; a CLOSE event follows. Queued writes are dropped (the writer releases on close). */
  destroy(): void {
    if ((this.bits & Bit.Destroyed) !== 0) return;
    this.markDestroyed();
    binding.close(this.slot);
  }

  /** @internal the handle is closed (or closing): no call reaches the addon any more. */
  markDestroyed(): void {
    this.bits |= Bit.Destroyed;
  }

  /** @internal the oldest write the addon queued has left (status 0) or failed. */
  onWriteDone(status: number): void {
    const batches = this.queuedBatches;
    if (batches === null || batches.length === 0) return;
    const n = batches.shift()!;
    // An idle socket keeps no array: the next queued write makes a new one.
    if (batches.length === 0) this.queuedBatches = null;
    if (status < 0) {
      this.fail(status, 'write');
      return;
    }
    const conn = this.conn;
    if (conn === null) return;
    // The last completion may give the writer back to the pool (nothing left in flight).
    for (let i = 0; i < n && conn.heldWriter !== null; i++) conn.heldWriter.completeHead();
  }

  /** A call on this socket failed with `errno` (negative): tells the owner, unless already destroyed. */
  private fail(errno: number, syscall: string): void {
    const conn = this.conn;
    if (conn !== null && !this.destroyed) conn.loop.onNativeError(this, systemError(errno, syscall));
  }

  private settle(written: number, total: number, buffers: number): boolean {
    if (written < 0) {
      this.fail(written, 'write');
      return false;
    }
    const queued = this.queuedBatches;
    if (queued !== null && queued.length > 0) {
      // Earlier writes are still queued (only an empty write can "complete" now): done after them.
      if (written === total) queued[queued.length - 1] += buffers;
      else queued.push(buffers);
      return false;
    }
    if (written === total) return true;
    nativeTransportStats.partialWrites++;
    (this.queuedBatches ??= []).push(buffers);
    return false;
  }
}
