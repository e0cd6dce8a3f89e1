/**
 * The audio cache as an HTTP media origin: `GET`/`HEAD {--audio-path}/{id}` (docs/audio-cache.md,
 * "HTTP reads"). Byte ranges (one range → 206; several → 200 with the whole stream), conditional
 * requests (ETag, Last-Modified → 304), and live streams: a stream still being uploaded is sent
 * with chunked transfer coding, its backlog first and then every new chunk, until STOP.
 *
 * Zero copy: every body byte leaves as a view of the stream's mapping, owned by a lease that keeps
 * the mapping alive until the socket took the bytes (a DELETE during a download lets it finish).
 * A live reader is bounded like a FOLLOWer: its backlog is paced by its socket draining, and one
 * that has more than `maxBackpressureBytes` pending after a live chunk is dropped.
 */
import type { HttpBodyStream } from '../../protocols/http/body-stream.js';
import { parseRange, RangeKind } from '../../protocols/http/byte-range.js';
import { httpDate, ifRangeHolds, noneMatch, notModifiedSince } from '../../protocols/http/conditional.js';
import type { HttpRequest } from '../../protocols/http/http-request.js';
import { type HttpResponse, WriteStatus } from '../../protocols/http/http-response.js';
import { reprDigest } from '../../storage/file-digest.js';
import { audioError, AudioErrorCode, isAudioError } from './audio-errors.js';
import type { AudioStore } from './audio-store.js';
import type { AudioStream } from './audio-stream.js';
import { isValidStreamId } from './stream-id.js';
import { mediaTypeOf } from './stream-info.js';
import type { StreamPlacement } from './stream-placement.js';

/** Bytes per piece while a live reader catches up (paced by its socket draining). */
export const HTTP_CATCH_UP_BYTES = 256 * 1024;

/** `Cache-Control` of a complete stream: its bytes never change under its ETag. */
export const CACHE_COMPLETE = 'public, max-age=86400, immutable';
/** `Cache-Control` of a growing stream: revalidate every time. */
export const CACHE_GROWING = 'no-cache';
const EXPOSE = 'Access-Control-Expose-Headers: Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified, Repr-Digest\r\n';

/** Options of {@link AudioHttp}. */
export interface AudioHttpOptions {
  /** The slow-reader limit (`--ws-max-backpressure-bytes`, the FOLLOWers' one): past it after a live chunk, the reader is dropped. */
  maxBackpressureBytes: number;
  /** Cluster placement (stream-placement.ts): a read served elsewhere is answered 307 to that instance. */
  placement?: StreamPlacement;
}

/** Counters of the HTTP reads (`slabcast_audio_http_*`). */
export interface AudioHttpStats {
  /** Responses by status (200, 206, 304, 307, 404, 416, 500). */
  responses: Record<number, number>;
  /** 206 answers to a range that starts past the first byte: a player seeking. */
  seeks: number;
  /** Live (chunked) responses: started, ended with the upload's STOP, aborted (deleted, abandoned, cut at shutdown), dropped as too slow. */
  liveStarted: number;
  liveEnded: number;
  liveAborted: number;
  slowDropped: number;
}

/** One streamed (live) response. */
interface LiveReader {
  readonly stream: AudioStream;
  readonly body: HttpBodyStream;
  position: number;
  /** Caught up: new chunks are sent as they are stored. */
  live: boolean;
}

/** The HTTP read side of the audio cache; also a store listener (mount-audio-cache.ts chains it). */
export class AudioHttp {
  readonly stats: AudioHttpStats = { responses: {}, seeks: 0, liveStarted: 0, liveEnded: 0, liveAborted: 0, slowDropped: 0 };
  private readonly readers = new Map<AudioStream, Set<LiveReader>>();

  constructor(
    private readonly store: AudioStore,
    private readonly options: AudioHttpOptions,
  ) {}

  /** The route handler of `GET`/`HEAD {path}/:id`. */
  readonly handle = (req: HttpRequest, res: HttpResponse): void => {
    const id = req.params.id ?? '';
    if (res.crossOrigin) res.extraHeaders += EXPOSE;
    if (!isValidStreamId(id)) return this.notFound(res, `stream ${id} not found`);
    const owner = this.options.placement?.(id, false) ?? null;
    if (owner === null) return this.serve(req, res, id);
    if (typeof owner === 'string') return this.redirect(req, res, id, owner);
    owner.then(
      (url) => (url !== null ? this.redirect(req, res, id, url) : this.serve(req, res, id)),
      () => this.serve(req, res, id), // placement reports its own failures; served as this instance has it
    );
  };

