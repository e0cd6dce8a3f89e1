/**
 * Incremental, in-place HTTP/1.1 request-head parser (RFC 9112 §2–§5).
 *
 * Input is a byte range; output is offsets in a reused {@link RequestHead}. No strings, no
 * allocation per request, no regexes: tight loops over the bytes with table lookups (uWS
 * `HttpParser.h`). The state survives between calls, so bytes that arrive one at a time are each
 * scanned once (O(n) overall), and errors are reported from the shortest prefix that proves them.
 *
 * Strict by default (llhttp): CRLF only, no obs-fold, no whitespace before the colon, token
 * method and field names, exactly `HTTP/1.0` or `HTTP/1.1`.
 */

import * as bytes from './bytes.js';
import * as errors from './http-errors.js';
import * as methods from './method.js';
import * as requestHead from './request-head.js';
import type { RequestHead } from './request-head.js';

// Module-local copies of everything the loops touch. Read once here, they are plain constants
// below whatever wires the imports: native ESM, or the getter-based exports that vitest and tsx
// generate, which cost a call per byte when read inside a loop (measured: 15x slower).
const {
  AUTHORITY_CHAR,
  ASTERISK,
  COLON,
  COMMA,
  CR,
  DIGIT_0,
  DIGIT_9,
  DOT,
  FIELD_VALUE_CHAR,
  HTAB,
  LF,
  LOWER,
  QUESTION,
  SEMICOLON,
  SLASH,
  SP,
  TARGET_CHAR,
  TCHAR,
  asciiBytes,
  equalsLowerAscii,
  startsWithLowerAscii,
} = bytes;
const { HttpParseError } = errors;
const { Method, matchMethod } = methods;
const { HEADER_STRIDE, HeadState } = requestHead;

/** Returned while the head is not complete yet: call again with the same start and a larger end. */
export const HEAD_INCOMPLETE = 0;

/** Size limits of the request head. Each has a defined error when passed. */
export interface HttpParserLimits {
  /** Request line without its CRLF (method SP target SP version). Past it: 414. */
  maxRequestLineBytes: number;
  /** Request-target. Past it: 414. */
  maxUriBytes: number;
  /** Whole head from `start`: leading empty lines, request line, field lines, final CRLF. Past it: 431. */
  maxHeaderBytes: number;
  /** Field lines. Past it: 431. */
  maxHeaders: number;
}

/** Default limits, in line with node:http (16 KiB head) and uWS. */
export const DEFAULT_HTTP_PARSER_LIMITS: Readonly<HttpParserLimits> = Object.freeze({
  maxRequestLineBytes: 8192,
  maxUriBytes: 8192,
  maxHeaderBytes: 16384,
  maxHeaders: 500,
});

/** Throws RangeError unless every limit is a non-negative safe integer (config time, not per call). */
export function validateHttpParserLimits(limits: HttpParserLimits): void {
  for (const key of ['maxRequestLineBytes', 'maxUriBytes', 'maxHeaderBytes', 'maxHeaders'] as const) {
    const v = limits[key];
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`HttpParserLimits.${key} must be a non-negative integer, got ${String(v)}`);
    }
  }
}

/** ` HTTP/x.y` is 9 bytes after the target; the shortest target is 1 byte. */
const VERSION_WITH_SP = 9;
const MIN_AFTER_METHOD = 1 + 1 + VERSION_WITH_SP;

/** `HTTP/` (RFC 9112 §2.3: HTTP-name is case-sensitive). */
const HTTP_NAME = asciiBytes('HTTP/');

const NAME_HOST = asciiBytes('host');
const NAME_EXPECT = asciiBytes('expect');
const NAME_UPGRADE = asciiBytes('upgrade');
const NAME_CONNECTION = asciiBytes('connection');
const NAME_CONTENT_LENGTH = asciiBytes('content-length');
const NAME_TRANSFER_ENCODING = asciiBytes('transfer-encoding');

const TOKEN_CLOSE = asciiBytes('close');
const TOKEN_KEEP_ALIVE = asciiBytes('keep-alive');
const TOKEN_UPGRADE = asciiBytes('upgrade');
const TOKEN_WEBSOCKET = asciiBytes('websocket');
const TOKEN_100_CONTINUE = asciiBytes('100-continue');
const TOKEN_CHUNKED = asciiBytes('chunked');

