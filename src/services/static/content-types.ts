/**
 * Content types and cache policy of static files, by extension. Small on purpose: slabcast serves a
 * demo page, not a CDN. Text types carry `charset=utf-8` so the browser never guesses (RFC 9110
 * §8.3.1); anything unknown is `application/octet-stream`, which with `nosniff` is never rendered.
 */

/** Content-Type by lower-case extension (without the dot), row by row. */
export const CONTENT_TYPES = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  // RFC 9239 §6: text/javascript is the one registered type for JavaScript, modules included.
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  json: 'application/json',
  map: 'application/json', // source maps
  txt: 'text/plain; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  ico: 'image/x-icon',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  webm: 'audio/webm',
  mp3: 'audio/mpeg',
  woff2: 'font/woff2',
  wasm: 'application/wasm',
} as const;

/** The type of files whose extension is not in {@link CONTENT_TYPES}. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Cache-Control values: pages revalidate every time (ETag makes that a 304), assets for an hour. */
export const CachePolicy = {
  /** RFC 9111 §5.2.2.4: may be stored, but must be revalidated before each use. */
  Page: 'no-cache',
  /** Stylesheets, scripts, images: reused for an hour without asking. */
  Asset: 'public, max-age=3600',
} as const;
export type CachePolicy = (typeof CachePolicy)[keyof typeof CachePolicy];

/** The extension of the last path segment, lower-cased, without the dot ('' when there is none). */
export function extensionOf(path: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  return dot > slash + 1 ? path.slice(dot + 1).toLowerCase() : '';
}

/** Content-Type for `path` (by extension). */
export function contentTypeOf(path: string): string {
  const ext = extensionOf(path);
  return Object.hasOwn(CONTENT_TYPES, ext) ? CONTENT_TYPES[ext as keyof typeof CONTENT_TYPES] : DEFAULT_CONTENT_TYPE;
}

/** Cache-Control for `path`: HTML revalidates, everything else is an asset. */
export function cachePolicyOf(path: string): CachePolicy {
  const ext = extensionOf(path);
  return ext === 'html' || ext === 'htm' ? CachePolicy.Page : CachePolicy.Asset;
}
