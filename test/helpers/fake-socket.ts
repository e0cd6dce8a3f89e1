import { EventEmitter } from 'node:events';
import type { ChannelSocket } from '../../src/core/channel.js';

/**
 * An in-memory `net.Socket` for the core's node transport path (no kernel, no port): the processor
 * registers it like any plain socket ('data', 'end', 'error', 'close' listeners) and the
 * {@link MessageWriter} writes to it with `write(view, callback)` and cork/uncork.
 *
 * The test plays the peer and the kernel. {@link receive} delivers bytes, but only while the
 * socket is reading: bytes sent to a paused socket wait in {@link inbox} (the kernel's receive
 * buffer) until `resume()`. Every write is copied to {@link wire} at once; its callback (the
 * kernel took the bytes) is held until {@link completeWrites}, so partial writes and backpressure
 * are the test's to decide. 'close' follows `destroy()` on the next tick, as on a real socket.
 */
export class FakeSocket extends EventEmitter implements ChannelSocket {
  destroyed = false;
  writableEnded = false;
  /** The peer's address (a loopback client unless a test says otherwise). */
  remoteAddress: string | undefined = '127.0.0.1';
  /** Whether the socket delivers reads (accepted sockets start paused; the processor resumes them). */
  reading = false;
  /** Bytes the peer sent while the socket was paused, oldest first. */
  readonly inbox: Buffer[] = [];
  /** Everything written, as the peer would read it. */
  readonly wire: Buffer[] = [];
  /** Bytes per `write` call, in order; a corked batch shows as `cork … uncork` markers. */
  readonly writes: (number | 'cork' | 'uncork')[] = [];
  /** Write callbacks the "kernel" has not run yet, oldest first. */
  private readonly callbacks: (() => void)[] = [];
  /** Told of every write and read state change (tests interleave it with protocol events). */
  onEvent: ((event: string) => void) | null = null;

  constructor(readonly label = 'socket') {
    super();
  }

  /** The peer sends `bytes` (delivered now when reading, else kept in {@link inbox}). */
  receive(bytes: string | Uint8Array): void {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
    if (this.destroyed) return;
    if (!this.reading || this.inbox.length > 0) this.inbox.push(buf);
    else this.emit('data', buf);
  }

  /** The peer half-closes (FIN). */
  receiveEnd(): void {
    this.emit('end');
  }

  /** Runs the callbacks of the oldest `n` writes (all by default): the kernel took those bytes. */
  completeWrites(n = this.callbacks.length): void {
    for (let i = 0; i < n && this.callbacks.length > 0; i++) this.callbacks.shift()!();
  }

  /** Writes whose callback has not run. */
  get writesInFlight(): number {
    return this.callbacks.length;
  }

  /** Everything written so far, as one latin1 string. */
  get output(): string {
    return Buffer.concat(this.wire).toString('latin1');
  }

  write(chunk: Uint8Array, callback?: () => void): boolean {
    if (this.destroyed || this.writableEnded) throw new Error(`${this.label}: write after end/destroy`);
    this.wire.push(Buffer.from(chunk));
    this.writes.push(chunk.length);
    if (this.onEvent !== null) this.onEvent(`write ${this.label} ${JSON.stringify(Buffer.from(chunk).toString('latin1'))}`);
    if (callback !== undefined) this.callbacks.push(callback);
    return true;
  }

  cork(): void {
    this.writes.push('cork');
  }

  uncork(): void {
    this.writes.push('uncork');
  }

  pause(): this {
    if (this.reading && this.onEvent !== null) this.onEvent(`pause ${this.label}`);
    this.reading = false;
    return this;
  }

  resume(): this {
    if (this.destroyed) return this;
    if (!this.reading && this.onEvent !== null) this.onEvent(`resume ${this.label}`);
    this.reading = true;
    // The kernel hands over what waited, in order, while the socket keeps reading.
    while (this.reading && this.inbox.length > 0) this.emit('data', this.inbox.shift()!);
    return this;
  }

  end(): this {
    this.writableEnded = true;
    if (this.onEvent !== null) this.onEvent(`end ${this.label}`);
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.reading = false;
    process.nextTick(() => this.emit('close'));
    return this;
  }
}
