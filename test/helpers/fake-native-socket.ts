import { NativeSocket } from '../../src/core/native-socket.js';
import type { Processor } from '../../src/core/processor.js';

/**
 * A {@link NativeSocket} with an in-memory kernel instead of the addon: the core's native transport
 * path (synchronous `writeSlice`/`writev` attempts, frees on the spot, WRITE_DONE completions), with
 * no libuv handle. Every method that would reach the addon is overridden; the slot is never used.
 *
 * The test plays the kernel: {@link room} is how many bytes the next writes may take at once
 * (Infinity: every write completes synchronously, the common case). The rest of a write is kept
 * by reference, as the addon does (the writer must keep the section alive), and leaves on
 * {@link completeWrites}, which tells the writer once per buffer of each batch, in order.
 * Reads and the socket's end arrive through the processor's native event methods ({@link deliver}),
 * in one batch, so the turn they ask for runs synchronously at the batch end.
 */
export class FakeNativeSocket extends NativeSocket {
  /** Bytes the kernel takes before writes start being queued. */
  room = Infinity;
  /** Everything the kernel took, in order. */
  readonly wire: Buffer[] = [];
  /** Whether reads are delivered (the processor resumes the socket when it registers it). */
  reading = false;
  /** Times reading stopped (the addon's readStop). */
  pauses = 0;
  /** Writes the kernel has not fully taken: the views left and how many buffers the batch completes. */
  private readonly queued: { views: Uint8Array[]; buffers: number }[] = [];
  private ended = false;

  constructor(
    private readonly loop: Processor,
    readonly label = 'native',
  ) {
    super(-1);
  }

  override get writableEnded(): boolean {
    return this.ended;
  }

  /** Delivers `bytes` from the peer as one native batch (the turn it schedules runs at its end). */
  deliver(bytes: string | Uint8Array): void {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
    if (!this.reading) throw new Error(`${this.label}: data delivered while paused (the kernel would keep it)`);
    this.loop.onNativeBatchStart();
    this.loop.onNativeData(this, buf, 0, buf.length);
    this.loop.onNativeBatchEnd();
  }

  /** The peer half-closes (FIN), as one native batch. */
  deliverEnd(): void {
    this.loop.onNativeBatchStart();
    this.loop.onNativeEnd(this);
    this.loop.onNativeBatchEnd();
  }

  /** The handle closed (after `destroy()`), as one native batch. */
  deliverClose(): void {
    this.loop.onNativeBatchStart();
    this.loop.onNativeClose(this);
    this.loop.onNativeBatchEnd();
  }

  /** Everything the kernel took so far, as one latin1 string. */
  get output(): string {
    return Buffer.concat(this.wire).toString('latin1');
  }

  /** Batches queued behind a partial write. */
  get writesInFlight(): number {
    return this.queued.length;
  }

  /** The kernel takes every queued write, oldest first (WRITE_DONE per buffer), in one batch. */
  completeWrites(): void {
    this.loop.onNativeBatchStart();
    while (this.queued.length > 0) {
      const { views, buffers } = this.queued.shift()!;
      for (const v of views) this.wire.push(Buffer.from(v));
      const conn = this.conn;
      if (conn !== null) for (let i = 0; i < buffers && conn.heldWriter !== null; i++) conn.heldWriter.completeHead();
    }
    this.loop.onNativeBatchEnd();
  }

  /** A loopback peer, as a test client on 127.0.0.1 would be (the addon is never asked). */
  override get remoteAddress(): string | undefined {
    return this.destroyed ? undefined : '127.0.0.1';
  }

  override pause(): void {
    if (this.reading) this.pauses++;
    this.reading = false;
  }

  override resume(): void {
    if (!this.destroyed) this.reading = true;
  }

  /** Written with writeSlice/writev (the addon's batch would need a real slot). */
  override get batched(): boolean {
    return false;
  }

  override writeSlice(buffer: Uint8Array, offset: number, length: number): boolean {
    return this.take([buffer.subarray(offset, offset + length)], 1);
  }

  override writev(views: readonly Uint8Array[], count: number): boolean {
    return this.take(views.slice(0, count), count);
  }

  override end(): void {
    this.ended = true;
  }

  override destroy(): void {
    if (this.destroyed) return;
    this.markDestroyed();
    this.reading = false;
  }

  /** Takes what {@link room} allows; queues the rest by reference. True when every byte was taken. */
  private take(views: Uint8Array[], buffers: number): boolean {
    if (this.destroyed || this.ended) return false;
    if (this.queued.length > 0) {
      // Behind an earlier partial write: nothing leaves before it.
      this.queued.push({ views, buffers });
      return false;
    }
    const left: Uint8Array[] = [];
    for (const v of views) {
      const n = Math.min(v.length, this.room);
      this.room -= n;
      if (n > 0) this.wire.push(Buffer.from(v.subarray(0, n)));
      if (n < v.length) left.push(v.subarray(n));
    }
    if (left.length === 0) return true;
    this.queued.push({ views: left, buffers });
    return false;
  }
}
