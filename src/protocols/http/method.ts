/**
 * Request methods (RFC 9110 §9) as numbers, matched from bytes without building a string.
 */

import { asciiBytes } from './bytes.js';

/**
 * The methods the server knows by name. `Other` is any other syntactically valid method token:
 * the parser accepts it and the handler answers 501 if it does not implement it (RFC 9110 §9.1).
 */
export const Method = {
  /** Any valid method token not listed below. */
  Other: 0,
  /** RFC 9110 §9.3.1 */
  Get: 1,
  /** RFC 9110 §9.3.2: like GET without a response body. */
  Head: 2,
  /** RFC 9110 §9.3.3 */
  Post: 3,
  /** RFC 9110 §9.3.4 */
  Put: 4,
  /** RFC 9110 §9.3.5 */
  Delete: 5,
  /** RFC 9110 §9.3.7: the only method allowed with the asterisk-form target. */
  Options: 6,
  /** RFC 5789 */
  Patch: 7,
  /** RFC 9110 §9.3.6: the only method using the authority-form target. */
  Connect: 8,
  /** RFC 9110 §9.3.8 */
  Trace: 9,
} as const;

/** A value of {@link Method}. */
export type Method = (typeof Method)[keyof typeof Method];

/** Method names indexed by {@link Method} value; `Other` has no fixed name and maps to ''. */
export const METHOD_NAMES: readonly string[] = [
  '', // Other: read the bytes methodStart..methodEnd instead
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'OPTIONS',
  'PATCH',
  'CONNECT',
  'TRACE',
];

const PATCH = asciiBytes('PATCH');
const TRACE = asciiBytes('TRACE');
const DELETE = asciiBytes('DELETE');
const OPTIONS = asciiBytes('OPTIONS');
const CONNECT = asciiBytes('CONNECT');

/**
 * Identifies the method token `buf[start, end)`. Methods are case-sensitive (RFC 9110 §9.1), so
 * `get` is `Other`. The caller has already checked that the bytes are tchar.
 */
export function matchMethod(buf: Uint8Array, start: number, end: number): Method {
  const b = start;
  switch (end - start) {
    case 3:
      // GET, PUT: both end in T.
      if (buf[b + 2] !== 0x54) return Method.Other;
      if (buf[b] === 0x47 && buf[b + 1] === 0x45) return Method.Get;
      if (buf[b] === 0x50 && buf[b + 1] === 0x55) return Method.Put;
      return Method.Other;
    case 4:
      // HEAD, POST
      if (buf[b] === 0x48 && buf[b + 1] === 0x45 && buf[b + 2] === 0x41 && buf[b + 3] === 0x44) {
        return Method.Head;
      }
      if (buf[b] === 0x50 && buf[b + 1] === 0x4f && buf[b + 2] === 0x53 && buf[b + 3] === 0x54) {
        return Method.Post;
      }
      return Method.Other;
    case 5:
      if (matchRest(buf, b, PATCH)) return Method.Patch;
      return matchRest(buf, b, TRACE) ? Method.Trace : Method.Other;
    case 6:
      return matchRest(buf, b, DELETE) ? Method.Delete : Method.Other;
    case 7:
      if (matchRest(buf, b, OPTIONS)) return Method.Options;
      return matchRest(buf, b, CONNECT) ? Method.Connect : Method.Other;
    default:
      return Method.Other;
  }
}

function matchRest(buf: Uint8Array, b: number, name: Uint8Array): boolean {
  for (let i = 0; i < name.length; i++) if (buf[b + i] !== name[i]) return false;
  return true;
}
