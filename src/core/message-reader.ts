import type { Connection } from './connection.js';
import { PauseReason } from './pause-reason.js';
import { ReadLimit } from './protocol.js';
import { NO_SECTION, type Tier } from './slab.js';

/** Cap of {@link MessageReader.progress} (a small integer), also the credit of a section just taken. */
export const PROGRESS_CREDIT = 0x3fffffff;

/**
 * Turns a connection's incoming chunks into protocol calls (jjenkov `MessageReader`, uWS `fallback`).
 *
 * Bytes are parsed in place on the chunk the transport handed us; only an incomplete tail is copied,
 * into a section of the shared read slab, and later chunks are appended there. The section is sized by
 * the bytes that have ARRIVED, never by a length the message declares: it grows small → medium → large
 * by copying (at most two copies per message, the tiers being geometric), always into the smallest tier
 * that holds the bytes, never a larger one. What one connection holds for an incomplete message is
 * capped at `maxHeldReadBytes` (with what the protocol assembles itself); past it, or past a large
 * section, the protocol's `onOverflow` answers with its own error. An idle connection holds no
 * section: it is freed as soon as nothing is buffered.
 *
 * When the tier it needs has no free section, nothing is dropped and nothing retries: the reader keeps
 * the chunk, pauses the socket and queues the connection in the processor's {@link SectionWaiters}, which
 * wakes it when a section of that tier is freed, in FIFO order.
 */
export class MessageReader {
  /** Section holding buffered, unconsumed bytes, or NO_SECTION. */
  section = NO_SECTION;
  /** Bytes buffered in {@link section}, always starting at its first byte. */
  length = 0;
  /**
   * Bytes received since the processor's last progress check (capped at {@link PROGRESS_CREDIT}); set to
   * the credit when a section is taken, so a new hold is judged only after a whole interval.
   */
  progress = 0;
  /** A chunk (or its unprocessed rest) held while waiting for a slab section; bytes before any later chunk. */
  private pending: Buffer | null = null;

  /** Whether any input is buffered (in a section or as a held chunk). */
  get hasBuffered(): boolean {
    return this.length > 0 || this.pending !== null;
  }

  /** Feeds `chunk[start, end)` to the connection's protocol after what is buffered; buffers what it leaves. */
  feed(conn: Connection, chunk: Buffer, start: number, end: number): void {
    this.progress = Math.min(this.progress + (end - start), PROGRESS_CREDIT);
    // Bytes already held come first: keep order by holding these after them.
    if (this.pending !== null) this.keep(chunk, start, end);
    else this.consume(conn, chunk, start, end);
  }

  /**
   * Keeps `chunk[start, end)`, which the protocol left unconsumed (an incomplete message) or could not
   * be given (the connection is paused), when nothing was buffered before it ({@link Connection.receive}).
   */
  keepTail(conn: Connection, chunk: Buffer, start: number, end: number): void {
    this.progress = Math.min(this.progress + (end - start), PROGRESS_CREDIT);
    if (this.pending !== null) this.keep(chunk, start, end);
    else if (this.length > 0) this.consume(conn, chunk, start, end);
    else this.stash(conn, chunk, start, end);
  }

  /** Gives a section the protocol just took for the message in progress a whole interval of credit. */
  credit(): void {
    this.progress = PROGRESS_CREDIT;
  }

  /** Processes buffered input after the connection was unpaused (called by the processor's read phase). */
  drain(conn: Connection): void {
    if (this.length > 0) this.processSection(conn);
    const pending = this.pending;
    if (pending !== null && conn.pausedMask === 0 && !conn.closing) {
      this.pending = null;
      this.consume(conn, pending, 0, pending.length);
    }
  }

  /** Frees everything held (on close). Idempotent. */
  release(conn: Connection): void {
    if (this.section !== NO_SECTION) {
      conn.loop.readSlab.free(this.section);
      this.section = NO_SECTION;
    }
    this.length = 0;
    this.pending = null;
  }

  /** Drops buffered bytes (a protocol gave up on them) but keeps nothing else. */
  discard(conn: Connection): void {
    this.release(conn);
  }

  /**
   * Bytes the message in progress may occupy in this connection's section: the large section, and
   * `maxHeldReadBytes` less what the protocol assembles in sections of its own.
   */
  private limit(conn: Connection): number {
    const held = conn.loop.config.maxHeldReadBytes - conn.protocol.heldBytes(conn);
    const max = conn.loop.readSlab.maxSectionBytes;
    return held < max ? held : max;
  }