const SCHEME_HTTP = asciiBytes('http://');
const SCHEME_HTTPS = asciiBytes('https://');

/**
 * Parses the request head in `buf[start, end)` into `head`.
 *
 * Returns the head length (> 0, from `start` through the empty line, including skipped leading
 * empty lines), HEAD_INCOMPLETE when more bytes are needed, or `-HttpParseError` on error.
 * Resumable: call again with the same `start` and a larger `end`. If the caller moved the bytes
 * `[start, end)` elsewhere (compaction), it passes the new `start` and the head rebases itself;
 * calling `head.shift(delta)` first is also fine. Complete and errored heads are terminal: the same
 * result is returned (rebased the same way) until `head.reset()`.
 */
export function parseRequestHead(
  buf: Uint8Array,
  start: number,
  end: number,
  head: RequestHead,
  limits: HttpParserLimits,
): number {
  let state = head.state;
  if (state >= HeadState.Done) {
    // Terminal: repeat the result, rebased if the caller moved the bytes since.
    if (start !== head.parseStart) head.shift(start - head.parseStart);
    return state === HeadState.Done ? head.headLength : -head.errorCode;
  }
  if (!(start >= 0 && end >= start && end <= buf.length)) {
    throw new RangeError(`parseRequestHead: bad range [${start}, ${end}) for length ${buf.length}`);
  }
  let p: number;
  if (head.parseStart < 0) {
    head.parseStart = start;
    p = start;
  } else {
    if (start !== head.parseStart) head.shift(start - head.parseStart);
    p = head.scanFrom;
    if (p > end) throw new RangeError('parseRequestHead: end is before bytes already scanned');
  }
  const headLimit = start + limits.maxHeaderBytes;
  const hardEnd = end < headLimit ? end : headLimit;
  let h = head.headers;
  let c: number;

  // The states run in wire order as a chain of `if` blocks, so with all bytes present one pass
  // falls from each block into the next without dispatch; a resumed call skips to its state.
  // Running out of bytes anywhere is `continue`: the check at the top saves the state.
  for (;;) {
    if (p >= hardEnd) {
      // Every state needs at least one more byte, so a head that reached the limit cannot fit.
      if (p >= headLimit) return fail(head, HttpParseError.HeadersTooLarge, p);
      head.state = state;
      head.scanFrom = p;
      return HEAD_INCOMPLETE;
    }

    if (state === HeadState.LineStart) {
      // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
      c = buf[p];
      if (c === CR) {
        p++;
        state = HeadState.LeadingLf;
        continue;
      }
      if (c === LF) return fail(head, HttpParseError.BadLineEnding, p);
      head.methodStart = p;
      state = HeadState.Method;
    } else if (state === HeadState.LeadingLf) {
      if (buf[p] !== LF) return fail(head, HttpParseError.BadLineEnding, p);
      p++;
      state = HeadState.LineStart;
      continue;
    }

    if (state === HeadState.Method) {
      // Method bytes at or past L leave no room for " / HTTP/x.y" within maxRequestLineBytes.
      const L = head.methodStart + limits.maxRequestLineBytes - MIN_AFTER_METHOD;
      const stop = hardEnd < L ? hardEnd : L;
      while (p < stop && TCHAR[buf[p]] !== 0) p++;
      if (p === hardEnd) continue;
      c = buf[p];
      if (c !== SP || p === head.methodStart) {
        const code = TCHAR[c] !== 0 ? HttpParseError.UriTooLong : HttpParseError.BadMethod;
        return fail(head, code, p);
      }
      head.methodEnd = p;
      head.method = matchMethod(buf, head.methodStart, p);
      p++;
      state = HeadState.TargetStart;
      if (p === hardEnd) continue;
    }

    if (state === HeadState.TargetStart) {
      // RFC 9112 §3.2: origin-form "/…", asterisk-form "*" (OPTIONS only), authority-form
      // (CONNECT only), absolute-form "http(s)://…". Reject a wrong first byte at once.
      c = buf[p];
      const m = head.method;
      if (c === SLASH) {
        if (m === Method.Connect) return fail(head, HttpParseError.BadTarget, p);
      } else if (c === ASTERISK) {
        if (m !== Method.Options) return fail(head, HttpParseError.BadTarget, p);
      } else if (c === SP || c === CR || c === LF) {
        // RFC 9112 §3: exactly one SP between the parts; no HTTP/0.9 "GET\r\n".
        return fail(head, HttpParseError.BadRequestLine, p);
      } else if (m === Method.Connect ? AUTHORITY_CHAR[c] === 0 : LOWER[c] !== 0x68 /* h */) {
        return fail(head, HttpParseError.BadTarget, p);
      }
      head.targetStart = p;
      head.pathEnd = -1;
      state = HeadState.Target;
    }

    if (state === HeadState.Target) {
      // Target bytes at or past L are too long: past maxUriBytes, or leaving no room for
      // " HTTP/x.y" within maxRequestLineBytes.
      let L = head.targetStart + limits.maxUriBytes;
      const lineL = head.methodStart + limits.maxRequestLineBytes - VERSION_WITH_SP;
      if (lineL < L) L = lineL;
      const stop = hardEnd < L ? hardEnd : L;
      for (;;) {
        while (p < stop && TARGET_CHAR[buf[p]] === 1) p++;
        if (p < stop && buf[p] === QUESTION) {
          if (head.pathEnd < 0) head.pathEnd = p;
          p++;
        } else {
          break;
        }
      }
      if (p === hardEnd) continue;
      c = buf[p];
      if (c !== SP) {
        let code: number = HttpParseError.BadTarget;
        if (TARGET_CHAR[c] !== 0) code = HttpParseError.UriTooLong;
        else if (c === CR || c === LF) code = HttpParseError.BadRequestLine;
        return fail(head, code, p);
      }
      head.targetEnd = p;
      if (head.pathEnd < 0) head.pathEnd = p;
      if (!targetFormOk(buf, head)) return fail(head, HttpParseError.BadTarget, head.targetStart);
      p++;
      head.versionIndex = 0;
      state = HeadState.Version;
    }

    if (state === HeadState.Version) {
      // RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT, then CRLF.
      let vi = head.versionIndex;
      while (vi < 8 && p < hardEnd) {
        c = buf[p];
        if (vi < 5) {
          if (c !== HTTP_NAME[vi]) return fail(head, HttpParseError.BadVersion, p);
        } else if (vi === 6) {
          if (c !== DOT) return fail(head, HttpParseError.BadVersion, p);
        } else if (c < DIGIT_0 || c > DIGIT_9) {
          return fail(head, HttpParseError.BadVersion, p);
        } else if (vi === 5) {
          head.versionMajor = c - DIGIT_0;
        } else {
          head.versionMinor = c - DIGIT_0;
        }
        vi++;
        p++;
      }
      head.versionIndex = vi;
      if (p === hardEnd) continue;
      c = buf[p];
      if (c !== CR) {
        return fail(head, c === LF ? HttpParseError.BadLineEnding : HttpParseError.BadVersion, p);
      }
      if (head.versionMajor !== 1 || head.versionMinor > 1) {
        return fail(head, HttpParseError.UnsupportedVersion, p - 8);
      }
      p++;
      state = HeadState.RequestLineLf;
      if (p === hardEnd) continue;
    }

    if (state === HeadState.RequestLineLf) {
      if (buf[p] !== LF) return fail(head, HttpParseError.BadLineEnding, p);
      p++;
      state = HeadState.FieldStart;
      continue;
    }

    if (state === HeadState.FieldStart) {
      c = buf[p];
      if (TCHAR[c] === 0) {
        if (c === CR) {
          p++;
          state = HeadState.HeadLf;
          continue;
        }
        // RFC 9112 §5.2: obs-fold MUST be rejected (400) outside message/http. Whitespace
        // before the first field line is rejected too (RFC 9112 §2.2).
        let code: number = HttpParseError.BadHeaderName;
        if (c === SP || c === HTAB) {
          if (head.headerCount > 0) code = HttpParseError.ObsFold;
        } else if (c === LF) {
          code = HttpParseError.BadLineEnding;
        }
        return fail(head, code, p);
      }
      const n = head.headerCount;
      if (n >= limits.maxHeaders) return fail(head, HttpParseError.TooManyHeaders, p);
      if ((n + 1) * HEADER_STRIDE > h.length) {
        head.growHeaders();
        h = head.headers;
      }
      h[n * HEADER_STRIDE] = p;
      p++;
      state = HeadState.FieldName;
    }

    if (state === HeadState.FieldName) {
      while (p < hardEnd && TCHAR[buf[p]] !== 0) p++;
      if (p === hardEnd) continue;
      // RFC 9112 §5.1: no whitespace between name and colon; a server MUST reject it.
      if (buf[p] !== COLON) return fail(head, HttpParseError.BadHeaderName, p);
      h[head.headerCount * HEADER_STRIDE + 1] = p;
      p++;
      state = HeadState.FieldOws;
    }

    if (state === HeadState.FieldOws) {
      while (p < hardEnd && ((c = buf[p]) === SP || c === HTAB)) p++;
      if (p === hardEnd) continue;
      h[head.headerCount * HEADER_STRIDE + 2] = p;
      state = HeadState.FieldValue;
    }

    if (state === HeadState.FieldValue) {
      while (p < hardEnd && FIELD_VALUE_CHAR[buf[p]] !== 0) p++;
      if (p === hardEnd) continue;
      c = buf[p];
      if (c !== CR) {
        return fail(head, c === LF ? HttpParseError.BadLineEnding : HttpParseError.BadHeaderValue, p);
      }
      // Trim trailing OWS (RFC 9112 §5: OWS is not part of the field value).
      const slot = head.headerCount * HEADER_STRIDE;
      const vs = h[slot + 2];
      let ve = p;
      while (ve > vs && ((c = buf[ve - 1]) === SP || c === HTAB)) ve--;
      h[slot + 3] = ve;
      p++;
      state = HeadState.FieldLf;
      if (p === hardEnd) continue;
    }

    if (state === HeadState.FieldLf) {
      if (buf[p] !== LF) return fail(head, HttpParseError.BadLineEnding, p);
      p++;
      const slot = head.headerCount * HEADER_STRIDE;
      const err = applyField(buf, head, slot);
      if (err !== 0) return fail(head, err, h[slot]);
      head.headerCount++;
      state = HeadState.FieldStart;
      continue;
    }

    if (state === HeadState.HeadLf) {
      if (buf[p] !== LF) return fail(head, HttpParseError.BadLineEnding, p);
      p++;
      const err = finishHead(head);
      if (err !== 0) return fail(head, err, p - 1);
      head.state = HeadState.Done;
      head.scanFrom = p;
      head.headLength = p - start;
      return p - start;
    }

    throw new RangeError(`parseRequestHead: corrupt state ${state}`);
  }
}

