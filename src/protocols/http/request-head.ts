/**
 * The parsed head of one HTTP/1.1 request, as offsets into the buffer that was parsed.
 *
 * One RequestHead per connection, reused: `reset()` before each request. Nothing here is a
 * string; `headerValue()` decodes one value for API edges only.
 */

import * as bytes from './bytes.js';
import * as methods from './method.js';
import type { Method } from './method.js';

// Local copies, read once: see the note in request-parser.ts about getter-based import wiring.
const { equalsLowerAscii } = bytes;
const MethodOther = methods.Method.Other;

/**
 * Parser states, named for what they wait for (ws `GET_*`). Kept here because the head carries
 * the state between calls.
 * @internal
 */
export const HeadState = {
  /** Before the request line; skipping leading empty lines (RFC 9112 §2.2). */
  LineStart: 0,
  /** Saw the CR of a leading empty line; waiting for its LF. */
  LeadingLf: 1,
  /** Inside the method token. */
  Method: 2,
  /** After the SP following the method; waiting for the first target byte. */
  TargetStart: 3,
  /** Inside the request-target. */
  Target: 4,
  /** Inside `HTTP/x.y` (versionIndex counts matched bytes). */
  Version: 5,
  /** Saw the CR ending the request line; waiting for LF. */
  RequestLineLf: 6,
  /** At the start of a field line or of the empty line ending the head. */
  FieldStart: 7,
  /** Inside a field name. */
  FieldName: 8,
  /** After the colon, skipping OWS. */
  FieldOws: 9,
  /** Inside a field value. */
  FieldValue: 10,
  /** Saw the CR ending a field line; waiting for LF. */
  FieldLf: 11,
  /** Saw the CR of the empty line; waiting for the LF that ends the head. */
  HeadLf: 12,
  /** Terminal: the head is complete (result = head length). */
  Done: 13,
  /** Terminal: the head is invalid (result = -HttpParseError). */
  Errored: 14,
} as const;

/** Ints per header in {@link RequestHead.headers}: nameStart, nameEnd, valueStart, valueEnd. */
export const HEADER_STRIDE = 4;

const INITIAL_HEADER_CAPACITY = 16;

/**
 * Offsets of a parsed request head plus the framing and connection facts derived from it.
 *
 * Offsets are absolute indexes into the buffer passed to `parseRequestHead`. If the caller moves
 * the bytes it calls `shift(delta)`; while the head is still incomplete the parser also rebases
 * by itself when it is called with a different `start`.
 */
export class RequestHead {
  /** {@link Method} value; `Other` means read `methodStart..methodEnd`. */
  method: Method = MethodOther;
  /** Offset of the method's first byte (after any skipped leading empty lines). */
  methodStart = -1;
  /** Offset just past the method. */
  methodEnd = -1;
  /** Offset of the request-target's first byte. */
  targetStart = -1;
  /** Offset just past the request-target. */
  targetEnd = -1;
  /** Offset of the first `?` in the target, or targetEnd when there is no query. */
  pathEnd = -1;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor = 1;
  /** Number of complete field lines in {@link headers}. */
  headerCount = 0;
  /**
   * {@link HEADER_STRIDE} ints per field line: nameStart, nameEnd, valueStart, valueEnd. The
   * value is trimmed of leading and trailing OWS. Grows (doubling) up to limits.maxHeaders, so
   * re-read this field after a parse rather than keeping the array.
   */
  headers: Int32Array = new Int32Array(INITIAL_HEADER_CAPACITY * HEADER_STRIDE);

  /** Content-Length value, or -1 when absent. */
  contentLength = -1;
  /** Transfer-Encoding is exactly `chunked` (the only coding accepted). */
  chunked = false;
  /** A Transfer-Encoding field was present. */
  hasTransferEncoding = false;
  /** Connection lists the `close` option (RFC 9112 §9.6). */
  connectionClose = false;
  /** Connection lists the `keep-alive` option (HTTP/1.0 persistence, RFC 9112 §9.3). */
  connectionKeepAlive = false;
  /** Connection lists the `upgrade` option (RFC 9110 §7.8). */
  connectionUpgrade = false;
  /** Upgrade lists the `websocket` protocol, case-insensitive (RFC 6455 §4.2.1). */
  upgradeWebSocket = false;
  /** Expect is `100-continue` (RFC 9110 §10.1.1). */
  expectContinue = false;
  /** A Host field was present (exactly one; a second is BadHost). */
  hasHost = false;

  /** Head length in bytes once complete, 0 before. */
  headLength = 0;
  /** The HttpParseError code once errored, 0 otherwise. */
  errorCode = 0;
  /** Absolute offset of the byte where the error was detected, -1 if none. */
  errorOffset = -1;

