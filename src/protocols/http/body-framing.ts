/**
 * How a request's body is delimited (RFC 9112 §6.3), from an already validated head.
 */

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