function fail(head: RequestHead, code: number, at: number): number {
  head.state = HeadState.Errored;
  head.errorCode = code;
  head.errorOffset = at;
  head.scanFrom = at;
  return -code;
}

/** Checks the target's form against the method once its end is known (RFC 9112 §3.2). */
function targetFormOk(buf: Uint8Array, head: RequestHead): boolean {
  const s = head.targetStart;
  const e = head.targetEnd;
  const first = buf[s];
  if (first === SLASH) return true; // origin-form
  if (first === ASTERISK) return e - s === 1; // asterisk-form, OPTIONS checked at the first byte
  if (head.method === Method.Connect) return authorityFormOk(buf, s, e);
  // absolute-form (RFC 9112 §3.2.2): only the http and https schemes, with a non-empty authority.
  let n: number;
  if (startsWithLowerAscii(buf, s, e, SCHEME_HTTP)) n = SCHEME_HTTP.length;
  else if (startsWithLowerAscii(buf, s, e, SCHEME_HTTPS)) n = SCHEME_HTTPS.length;
  else return false;
  return s + n < e && buf[s + n] !== SLASH && buf[s + n] !== QUESTION;
}

/** RFC 9112 §3.2.3: authority-form = uri-host ":" port, with a non-empty host and port. */
function authorityFormOk(buf: Uint8Array, s: number, e: number): boolean {
  let colon = -1;
  for (let i = s; i < e; i++) {
    const c = buf[i];
    if (AUTHORITY_CHAR[c] === 0) return false;
    if (c === COLON) colon = i;
  }
  if (colon <= s || colon === e - 1) return false;
  for (let i = colon + 1; i < e; i++) {
    const c = buf[i];
    if (c < DIGIT_0 || c > DIGIT_9) return false;
  }
  return true;
}