  /** @internal Parser state ({@link HeadState}). */
  state: number = HeadState.LineStart;
  /** @internal Absolute offset of the next byte to scan: the resume position between calls. */
  scanFrom = -1;
  /** @internal The `start` the offsets are valid for; -1 before the first call. */
  parseStart = -1;
  /** @internal Bytes of `HTTP/x.y` matched so far. */
  versionIndex = 0;
  /** @internal Major version digit seen. */
  versionMajor = 0;

  /** Clears every field for the next request. O(1): the headers array is reused, not cleared. */
  reset(): void {
    this.method = MethodOther;
    this.methodStart = -1;
    this.methodEnd = -1;
    this.targetStart = -1;
    this.targetEnd = -1;
    this.pathEnd = -1;
    this.versionMinor = 1;
    this.headerCount = 0;
    this.contentLength = -1;
    this.chunked = false;
    this.hasTransferEncoding = false;
    this.connectionClose = false;
    this.connectionKeepAlive = false;
    this.connectionUpgrade = false;
    this.upgradeWebSocket = false;
    this.expectContinue = false;
    this.hasHost = false;
    this.headLength = 0;
    this.errorCode = 0;
    this.errorOffset = -1;
    this.state = HeadState.LineStart;
    this.scanFrom = -1;
    this.parseStart = -1;
    this.versionIndex = 0;
    this.versionMajor = 0;
  }

  /**
   * Whether the connection stays open after this request (RFC 9112 §9.3): `close` ends it;
   * HTTP/1.1 persists by default; HTTP/1.0 only with `keep-alive`.
   */
  keepAlive(): boolean {
    if (this.connectionClose) return false;
    return this.versionMinor === 1 || this.connectionKeepAlive;
  }

  /**
   * Index of the first header whose name equals `lowerName` (lowercase ASCII bytes, built once
   * with `asciiBytes`), case-insensitively; -1 if none.
   */
  findHeader(buf: Uint8Array, lowerName: Uint8Array): number {
    return this.findNextHeader(buf, lowerName, 0);
  }

  /** Like {@link findHeader}, starting at header index `from` (to walk repeated fields). */
  findNextHeader(buf: Uint8Array, lowerName: Uint8Array, from: number): number {
    const h = this.headers;
    const n = lowerName.length;
    for (let i = from < 0 ? 0 : from; i < this.headerCount; i++) {
      const o = i * HEADER_STRIDE;
      if (h[o + 1] - h[o] === n && equalsLowerAscii(buf, h[o], h[o + 1], lowerName)) return i;
    }
    return -1;
  }

  /** The name of header `index` as a latin1 string. Allocates: API edges only. */
  headerName(buf: Uint8Array, index: number): string {
    const o = this.checkIndex(index);
    return latin1(buf, this.headers[o], this.headers[o + 1]);
  }

  /** The trimmed value of header `index` as a latin1 string. Allocates: API edges only. */
  headerValue(buf: Uint8Array, index: number): string {
    const o = this.checkIndex(index);
    return latin1(buf, this.headers[o + 2], this.headers[o + 3]);
  }

  /**
   * Adds `delta` to every offset, after the caller moved the parsed bytes by `delta` (e.g. the
   * reader compacted its buffer). Safe on an incomplete head too: the parser's resume state
   * moves with it.
   */
  shift(delta: number): void {
    if (delta === 0 || this.parseStart < 0) return;
    this.methodStart = shifted(this.methodStart, delta);
    this.methodEnd = shifted(this.methodEnd, delta);
    this.targetStart = shifted(this.targetStart, delta);
    this.targetEnd = shifted(this.targetEnd, delta);
    this.pathEnd = shifted(this.pathEnd, delta);
    this.errorOffset = shifted(this.errorOffset, delta);
    this.scanFrom += delta;
    this.parseStart += delta;
    const h = this.headers;
    // Include the slot of a field line still being parsed; stale slot ints are harmless.
    let n = (this.headerCount + 1) * HEADER_STRIDE;
    if (n > h.length) n = h.length;
    for (let i = 0; i < n; i++) h[i] += delta;
  }

  /** @internal Makes room for one more header slot (amortised doubling, never per request). */
  growHeaders(): void {
    const next = new Int32Array(this.headers.length * 2);
    next.set(this.headers);
    this.headers = next;
  }

  private checkIndex(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.headerCount) {
      throw new RangeError(`header index ${index} out of range [0, ${this.headerCount})`);
    }
    return index * HEADER_STRIDE;
  }
}

function shifted(v: number, delta: number): number {
  return v < 0 ? v : v + delta;
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  if (buf instanceof Buffer) return buf.toString('latin1', start, end);
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
}
