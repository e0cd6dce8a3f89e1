/**
 * Validators and preconditions (RFC 9110 §8.8, §13): entity-tag comparison for `If-None-Match`
 * and `If-Range`, and the HTTP-date checks of `If-Modified-Since` and `If-Range`. Pure.
 */

/** An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for `ms` since the epoch, to the second. */
export function httpDate(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toUTCString();
}

/** The opaque part of an entity-tag (without `W/`), or null when `tag` is not one. */
function opaque(tag: string): string | null {
  const t = tag.startsWith('W/') ? tag.slice(2) : tag;
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t : null;
}

/**
 * `If-None-Match` (§13.1.2): whether `header` (a list of entity-tags, or `*`) matches `etag` by weak
 * comparison. Undefined → false.
 */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = header.trim();
  if (value === '*') return true;
  const want = opaque(etag);
  if (want === null) return false;
  for (const part of value.split(',')) if (opaque(part.trim()) === want) return true;
  return false;
}

/**
 * `If-Modified-Since` (§13.1.3): true when the representation was not modified after the date
 * (`lastModifiedMs` is compared at one-second resolution). An invalid date → false (ignored).
 */
export function notModifiedSince(header: string | undefined, lastModifiedMs: number): boolean {
  if (header === undefined) return false;
  const since = Date.parse(header);
  if (Number.isNaN(since)) return false;
  return Math.floor(lastModifiedMs / 1000) * 1000 <= since;
}

/**
 * `If-Range` (§13.1.5): whether the Range may be honoured. An entity-tag must match `etag` by strong
 * comparison (a weak tag never does); a date must equal `lastModifiedMs` to the second (and only a
 * strong date validator counts: we treat our Last-Modified as one only when `dateIsStrong`).
 * Absent → true.
 */
export function ifRangeHolds(header: string | undefined, etag: string, lastModifiedMs: number, dateIsStrong: boolean): boolean {
  if (header === undefined) return true;
  const value = header.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return !value.startsWith('W/') && !etag.startsWith('W/') && value === etag;
  const date = Date.parse(value);
  return dateIsStrong && !Number.isNaN(date) && date === Math.floor(lastModifiedMs / 1000) * 1000;
}
