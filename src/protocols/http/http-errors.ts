/**
 * HTTP/1.1 request parse errors: numeric codes returned (negated) by the parsers, and the wire
 * consequence of each (llhttp `constants.ts`, uWS `HttpErrors.h`).
 *
 * Ledger: codes are stable and never reused. A retired code keeps its row with a comment; new
 * codes take the next number. 0 is never an error (it is HEAD_INCOMPLETE / "need more").
 */

/** Parse error codes. The parsers return `-code`; every error ends the connection after the response. */
export const HttpParseError = {
  /** Request line not `method SP target SP version CRLF` (RFC 9112 §3), e.g. a double space. */
  BadRequestLine: 1,
  /** A byte that is not tchar in the method, or an empty method (RFC 9110 §9.1). */
  BadMethod: 2,
  /** Request-target in no form allowed for the method, or with a forbidden byte (RFC 9112 §3.2). */
  BadTarget: 3,
  /** Request-target or request line longer than its limit (RFC 9112 §3: 414). */
  UriTooLong: 4,
  /** Version is not `HTTP/` DIGIT `.` DIGIT, case-sensitive (RFC 9112 §2.3). */
  BadVersion: 5,
  /** Well-formed `HTTP/x.y` other than 1.0 and 1.1 (RFC 9110 §15.6.6: 505). */
  UnsupportedVersion: 6,
  /** Empty field name, a byte that is not tchar, or whitespace before the colon (RFC 9112 §5.1). */
  BadHeaderName: 7,
  /** A control byte (other than HTAB) or DEL in a field value (RFC 9110 §5.5). */
  BadHeaderValue: 8,
  /** Obsolete line folding: a field line starting with SP/HTAB (RFC 9112 §5.2: reject with 400). */
  ObsFold: 9,
  /** Bare LF, or CR not followed by LF (strict CRLF, RFC 9112 §2.2). */
  BadLineEnding: 10,
  /** More field lines than maxHeaders (RFC 6585 §5: 431). */
  TooManyHeaders: 11,
  /** The head is longer than maxHeaderBytes (RFC 6585 §5: 431). */
  HeadersTooLarge: 12,
  /** Content-Length not 1*DIGIT, empty, or above 2^53 - 1 (RFC 9110 §8.6). */
  BadContentLength: 13,
  /** Content-Length values that differ, across fields or list members (RFC 9112 §6.3 rule 5). */
  ConflictingContentLength: 14,
  /** Both Content-Length and Transfer-Encoding (RFC 9112 §6.3 rule 3: smuggling risk, reject). */
  ContentLengthWithTransferEncoding: 15,
  /** Transfer-Encoding empty, not a token list, `chunked` twice, or sent in HTTP/1.0 (RFC 9112 §6.1). */
  BadTransferEncoding: 16,
  /** Any transfer coding other than a single final `chunked` (RFC 9112 §6.1: 501). */
  UnsupportedTransferEncoding: 17,
  /** Malformed chunk framing: size line, extension, or missing CRLF after data (RFC 9112 §7.1). */
  BadChunk: 18,
  /** The decoded body would be larger than maxBodyBytes (RFC 9110 §15.5.14: 413). */
  BodyTooLarge: 19,
  /** HTTP/1.1 request without a Host field (RFC 9112 §3.2: MUST respond 400). */
  MissingHost: 20,
  /** More than one Host field, or a Host value that is not an authority (RFC 9112 §3.2). */
  BadHost: 21,
} as const;

/** A value of {@link HttpParseError}. */
export type HttpParseError = (typeof HttpParseError)[keyof typeof HttpParseError];

/** The HTTP statuses a parse error can map to. */
export type HttpParseErrorStatus = 400 | 413 | 414 | 431 | 501 | 505;

/** The wire consequence of a parse error: status to send, stable registry code, short reason. */
export interface HttpParseErrorInfo {
  readonly status: HttpParseErrorStatus;
  readonly code: string;
  readonly reason: string;
}

function info(status: HttpParseErrorStatus, code: string, reason: string): HttpParseErrorInfo {
  return Object.freeze({ status, code, reason });
}

/** Indexed by {@link HttpParseError} code; index 0 is unused (0 is not an error). */
export const HTTP_PARSE_ERROR_INFO: readonly HttpParseErrorInfo[] = Object.freeze([
  info(400, 'ERR_HTTP_NONE', 'not an error'), // 0: placeholder, never returned
  info(400, 'ERR_HTTP_BAD_REQUEST_LINE', 'Malformed request line'),
  info(400, 'ERR_HTTP_BAD_METHOD', 'Invalid method'),
  info(400, 'ERR_HTTP_BAD_TARGET', 'Invalid request target'),
  info(414, 'ERR_HTTP_URI_TOO_LONG', 'Request target too long'),
  info(400, 'ERR_HTTP_BAD_VERSION', 'Malformed HTTP version'),
  info(505, 'ERR_HTTP_UNSUPPORTED_VERSION', 'HTTP version not supported'),
  info(400, 'ERR_HTTP_BAD_HEADER_NAME', 'Invalid header field name'),
  info(400, 'ERR_HTTP_BAD_HEADER_VALUE', 'Invalid header field value'),
  info(400, 'ERR_HTTP_OBS_FOLD', 'Obsolete line folding not allowed'),
  info(400, 'ERR_HTTP_BAD_LINE_ENDING', 'Lines must end with CRLF'),
  info(431, 'ERR_HTTP_TOO_MANY_HEADERS', 'Too many header fields'),
  info(431, 'ERR_HTTP_HEADERS_TOO_LARGE', 'Request header section too large'),
  info(400, 'ERR_HTTP_BAD_CONTENT_LENGTH', 'Invalid Content-Length'),
  info(400, 'ERR_HTTP_CONFLICTING_CONTENT_LENGTH', 'Conflicting Content-Length values'),
  info(400, 'ERR_HTTP_CONTENT_LENGTH_WITH_TRANSFER_ENCODING', 'Both Content-Length and Transfer-Encoding'),
  info(400, 'ERR_HTTP_BAD_TRANSFER_ENCODING', 'Invalid Transfer-Encoding'),
  info(501, 'ERR_HTTP_UNSUPPORTED_TRANSFER_ENCODING', 'Transfer coding not implemented'),
  info(400, 'ERR_HTTP_BAD_CHUNK', 'Malformed chunked body'),
  info(413, 'ERR_HTTP_BODY_TOO_LARGE', 'Request body too large'),
  info(400, 'ERR_HTTP_MISSING_HOST', 'Missing Host header'),
  info(400, 'ERR_HTTP_BAD_HOST', 'Duplicate or invalid Host header'),
]);

/**
 * The wire consequence of a parse error. Accepts the code or the negative value a parser
 * returned. Throws RangeError for anything else (a programmer error).
 */
export function httpParseErrorInfo(code: number): HttpParseErrorInfo {
  const c = code < 0 ? -code : code;
  if (!Number.isInteger(c) || c < 1 || c >= HTTP_PARSE_ERROR_INFO.length) {
    throw new RangeError(`httpParseErrorInfo: ${code} is not an HttpParseError code`);
  }
  return HTTP_PARSE_ERROR_INFO[c];
}
