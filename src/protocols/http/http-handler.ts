import type { ServerConfig } from '../../config.js';
import type { Connection } from '../../core/connection.js';
import { PauseReason } from '../../core/connection.js';
import type { LimitHook } from '../../core/limit-hook.js';
import { type ProtocolHandler, ReadLimit } from '../../core/protocol.js';
import { BODY_INCOMPLETE, type BodyState, RequestFramer } from './body-framing.js';
import type { ChunkedDecoder } from './chunked-decoder.js';
import { HttpParseError, httpParseErrorInfo } from './http-errors.js';
import { HttpRequest } from './http-request.js';
import { type BodyStreamSink, HttpBodyStream } from './body-stream.js';
import { HttpResponse, type Releasable, type ResponseSink, writeHead, writeResponse, WriteStatus } from './http-response.js';
import type { OriginPolicy } from '../websocket/origin-policy.js';
import { asciiBytes } from './bytes.js';
import { Method } from './method.js';
import { RequestHead } from './request-head.js';
import { HEAD_INCOMPLETE, type HttpParserLimits, parseRequestHead } from './request-parser.js';
import { DatedResponses, errorResponse, Persist } from './responses.js';
import type { Router } from './router.js';

/** Deadline kinds of an HTTP connection (see `Connection.setDeadline`). */
export const HttpDeadline = {
  /** Keep-alive idle between requests → the connection is closed quietly. */
  Idle: 1,
  /** The request head did not arrive in `headersTimeoutMs` → 408. */
  Headers: 2,
  /** The request (head + body) did not arrive in `requestTimeoutMs` → 408. */
  Request: 3,
  /** A 408/error was sent; the peer gets this long to take it before the socket is destroyed. */
  Linger: 4,
} as const;

const LINGER_MS = 2000;
const CONTINUE_100 = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/**
 * Claims a WebSocket upgrade request: writes its own response (101, or an error) and, on success,
 * switches `conn.protocol`. Returns false to let the request be served as plain HTTP.
 */
export type UpgradeHook = (conn: Connection, head: RequestHead, buf: Buffer, headStart: number) => boolean;

/** Counters of the HTTP layer. */
export interface HttpStats {
  requests: number;
  /** Responses by status class: index 1 = 1xx … 5 = 5xx. */
  responsesByClass: number[];
  /** Protocol errors by HTTP status (400, 413, …). */
  errorsByStatus: Record<number, number>;
  timeouts: number;
  handlerErrors: number;
  upgrades: number;
}

/** Per-connection HTTP state: tiny, so an idle keep-alive connection costs almost nothing. */
class HttpConnState implements BodyState {
  /** The head of a request that spans reads (owned by this connection until it completes). */
  head: RequestHead | null = null;
  /** The chunked decoder (made by the framer on the connection's first chunked body). */
  decoder: ChunkedDecoder | null = null;
  /** A request has started (its first byte arrived). */
  inRequest = false;
  /** The 100 Continue for the current request was sent. */
  sentContinue = false;
  /** The routed request whose async handler has not answered yet (or whose streamed body has not ended). */
  waiting: HttpResponse | null = null;
  /** The streamed body being sent (see HttpResponse.stream). */
  stream: HttpBodyStream | null = null;
  /** What the kernel had taken from this connection when the idle deadline was armed (a big body may still be leaving). */
  sentAtIdle = 0;
  /** What it will have taken once everything queued then has left. */
  sentWhenIdle = 0;
}

/** HTTP's slice of the configuration: parser limits and timeouts. */
export type HttpOptions = Pick<
  ServerConfig,
  'maxRequestLineBytes' | 'maxUriBytes' | 'maxHeaderBytes' | 'maxHeaders' | 'maxBodyBytes' | 'idleTimeoutMs' | 'headersTimeoutMs' | 'requestTimeoutMs'
>;

const SLASH = 0x2f;
const ORIGIN = asciiBytes('origin');
const PREFLIGHT_METHOD = asciiBytes('access-control-request-method');
/** The answer to a path no route claims (the hello page is only at `/`). */
const NOT_FOUND_BODY = JSON.stringify({ error: 'NOT_FOUND', message: 'not found' });

