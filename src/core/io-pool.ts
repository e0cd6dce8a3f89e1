import type { Connection } from './connection.js';
import { MessageReader } from './message-reader.js';
import { MessageWriter } from './message-writer.js';

/** Free readers and writers kept for reuse; past this, one given back is left to the GC. */
const MAX_FREE = 256;

/**
 * The processor's free-lists of {@link MessageReader}s and {@link MessageWriter}s. A connection holds
 * a reader only while input is buffered for it (a section, a held chunk, or a message its protocol
 * assembles) and a writer only while output is queued or in flight: an idle connection holds
 * neither, the same rule that gives its slab sections back. Taking and giving back is a pop and a
 * push; the objects (and the queues a writer grew) are reused.
 */
export class IoPool {
  private readonly readers: MessageReader[] = [];
  private readonly writers: MessageWriter[] = [];

  /** A reader for `conn` (its `heldReader` is set). */
  takeReader(conn: Connection): MessageReader {
    const reader = this.readers.pop() ?? new MessageReader();
    conn.heldReader = reader;
    return reader;
  }

  /** Takes `conn`'s reader back; it must hold nothing. */
  giveBackReader(conn: Connection): void {
    const reader = conn.heldReader;
    if (reader === null) return;
    conn.heldReader = null;
    reader.progress = 0;
    if (this.readers.length < MAX_FREE) this.readers.push(reader);
  }

  /** A writer for `conn` (its `heldWriter` is set). */
  takeWriter(conn: Connection): MessageWriter {
    const writer = this.writers.pop() ?? new MessageWriter();
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
    if (writer.detach() && this.writers.length < MAX_FREE) this.writers.push(writer);
  }

  /** Free objects held (for tests and stats). */
  get free(): { readers: number; writers: number } {
    return { readers: this.readers.length, writers: this.writers.length };
  }
}
