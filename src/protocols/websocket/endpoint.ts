import type { RequestHead } from '../http/request-head.js';
import type { WebSocket } from './websocket.js';

/** What a fan-out does with a member whose pending output passed `wsMaxBackpressureBytes`. */
export const SlowConsumerPolicy = {
  /** Skip this message for that member (counted); it stays connected. */
  Drop: 0,
  /** Close the member with 1013 Try Again Later. */
  Close: 1,
} as const;
export type SlowConsumerPolicy = (typeof SlowConsumerPolicy)[keyof typeof SlowConsumerPolicy];

/**
 * An endpoint that takes binary messages in pieces, as they arrive, and keeps them itself (the audio
 * cache writes them to the stream's file): the handler never assembles them and holds no section
 * for them, whatever their size. Each piece is unmasked in place in the read buffer and handed over
 * (valid during the call only), so the sink's own copy is the only one. Text messages still reach
 * {@link WebSocketEndpoint.onMessage}.
 *
 * A message is announced frame by frame: {@link reserve} for every data frame of it (the first with
 * `first` set), then {@link write} with its payload in pieces (exactly the announced bytes, in
 * order), then {@link commit} once the final frame is in, or {@link abort} if it never will be.
 * Nothing of a message is the endpoint's before commit: that is how "a chunk is stored whole or not
 * at all" holds while the chunk arrives in pieces.
 */
export interface BinarySink<T = unknown> {
  /**
   * The next `bytes` of a binary message are announced (one frame's payload): true to take them
   * (make room for them now: a refusal later cannot be undone), or false to refuse the message (the
   * endpoint has answered why; the rest of the message is read and discarded, and neither commit
   * nor abort follows).
   */
  reserve(ws: WebSocket<T>, bytes: number, first: boolean): boolean;
  /**
   * The next piece of the message's payload, unmasked; a view valid during the call only. False
   * gives up on the message (the endpoint has answered why; the rest is discarded, neither commit
   * nor abort follows).
   */
  write(ws: WebSocket<T>, piece: Buffer): boolean;
  /** Every byte of the message was written into the regions reserve() returned: it is the endpoint's now. */
  commit(ws: WebSocket<T>): void;
  /** The message will not complete (the connection failed or closed mid-message): keep nothing of it. */
  abort(ws: WebSocket<T>): void;
}

/** The opening handshake as an endpoint sees it (decoded at the API edge: handshakes are rare). */
export interface UpgradeRequest {
  path: string;
  query: string;
  /** Header value by lower-case name, or undefined. */
  header(name: string): string | undefined;
  /** The client's IP address (the TCP peer, e.g. `127.0.0.1`, `::1`), or undefined when unknown. */
  readonly remoteAddress?: string | undefined;
}

/** An endpoint's verdict on a handshake: accept (with per-socket data) or refuse with an HTTP status. */
export type UpgradeVerdict<T = unknown> =
  | { accept: true; data?: T }
  /** `code`, when given, is the `error` of the JSON body (a stable reason code); else the status text. */
  | { accept: false; status: number; message: string; code?: string };

/**
 * A WebSocket endpoint, registered by path. Callbacks run on the loop; `data` passed to
 * {@link onMessage} is a view into slab memory, valid only during the call — copy it to keep it.
 * Sending it (`ws.send(data)`, an echo or a relay) may write it from where it is, after the call:
 * change it before sending it, never after.
 * `T` is the type of each socket's own data (`ws.data`), set by {@link upgrade} or in {@link onOpen}.
 */
export interface WebSocketEndpoint<T = unknown> {
  /** Exact request path, e.g. `/echo` (a prefix when {@link matchPrefix} is set). */
  readonly path: string;
  /**
   * `path` is a prefix (e.g. `/ws/room/`): it claims every longer path that starts with it, and the
   * endpoint reads the rest from `UpgradeRequest.path`. Exact paths win; then the longest prefix.
   */
  readonly matchPrefix?: boolean;
  /** Subprotocols this endpoint speaks, in preference order (RFC 6455 §4.2.2 `Sec-WebSocket-Protocol`). */
  readonly protocols?: readonly string[];
  /** Pending output past which fan-out applies {@link slowConsumer} (default `--ws-max-backpressure-bytes`). */
  readonly maxBackpressureBytes?: number;
  /** Fan-out slow-consumer policy for this endpoint's sockets (default Drop). */
  readonly slowConsumer?: SlowConsumerPolicy;
  /**
   * Largest message (and frame) this endpoint accepts, in bytes (default `--ws-max-message-bytes`
   * and `--ws-max-frame-bytes`); past it → close 1009. An endpoint with a {@link binarySink} may go
   * past the oversize budget: its binary messages are never assembled.
   */
  readonly maxMessageBytes?: number;
  /**
   * Accept permessage-deflate (RFC 7692) when the client offers it and `--ws-compression` is on
   * (default true; never with a {@link binarySink}, whose pieces must be the bytes they are).
   */
  readonly perMessageDeflate?: boolean;
  /** On a compressed connection, compress binary messages too (default true; rooms send voice frames uncompressed). */
  readonly compressBinary?: boolean;
  /** Binary messages go here in pieces instead of to {@link onMessage} (see {@link BinarySink}). */
  readonly binarySink?: BinarySink<T>;
  /** Origin check (RFC 6455 §10.2); false → 403. When present it replaces the server's `--allowed-origins` policy for this endpoint. */
  verifyOrigin?(origin: string | undefined): boolean;
  /**
   * Decides on a handshake before any WebSocket exists (tokens → 401). May answer later (a Promise:
   * a token verified against keys fetched over the network): reading from the connection pauses
   * until it settles, so bytes the client sent after its request wait for the verdict.
   */
  upgrade?(req: UpgradeRequest, head: RequestHead): UpgradeVerdict<T> | Promise<UpgradeVerdict<T>>;
  onOpen?(ws: WebSocket<T>): void;
  onMessage(ws: WebSocket<T>, data: Buffer, isBinary: boolean): void;
  /** Output drained below the low-water mark after backpressure. */
  onDrain?(ws: WebSocket<T>): void;
  /**
   * A fan-out skipped `ws` because its pending output was past {@link maxBackpressureBytes}
   * (policy Drop): the endpoint's own slow-consumer policy starts here (e.g. close it if it stays slow).
   */
  onSlow?(ws: WebSocket<T>): void;
  /** The connection is gone: `code` from the peer's Close, or 1006 when there was none. */
  onClose?(ws: WebSocket<T>, code: number, reason: string): void;
}