/** Routed responses carry how the connection continues. */
interface PendingResponse extends HttpResponse {
  persist?: Persist;
}

/**
 * HTTP/1.1 over the core: keep-alive, pipelining (answers in order, one write per turn), bodies with
 * Content-Length or chunked coding, the hello-world page at `/`, 404 for unknown paths, routed handlers (sync or async), pre-built
 * error responses with `Connection: close`, and the two timeouts.
 */
export class HttpHandler implements ProtocolHandler, ResponseSink, BodyStreamSink {
  readonly dates = new DatedResponses();
  readonly stats: HttpStats = {
    requests: 0,
    responsesByClass: [0, 0, 0, 0, 0, 0],
    errorsByStatus: {},
    timeouts: 0,
    handlerErrors: 0,
    upgrades: 0,
  };
  /** Set while the server shuts down: every response then carries `Connection: close`. */
  draining = false;
  /**
   * The origins that may call the routes from another origin's page (CORS: `Access-Control-Allow-Origin`
   * on their answers, and preflights answered); null or a same-origin policy grants none.
   */
  cors: OriginPolicy | null = null;
  /** Hook for handler exceptions (logging). The client gets a 500 either way. */
  onHandlerError: ((err: unknown, req: HttpRequest) => void) | null = null;
  /** Told about every error response (limit hit or bad request) and timeout (logging). */
  onLimit: LimitHook | null = null;
  /** Claims WebSocket upgrades (set by the WebSocket layer). */
  upgrade: UpgradeHook | null = null;

  private head = new RequestHead();
  private readonly headPool: RequestHead[] = [];
  private readonly limits: HttpParserLimits;
  /** Finds each request's body end (one for every connection: the per-connection part is in its state). */
  private readonly framer: RequestFramer;

  constructor(
    private readonly config: Readonly<HttpOptions>,
    readonly router: Router,
  ) {
    this.limits = {
      maxRequestLineBytes: config.maxRequestLineBytes,
      maxUriBytes: config.maxUriBytes,
      maxHeaderBytes: config.maxHeaderBytes,
      maxHeaders: config.maxHeaders,
    };
    this.framer = new RequestFramer({ maxBodyBytes: config.maxBodyBytes });
  }

  /** The shortest deadline HTTP arms (ms), for the core's deadline sweep. */
  get shortestDeadlineMs(): number {
    return Math.min(this.config.idleTimeoutMs, this.config.headersTimeoutMs, this.config.requestTimeoutMs);
  }

  onOpen(conn: Connection): void {
    conn.state = new HttpConnState();
    conn.setDeadline(this.config.idleTimeoutMs, HttpDeadline.Idle);
  }

  onData(conn: Connection, buf: Buffer, start: number, end: number): number {
    const st = conn.state as HttpConnState;
    let pos = start;
    while (pos < end && conn.pausedMask === 0 && !conn.closing && conn.protocol === this && st.waiting === null) {
      if (!st.inRequest) {
        if (!conn.takeBudget()) break;
        st.inRequest = true;
        st.sentContinue = false;
        conn.setDeadline(this.config.headersTimeoutMs, HttpDeadline.Headers);
      }
      const n = this.processOne(conn, st, buf, pos, end);
      if (n === 0) break;
      pos += n;
    }
    return pos - start;
  }

  /** Parses and answers one request at `buf[pos]`; returns its length, or 0 when more bytes are needed. */
  private processOne(conn: Connection, st: HttpConnState, buf: Buffer, pos: number, end: number): number {
    let head = st.head;
    let r: number;
    let resumed = false;
    if (head === null) {
      head = this.head;
      head.reset();
      r = parseRequestHead(buf, pos, end, head, this.limits);
    } else if (head.headLength === 0) {
      r = parseRequestHead(buf, pos, end, head, this.limits);
    } else {
      head.shift(pos - head.parseStart);
      r = head.headLength;
      resumed = true;
    }
    if (r === HEAD_INCOMPLETE) return this.waitForMore(conn, st, head);
    if (r < 0) return this.fail(conn, -r, end - pos);
    const headLength = r;

    if (head.upgradeWebSocket && head.connectionUpgrade && this.upgrade !== null && this.upgrade(conn, head, buf, pos)) {
      this.stats.upgrades++;
      this.stats.requests++;
      this.releaseHead(st, head);
      st.inRequest = false;
      return headLength;
    }

    const bodyStart = pos + headLength;
    const body = this.framer.frame(head, st, !resumed, buf, bodyStart, end);
    if (body === BODY_INCOMPLETE) return this.waitForMore(conn, st, head);
    if (body < 0) return this.fail(conn, -body, end - pos);

    this.dispatch(conn, st, head, buf, bodyStart, this.framer.bodyEnd);
    this.releaseHead(st, head);
    st.inRequest = false;
    return headLength + body;
  }

