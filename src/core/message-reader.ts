import type { Connection } from './connection.js';
import { PauseReason } from './connection.js';
import { NO_SECTION, type SlabAllocator } from './slab.js';

/**
 * Turns a connection's incoming chunks into protocol calls (jjenkov `MessageReader`, uWS `fallback`).
 *
 * Bytes are parsed in place on the chunk Node handed us; only an incomplete tail is copied, into a
 * section of the shared read slab, and later chunks are appended there. The section grows small →
 * medium → large by copying; past a large section the protocol's `onOverflow` answers with its own
 * error. An idle connection holds no section: it is freed as soon as nothing is buffered.
 *
 * When no section is free, nothing is dropped: the reader keeps a reference to the chunk, pauses the
 * socket and waits for the processor to wake it when memory is freed.
 */
export class MessageReader {
  /** Section holding buffered, unconsumed bytes, or NO_SECTION. */
  section = NO_SECTION;
  /** Bytes buffered in {@link section}, always starting at its first byte. */
  length = 0;
  /**
   * Size of the message in progress, when the protocol knows it (Content-Length, WS frame length),
   * so the reader can take a section of the right tier at once; 0 when unknown.
   */
  expectedBytes = 0;
  /** A chunk (or its unprocessed rest) held while waiting for a slab section. */
  private pending: Buffer | null = null;

  constructor(private readonly slab: SlabAllocator) {}

  /** Whether any input is buffered (in a section or as a held chunk). */
  get hasBuffered(): boolean {
    return this.length > 0 || this.pending !== null;
  }

  /** Feeds `chunk[start, end)` to the connection's protocol; buffers what it leaves. */
  feed(conn: Connection, chunk: Buffer, start: number, end: number): void {
    let off = start;
    while (off < end) {
      if (conn.closing) return;
      if (conn.pausedMask !== 0) {
        this.stash(conn, chunk, off, end);
        return;
      }
      if (this.length === 0) {
        const protocol = conn.protocol;
        const consumed = protocol.onData(conn, chunk, off, end);
        off += consumed;
        // A protocol switch (HTTP → WebSocket) hands the rest to the new protocol at once.
        if (consumed > 0 && conn.protocol !== protocol) continue;
        if (off < end && !conn.closing) this.stash(conn, chunk, off, end);
        return;
      }
      // Bytes are already buffered: append as much as fits, then parse the section.
      const want = this.length + (end - off);
      if (!this.ensureCapacity(Math.min(want, this.slab.maxSectionBytes))) {
        this.hold(conn, chunk, off, end);
        return;
      }
      const base = this.slab.offsetOf(this.section);
      const n = Math.min(end - off, this.slab.capacityOf(this.section) - this.length);
      chunk.copy(this.slab.buffer, base + this.length, off, off + n);
      this.length += n;
      off += n;
      this.processSection(conn);
    }
  }

  /** Processes buffered input after the connection was unpaused (called by the processor's read phase). */
  drain(conn: Connection): void {
    if (this.length > 0) this.processSection(conn);
    const pending = this.pending;
    if (pending !== null && conn.pausedMask === 0 && !conn.closing) {
      this.pending = null;
      this.feed(conn, pending, 0, pending.length);
    }
  }

  /** Frees everything held (on close). Idempotent. */
  release(): void {
    if (this.section !== NO_SECTION) {
      this.slab.free(this.section);
      this.section = NO_SECTION;
    }
    this.length = 0;
    this.pending = null;
    this.expectedBytes = 0;
  }

  /** Drops buffered bytes (a protocol gave up on them) but keeps nothing else. */
  discard(): void {
    this.release();
  }

  /** Runs the protocol over the section until it makes no progress; compacts and frees as it goes. */
  private processSection(conn: Connection): void {
    const buf = this.slab.buffer;
    while (this.length > 0 && conn.pausedMask === 0 && !conn.closing) {
      const base = this.slab.offsetOf(this.section);
      const protocol = conn.protocol;
      const consumed = protocol.onData(conn, buf, base, base + this.length);
      if (this.section === NO_SECTION) return; // released during the call (connection closed)
      if (consumed === 0) {
        if (this.length >= this.slab.maxSectionBytes && !conn.closing && conn.pausedMask === 0) {
          // The message in progress can never fit in the largest section.
          conn.protocol.onOverflow(conn);
          this.release();
        }
        return;
      }
      this.length -= consumed;
      if (this.length === 0) {
        this.slab.free(this.section);
        this.section = NO_SECTION;
        return;
      }
      buf.copyWithin(base, base + consumed, base + consumed + this.length);
      if (conn.protocol === protocol) return; // an incomplete message is left: wait for more bytes
    }
    if (conn.closing) this.release();
  }

  /**
   * Copies `chunk[off, end)` into a section. When no section is free, holds the chunk and waits for
   * memory. When the bytes could never fit in the largest section: if the connection is paused for
   * another reason they are held until it resumes; otherwise the message in progress is too large.
   */
  private stash(conn: Connection, chunk: Buffer, off: number, end: number): void {
    const total = this.length + (end - off);
    if (total > this.slab.maxSectionBytes) {
      if (conn.pausedMask !== 0) {
        this.keep(chunk, off, end);
        return;
      }
      conn.protocol.onOverflow(conn);
      this.release();
      return;
    }
    if (!this.ensureCapacity(total)) {
      this.hold(conn, chunk, off, end);
      return;
    }
    chunk.copy(this.slab.buffer, this.slab.offsetOf(this.section) + this.length, off, end);
    this.length = total;
  }

  /** Keeps a reference to the rest of `chunk` and waits for a free section: no byte is lost. */
  private hold(conn: Connection, chunk: Buffer, off: number, end: number): void {
    this.keep(chunk, off, end);
    conn.pause(PauseReason.Memory);
  }

  /**
   * Keeps `chunk[off, end)` outside the slab until the connection resumes. A copy: the chunk may be
   * the shared read buffer, which the next read overwrites. Rare (no free section, or more than a
   * large section buffered while paused).
   */
  private keep(chunk: Buffer, off: number, end: number): void {
    this.pending = Buffer.from(chunk.subarray(off, end));
  }

  /** Makes the section hold at least `need` bytes, moving to a larger tier by copying. */
  private ensureCapacity(need: number): boolean {
    if (this.section !== NO_SECTION && this.slab.capacityOf(this.section) >= need) return true;
    const size = Math.min(Math.max(need, this.expectedBytes), this.slab.maxSectionBytes);
    const next = this.slab.allocate(size < need ? need : size);
    if (next === NO_SECTION) return false;
    if (this.section !== NO_SECTION) {
      const from = this.slab.offsetOf(this.section);
      this.slab.buffer.copy(this.slab.buffer, this.slab.offsetOf(next), from, from + this.length);
      this.slab.free(this.section);
    }
    this.section = next;
    return true;
  }
}
