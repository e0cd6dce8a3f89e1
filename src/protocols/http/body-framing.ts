/**
 * How a request's body is delimited (RFC 9112 §6.3), from an already validated head, and the one
 * request framer that finds where the body ends: used by {@link HttpHandler} and by the fixture
 * driver of the conformance tests, so the fixtures exercise the framing the server runs.
 */

import { ChunkedDecoder, type ChunkedDecoderLimits, DEFAULT_CHUNKED_DECODER_LIMITS } from './chunked-decoder.js';
import { HttpParseError } from './http-errors.js';
import type { RequestHead } from './request-head.js';

/** The request body framing kinds. */
export const BodyFraming = {
  /** No body: no Transfer-Encoding and Content-Length absent or 0 (RFC 9112 §6.3 rule 7). */
  None: 0,
  /** Exactly `head.contentLength` (> 0) bytes follow the head (rule 6). */
  Length: 1,
  /** A chunked body follows; decode it with ChunkedDecoder (rule 4). */
  Chunked: 2,
} as const;

/** A value of {@link BodyFraming}. */
export type BodyFraming = (typeof BodyFraming)[keyof typeof BodyFraming];

/**
 * The framing of a head that parseRequestHead accepted. The parser has already rejected the
 * ambiguous cases (CL with TE, TE other than a single chunked, conflicting CL), so for requests
 * the rules reduce to: chunked, else Content-Length, else no body. A request never reads to EOF.
 */
export function bodyFraming(head: RequestHead): BodyFraming {
  if (head.chunked) return BodyFraming.Chunked;
  return head.contentLength > 0 ? BodyFraming.Length : BodyFraming.None;
}

/**
 * Returned by {@link RequestFramer.frame} while the body has not fully arrived: call again with the
 * same `bodyStart` (relative to the same bytes, which may have moved) and a larger `end`.
 * Below every `-HttpParseError`.
 */
export const BODY_INCOMPLETE = -0x10000;

/** Limits of the request framer. */
export interface RequestFramerLimits {
  /** Decoded body bytes past which a request is refused (413 `BodyTooLarge`). */
  maxBodyBytes: number;
  /** Bounds on the chunked framing around the data. */
  chunked?: Readonly<ChunkedDecoderLimits>;
}

/**
 * Where one request's body framing state lives between reads: the connection's chunked decoder,
 * made on the first chunked body and reused for the connection's later ones.
 */
export interface BodyState {
  decoder: ChunkedDecoder | null;
}

/**
 * Finds the end of a request's body (RFC 9112 §6.3): Content-Length bytes, a chunked body decoded in
 * place, or none. Stateless across connections: the per-connection part is the {@link BodyState},
 * so one framer serves every connection of a handler and framing a request allocates nothing.
 */
export class RequestFramer {
  /** End of the decoded body (contiguous at `bodyStart`), set by a {@link frame} call that returned ≥ 0. */
  bodyEnd = 0;
  private readonly maxBodyBytes: number;
  private readonly chunkedLimits: Readonly<ChunkedDecoderLimits>;

  constructor(limits: Readonly<RequestFramerLimits>) {
    if (!Number.isSafeInteger(limits.maxBodyBytes) || limits.maxBodyBytes < 0) {
      throw new RangeError(`RequestFramerLimits.maxBodyBytes must be a non-negative integer, got ${String(limits.maxBodyBytes)}`);
    }
    this.maxBodyBytes = limits.maxBodyBytes;
    this.chunkedLimits = limits.chunked ?? DEFAULT_CHUNKED_DECODER_LIMITS;
  }

  /**
   * Frames the body of `head` in `buf[bodyStart, end)`. `fresh` is true on the first call for this
   * request (it resets the chunked decoder) and false when resuming after more bytes arrived.
   * Returns the body's ENCODED length (≥ 0: the next request starts right after it) once it has all
   * arrived, with the decoded body in `buf[bodyStart, bodyEnd)`; {@link BODY_INCOMPLETE} when more
   * bytes are needed; `-HttpParseError` when the body is invalid or over `maxBodyBytes`.
   */
  frame(head: RequestHead, state: BodyState, fresh: boolean, buf: Uint8Array, bodyStart: number, end: number): number {
    if (head.chunked) {
      let decoder = state.decoder;
      if (decoder === null) decoder = state.decoder = new ChunkedDecoder(this.chunkedLimits);
      else if (fresh) decoder.reset();
      const d = decoder.decode(buf, bodyStart, end, this.maxBodyBytes);
      if (d === 0) return BODY_INCOMPLETE;
      if (d < 0) return d;
      this.bodyEnd = bodyStart + decoder.decodedLength;
      return d;
    }
    const length = head.contentLength;
    if (length <= 0) {
      this.bodyEnd = bodyStart;
      return 0;
    }
    // Refused on the declared length, before any body byte is buffered for it.
    if (length > this.maxBodyBytes) return -HttpParseError.BodyTooLarge;
    if (end - bodyStart < length) return BODY_INCOMPLETE;
    this.bodyEnd = bodyStart + length;
    return length;
  }
}