  /** The request is incomplete: keep its head on the connection and arm the right timeout. */
  private waitForMore(conn: Connection, st: HttpConnState, head: RequestHead): number {
    if (st.head === null) {
      st.head = head;
      this.head = this.headPool.pop() ?? new RequestHead();
    }
    if (head.headLength > 0) {
      if (conn.deadlineKind !== HttpDeadline.Request) {
        conn.setDeadline(this.config.requestTimeoutMs, HttpDeadline.Request);
      }
      // RFC 9110 §10.1.1: a client that sent Expect: 100-continue waits for this before the body.
      if (head.expectContinue && !st.sentContinue && head.versionMinor === 1) {
        st.sentContinue = true;
        conn.writer.queueExternal(CONTINUE_100, null);
      }
    }
    return 0;
  }

  private releaseHead(st: HttpConnState, head: RequestHead): void {
    if (st.head === head) {
      st.head = null;
      if (this.headPool.length < 1024) this.headPool.push(head);
    }
  }

  private dispatch(conn: Connection, st: HttpConnState, head: RequestHead, buf: Buffer, bodyStart: number, bodyEnd: number): void {
    this.stats.requests++;
    const persist: Persist = this.draining || !head.keepAlive() ? Persist.Close : head.versionMinor === 1 ? Persist.KeepAlive11 : Persist.KeepAlive10;
    const method = head.method;
    const isGet = method === Method.Get || method === Method.Head;
    if (isGet && !this.router.claims(buf, head.targetStart, head.pathEnd)) {
      if (head.pathEnd - head.targetStart === 1 && buf[head.targetStart] === SLASH) this.sendHello(conn, persist, method === Method.Head);
      else this.sendNotFound(conn, persist, method === Method.Head);
      return;
    }
    const path = buf.toString('latin1', head.targetStart, head.pathEnd);
    const match = this.router.match(method, path);
    if (match === null) {
      if (isGet && path === '/') this.sendHello(conn, persist, method === Method.Head);
      else this.sendNotFound(conn, persist, method === Method.Head);
      return;
    }
    const origin = this.cors === null ? -1 : head.findHeader(buf, ORIGIN);
    if (Array.isArray(match)) {
      const allow = [...new Set(match)].join(', ');
      if (method === Method.Options && origin >= 0 && head.findHeader(buf, PREFLIGHT_METHOD) >= 0) {
        this.preflight(conn, head.headerValue(buf, origin), allow, persist);
        return;
      }
      this.finish(conn, 405, 'application/json', `Allow: ${allow}\r\n`, JSON.stringify({ error: 'METHOD_NOT_ALLOWED', message: `use ${allow}` }), persist, method === Method.Head);
      return;
    }
    const req = new HttpRequest(head, buf, Buffer.from(buf.subarray(bodyStart, bodyEnd)), conn);
    req.params = match.params;
    const res: PendingResponse = new HttpResponse(conn, this, method === Method.Head);
    res.persist = persist;
    res.http10 = head.versionMinor === 0;
    if (origin >= 0) {
      const value = head.headerValue(buf, origin);
      if (this.cors?.allowsCrossOrigin(value) === true) {
        res.extraHeaders = `Access-Control-Allow-Origin: ${value}\r\nVary: Origin\r\n`;
        res.crossOrigin = true;
      }
    }
    st.waiting = res;
    try {
      const result = match.handler(req, res);
      if (result !== undefined && typeof result.then === 'function') {
        result.then(undefined, (err: unknown) => this.handlerFailed(res, req, err));
      }
    } catch (err) {
      this.handlerFailed(res, req, err);
    }
    if (!res.finished) {
      // Responses stay in order: the next pipelined request waits for this one.
      conn.pause(PauseReason.Handler);
      conn.clearDeadline();
    }
  }

