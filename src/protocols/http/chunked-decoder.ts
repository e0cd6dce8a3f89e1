/**
 * In-place, resumable decoder for the chunked transfer coding (RFC 9112 §7.1).
 *
 * Chunk data is moved down with `copyWithin` so the decoded body ends up contiguous at `start`;
 * no bytes are allocated. Every position is kept RELATIVE to `start`, so the caller may move the
 * whole region `[start, end)` (verbatim) to another buffer between calls.
 */

import * as bytes from './bytes.js';
import * as errors from './http-errors.js';

// Local copies, read once: see the note in request-parser.ts about getter-based import wiring.
const { BACKSLASH, COLON, CR, DQUOTE, EQUALS, FIELD_VALUE_CHAR, HEX_VALUE, HTAB, LF, QDTEXT_CHAR, SEMICOLON, SP, TCHAR } =
  bytes;
const { HttpParseError } = errors;

/** Bounds on what chunked framing may add around the data. */
export interface ChunkedDecoderLimits {
  /**
   * Chunk-extension bytes (everything after the hex size on size lines) summed over one body.
   * Bounds the bytes a client can make us scan per decoded byte (the CVE-2024-22019 attack on
   * node:http, fixed there with the same 16 KiB budget). Past it: BadChunk.
   */
  maxChunkExtensionBytes: number;
  /** The trailer section, field lines plus its final CRLF. At least 2. Past it: HeadersTooLarge. */
  maxTrailerBytes: number;
  /** Trailer field lines. Past it: TooManyHeaders. */
  maxTrailers: number;
}

/** Default chunked-decoder limits. */
export const DEFAULT_CHUNKED_DECODER_LIMITS: Readonly<ChunkedDecoderLimits> = Object.freeze({
  maxChunkExtensionBytes: 16384,
  maxTrailerBytes: 16384,
  maxTrailers: 100,
});

/**
 * Hex digits allowed in a chunk-size, leading zeros included: 16 digits is 64 bits, already past
 * what a Number holds exactly; sizes above 2^53 - 1 are rejected as overflow (BadChunk).
 */
export const MAX_CHUNK_SIZE_DIGITS = 16;

/** Decoder states, named for what they wait for. */
const ChunkState = {
  /** A chunk-size line: hex size, extensions, CRLF. */
  SizeLine: 0,
  /** Chunk data; chunkRemaining bytes left. */
  Data: 1,
  /** The CR after chunk data. */
  DataCr: 2,
  /** The LF after chunk data. */
  DataLf: 3,
  /** A trailer field line, or the empty line ending the body. */
  TrailerLine: 4,
  /** Terminal: complete. */
  Done: 5,
  /** Terminal: invalid. */
  Errored: 6,
} as const;

/**
 * Decodes one chunked body. One per connection, reused: `reset()` before each body.
 */
export class ChunkedDecoder {
  /** Length of the decoded body, contiguous at `start`. Final once decode() returned > 0. */
  decodedLength = 0;
  /** HttpParseError code once errored, 0 otherwise. */
  errorCode = 0;

  private readonly limits: Readonly<ChunkedDecoderLimits>;
  private state: number = ChunkState.SizeLine;
  /** Relative offset of the first encoded byte not yet consumed (a line start in line states). */
  private readPos = 0;
  /** Relative offset where the LF search resumes; always ≥ readPos. */
  private scanPos = 0;
  private chunkRemaining = 0;
  private extensionBytes = 0;
  private trailerBytes = 0;
  private trailerCount = 0;

