import type { Connection } from './connection.js';

/** Why the reader gives up on a connection's incoming message (see {@link ProtocolHandler.onReadLimit}). */
export const ReadLimit = {
  /**
   * An incomplete message held read sections and did not grow by the required bytes in one
   * `readProgressIntervalMs` (a slow or stalled sender) → HTTP 408, WebSocket 1008.
   */
  Stalled: 1,
  /** No section of the needed tier was free and `maxSectionWaiters` connections already wait for one → HTTP 503, WebSocket 1013. */
  WaitQueueFull: 2,
} as const;
export type ReadLimit = (typeof ReadLimit)[keyof typeof ReadLimit];

/**
 * What the core asks of a protocol (HTTP/1.1, WebSocket…). The core owns sockets, memory and the
 * turn; a protocol only turns bytes into messages and messages into output.
 *
 * Contract of {@link ProtocolHandler.onData}: parse in place over `buf[start, end)` and return how many
 * bytes were consumed — complete messages only; an incomplete tail is left unconsumed and the reader
 * keeps it in a slab section until more bytes arrive. "Need more" is a normal return (0 consumed).
 * A handler must not keep offsets into `buf` after it returns (the reader moves bytes). The reader sizes
 * its section by the bytes that have arrived, never by a length the message declares. A handler may
 * switch `conn.protocol`; the reader then hands the remaining bytes to the new protocol in the same call.
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
  /**
   * The reader gives up on `conn`'s incoming message for `limit`: the protocol answers with its own
   * error (HTTP 408/503, WebSocket 1008/1013), counts and reports it, and ends the connection.
   */
  onReadLimit(conn: Connection, limit: ReadLimit): void;
  /**
   * Bytes of the message in progress the protocol keeps in read sections of its own (a fragmented
   * WebSocket message being assembled), 0 if none: they count against `maxHeldReadBytes` and the
   * progress rule together with the reader's tail.
   */
  heldBytes(conn: Connection): number;
  /**
   * Bytes of the oversize area the protocol holds for `conn`'s message in progress (a WebSocket
   * message larger than a large section), 0 if none: judged by the progress rule like read sections.
   */
  heldOversizeBytes?(conn: Connection): number;
  /** `conn.deadline` passed (see {@link Connection.setDeadline}); `kind` is the kind it was set with. */
  onDeadline(conn: Connection, kind: number): void;
  /** The peer half-closed its side (FIN). The protocol finishes what it owes and ends the connection. */
  onReadEnd(conn: Connection): void;
  /** Output that was queued has been written and the pending bytes fell below the low-water mark. */
  onDrain(conn: Connection): void;
  /** The socket is closed; every resource the protocol holds for `conn` must be released here. */
  onClose(conn: Connection): void;
  /**
   * The server is shutting down: end `conn` the protocol's graceful way (finish what it owes, then
   * close: HTTP after the response in flight, WebSocket with a Close frame). Without it the core
   * ends the connection at once. Connections still open past the shutdown deadline are destroyed.
   */
  shutdown?(conn: Connection): void;
}
