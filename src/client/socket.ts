/**
 * What the client needs of a WebSocket: the browser's `WebSocket` and the `ws` package's both fit.
 * The client imports nothing (not even types) from the server: it runs in browsers.
 */

/** `WebSocket.readyState` values (the WHATWG spec's constants). */
export const ReadyState = { Connecting: 0, Open: 1, Closing: 2, Closed: 3 } as const;

/** A message event: `data` is a string (text frame) or an ArrayBuffer (binary frame, `binaryType = 'arraybuffer'`). */
export interface MessageEventLike {
  readonly data: unknown;
}

/** A close event. */
export interface CloseEventLike {
  readonly code: number;
  readonly reason: string;
}

/**
 * The subset of the WHATWG WebSocket the client uses. Handlers are typed `(ev: never)` so that any
 * implementation's own event types fit; the client assigns handlers that read only `data`, `code`, `reason`.
 */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: never) => void) | null;
  onmessage: ((ev: never) => void) | null;
  onclose: ((ev: never) => void) | null;
  onerror: ((ev: never) => void) | null;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers (and Node ≥ 22), `ws`'s default export in Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `options.WebSocket`, else the global one; a TypeError when neither exists (Node 20 without `ws`). */
export function resolveWebSocket(given: WebSocketConstructor | undefined): WebSocketConstructor {
  if (given !== undefined) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global === undefined) {
    throw new TypeError('no global WebSocket here (Node 20): pass one, e.g. { WebSocket } from the "ws" package');
  }
  return global;
}

/** Reconnection policy: jittered exponential backoff, capped. */
export interface BackoffOptions {
  /** First delay (default 250 ms). */
  initialDelayMs?: number;
  /** Cap on any delay (default 10,000 ms). */
  maxDelayMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** Attempts in a row without success before giving up (default Infinity). */
  maxRetries?: number;
}

/** The delay before attempt `attempt` (0-based): "equal jitter", in [d/2, d] with d = min(cap, initial·factor^attempt). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialDelayMs ?? 250;
  const cap = options.maxDelayMs ?? 10_000;
  const factor = options.factor ?? 2;
  const d = Math.min(cap, initial * factor ** attempt);
  return d / 2 + Math.random() * (d / 2);
}

/** Bytes of a binary message as a Uint8Array (ArrayBuffer, or a view such as Node's Buffer). */
export function bytesOf(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}