  private redirect(req: HttpRequest, res: HttpResponse, id: string, audioUrl: string): void {
    this.count(307);
    res.status(307).setHeader('Location', `${httpUrl(audioUrl)}/${encodeURIComponent(id)}${req.query === '' ? '' : `?${req.query}`}`).send(null);
  }

  /**
   * Answers a read of stream `id` from this instance's copy, wherever the cluster places it (the
   * public route after placement, `read`; the copy route between instances, `copy`: another
   * instance taking a copy is not a use, so the stream keeps its place in the LRU order).
   */
  serve(req: HttpRequest, res: HttpResponse, id: string, purpose: 'read' | 'copy' = 'read'): void {
    const stream = purpose === 'read' ? this.store.get(id) : (this.store.peek(id) ?? audioError(AudioErrorCode.NotFound, `stream ${id} not found`));
    if (isAudioError(stream)) return this.notFound(res, stream.message);
    if (res.headOnly) return this.answer(req, res, stream, null);
    const lease = this.store.lease(stream);
    if (isAudioError(lease)) {
      this.count(500);
      res.json({ error: lease.code, message: lease.message }, 500);
      return;
    }
    this.answer(req, res, stream, lease);
  }

  private answer(req: HttpRequest, res: HttpResponse, stream: AudioStream, lease: { view: Buffer; release(): void } | null): void {
    const size = stream.size;
    const complete = stream.complete;
    const etag = `"${stream.createdAt.toString(36)}-${size.toString(36)}${complete ? '' : '-g'}"`;
    const type = mediaTypeOf(stream, lease?.view);
    res.setHeader('Accept-Ranges', 'bytes').setHeader('ETag', etag).setHeader('Last-Modified', httpDate(stream.updatedAt));
    res.setHeader('Cache-Control', complete ? CACHE_COMPLETE : CACHE_GROWING);
    // RFC 9530: the digest of the whole stream (its representation), whatever range is sent.
    if (complete && stream.sha256 !== null) res.setHeader('Repr-Digest', reprDigest(stream.sha256));
    // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
    const inm = req.header('if-none-match');
    if (inm !== undefined ? noneMatch(inm, etag) : notModifiedSince(req.header('if-modified-since'), stream.updatedAt)) {
      lease?.release();
      this.count(304);
      res.status(304).send(null);
      return;
    }
    // §14.2: Range is defined for GET only (HEAD gets the 200 head); If-Range that fails → whole.
    const rangeHeader = lease === null ? undefined : req.header('range');
    // `bytes=0-` on a growing stream asks for all of it, also while it is empty: that is the live
    // stream (players send it first).
    const wholeLive = !complete && stream.uploader !== null && rangeHeader !== undefined && /^bytes=0-$/i.test(rangeHeader.trim());
    let range = parseRange(wholeLive ? undefined : rangeHeader, size);
    // If-Range with a date (§13.1.5): only a strong one counts, i.e. the stream did not change twice in
    // that second (§8.8.2.2); a growing stream usually did, and a weak date means the whole stream.
    if (range.kind !== RangeKind.None && !ifRangeHolds(req.header('if-range'), etag, stream.updatedAt, !stream.lastModifiedShared)) range = parseRange(undefined, size);
    if (range.kind === RangeKind.Unsatisfiable) {
      lease?.release();
      this.count(416);
      res.status(416).setHeader('Content-Range', `bytes */${size}`).send(null);
      return;
    }
    if (range.kind === RangeKind.Single && lease !== null) {
      const length = range.end - range.start + 1;
      this.count(206);
      if (range.start > 0) this.stats.seeks++;
      res.status(206).setHeader('Content-Range', `bytes ${range.start}-${range.end}/${complete ? size : '*'}`);
      this.served(res.sendView(lease.view.subarray(range.start, range.end + 1), lease, length, type), length);
      return;
    }
    this.count(200);
    // A complete stream, or an incomplete one nobody uploads now (it cannot grow before a resume): what exists, with its length.
    if (complete || stream.uploader === null) {
      this.served(res.sendView(lease === null ? null : lease.view.subarray(0, size), lease, size, type), lease === null ? 0 : size);
      return;
    }
    lease?.release();
    const body = res.stream(type);
    if (body === null) return; // HEAD: the head says chunked, nothing follows
    this.stats.liveStarted++;
    const reader: LiveReader = { stream, body, position: 0, live: false };
    let group = this.readers.get(stream);
    if (group === undefined) this.readers.set(stream, (group = new Set()));
    group.add(reader);
    body.ondrain = () => this.pump(reader);
    body.onclose = () => this.forget(reader);
    // Server shutdown: the upload will not finish here, so the body ends without its last chunk (a
    // truncated response, as when the upload is abandoned): a player reconnects and a cache does not
    // store a short "complete" copy (RFC 9112 §8, RFC 9111 §3.3). Whole chunks only; then the close.
    body.onshutdown = () => this.abort(reader);
    this.pump(reader);
  }