  private handlerFailed(res: HttpResponse, req: HttpRequest, err: unknown): void {
    this.stats.handlerErrors++;
    if (this.onHandlerError !== null) this.onHandlerError(err, req);
    if (!res.finished) {
      res.extraHeaders = '';
      res.statusCode = 500;
      res.json({ error: 'INTERNAL', message: 'internal server error' }, 500);
    }
  }

  /** @internal {@link ResponseSink}: a routed handler answered. */
  finishResponse(res: HttpResponse, status: number, contentType: string | null, body: string | Uint8Array | null): void {
    const conn = res.conn;
    const st = conn.state as HttpConnState;
    if (conn.closed || st.waiting !== res) return;
    st.waiting = null;
    this.finish(conn, status, contentType, res.extraHeaders, body, (res as PendingResponse).persist ?? Persist.Close, res.headOnly);
    conn.unpause(PauseReason.Handler);
  }

  /** @internal {@link ResponseSink}: a body lent by reference (a mapping's view). */
  finishWithView(res: HttpResponse, status: number, contentType: string, length: number, view: Uint8Array | null, owner: Releasable | null): WriteStatus {
    const conn = res.conn;
    const st = conn.state as HttpConnState;
    if (conn.closed || st.waiting !== res) {
      owner?.release();
      return WriteStatus.Closed;
    }
    st.waiting = null;
    const persist = (res as PendingResponse).persist ?? Persist.Close;
    this.stats.responsesByClass[Math.floor(status / 100)]++;
    let result = writeHead(conn, this.dates.line, status, contentType, `Content-Length: ${length}\r\n`, res.extraHeaders, persist);
    if (res.headOnly || view === null || length === 0) owner?.release();
    else result = conn.writer.queueExternal(view, owner);
    this.afterResponse(conn, persist);
    conn.unpause(PauseReason.Handler);
    return result;
  }

  /** @internal {@link ResponseSink}: the head of a body streamed later. */
  startStream(res: HttpResponse, status: number, contentType: string): HttpBodyStream | null {
    const conn = res.conn;
    const st = conn.state as HttpConnState;
    if (conn.closed || st.waiting !== res) return null;
    // HTTP/1.0 has no chunked coding (RFC 9112 §7): the body ends with the connection.
    const chunked = !res.http10;
    const pending = res as PendingResponse;
    if (!chunked) pending.persist = Persist.Close;
    const persist = pending.persist ?? Persist.Close;
    this.stats.responsesByClass[Math.floor(status / 100)]++;
    writeHead(conn, this.dates.line, status, contentType, chunked ? 'Transfer-Encoding: chunked\r\n' : '', res.extraHeaders, persist);
    if (res.headOnly) {
      st.waiting = null;
      this.afterResponse(conn, persist);
      conn.unpause(PauseReason.Handler);
      return null;
    }
    const stream = new HttpBodyStream(conn, this, chunked);
    st.stream = stream;
    return stream;
  }

  /** @internal {@link BodyStreamSink}: a streamed body ended; the connection goes on (or closes). */
  streamEnded(stream: HttpBodyStream, conn: Connection, complete: boolean): void {
    const st = conn.state as HttpConnState | null;
    if (st === null || st.stream !== stream) return;
    st.stream = null;
    const res: PendingResponse | null = st.waiting;
    st.waiting = null;
    if (conn.closed || conn.closing) return;
    if (!complete) return;
    this.afterResponse(conn, res?.persist ?? Persist.Close);
    conn.unpause(PauseReason.Handler);
  }

  private finish(conn: Connection, status: number, contentType: string | null, extra: string, body: string | Uint8Array | null, persist: Persist, headOnly: boolean): void {
    this.stats.responsesByClass[Math.floor(status / 100)]++;
    writeResponse(conn, this.dates.line, status, contentType, extra, body, persist, headOnly);
    this.afterResponse(conn, persist);
  }

