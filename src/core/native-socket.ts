import type { ChannelSocket, WriteCallback } from './channel.js';
import type { Connection } from './connection.js';
import type { NativeTransport } from './native-transport.js';

/**
 * One connection of the native transport, as the core sees it: a slot number in the addon plus the
 * little state `net.Socket` would keep (paused or reading, corked writes, write callbacks in order).
 * About a tenth of a `net.Socket`'s memory; no EventEmitter, no stream states.
 *
 * Writes go to the kernel at once (`uv_try_write`). When it takes everything (the common case) the
 * callbacks are due at once but run later, at the end of the processor's write phase (the writer
 * frees sections in them, and a callback must not run inside the writer's own flush). What the kernel
 * does not take is queued by the addon; its callbacks run on the WRITE_DONE event.
 */
export class NativeSocket implements ChannelSocket {
  /** Set when the processor registers the socket. */
  conn: Connection | null = null;
  destroyed = false;
  writableEnded = false;
  private reading = false;
  private corked = 0;
  private corkViews: Uint8Array[] | null = null;
  private corkCount = 0;
  /** Write callbacks in write order, from {@link cbHead}; the first {@link due} of them are complete. */
  private cbs: (WriteCallback | undefined)[] | null = null;
  private cbHead = 0;
  private due = 0;
  /** For every write the addon queued (oldest first): how many callbacks it completes. */
  private queuedBatches: number[] | null = null;
  /** Listed in the transport's completion list. */
  completionListed = false;

  constructor(
    private readonly transport: NativeTransport,
    readonly slot: number,
  ) {}

  pause(): void {
    if (!this.reading || this.destroyed) return;
    this.reading = false;
    this.transport.binding.readStop(this.slot);
  }

  resume(): void {
    if (this.reading || this.destroyed) return;
    this.reading = true;
    this.transport.binding.readStart(this.slot);
  }

  cork(): void {
    this.corked++;
  }

  uncork(): void {
    if (this.corked === 0 || --this.corked > 0) return;
    const n = this.corkCount;
    if (n === 0) return;
    const views = this.corkViews!;
    this.corkCount = 0;
    if (n === 1) this.send(views[0], views[0].length, 1);
    else {
      let total = 0;
      for (let i = 0; i < n; i++) total += views[i].length;
      this.sendv(views, n, total);
    }
    for (let i = 0; i < n; i++) views[i] = EMPTY;
  }

  write(data: Uint8Array, cb: WriteCallback): boolean {
    if (this.destroyed || this.writableEnded) return false;
    (this.cbs ??= []).push(cb);
    if (this.corked > 0) {
      const views = (this.corkViews ??= []);
      if (this.corkCount < views.length) views[this.corkCount] = data;
      else views.push(data);
      this.corkCount++;
      return true;
    }
    this.send(data, data.length, 1);
    return true;
  }

  /** FIN once queued writes have left. */
  end(): void {
    if (this.writableEnded || this.destroyed) return;
    this.writableEnded = true;
    this.transport.binding.shutdown(this.slot);
  }

  /** Closes now; a CLOSE event follows. Pending write callbacks never run (the writer releases on close). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.transport.binding.close(this.slot);
  }

  /** @internal runs every write callback that is due, in order. */
  runDue(): void {
    const cbs = this.cbs;
    while (this.due > 0 && cbs !== null && !this.destroyed) {
      this.due--;
      const cb = cbs[this.cbHead]!;
      cbs[this.cbHead++] = undefined;
      if (this.cbHead === cbs.length) {
        cbs.length = 0;
        this.cbHead = 0;
      }
      cb();
    }
  }

  /** @internal the oldest write the addon queued has left (status 0) or failed. */
  onWriteDone(status: number): void {
    const batches = this.queuedBatches;
    if (batches === null || batches.length === 0) return;
    const n = batches.shift()!;
    if (status < 0) {
      this.transport.fail(this, status, 'write');
      return;
    }
    this.due += n;
    this.runDue();
  }

  private send(data: Uint8Array, total: number, callbacks: number): void {
    this.settle(this.transport.binding.write(this.slot, data), total, callbacks);
  }

  private sendv(views: Uint8Array[], count: number, total: number): void {
    this.settle(this.transport.binding.writev(this.slot, views, count), total, count);
  }

  private settle(written: number, total: number, callbacks: number): void {
    if (written < 0) {
      this.transport.fail(this, written, 'write');
      return;
    }
    const queued = this.queuedBatches;
    if (queued !== null && queued.length > 0) {
      // Earlier writes are still queued (only an empty write can "complete" now): done after them.
      if (written === total) queued[queued.length - 1] += callbacks;
      else queued.push(callbacks);
      return;
    }
    if (written === total) {
      this.due += callbacks;
      this.transport.completed(this);
    } else (this.queuedBatches ??= []).push(callbacks);
  }
}

const EMPTY = new Uint8Array(0);