  private consume(conn: Connection, chunk: Buffer, start: number, end: number): void {
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
      // Bytes are already buffered: append as much as may be held, then parse the section.
      const limit = this.limit(conn);
      if (this.length >= limit) {
        this.overflow(conn);
        return;
      }
      const want = Math.min(this.length + (end - off), limit);
      if (!this.grow(conn, want)) {
        this.hold(conn, chunk, off, end, want);
        return;
      }
      const slab = conn.loop.readSlab;
      const base = slab.offsetOf(this.section);
      const n = Math.min(end - off, Math.min(slab.capacityOf(this.section), limit) - this.length);
      chunk.copy(slab.buffer, base + this.length, off, off + n);
      this.length += n;
      off += n;
      this.processSection(conn);
    }
  }

  /** Runs the protocol over the section until it makes no progress; compacts and frees as it goes. */
  private processSection(conn: Connection): void {
    const slab = conn.loop.readSlab;
    const buf = slab.buffer;
    while (this.length > 0 && conn.pausedMask === 0 && !conn.closing) {
      const base = slab.offsetOf(this.section);
      const protocol = conn.protocol;
      const consumed = protocol.onData(conn, buf, base, base + this.length);
      if (this.section === NO_SECTION) return; // released during the call (connection closed)
      if (consumed === 0) {
        if (!conn.closing && conn.pausedMask === 0 && this.length >= this.limit(conn)) {
          // The message in progress can never fit in what this connection may hold.
          this.overflow(conn);
        }
        return;
      }
      this.length -= consumed;
      if (this.length === 0) {
        slab.free(this.section);
        this.section = NO_SECTION;
        return;
      }
      buf.copyWithin(base, base + consumed, base + consumed + this.length);
      if (conn.protocol === protocol) return; // an incomplete message is left: wait for more bytes
    }
    if (conn.closing) this.release(conn);
  }

  private overflow(conn: Connection): void {
    conn.protocol.onOverflow(conn);
    this.release(conn);
  }

  /**
   * Copies `chunk[off, end)` into a section. When no section of the tier is free, holds the chunk and
   * waits for memory. When the bytes could never be held: if the connection is paused for another
   * reason they are kept until it resumes; otherwise the message in progress is too large.
   */
  private stash(conn: Connection, chunk: Buffer, off: number, end: number): void {
    const total = this.length + (end - off);
    if (total > this.limit(conn)) {
      if (conn.pausedMask !== 0) {
        this.keep(chunk, off, end);
        return;
      }
      this.overflow(conn);
      return;
    }
    if (!this.grow(conn, total)) {
      this.hold(conn, chunk, off, end, total);
      return;
    }
    chunk.copy(conn.loop.readSlab.buffer, conn.loop.readSlab.offsetOf(this.section) + this.length, off, end);
    this.length = total;
  }

  /**
   * Keeps the rest of `chunk` and sleeps until a section for `need` bytes is freed: no byte is lost,
   * nothing retries. When too many connections wait already, the protocol refuses this one.
   */
  private hold(conn: Connection, chunk: Buffer, off: number, end: number, need: number): void {
    this.keep(chunk, off, end);
    conn.pause(PauseReason.Memory);
    if (conn.loop.sectionWaiters.wait(conn, conn.loop.readSlab.tierFor(need) as Tier)) return;
    conn.protocol.onReadLimit(conn, ReadLimit.WaitQueueFull);
    this.release(conn);
  }

  /**
   * Keeps `chunk[off, end)` outside the slab until the connection resumes, after what is held already.
   * A copy: the chunk may be the shared read buffer, which the next read overwrites. Rare (no free
   * section, or more than may be buffered while paused).
   */
  private keep(chunk: Buffer, off: number, end: number): void {
    const rest = chunk.subarray(off, end);
    this.pending = this.pending === null ? Buffer.from(rest) : Buffer.concat([this.pending, rest]);
  }

  /**
   * Makes the section hold at least `need` bytes: a section of the smallest tier that holds them (never a
   * larger one), taken through the wait queue, the buffered bytes copied over. False when it must wait.
   */
  private grow(conn: Connection, need: number): boolean {
    const slab = conn.loop.readSlab;
    if (this.section !== NO_SECTION && slab.capacityOf(this.section) >= need) return true;
    const next = conn.loop.sectionWaiters.take(conn, slab.tierFor(need) as Tier);
    if (next === NO_SECTION) return false;
    if (this.section !== NO_SECTION) {
      const from = slab.offsetOf(this.section);
      slab.buffer.copy(slab.buffer, slab.offsetOf(next), from, from + this.length);
      slab.free(this.section);
    }
    this.section = next;
    this.progress = PROGRESS_CREDIT;
    return true;
  }
}