  /** Sends a live reader's backlog until its output pushes back (its drain calls this again); caught up, it goes live or ends. */
  private pump(r: LiveReader): void {
    if (r.live || !r.body.isOpen) return;
    const stream = r.stream;
    while (r.position < stream.size) {
      if (stream.removed) return this.abort(r);
      const lease = this.store.lease(stream);
      if (isAudioError(lease)) return this.abort(r);
      const n = Math.min(HTTP_CATCH_UP_BYTES, stream.size - r.position);
      const status = r.body.write(lease.view.subarray(r.position, r.position + n), lease);
      if (status === WriteStatus.Closed) return;
      this.store.stats.bytesServed += n;
      r.position += n;
      if (status === WriteStatus.Backpressure) return;
    }
    if (stream.complete) return this.end(r);
    if (stream.uploader === null || stream.removed) return this.abort(r); // nobody will append: it would wait forever
    r.live = true;
  }

  /** Store listener: bytes were appended to `stream`; live readers get them from the mapping. */
  appended(stream: AudioStream): void {
    const group = this.readers.get(stream);
    if (group === undefined) return;
    const limit = this.options.maxBackpressureBytes;
    for (const r of group) {
      if (!r.live || r.position >= stream.size) continue;
      const lease = this.store.lease(stream);
      if (isAudioError(lease)) {
        this.abort(r);
        continue;
      }
      const n = stream.size - r.position;
      if (r.body.write(lease.view.subarray(r.position, stream.size), lease) === WriteStatus.Closed) continue;
      this.store.stats.bytesServed += n;
      r.position = stream.size;
      // Like a live FOLLOWer: past the limit the reader is dropped; past half, flushed at once
      // (one poll phase can read megabytes of upload before this turn's write phase).
      if (r.body.bufferedAmount > limit) {
        this.stats.slowDropped++;
        this.forget(r);
        r.body.destroy();
      } else if (r.body.bufferedAmount > limit / 2) r.body.flush();
    }
  }

  /** Store listener: `stream` is complete; live readers get the last chunk. */
  completed(stream: AudioStream): void {
    const group = this.readers.get(stream);
    if (group === undefined) return;
    for (const r of [...group]) if (r.live) this.end(r);
  }

  /** Store listener: `stream` was deleted or evicted: its live readers end without their last chunk. */
  removed(stream: AudioStream): void {
    const group = this.readers.get(stream);
    if (group === undefined) return;
    for (const r of [...group]) this.abort(r);
  }

  /** Store listener: the upload ended; without STOP (abandoned, or STOP failed) live readers end truncated. */
  uploadEnded(stream: AudioStream): void {
    if (stream.complete) return;
    const group = this.readers.get(stream);
    if (group === undefined) return;
    for (const r of [...group]) if (r.live) this.abort(r);
  }

  private end(r: LiveReader): void {
    this.forget(r);
    this.stats.liveEnded++;
    r.body.end();
  }

  private abort(r: LiveReader): void {
    this.forget(r);
    this.stats.liveAborted++;
    r.body.abort();
  }

  private forget(r: LiveReader): void {
    const group = this.readers.get(r.stream);
    if (group === undefined || !group.delete(r)) return;
    if (group.size === 0) this.readers.delete(r.stream);
  }

  private served(status: WriteStatus, bytes: number): void {
    if (status !== WriteStatus.Closed) this.store.stats.bytesServed += bytes;
  }

  private notFound(res: HttpResponse, message: string): void {
    this.count(404);
    res.json({ error: AudioErrorCode.NotFound, message }, 404);
  }

  private count(status: number): void {
    this.stats.responses[status] = (this.stats.responses[status] ?? 0) + 1;
  }
}

/** The HTTP form of an instance's audio URL (`ws://…` → `http://…`, `wss://…` → `https://…`). */
export function httpUrl(url: string): string {
  if (url.startsWith('ws://')) return `http://${url.slice(5)}`;
  if (url.startsWith('wss://')) return `https://${url.slice(6)}`;
  return url;
}
