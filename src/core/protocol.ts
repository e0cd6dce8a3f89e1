import type { Connection } from './connection.js';

/**
 * What the core asks of a protocol (HTTP/1.1, WebSocket…). The core owns sockets, memory and the
 * turn; a protocol only turns bytes into messages and messages into output.
 *
 * Contract of {@link ProtocolHandler.onData}: parse in place over `buf[start, end)` and return how many
 * bytes were consumed — complete messages only; an incomplete tail is left unconsumed and the reader
 * keeps it in a slab section until more bytes arrive. "Need more" is a normal return (0 consumed).
 * A handler must not keep offsets into `buf` after it returns (the reader moves bytes), but may set
 * `conn.reader.expectedBytes` to the full size of the message in progress so the reader picks a section
 * of the right tier at once. A handler may switch `conn.protocol`; the reader then hands the remaining
 * bytes to the new protocol in the same call.
 */
export interface ProtocolHandler {
  /** The connection was registered by the processor (its socket is about to be read). */
  onOpen(conn: Connection): void;
  /** Bytes arrived; returns bytes consumed. See the interface TSDoc for the contract. */
  onData(conn: Connection, buf: Buffer, start: number, end: number): number;
  /**
   * The unconsumed bytes fill the largest slab section and the protocol still consumed nothing:
   * the message can never fit. The protocol answers with its own error (HTTP 413/431, WS 1009) and closes.
   */
  onOverflow(conn: Connection): void;
  /** `conn.deadline` passed (see {@link Connection.setDeadline}); `kind` is the kind it was set with. */
  onDeadline(conn: Connection, kind: number): void;
  /** The peer half-closed its side (FIN). The protocol finishes what it owes and ends the connection. */
  onReadEnd(conn: Connection): void;
  /** Output that was queued has been written and the pending bytes fell below the low-water mark. */
  onDrain(conn: Connection): void;
  /** The socket is closed; every resource the protocol holds for `conn` must be released here. */
  onClose(conn: Connection): void;
}
