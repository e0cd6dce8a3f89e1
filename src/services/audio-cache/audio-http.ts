/**
 * The audio cache as an HTTP media origin: `GET` and `HEAD` on `{--audio-path}/{id}` (the
 * WebSocket upgrade stays on `--audio-path` itself) serve a stream's bytes to `<audio src>`,
 * players, curl and CDNs — RFC 9110 byte ranges, validators and conditional requests.
 *
 * - `200` with the whole stream, or `206` with one range (`bytes=a-b`, `a-`, `-n`); a range that
 *   starts past the end → `416` with `Content-Range` naming the size (RFC 9110 §14.4: "bytes", "*", the length). Several ranges → `200` with
 *   the whole stream (RFC 9110 §14.2 lets a server ignore Range; no multipart/byteranges). A
 *   malformed Range header is ignored.
 * - `ETag` (strong: the stream's creation time and size, so a grown or re-created stream has
 *   another), `Last-Modified`, `If-None-Match` / `If-Modified-Since` → `304`, `If-Range`.
 * - `Cache-Control`: a complete stream may be cached for an hour; a growing one must be
 *   revalidated (`no-cache`): what it holds now is served, with its current length.
 * - `Content-Type` from the stream's first bytes (content-type.ts).
 * - Zero-copy: the body is a view of the stream's mapping, queued as it is under a lease that keeps
 *   the mapping alive until the socket took the bytes (a DELETE meanwhile lets the download finish).
 * - Access: the audio cache's policy (`authorize`: a token with "read", its prefix) → 401/403 JSON;
 *   in cluster mode a stream another instance owns → `307` to it.
 */
import { parseRange, RANGE_OK, RANGE_UNSATISFIABLE } from '../../protocols/http/byte-range.js';
import type { HttpRequest } from '../../protocols/http/http-request.js';
import type { HttpResponse } from '../../protocols/http/http-response.js';
import { type AudioGrant, type AudioRefusal, grantCovers } from './audio-access.js';
import { isAudioError } from './audio-errors.js';
import type { AudioStore } from './audio-store.js';
import type { AudioStream } from './audio-stream.js';
import { SNIFF_BYTES, sniffContentType } from './content-type.js';
import { isValidStreamId } from './stream-id.js';

/** What the route needs besides the store. */
export interface AudioHttpOptions {
  authorize(req: HttpRequest): Promise<AudioGrant | AudioRefusal>;
  /** Cluster placement: the owner's audio URL (`…{--audio-path}`) when another instance owns the stream, else null. */
  placement?: (streamId: string) => string | null;
}

/** Counters of HTTP reads (in the audio stats' `http`). */
export interface AudioHttpStats {
  requests: number;
  /** 206 answers. */
  ranges: number;
  notModified: number;
  unsatisfiable: number;
  redirects: number;
}

/** Headers a page on another origin may read (with --allowed-origins): what a player seeking needs. */
const EXPOSE = 'Access-Control-Expose-Headers: Content-Range, Content-Length, Accept-Ranges, ETag\r\n';

/** A complete stream's lifetime in shared caches (seconds): it never changes, but may be deleted and re-created. */
const COMPLETE_MAX_AGE = 3600;

/** The route handler for `GET`/`HEAD {path}/:id`. */
export function audioHttpHandler(store: AudioStore, options: AudioHttpOptions, stats: AudioHttpStats): (req: HttpRequest, res: HttpResponse) => Promise<void> {
  return async (req, res) => {
    stats.requests++;
    const id = req.params.id ?? '';
    const grant = await options.authorize(req);
    if (!grant.ok) {
      if (grant.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="slabcast"'); // RFC 6750 §3
      return res.json({ error: grant.code, message: grant.message }, grant.status);
    }
    if (!grant.read) return res.json({ error: 'TOKEN_AUDIO_FORBIDDEN', message: 'TOKEN_AUDIO_FORBIDDEN: the token does not grant "read"' }, 403);
    if (!isValidStreamId(id)) return res.json({ error: 'BAD_STREAM_ID', message: `not a stream id: ${JSON.stringify(id)}` }, 400);
    if (!grantCovers(grant, id)) {
      return res.json({ error: 'FORBIDDEN_STREAM', message: `stream ${id} is outside the token's audio_prefix ${JSON.stringify(grant.prefix)}` }, 403);
    }
    const owner = options.placement?.(id) ?? null;
    if (owner !== null) {
      stats.redirects++;
      return res.status(307).setHeader('Location', `${owner.replace(/^ws(s?):\/\//, 'http$1://')}/${encodeURIComponent(id)}`).json({ error: 'MOVED', message: `stream ${id} is served by ${owner}` });
    }
    const stream = store.get(id);
    if (isAudioError(stream)) return res.json({ error: 'NOT_FOUND', message: stream.message }, 404);
    serve(store, stream, req, res, stats);
  };
}

function serve(store: AudioStore, stream: AudioStream, req: HttpRequest, res: HttpResponse, stats: AudioHttpStats): void {
  const lease = store.lease(stream);
  if (isAudioError(lease)) return res.json({ error: 'STORAGE', message: lease.message }, 500);
  // The mapping may have found the file shorter than its record: only what exists is served.
  const size = Math.min(stream.size, lease.view.length);
  const etag = `"${stream.createdAt.toString(36)}-${size.toString(36)}${stream.complete ? '' : '-u'}"`;
  const lastModified = new Date(stream.updatedAt).toUTCString();
  res.setHeader('Accept-Ranges', 'bytes').setHeader('ETag', etag).setHeader('Last-Modified', lastModified);
  res.setHeader('Cache-Control', stream.complete ? `public, max-age=${COMPLETE_MAX_AGE}` : 'no-cache');
  res.extraHeaders += EXPOSE;
  if (notModified(req, etag, stream.updatedAt)) {
    lease.release();
    stats.notModified++;
    return res.status(304).send(null);
  }
  const type = sniffContentType(lease.view.subarray(0, Math.min(SNIFF_BYTES, size)));
  let start = 0;
  let end = size - 1;
  if (rangeApplies(req, etag, stream.updatedAt)) {
    const range = parseRange(req.header('range'), size);
    if (range.kind === RANGE_UNSATISFIABLE) {
      lease.release();
      stats.unsatisfiable++;
      return res.status(416).setHeader('Content-Range', `bytes */${size}`).json({ error: 'RANGE_NOT_SATISFIABLE', message: `the stream has ${size} bytes` });
    }
    if (range.kind === RANGE_OK) {
      start = range.start;
      end = range.end;
      stats.ranges++;
      res.status(206).setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    }
  }
  const length = Math.max(0, end - start + 1);
  if (!res.headOnly) store.stats.bytesServed += length;
  res.sendView(lease.view.subarray(start, start + length), lease, type);
}

/** If-None-Match (wins when present) or If-Modified-Since says the client's copy is current (RFC 9110 §13.1.2, §13.1.3). */
function notModified(req: HttpRequest, etag: string, updatedAt: number): boolean {
  const inm = req.header('if-none-match');
  if (inm !== undefined) return inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
  const ims = req.header('if-modified-since');
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return Number.isFinite(since) && Math.floor(updatedAt / 1000) * 1000 <= since;
}

/** If-Range (§13.1.5): the Range applies only when its validator still matches (a strong ETag, or the exact date). */
function rangeApplies(req: HttpRequest, etag: string, updatedAt: number): boolean {
  const ifRange = req.header('if-range');
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('"')) return v === etag;
  if (v.startsWith('W/')) return false;
  const at = Date.parse(v);
  return Number.isFinite(at) && at === Math.floor(updatedAt / 1000) * 1000;
}