  /** A CORS preflight (`OPTIONS` with `Access-Control-Request-Method`) on a routed path: 204 for an allowed origin, else 403. */
  private preflight(conn: Connection, origin: string, allow: string, persist: Persist): void {
    if (this.cors?.allowsCrossOrigin(origin) !== true) {
      this.finish(conn, 403, 'application/json', 'Vary: Origin\r\n', JSON.stringify({ error: 'ORIGIN_NOT_ALLOWED', message: 'origin not allowed (--allowed-origins)' }), persist, false);
      return;
    }
    const headers =
      `Access-Control-Allow-Origin: ${origin}\r\nAccess-Control-Allow-Methods: ${allow}\r\n` +
      `Access-Control-Allow-Headers: authorization, content-type, range, if-range\r\nAccess-Control-Max-Age: 600\r\nVary: Origin\r\n`;
    this.finish(conn, 204, null, headers, null, persist, false);
  }

  private sendNotFound(conn: Connection, persist: Persist, headOnly: boolean): void {
    this.finish(conn, 404, 'application/json', '', NOT_FOUND_BODY, persist, headOnly);
  }

  private sendHello(conn: Connection, persist: Persist, headOnly: boolean): void {
    this.stats.responsesByClass[2]++;
    const bytes = headOnly ? this.dates.helloHead[persist] : this.dates.helloPage[persist];
    // Copy into the write slab (one write per turn for pipelined answers); without a free section,
    // send the pre-built buffer itself: it is immutable, so nothing is lost.
    const at = conn.writer.reserve(bytes.length);
    if (at >= 0) {
      conn.writer.buffer.set(bytes, at);
      conn.writer.commit(bytes.length);
    } else conn.writer.queueExternal(bytes, null);
    this.afterResponse(conn, persist);
  }

  private afterResponse(conn: Connection, persist: Persist): void {
    if (persist === Persist.Close) {
      conn.end();
      return;
    }
    if (conn.readEnded && !conn.hasBufferedInput) conn.end();
    else this.armIdle(conn);
  }

  /**
   * The keep-alive idle deadline, armed when a response is queued. A body that takes longer than
   * `idleTimeoutMs` to leave (256 MiB to a 10 MB/s reader) is not idleness: the deadline re-arms
   * while the peer keeps taking bytes, and closes the connection only after a whole interval in
   * which it took none (see onDeadline).
   */
  private armIdle(conn: Connection): void {
    const st = conn.state as HttpConnState;
    st.sentAtIdle = conn.sentBytes;
    // A write partly taken when this is armed counts twice here: at worst one more interval.
    st.sentWhenIdle = st.sentAtIdle + conn.pendingBytes;
    conn.setDeadline(this.config.idleTimeoutMs, HttpDeadline.Idle);
  }

  /** Answers a parse error with its pre-built response and closes; returns `rest` (all input dropped). */
  private fail(conn: Connection, code: number, rest: number): number {
    const info = httpParseErrorInfo(code);
    this.sendError(conn, info.status, info.code, info.reason);
    return rest;
  }

  private sendError(conn: Connection, status: number, code: string, reason: string): void {
    const r = errorResponse(status, code, reason);
    this.stats.errorsByStatus[status] = (this.stats.errorsByStatus[status] ?? 0) + 1;
    if (this.onLimit !== null) this.onLimit(code, { status, conn: conn.id });
    this.stats.responsesByClass[Math.floor(status / 100)]++;
    const w = conn.writer;
    w.write(r.head);
    w.queueExternal(Buffer.from(this.dates.line, 'latin1'), null);
    w.queueExternal(r.tail, null);
    conn.end();
    conn.setDeadline(LINGER_MS, HttpDeadline.Linger);
    (conn.state as HttpConnState).inRequest = false;
  }