/** Records the facts a completed field line carries; returns 0 or an HttpParseError code. */
function applyField(buf: Uint8Array, head: RequestHead, slot: number): number {
  const h = head.headers;
  const ns = h[slot];
  const ne = h[slot + 1];
  // Dispatch on length first: most fields are none of these and fail on one compare.
  switch (ne - ns) {
    case 4:
      return equalsLowerAscii(buf, ns, ne, NAME_HOST) ? applyHost(buf, head, h[slot + 2], h[slot + 3]) : 0;
    case 6:
      if (equalsLowerAscii(buf, ns, ne, NAME_EXPECT)) applyExpect(buf, head, h[slot + 2], h[slot + 3]);
      return 0;
    case 7:
      if (equalsLowerAscii(buf, ns, ne, NAME_UPGRADE)) applyUpgrade(buf, head, h[slot + 2], h[slot + 3]);
      return 0;
    case 10:
      if (equalsLowerAscii(buf, ns, ne, NAME_CONNECTION)) applyConnection(buf, head, h[slot + 2], h[slot + 3]);
      return 0;
    case 14:
      return equalsLowerAscii(buf, ns, ne, NAME_CONTENT_LENGTH)
        ? applyContentLength(buf, head, h[slot + 2], h[slot + 3])
        : 0;
    case 17:
      return equalsLowerAscii(buf, ns, ne, NAME_TRANSFER_ENCODING)
        ? applyTransferEncoding(buf, head, h[slot + 2], h[slot + 3])
        : 0;
    default:
      return 0;
  }
}

