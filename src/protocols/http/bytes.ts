/**
 * Byte constants and 256-entry lookup tables for the HTTP/1.1 parsers.
 *
 * Every table is a `Uint8Array(256)` indexed by the byte itself, so the hot loops do one load and
 * one compare per byte and never build a string (uWS `HttpParser.h`, ws `validation.js`).
 */

/** Carriage return, `\r`. */
export const CR = 0x0d;
/** Line feed, `\n`. */
export const LF = 0x0a;
/** Space. */
export const SP = 0x20;
/** Horizontal tab. */
export const HTAB = 0x09;
/** `:` between a field name and its value. */
export const COLON = 0x3a;
/** `,` between list members (RFC 9110 §5.6.1). */
export const COMMA = 0x2c;
/** `;` before a chunk extension or parameter. */
export const SEMICOLON = 0x3b;
/** `=` in a chunk extension. */
export const EQUALS = 0x3d;
/** `"` opening and closing a quoted-string. */
export const DQUOTE = 0x22;
/** `\` escaping a byte inside a quoted-string. */
export const BACKSLASH = 0x5c;
/** `/` starting an origin-form target, and in `HTTP/`. */
export const SLASH = 0x2f;
/** `?` separating path and query. */
export const QUESTION = 0x3f;
/** `#` starting a fragment, which a request-target never carries. */
export const HASH = 0x23;
/** `*` the asterisk-form target of a server-wide OPTIONS. */
export const ASTERISK = 0x2a;
/** `.` in the HTTP version. */
export const DOT = 0x2e;
/** `0`. */
export const DIGIT_0 = 0x30;
/** `9`. */
export const DIGIT_9 = 0x39;
/** `[` opening an IP-literal host. */
export const LBRACKET = 0x5b;
/** `]` closing an IP-literal host. */
export const RBRACKET = 0x5d;
/** DEL, the one byte above `~` that is not obs-text. */
export const DEL = 0x7f;

function table(pick: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pick(c) ? 1 : 0;
  return t;
}

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

function inString(c: number, chars: string): boolean {
  for (let i = 0; i < chars.length; i++) if (chars.charCodeAt(i) === c) return true;
  return false;
}

/**
 * RFC 9110 §5.6.2 `tchar`: 1 for bytes allowed in a token (method, field name, list members).
 * tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
 *       / DIGIT / ALPHA
 */
export const TCHAR: Uint8Array = table(
  (c) => isAlpha(c) || isDigit(c) || inString(c, "!#$%&'*+-.^_`|~"),
);

/**
 * RFC 9110 §5.5 field-value bytes: 1 for VCHAR (0x21–0x7E), obs-text (0x80–0xFF), SP and HTAB.
 * CR, LF, NUL, the other controls and DEL are 0 (RFC 9110 §5.5: a recipient MUST reject or
 * replace them; we reject).
 */
export const FIELD_VALUE_CHAR: Uint8Array = table(
  (c) => (c >= 0x21 && c <= 0x7e) || c >= 0x80 || c === SP || c === HTAB,
);

/**
 * Request-target bytes: 1 for the visible ASCII bytes 0x21–0x7E, except `?` which is 2 so the
 * target loop can record where the query starts, and `#` which is 0 (RFC 9112 §3.2: no fragment
 * in a request-target). Controls, SP, DEL and bytes ≥ 0x80 are 0: RFC 3986 requires them
 * percent-encoded (llhttp's strict mode rejects them too). Like llhttp, the other visible bytes
 * RFC 3986 does not list (`"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`) are tolerated because
 * real clients send them unencoded.
 */
export const TARGET_CHAR: Uint8Array = (() => {
  const t = table((c) => c >= 0x21 && c <= 0x7e);
  t[QUESTION] = 2;
  t[HASH] = 0;
  return t;
})();

/**
 * Bytes allowed in an authority (RFC 3986 §3.2: unreserved / sub-delims / ":" / "[" / "]" /
 * pct-encoded). Used for the Host field value and the CONNECT authority-form target.
 */
export const AUTHORITY_CHAR: Uint8Array = table(
  (c) => isAlpha(c) || isDigit(c) || inString(c, "-._~!$&'()*+,;=:[]%"),
);

/**
 * RFC 9110 §5.6.4 `qdtext` plus the bytes allowed after a backslash (`quoted-pair`): 1 for HTAB,
 * SP, VCHAR and obs-text, except `"` and `\` which are 0 (they end or escape).
 */
export const QDTEXT_CHAR: Uint8Array = table(
  (c) => c === HTAB || c === SP || (c >= 0x21 && c <= 0x7e && c !== DQUOTE && c !== BACKSLASH) || c >= 0x80,
);

/** ASCII lowercase map: `LOWER[c]` is `c` with A–Z folded to a–z; other bytes are unchanged. */
export const LOWER: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
  return t;
})();

/** Hex digit values: 0–15 for `0-9a-fA-F`, -1 for every other byte (RFC 9112 §7.1 chunk-size). */
export const HEX_VALUE: Int8Array = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let c = 0; c < 10; c++) t[DIGIT_0 + c] = c;
  for (let c = 0; c < 6; c++) {
    t[0x41 + c] = 10 + c;
    t[0x61 + c] = 10 + c;
  }
  return t;
})();

/**
 * Case-insensitive ASCII compare of `buf[start, end)` against `lowerBytes`, which must already be
 * lowercase (build it with {@link asciiBytes}). Field names are case-insensitive (RFC 9110 §5.1).
 */
export function equalsLowerAscii(
  buf: Uint8Array,
  start: number,
  end: number,
  lowerBytes: Uint8Array,
): boolean {
  const n = lowerBytes.length;
  if (end - start !== n) return false;
  for (let i = 0; i < n; i++) {
    if (LOWER[buf[start + i]] !== lowerBytes[i]) return false;
  }
  return true;
}

/**
 * Like {@link equalsLowerAscii} but only checks that `buf[start, end)` begins with `lowerBytes`.
 */
export function startsWithLowerAscii(
  buf: Uint8Array,
  start: number,
  end: number,
  lowerBytes: Uint8Array,
): boolean {
  const n = lowerBytes.length;
  if (end - start < n) return false;
  for (let i = 0; i < n; i++) {
    if (LOWER[buf[start + i]] !== lowerBytes[i]) return false;
  }
  return true;
}

/**
 * Encodes an ASCII string as bytes, for building constants at module load (never per request).
 * Throws RangeError on a non-ASCII character: these constants are protocol tokens.
 */
export function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw new RangeError(`asciiBytes: non-ASCII character at index ${i}`);
    out[i] = c;
  }
  return out;
}
