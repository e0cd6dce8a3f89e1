/**
 * `Range: bytes=…` (RFC 9110 §14.1–14.2) resolved against a representation of `size` bytes. Pure.
 *
 * A header that is absent, names another unit, or has invalid syntax anywhere (a range-spec that
 * is not `a-b`, `a-` or `-n`, or `a > b`) is ignored as §14.2 says: the whole representation is
 * served. Numbers of any length are accepted (compared as doubles, clamped to the size).
 */

/** How a request's Range header is to be answered. */
export const RangeKind = {
  /** No usable Range: answer 200 with the whole representation. */
  None: 0,
  /** One satisfiable range [start, end] (inclusive): 206. */
  Single: 1,
  /** More than one range-spec, at least one satisfiable: slabcast answers 200 with the whole (§14.2 allows ignoring Range). */
  Multiple: 2,
  /** No range-spec is satisfiable: 416 with `Content-Range: bytes *\/size`. */
  Unsatisfiable: 3,
} as const;
export type RangeKind = (typeof RangeKind)[keyof typeof RangeKind];

/** A resolved Range header; `start`/`end` (inclusive) are meaningful for {@link RangeKind.Single}. */
export interface ByteRange {
  kind: RangeKind;
  start: number;
  end: number;
}

const NONE: ByteRange = Object.freeze({ kind: RangeKind.None, start: 0, end: 0 });
const MULTIPLE: ByteRange = Object.freeze({ kind: RangeKind.Multiple, start: 0, end: 0 });
const UNSATISFIABLE: ByteRange = Object.freeze({ kind: RangeKind.Unsatisfiable, start: 0, end: 0 });

/** `first-pos "-" [ last-pos ]` or `"-" suffix-length` (RFC 9110 §14.1.1). */
const SPEC = /^(?:(\d+)-(\d*)|-(\d+))$/;
const OWS = /^[ \t]+|[ \t]+$/g;

/**
 * Resolves `header` (the Range field value, undefined when absent) for `size` bytes.
 * A zero-length representation has no byte to name: `-n` on it is ignored (200, empty), any
 * `a-…` is unsatisfiable (416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined || header.length < 7) return NONE;
  // range-unit is case-insensitive (§14.1); no whitespace around "=".
  if (header.slice(0, 6).toLowerCase() !== 'bytes=') return NONE;
  const specs = header.slice(6).split(',');
  let count = 0;
  let satisfiable = 0;
  let start = 0;
  let end = 0;
  let emptySuffix = false;
  for (const raw of specs) {
    const spec = raw.replace(OWS, '');
    if (spec === '') continue; // §5.6.1: empty list elements are allowed and ignored
    const m = SPEC.exec(spec);
    if (m === null) return NONE;
    count++;
    if (m[3] !== undefined) {
      const suffix = Number(m[3]);
      if (suffix === 0) continue;
      if (size === 0) {
        emptySuffix = true; // satisfiable by §14.1.1, but no Content-Range can name zero bytes
        continue;
      }
      satisfiable++;
      start = Math.max(0, size - suffix);
      end = size - 1;
      continue;
    }
    const first = Number(m[1]);
    const last = m[2] === '' ? Infinity : Number(m[2]);
    if (last < first) return NONE; // invalid range-spec: the whole field is invalid (§14.1.1)
    if (first >= size) continue;
    satisfiable++;
    start = first;
    end = Math.min(last, size - 1);
  }
  if (count === 0) return NONE;
  if (satisfiable === 0) {
    // `-n` on an empty representation: serve the (empty) whole rather than a 416.
    return emptySuffix ? NONE : UNSATISFIABLE;
  }
  if (count > 1) return MULTIPLE;
  return { kind: RangeKind.Single, start, end };
}