  /**
   * Shutdown: an idle keep-alive connection ends now; one with a request in progress ends after its
   * answer (`draining` makes that answer say `Connection: close`). A streamed body of no known end
   * (a live stream) would hold its connection until the deadline: its owner ends it now
   * (HttpBodyStream.onshutdown), and the connection closes once the queued bytes left.
   */
  shutdown(conn: Connection): void {
    this.draining = true;
    const st = conn.state as HttpConnState | null;
    // Ended with its last chunk, the response is complete and the connection idle: it ends below.
    if (st !== null && st.stream !== null) st.stream.shutdown();
    if (!conn.closing) this.endWhenIdle(conn);
  }

  /** Ends `conn` now when no request is in progress on it (else its answer ends it: see {@link shutdown}). */
  endWhenIdle(conn: Connection): void {
    const st = conn.state as HttpConnState | null;
    if (st === null || (!st.inRequest && st.waiting === null)) conn.end();
  }

  onOverflow(conn: Connection): void {
    const st = conn.state as HttpConnState;
    const inHead = st.head === null || st.head.headLength === 0;
    const info = httpParseErrorInfo(inHead ? HttpParseError.HeadersTooLarge : HttpParseError.BodyTooLarge);
    this.sendError(conn, info.status, info.code, info.reason);
  }

  /** A stalled request → 408 `ERR_HTTP_REQUEST_TOO_SLOW`; no read section for it and a full wait queue → 503 `ERR_HTTP_SERVER_BUSY`. */
  onReadLimit(conn: Connection, limit: ReadLimit): void {
    conn.discardInput();
    if ((conn.state as HttpConnState).waiting !== null) {
      // Only a wait-queue refusal gets here (a paused connection is never judged for progress): pipelined
      // bytes behind a request whose handler has not answered. An error response now would
      // overtake that answer, so the connection is dropped instead (counted and reported all the same).
      this.stats.errorsByStatus[503] = (this.stats.errorsByStatus[503] ?? 0) + 1;
      if (this.onLimit !== null) this.onLimit('ERR_HTTP_SERVER_BUSY', { status: 503, conn: conn.id });
      conn.destroy();
      return;
    }
    if (limit === ReadLimit.Stalled) {
      this.stats.timeouts++;
      this.sendError(conn, 408, 'ERR_HTTP_REQUEST_TOO_SLOW', 'Request not sent fast enough');
    } else this.sendError(conn, 503, 'ERR_HTTP_SERVER_BUSY', 'Server busy, retry later');
  }

  /** HTTP keeps nothing outside the reader's section. */
  heldBytes(_conn: Connection): number {
    return 0;
  }

  onDeadline(conn: Connection, kind: number): void {
    if (kind === HttpDeadline.Headers || kind === HttpDeadline.Request) {
      this.stats.timeouts++;
      const st = conn.state as HttpConnState;
      if (st.waiting !== null) return;
      conn.discardInput();
      this.sendError(conn, 408, kind === HttpDeadline.Headers ? 'ERR_HTTP_HEADERS_TIMEOUT' : 'ERR_HTTP_REQUEST_TIMEOUT', 'Request not received in time');
      return;
    }
    if (kind === HttpDeadline.Idle) {
      const st = conn.state as HttpConnState;
      const sent = conn.sentBytes;
      if (sent < st.sentWhenIdle && sent > st.sentAtIdle) {
        this.armIdle(conn); // still sending a response, and the peer took some of it since: not idle
        return;
      }
    }
    // Idle keep-alive connection, a peer that took nothing of its response for a whole interval, or
    // one that did not take its error response: close it.
    conn.destroy();
  }

  onReadEnd(conn: Connection): void {
    const st = conn.state as HttpConnState;
    // An answer is still owed to an async handler's request: end after it (see afterResponse).
    if (st.waiting !== null) return;
    conn.end();
  }

  onDrain(conn: Connection): void {
    const st = conn.state as HttpConnState | null;
    if (st !== null && st.stream !== null) st.stream.drained();
  }

  onClose(conn: Connection): void {
    const st = conn.state as HttpConnState | null;
    if (st === null) return;
    if (st.head !== null) this.releaseHead(st, st.head);
    st.waiting = null;
    const stream = st.stream;
    st.stream = null;
    if (stream !== null) stream.closed();
  }
}
