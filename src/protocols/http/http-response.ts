import type { Connection } from '../../core/connection.js';
import { type Releasable, WriteStatus } from '../../core/message-writer.js';
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
  owner: Releasable | null = null,
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
    if (sendBody && owner !== null) {
      writer.queueExternal(parts[0], null);
      return writer.queueExternal(body as Uint8Array, owner); // still no copy of a lent body
    }
    if (sendBody) parts.push(typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body as Uint8Array));
    owner?.release();
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
    return writer.queueExternal(bytes, owner);
  }
  owner?.release(); // copied, or not sent (HEAD): the lender's memory is free again
  return status1;
}

/** Header names a handler may not set: the server owns framing and connection management. */
const RESERVED_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'date', 'content-type']);

/** Who sends a routed response's bytes (the HTTP handler). */
export interface ResponseSink {
  finishResponse(res: HttpResponse, status: number, contentType: string | null, body: string | Uint8Array | null, owner?: Releasable | null): void;
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
   * Sends `body` without copying it (a view of a file mapping): it is queued as it is and
   * `owner.release()` runs once the socket took it (at once for HEAD, or a body small enough to copy).
   */
  sendView(body: Uint8Array, owner: Releasable, contentType: string): void {
    if (this.finished) {
      owner.release();
      throw new Error('HttpResponse: response already sent');
    }
    this.finished = true;
    this.sink.finishResponse(this, this.statusCode, contentType, body, owner);
  }

  /** Sends `value` as JSON, optionally with `status`. */
  json(value: unknown, status?: number): void {
    if (status !== undefined) this.status(status);
    this.send(JSON.stringify(value), 'application/json');
  }
}

export { WriteStatus };
