import type { Connection } from '../../core/connection.js';
import { type Releasable, WriteStatus } from '../../core/message-writer.js';

/** Who ends a streamed response (the HTTP handler): the next pipelined request may then go. */
export interface BodyStreamSink {
  /** The stream ended (`complete`: with its last chunk) or the connection closed: forget it. */
  streamEnded(stream: HttpBodyStream, conn: Connection, complete: boolean): void;
}

/** "0\r\n\r\n": the last-chunk and an empty trailer section (RFC 9112 §7.1). */
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const CR = 0x0d;
const LF = 0x0a;

/**
 * The body of a response whose length is not known when its head leaves (RFC 9112 §7.1 chunked
 * transfer coding on HTTP/1.1; on HTTP/1.0 the body is delimited by closing the connection).
 *
 * Each piece is queued by reference (a view of a mapping), never copied: only the chunk-size line
 * and the CRLF around it are written into the write slab, one reservation per piece. The owner
 * (`ondrain`/`onclose`) is told when the peer took enough to write again and when the connection
 * went away; after `onclose` nothing more is sent and every queued owner has been released.
 */
export class HttpBodyStream {
  /** Called when output drained below half of `--max-write-queue-bytes` after backpressure. */
  ondrain: (() => void) | null = null;
  /** Called once when the connection closed before {@link end}. */
  onclose: (() => void) | null = null;
  /**
   * Called when the server shuts down while the body is open: the owner ends it now ({@link end}
   * or {@link abort}). Without one, the body is aborted. Either way the connection then closes
   * once its queued bytes left, well before the shutdown deadline.
   */
  onshutdown: (() => void) | null = null;
  /** end() or abort() was called, or the connection closed. */
  ended = false;

  constructor(
    private readonly conn: Connection,
    private readonly sink: BodyStreamSink,
    /** Chunked transfer coding (HTTP/1.1); false: bytes as they are, the end is the connection's close. */
    readonly chunked: boolean,
  ) {}

  /** Bytes queued on the connection that the peer has not taken yet. */
  get bufferedAmount(): number {
    return this.conn.pendingBytes;
  }

  /** Whether pieces can still be sent. */
  get isOpen(): boolean {
    return !this.ended && !this.conn.closing && !this.conn.closed;
  }

  /**
   * Queues `view` (not copied; `owner.release()` once the socket took it or closed). An empty view is
   * skipped (a zero-size chunk would end the body). Returns the writer's status.
   */
  write(view: Uint8Array, owner: Releasable | null): WriteStatus {
    if (!this.isOpen) {
      owner?.release();
      return WriteStatus.Closed;
    }
    if (view.length === 0) {
      owner?.release();
      return WriteStatus.Ok;
    }
    if (!this.chunked) return this.conn.writer.queueExternal(view, owner);
    this.sizeLine(view.length);
    this.conn.writer.queueExternal(view, owner);
    // The chunk's CRLF right away (a static buffer, not copied): a client sees each chunk complete as it arrives.
    return this.conn.writer.queueExternal(CRLF, null);
  }

  /** Hands what is queued to the socket now (instead of at the end of the turn). */
  flush(): void {
    if (this.isOpen) this.conn.flush();
  }

  /** Ends the body: the last-chunk (HTTP/1.1), or the connection's close (HTTP/1.0). */
  end(): void {
    if (!this.isOpen) return;
    if (this.chunked) {
      const w = this.conn.writer;
      if (w.write(LAST_CHUNK) === WriteStatus.NoMemory) w.queueExternal(LAST_CHUNK, null);
    } else this.conn.end();
    this.ended = true;
    this.sink.streamEnded(this, this.conn, true);
  }

  /**
   * Ends the response without its last chunk: what is queued still leaves, then the connection is
   * closed, so the client sees a truncated body (the source went away).
   */
  abort(): void {
    if (this.ended) return;
    this.ended = true;
    this.conn.end();
    this.sink.streamEnded(this, this.conn, false);
  }

  /** Drops the connection now, queued bytes included (a reader too slow to keep). */
  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.conn.destroy();
    this.sink.streamEnded(this, this.conn, false);
  }

  /** @internal the handler: the server is shutting down (see {@link onshutdown}). */
  shutdown(): void {
    if (!this.isOpen) return;
    if (this.onshutdown !== null) this.onshutdown();
    if (!this.ended) this.abort();
  }

  /** @internal the handler: the peer drained. */
  drained(): void {
    if (this.isOpen && this.ondrain !== null) this.ondrain();
  }

  /** @internal the handler: the connection closed. */
  closed(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.onclose !== null) this.onclose();
  }

  /** Writes `{hex size} CRLF` into the write slab (a heap buffer when no section is free). */
  private sizeLine(size: number): void {
    let digits = 1;
    while (size >= 16 ** digits) digits++;
    const n = digits + 2;
    const w = this.conn.writer;
    let at = w.reserve(n);
    let buf = w.buffer;
    let heap: Buffer | null = null;
    if (at < 0) {
      heap = Buffer.allocUnsafe(n);
      buf = heap;
      at = 0;
    }
    for (let i = digits - 1, v = size; i >= 0; i--, v = Math.floor(v / 16)) buf[at + i] = HEX[v % 16];
    buf[at + digits] = CR;
    buf[at + digits + 1] = LF;
    if (heap !== null) w.queueExternal(heap, null);
    else w.commit(n);
  }
}

const CRLF = Buffer.from('\r\n', 'latin1');
