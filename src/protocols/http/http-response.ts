import type { Connection } from '../../core/connection.js';
import { type Releasable, WriteStatus } from '../../core/message-writer.js';
import type { HttpBodyStream } from './body-stream.js';
import { connectionLine, type Persist, statusLine } from './responses.js';

/** Bodies larger than this are sent as their own buffer instead of being copied into the write slab. */
const COPY_BODY_MAX = 16 * 1024;

/**
 * Writes one complete response into `conn`'s writer: status line, `Date`, `Content-Type`,
 * `Content-Length`, the `Connection` line for `persist`, `extraHeaders` (pre-formatted lines ending in
 * CRLF) and the body (omitted for HEAD). Small responses are copied into the write slab; a large body
 * is queued by reference. Never loses the response: if no write section is free it falls back to a
 * heap buffer. Returns the writer's status.
 */
export function writeResponse(
  conn: Connection,
  dateLine: string,
  status: number,
  contentType: string | null,
  extraHeaders: string,
  body: string | Uint8Array | null,
  persist: Persist,
  headOnly: boolean,
): WriteStatus {
  const bodyLength = body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  // RFC 9110 §8.6: no Content-Length in 1xx/204 responses; a 304 would have to repeat the 200's
  // length, so it sends none (§15.4.5).
  const lengthLine = status === 204 || status === 304 || status < 200 ? '' : `Content-Length: ${bodyLength}\r\n`;
  const head =
    statusLine(status) +
    dateLine +
    (contentType === null || bodyLength === 0 ? '' : `Content-Type: ${contentType}\r\n`) +
    lengthLine +
    connectionLine(persist) +
    extraHeaders +
    '\r\n';
  const headLength = head.length; // latin1: one byte per char (header values are validated as latin1)
  const sendBody = !headOnly && bodyLength > 0;
  const writer = conn.writer;
  const copyBody = sendBody && bodyLength <= COPY_BODY_MAX;
  const n = headLength + (copyBody ? bodyLength : 0);
  const at = writer.reserve(n);
  if (at < 0) {
    // No write section: build the response on the heap rather than lose it (counted by the slab).
    const parts: Buffer[] = [Buffer.from(head, 'latin1')];
    if (sendBody) parts.push(typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body as Uint8Array));
    return writer.queueExternal(Buffer.concat(parts), null);
  }
  const buf = writer.buffer;
  buf.write(head, at, headLength, 'latin1');
  if (copyBody) {
    if (typeof body === 'string') buf.write(body, at + headLength, bodyLength, 'utf8');
    else buf.set(body as Uint8Array, at + headLength);
  }
  const status1 = writer.commit(n);
  if (sendBody && !copyBody) {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : (body as Uint8Array);
    return writer.queueExternal(bytes, null);
  }
  return status1;
}

/**
 * Writes a response head (status line, `Date`, `Content-Type` when given, `framing` — a
 * `Content-Length` or `Transfer-Encoding` line, or '' — the `Connection` line, `extraHeaders`, the
 * blank line) into the write slab; a heap buffer when no section is free.
 */
export function writeHead(conn: Connection, dateLine: string, status: number, contentType: string | null, framing: string, extraHeaders: string, persist: Persist): WriteStatus {
  const head =
    statusLine(status) + dateLine + (contentType === null ? '' : `Content-Type: ${contentType}\r\n`) + framing + connectionLine(persist) + extraHeaders + '\r\n';
  const writer = conn.writer;
  const at = head.length <= 16 * 1024 ? writer.reserve(head.length) : -1;
  if (at < 0) return writer.queueExternal(Buffer.from(head, 'latin1'), null);
  writer.buffer.write(head, at, head.length, 'latin1');
  return writer.commit(head.length);
}

/** Header names a handler may not set: the server owns framing and connection management. */
const RESERVED_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'date', 'content-type']);