/** Whole-head rules that depend on several fields (RFC 9112 §3.2, §6.1, §6.3). */
function finishHead(head: RequestHead): number {
  if (head.hasTransferEncoding) {
    // RFC 9112 §6.3 rule 3: CL with TE is a smuggling vector; strict servers reject it.
    if (head.contentLength >= 0) return HttpParseError.ContentLengthWithTransferEncoding;
    // RFC 9112 §6.1: TE in an HTTP/1.0 message means the framing is faulty.
    if (head.versionMinor === 0) return HttpParseError.BadTransferEncoding;
  }
  if (head.versionMinor === 1 && !head.hasHost) return HttpParseError.MissingHost;
  return 0;
}

// List-member scanner (RFC 9110 §5.6.1): module-level result slots instead of an allocated pair.
let memberStart = 0;
let memberEnd = 0;

/**
 * Finds the next non-empty member of a comma-separated list in `[i, ve)`, skipping empty members
 * as RFC 9110 §5.6.1 requires. Sets memberStart/memberEnd (trimmed of OWS) and returns the index
 * just past the member (a comma or ve), or -1 when there are no more members.
 */
function nextMember(buf: Uint8Array, i: number, ve: number): number {
  let c: number;
  while (i < ve && ((c = buf[i]) === COMMA || c === SP || c === HTAB)) i++;
  if (i >= ve) return -1;
  let j = i;
  while (j < ve && buf[j] !== COMMA) j++;
  let e = j;
  while (e > i && ((c = buf[e - 1]) === SP || c === HTAB)) e--;
  memberStart = i;
  memberEnd = e;
  return j;
}

/** RFC 9112 §3.2: exactly one Host, whose value is an authority (possibly empty). */
function applyHost(buf: Uint8Array, head: RequestHead, vs: number, ve: number): number {
  if (head.hasHost) return HttpParseError.BadHost;
  for (let i = vs; i < ve; i++) if (AUTHORITY_CHAR[buf[i]] === 0) return HttpParseError.BadHost;
  head.hasHost = true;
  return 0;
}

/** RFC 9110 §10.1.1: the only expectation defined is 100-continue (case-insensitive). */
function applyExpect(buf: Uint8Array, head: RequestHead, vs: number, ve: number): void {
  let i = vs;
  while ((i = nextMember(buf, i, ve)) >= 0) {
    if (equalsLowerAscii(buf, memberStart, memberEnd, TOKEN_100_CONTINUE)) head.expectContinue = true;
  }
}