  /** Throws RangeError for limits that are not non-negative integers (maxTrailerBytes ≥ 2). */
  constructor(limits: Readonly<ChunkedDecoderLimits> = DEFAULT_CHUNKED_DECODER_LIMITS) {
    for (const key of ['maxChunkExtensionBytes', 'maxTrailerBytes', 'maxTrailers'] as const) {
      const v = limits[key];
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new RangeError(`ChunkedDecoderLimits.${key} must be a non-negative integer, got ${String(v)}`);
      }
    }
    if (limits.maxTrailerBytes < 2) throw new RangeError('ChunkedDecoderLimits.maxTrailerBytes must be at least 2');
    this.limits = limits;
  }

  /** Prepares for the next body. */
  reset(): void {
    this.decodedLength = 0;
    this.errorCode = 0;
    this.state = ChunkState.SizeLine;
    this.readPos = 0;
    this.scanPos = 0;
    this.chunkRemaining = 0;
    this.extensionBytes = 0;
    this.trailerBytes = 0;
    this.trailerCount = 0;
  }

  /**
   * Decodes the chunked body in `buf[start, end)` in place. Returns the ENCODED length consumed
   * (> 0) once the last chunk, the trailers and the final CRLF are all present; 0 when more bytes
   * are needed (call again with the same `start`, a larger `end`); `-HttpParseError` on error.
   * Terminal results repeat until `reset()`. Bytes in `[start + decodedLength, start + consumed)`
   * are garbage afterwards; bytes after the body are untouched (pipelining).
   */
  decode(buf: Uint8Array, start: number, end: number, maxBodyBytes: number): number {
    const state0 = this.state;
    if (state0 === ChunkState.Done) return this.readPos;
    if (state0 === ChunkState.Errored) return -this.errorCode;
    if (!(start >= 0 && end >= start && end <= buf.length)) {
      throw new RangeError(`ChunkedDecoder.decode: bad range [${start}, ${end}) for length ${buf.length}`);
    }
    if (end - start < this.scanPos) throw new RangeError('ChunkedDecoder.decode: end is before bytes already consumed');
    let state: number = state0;
    let rd = this.readPos;
    for (;;) {
      switch (state) {
        case ChunkState.SizeLine: {
          // The LF must come within the hex digits plus the remaining extension budget.
          const bound = start + rd + MAX_CHUNK_SIZE_DIGITS + (this.limits.maxChunkExtensionBytes - this.extensionBytes) + 2;
          const stop = end < bound ? end : bound;
          let q = start + this.scanPos;
          while (q < stop && buf[q] !== LF) q++;
          if (q >= bound) return this.fail(HttpParseError.BadChunk, rd, q - start);
          if (q === end) return this.needMore(state, rd, q - start);
          const ls = start + rd;
          if (q === ls || buf[q - 1] !== CR) return this.fail(HttpParseError.BadLineEnding, rd, q - start);
          const size = parseChunkSizeLine(buf, ls, q - 1);
          if (size < 0) return this.fail(-size, rd, q - start);
          this.extensionBytes += lastExtensionBytes;
          if (this.extensionBytes > this.limits.maxChunkExtensionBytes) {
            return this.fail(HttpParseError.BadChunk, rd, q - start);
          }
          rd = q + 1 - start;
          this.scanPos = rd;
          if (size === 0) {
            state = ChunkState.TrailerLine; // RFC 9112 §7.1: last-chunk, then the trailer section
          } else if (size > maxBodyBytes - this.decodedLength) {
            return this.fail(HttpParseError.BodyTooLarge, rd, rd);
          } else {
            this.chunkRemaining = size;
            state = ChunkState.Data;
          }
          break;
        }

        case ChunkState.Data: {
          const from = start + rd;
          let n = end - from;
          if (n > this.chunkRemaining) n = this.chunkRemaining;
          if (n > 0) {
            const to = start + this.decodedLength;
            if (to !== from) buf.copyWithin(to, from, from + n);
            this.decodedLength += n;
            rd += n;
            this.chunkRemaining -= n;
          }
          if (this.chunkRemaining > 0) return this.needMore(state, rd, rd);
          state = ChunkState.DataCr;
          break;
        }

        case ChunkState.DataCr:
          // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
          if (start + rd >= end) return this.needMore(state, rd, rd);
          if (buf[start + rd] !== CR) return this.fail(HttpParseError.BadChunk, rd, rd);
          rd++;
          state = ChunkState.DataLf;
          break;

        case ChunkState.DataLf:
          if (start + rd >= end) return this.needMore(state, rd, rd);
          if (buf[start + rd] !== LF) return this.fail(HttpParseError.BadChunk, rd, rd);
          rd++;
          this.scanPos = rd;
          state = ChunkState.SizeLine;
          break;

        case ChunkState.TrailerLine: {
          const ls = start + rd;
          const bound = ls + (this.limits.maxTrailerBytes - this.trailerBytes);
          const stop = end < bound ? end : bound;
          let q = start + this.scanPos;
          while (q < stop && buf[q] !== LF) q++;
          if (q >= bound) return this.fail(HttpParseError.HeadersTooLarge, rd, q - start);
          if (q === end) return this.needMore(state, rd, q - start);
          if (q === ls || buf[q - 1] !== CR) return this.fail(HttpParseError.BadLineEnding, rd, q - start);
          this.trailerBytes += q + 1 - ls;
          rd = q + 1 - start;
          this.scanPos = rd;
          if (q - 1 === ls) {
            this.state = ChunkState.Done;
            this.readPos = rd;
            return rd;
          }
          // RFC 9110 §6.5: trailer fields are validated like header fields, then discarded.
          if (this.trailerCount >= this.limits.maxTrailers) return this.fail(HttpParseError.TooManyHeaders, rd, rd);
          const err = checkFieldLine(buf, ls, q - 1);
          if (err !== 0) return this.fail(err, rd, rd);
          this.trailerCount++;
          break;
        }

        default:
          throw new RangeError(`ChunkedDecoder: corrupt state ${state}`);
      }
    }
  }

  private needMore(state: number, rd: number, scan: number): number {
    this.state = state;
    this.readPos = rd;
    this.scanPos = scan;
    return 0;
  }

  private fail(code: number, rd: number, scan: number): number {
    this.state = ChunkState.Errored;
    this.errorCode = code;
    this.readPos = rd;
    this.scanPos = scan;
    return -code;
  }
}

