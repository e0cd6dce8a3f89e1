/**
 * The `Range: bytes=…` request header (RFC 9110 §14.1.2, §14.2) against a representation of
 * `size` bytes: one satisfiable range, none satisfiable (416), or "ignore the header" (a malformed
 * value, another unit, or several ranges: answered with the whole representation, which §14.2
 * allows).
 */

/** {@link parseRange}: serve the whole representation (200). */
export const RANGE_IGNORE = 0;
/** {@link parseRange}: no range of the set overlaps the representation (416). */
export const RANGE_UNSATISFIABLE = 1;
/** {@link parseRange}: serve `[start, end]` (206). */
export const RANGE_OK = 2;

/** Result of {@link parseRange}; `start`/`end` (inclusive) are set for RANGE_OK. */
export interface ByteRange {
  kind: typeof RANGE_IGNORE | typeof RANGE_UNSATISFIABLE | typeof RANGE_OK;
  start: number;
  end: number;
}

const SPEC = /^\s*(\d*)\s*-\s*(\d*)\s*$/;

/**
 * Parses `value` (the Range header, or undefined) for a representation of `size` bytes. Numbers
 * too large for an exact double are treated as "past the end", never as a wrong offset.
 */
export function parseRange(value: string | undefined, size: number): ByteRange {
  const ignore: ByteRange = { kind: RANGE_IGNORE, start: 0, end: 0 };
  if (value === undefined) return ignore;
  const eq = value.indexOf('=');
  if (eq < 0 || value.slice(0, eq).trim().toLowerCase() !== 'bytes') return ignore;
  const specs = value.slice(eq + 1).split(',');
  if (specs.length !== 1) {
    // Several ranges: valid syntax is answered with the whole representation (§14.2 allows a server
    // to ignore Range), which every client handles, instead of multipart/byteranges.
    return ignore;
  }
  const m = SPEC.exec(specs[0]);
  if (m === null) return ignore;
  const [, first, last] = m;
  if (first === '' && last === '') return ignore;
  const num = (digits: string): number => (digits.length > 15 ? Number.MAX_SAFE_INTEGER : Number(digits));
  if (first === '') {
    // Suffix: the last `n` bytes (§14.1.2); `-0` selects nothing.
    const n = num(last);
    if (n === 0 || size === 0) return { kind: RANGE_UNSATISFIABLE, start: 0, end: 0 };
    return { kind: RANGE_OK, start: Math.max(0, size - n), end: size - 1 };
  }
  const start = num(first);
  const end = last === '' ? size - 1 : num(last);
  if (last !== '' && end < start) return ignore; // invalid: last-pos before first-pos (§14.1.2)
  if (start >= size) return { kind: RANGE_UNSATISFIABLE, start: 0, end: 0 };
  return { kind: RANGE_OK, start, end: Math.min(end, size - 1) };
}