/** RFC 9110 §7.8: Upgrade = #protocol, protocol = name ["/" version]; we look for websocket. */
function applyUpgrade(buf: Uint8Array, head: RequestHead, vs: number, ve: number): void {
  let i = vs;
  while ((i = nextMember(buf, i, ve)) >= 0) {
    let k = memberStart;
    while (k < memberEnd && buf[k] !== SLASH) k++;
    if (equalsLowerAscii(buf, memberStart, k, TOKEN_WEBSOCKET)) head.upgradeWebSocket = true;
  }
}

/** RFC 9110 §7.6.1: Connection = #connection-option, case-insensitive, across several fields. */
function applyConnection(buf: Uint8Array, head: RequestHead, vs: number, ve: number): void {
  let i = vs;
  while ((i = nextMember(buf, i, ve)) >= 0) {
    const s = memberStart;
    const e = memberEnd;
    switch (e - s) {
      case 5:
        if (equalsLowerAscii(buf, s, e, TOKEN_CLOSE)) head.connectionClose = true;
        break;
      case 7:
        if (equalsLowerAscii(buf, s, e, TOKEN_UPGRADE)) head.connectionUpgrade = true;
        break;
      case 10:
        if (equalsLowerAscii(buf, s, e, TOKEN_KEEP_ALIVE)) head.connectionKeepAlive = true;
        break;
      default:
        break;
    }
  }
}

/**
 * RFC 9110 §8.6: Content-Length = 1*DIGIT. A list of identical values ("5, 5") or repeated
 * identical fields is accepted as one value (RFC 9112 §6.3 rule 5); different values are
 * ConflictingContentLength. Values above 2^53 - 1 are BadContentLength.
 */
function applyContentLength(buf: Uint8Array, head: RequestHead, vs: number, ve: number): number {
  if (vs === ve) return HttpParseError.BadContentLength;
  let i = vs;
  let c: number;
  for (;;) {
    c = buf[i];
    if (c < DIGIT_0 || c > DIGIT_9) return HttpParseError.BadContentLength;
    let v = 0;
    while (i < ve && (c = buf[i]) >= DIGIT_0 && c <= DIGIT_9) {
      v = v * 10 + (c - DIGIT_0);
      if (v > Number.MAX_SAFE_INTEGER) return HttpParseError.BadContentLength;
      i++;
    }
    if (head.contentLength >= 0 && head.contentLength !== v) return HttpParseError.ConflictingContentLength;
    head.contentLength = v;
    while (i < ve && ((c = buf[i]) === SP || c === HTAB)) i++;
    if (i === ve) return 0;
    if (c !== COMMA) return HttpParseError.BadContentLength;
    i++;
    while (i < ve && ((c = buf[i]) === SP || c === HTAB)) i++;
    if (i === ve) return HttpParseError.BadContentLength; // trailing comma: an empty member
  }
}

/**
 * RFC 9112 §6.1: the only transfer coding accepted is a single `chunked` (case-insensitive), over
 * all Transfer-Encoding fields. A second `chunked` or an empty list is 400; any other coding is
 * 501 (we implement none); a member that is not a token is 400.
 */
function applyTransferEncoding(buf: Uint8Array, head: RequestHead, vs: number, ve: number): number {
  head.hasTransferEncoding = true;
  let members = 0;
  let i = vs;
  while ((i = nextMember(buf, i, ve)) >= 0) {
    members++;
    const s = memberStart;
    const e = memberEnd;
    if (equalsLowerAscii(buf, s, e, TOKEN_CHUNKED)) {
      // RFC 9112 §6.1: a sender MUST NOT apply chunked more than once.
      if (head.chunked) return HttpParseError.BadTransferEncoding;
      head.chunked = true;
      continue;
    }
    let k = s;
    while (k < e && TCHAR[buf[k]] !== 0) k++;
    // A coding is a token, optionally followed by parameters (";" …).
    if (k === s) return HttpParseError.BadTransferEncoding;
    if (k < e) {
      const c = buf[k];
      if (c !== SP && c !== HTAB && c !== SEMICOLON) return HttpParseError.BadTransferEncoding;
    }
    return HttpParseError.UnsupportedTransferEncoding;
  }
  if (members === 0) return HttpParseError.BadTransferEncoding;
  return 0;
}