/** Who sends a routed response's bytes (the HTTP handler). */
export interface ResponseSink {
  finishResponse(res: HttpResponse, status: number, contentType: string | null, body: string | Uint8Array | null): void;
  /** A body of `length` bytes lent by `owner` (queued without copying; released at once for HEAD). */
  finishWithView(res: HttpResponse, status: number, contentType: string, length: number, view: Uint8Array | null, owner: Releasable | null): WriteStatus;
  /** The head of a body sent later in pieces; null when the response ends with the head (HEAD, or the connection is gone). */
  startStream(res: HttpResponse, status: number, contentType: string): HttpBodyStream | null;
}

/**
 * The answer to one routed request. A handler calls exactly one of {@link send}/{@link json}, now or
 * later; until it does, the connection's next pipelined request waits (responses stay in order).
 */
export class HttpResponse {
  /** Status to send (default 200). */
  statusCode = 200;
  /** Extra header lines, pre-formatted. */
  extraHeaders = '';
  /** Whether a response was sent. */
  finished = false;
  /** CORS granted this request's origin (`Access-Control-Allow-Origin` is in {@link extraHeaders}). */
  crossOrigin = false;
  /** The request was HTTP/1.0 (no chunked transfer coding). */
  http10 = false;

  constructor(
    readonly conn: Connection,
    private readonly sink: ResponseSink,
    /** The request was HEAD: headers only. */
    readonly headOnly: boolean,
  ) {}

  /** Sets the status code (100–599). */
  status(code: number): this {
    if (!Number.isInteger(code) || code < 100 || code > 599) throw new RangeError(`HttpResponse.status: bad status ${code}`);
    this.statusCode = code;
    return this;
  }

  /** Adds a response header. Framing headers are the server's and throw; CR/LF in values throw. */
  setHeader(name: string, value: string | number): this {
    const v = String(value);
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new TypeError(`HttpResponse.setHeader: invalid header name ${JSON.stringify(name)}`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw new TypeError(`HttpResponse.setHeader: ${name} is set by the server`);
    if (/[\r\n\0]/.test(v) || /[^\x20-\xff\t]/.test(v)) throw new TypeError(`HttpResponse.setHeader: invalid value for ${name}`);
    this.extraHeaders += `${name}: ${v}\r\n`;
    return this;
  }

  /** Sends `body` with `contentType` (default text/plain). */
  send(body: string | Uint8Array | null, contentType = 'text/plain; charset=utf-8'): void {
    if (this.finished) throw new Error('HttpResponse: response already sent');
    this.finished = true;
    this.sink.finishResponse(this, this.statusCode, contentType, body);
  }

  /**
   * Sends a body of `length` bytes that is `view` (exactly `length` bytes), queued by reference — a
   * view of a mapping, never copied — with `owner.release()` called once the socket took it (or
   * closed). HEAD: the head carries `Content-Length: length`, `view` may be null, and `owner` is
   * released at once. Returns the writer's status (Backpressure: the peer is slow).
   */
  sendView(view: Uint8Array | null, owner: Releasable | null, length: number, contentType: string): WriteStatus {
    if (this.finished) throw new Error('HttpResponse: response already sent');
    if (!this.headOnly && (view === null || view.length !== length)) throw new RangeError(`HttpResponse.sendView: view of ${view?.length ?? 'null'} bytes for a length of ${length}`);
    this.finished = true;
    return this.sink.finishWithView(this, this.statusCode, contentType, length, view, owner);
  }

  /**
   * Starts a body whose length is not known: the head now, then pieces through the returned
   * {@link HttpBodyStream} (chunked transfer coding on HTTP/1.1; on HTTP/1.0 the body ends with the
   * connection). The next pipelined request waits until the stream ends. Returns null when nothing
   * follows the head (a HEAD request, or the connection is already gone): the response is then complete.
   */
  stream(contentType: string): HttpBodyStream | null {
    if (this.finished) throw new Error('HttpResponse: response already sent');
    this.finished = true;
    return this.sink.startStream(this, this.statusCode, contentType);
  }

  /** Sends `value` as JSON, optionally with `status`. */
  json(value: unknown, status?: number): void {
    if (status !== undefined) this.status(status);
    this.send(JSON.stringify(value), 'application/json');
  }
}

export { type Releasable, WriteStatus };
