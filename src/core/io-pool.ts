import type { Connection } from './connection.js';
import { MessageReader } from './message-reader.js';
import { MessageWriter } from './message-writer.js';
import { SharedRun } from './shared-run.js';

/** Free readers (writers) always kept for reuse, however quiet the loop has been. */
const MIN_FREE = 256;

/**
 * Objects of one kind lent to connections. The free list keeps up to the most held at once since the
 * last {@link trim} (at least {@link MIN_FREE}): a broadcast to a room of 10,000 takes 10,000 writers in
 * one turn, and when the next one comes they are all still there, so a steady broadcast allocates
 * nothing. A trim (the processor's trim timer, once a second) lowers the cap to that window's
 * peak and lets the surplus go to the GC, so a burst's objects do not outlive it by long.
 */
class FreeList<T> {
  private readonly free: T[] = [];
  /** Lent out now. */
  private lent = 0;
  /** Objects lent since the pool was made (a counter for stats and tests). */
  taken = 0;
  /** Most lent at once since the last trim. */
  private peak = 0;
  /** The free list's cap. */
  private keep = MIN_FREE;

  take(): T | undefined {
    this.taken++;
    if (++this.lent > this.peak) {
      this.peak = this.lent;
      if (this.peak > this.keep) this.keep = this.peak;
    }
    return this.free.pop();
  }

  /** One lent object comes back: kept when `reusable` and the list is under its cap. */
  giveBack(item: T, reusable: boolean): void {
    this.lent--;
    if (reusable && this.free.length < this.keep) this.free.push(item);
  }

  trim(): void {
    this.keep = Math.max(MIN_FREE, this.peak);
    if (this.free.length > this.keep) this.free.length = this.keep;
    this.peak = this.lent;
  }

  get size(): number {
    return this.free.length;
  }
}

/**
 * The processor's free-lists of {@link MessageReader}s and {@link MessageWriter}s. A connection holds
 * a reader only while input is buffered for it (a section, a held chunk, or a message its protocol
 * assembles) and a writer only while output is queued or in flight: an idle connection holds
 * neither, the same rule that gives its slab sections back. Taking and giving back is a pop and a
 * push; the objects (and the queues a writer grew) are reused.
 */
export class IoPool {
  private readonly readers = new FreeList<MessageReader>();
  private readonly writers = new FreeList<MessageWriter>();
  private readonly sharedRuns = new FreeList<SharedRun>();

  /** A reader for `conn` (its `heldReader` is set). */
  takeReader(conn: Connection): MessageReader {
    const reader = this.readers.take() ?? new MessageReader();
    conn.heldReader = reader;
    return reader;
  }

  /** Takes `conn`'s reader back; it must hold nothing. */
  giveBackReader(conn: Connection): void {
    const reader = conn.heldReader;
    if (reader === null) return;
    conn.heldReader = null;
    reader.progress = 0;
    this.readers.giveBack(reader, true);
  }

  /** A writer for `conn` (its `heldWriter` is set). */
  takeWriter(conn: Connection): MessageWriter {
    const writer = this.writers.take() ?? new MessageWriter();
    writer.attach(conn);
    conn.heldWriter = writer;
    return writer;
  }

  /**
   * Takes `conn`'s writer back. One with writes still in flight (a closed `net.Socket` may still call
   * their callbacks) is detached and left to the GC rather than reused.
   */
  giveBackWriter(conn: Connection): void {
    const writer = conn.heldWriter;
    if (writer === null) return;
    conn.heldWriter = null;
    this.writers.giveBack(writer, writer.detach());
  }

  /** An empty run for the shared frames a connection queues without a writer (`Connection.sharedMore`). */
  takeSharedRun(): SharedRun {
    return this.sharedRuns.take() ?? new SharedRun();
  }

  /** Takes a run back (its frames were released or handed on). */
  giveBackSharedRun(run: SharedRun): void {
    run.clear();
    this.sharedRuns.giveBack(run, true);
  }

  /** Lowers each free list's cap to the most lent at once since the last call (see {@link FreeList}). */
  trim(): void {
    this.readers.trim();
    this.writers.trim();
    this.sharedRuns.trim();
  }

  /** Readers and writers lent since the processor started (for tests and stats). */
  get taken(): { readers: number; writers: number } {
    return { readers: this.readers.taken, writers: this.writers.taken };
  }

  /** Free objects held (for tests and stats). */
  get free(): { readers: number; writers: number } {
    return { readers: this.readers.size, writers: this.writers.size };
  }
}
