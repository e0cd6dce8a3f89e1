/**
 * Stream ids: the only client input that names a file. Validation is an allow-list over bytes, so an
 * id can never carry a path separator, a NUL, or a relative step: `a/b`, `..`, `%2e%2e` and
 * `C:\x` are all refused before any path is built.
 */

/** Longest stream id, in characters (every allowed character is one byte). */
export const MAX_STREAM_ID_CHARS = 128;

// Row by row: which ASCII codes may appear in an id.
const ALLOWED = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) ALLOWED[c] = 1; // 0-9
for (let c = 0x41; c <= 0x5a; c++) ALLOWED[c] = 1; // A-Z
for (let c = 0x61; c <= 0x7a; c++) ALLOWED[c] = 1; // a-z
ALLOWED[0x2d] = 1; // '-'
ALLOWED[0x5f] = 1; // '_'
ALLOWED[0x2e] = 1; // '.'

/**
 * True when `id` is 1–{@link MAX_STREAM_ID_CHARS} characters of letters, digits, `-`, `_`, `.`,
 * and contains no `..` (so no id is `.`-relative to the cache directory's parent).
 */
export function isValidStreamId(id: string): boolean {
  const n = id.length;
  if (n === 0 || n > MAX_STREAM_ID_CHARS) return false;
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i);
    if (c >= 128 || ALLOWED[c] === 0) return false;
  }
  // A single '.' is allowed by the character rule; it only ever becomes '.audio' / '.meta', never a path step.
  return !id.includes('..');
}