/** Extension bytes of the size line parsed last (a module slot instead of an allocated result). */
let lastExtensionBytes = 0;

/**
 * Parses `chunk-size [ chunk-ext ]` in `buf[s, e)` (CRLF excluded). Returns the size (≥ 0) or
 * `-HttpParseError.BadChunk`, and sets lastExtensionBytes.
 * chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
 * chunk-ext-val = token / quoted-string (RFC 9112 §7.1.1). Extensions are checked, then ignored.
 */
function parseChunkSizeLine(buf: Uint8Array, s: number, e: number): number {
  let i = s;
  let size = 0;
  let d: number;
  while (i < e && (d = HEX_VALUE[buf[i]]) >= 0) {
    size = size * 16 + d;
    i++;
  }
  const digits = i - s;
  if (digits === 0 || digits > MAX_CHUNK_SIZE_DIGITS || size > Number.MAX_SAFE_INTEGER) {
    return -HttpParseError.BadChunk;
  }
  lastExtensionBytes = e - i;
  while (i < e) {
    i = skipBws(buf, i, e);
    if (i === e || buf[i] !== SEMICOLON) return -HttpParseError.BadChunk;
    i = skipBws(buf, i + 1, e);
    const nameStart = i;
    while (i < e && TCHAR[buf[i]] !== 0) i++;
    if (i === nameStart) return -HttpParseError.BadChunk;
    const j = skipBws(buf, i, e);
    if (j < e && buf[j] === EQUALS) {
      i = skipBws(buf, j + 1, e);
      if (i < e && buf[i] === DQUOTE) {
        i = skipQuotedString(buf, i + 1, e);
        if (i < 0) return -HttpParseError.BadChunk;
      } else {
        const valueStart = i;
        while (i < e && TCHAR[buf[i]] !== 0) i++;
        if (i === valueStart) return -HttpParseError.BadChunk;
      }
    } else {
      i = j;
    }
  }
  return size;
}

function skipBws(buf: Uint8Array, i: number, e: number): number {
  let c: number;
  while (i < e && ((c = buf[i]) === SP || c === HTAB)) i++;
  return i;
}

/** From just after the opening quote; returns the index after the closing quote, or -1. */
function skipQuotedString(buf: Uint8Array, i: number, e: number): number {
  while (i < e) {
    const c = buf[i];
    if (c === DQUOTE) return i + 1;
    if (c === BACKSLASH) {
      // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
      if (i + 1 >= e) return -1;
      const n = buf[i + 1];
      if (QDTEXT_CHAR[n] === 0 && n !== DQUOTE && n !== BACKSLASH) return -1;
      i += 2;
    } else if (QDTEXT_CHAR[c] !== 0) {
      i++;
    } else {
      return -1;
    }
  }
  return -1;
}

/**
 * Validates a trailer field line `buf[s, e)` (CRLF excluded) like a header field line (RFC 9112
 * §5): token name, colon with no whitespace before it, field-value bytes. Returns 0 or a code.
 */
function checkFieldLine(buf: Uint8Array, s: number, e: number): number {
  let c = buf[s];
  if (c === SP || c === HTAB) return HttpParseError.ObsFold; // RFC 9112 §5.2
  let i = s;
  while (i < e && TCHAR[buf[i]] !== 0) i++;
  if (i === e) return HttpParseError.BadHeaderName;
  c = buf[i];
  if (c === CR) return HttpParseError.BadLineEnding;
  if (i === s || c !== COLON) return HttpParseError.BadHeaderName;
  i++;
  while (i < e && FIELD_VALUE_CHAR[buf[i]] !== 0) i++;
  if (i === e) return 0;
  return buf[i] === CR ? HttpParseError.BadLineEnding : HttpParseError.BadHeaderValue;
}
