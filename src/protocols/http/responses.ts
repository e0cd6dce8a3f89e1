/**
 * Bytes the HTTP layer sends, built once (uWS `HttpErrors.h`, `LoopData::updateDate`): status lines,
 * the hello-world page, and the error responses. Only the `Date` line changes, once a second.
 */

/** Reason phrases of the statuses slabcast sends. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  411: 'Length Required',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** The hello-world page served for GET / (any other path no route claims is 404). */
export const HELLO_BODY = Buffer.from(
  '<!doctype html><html><head><title>slabcast</title></head><body><h1>Hello from slabcast</h1></body></html>',
  'latin1',
);
export const HTML_TYPE = 'text/html; charset=utf-8';

/** How the connection continues after a response (decides the `Connection` header). */
export const Persist = {
  /** HTTP/1.1 keep-alive: no header needed. */
  KeepAlive11: 0,
  /** HTTP/1.0 client that asked for keep-alive: `Connection: keep-alive`. */
  KeepAlive10: 1,
  /** Last response on this connection: `Connection: close`. */
  Close: 2,
} as const;
export type Persist = (typeof Persist)[keyof typeof Persist];

const CONNECTION_LINE = ['', 'Connection: keep-alive\r\n', 'Connection: close\r\n'] as const;

/** `Connection` header line for `persist` ('' for HTTP/1.1 keep-alive). */
export function connectionLine(persist: Persist): string {
  return CONNECTION_LINE[persist];
}

/** "HTTP/1.1 404 Not Found\r\n" */
export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}\r\n`;
}

/**
 * The `Date:` header line, rebuilt at most once a second, and everything that embeds it: the complete
 * hello-world responses for each {@link Persist} × GET/HEAD are prebuilt so the hot path is one copy.
 */
export class DatedResponses {
  /** `Date: <IMF-fixdate>\r\n` */
  line = '';
  /** helloPage[persist] (GET), helloHead[persist] (HEAD) */
  readonly helloPage: Buffer[] = [];
  readonly helloHead: Buffer[] = [];
  private second = -1;

  constructor(now = Date.now()) {
    this.update(now);
  }

  /** Refreshes the caches when the wall-clock second changed. Cheap to call every turn. */
  update(now: number): void {
    const second = Math.floor(now / 1000);
    if (second === this.second) return;
    this.second = second;
    this.line = `Date: ${new Date(second * 1000).toUTCString()}\r\n`;
    for (let p = 0; p < 3; p++) {
      const head = `${statusLine(200)}${this.line}Content-Type: ${HTML_TYPE}\r\nContent-Length: ${HELLO_BODY.length}\r\n${CONNECTION_LINE[p]}\r\n`;
      const headBytes = Buffer.from(head, 'latin1');
      this.helloHead[p] = headBytes;
      this.helloPage[p] = Buffer.concat([headBytes, HELLO_BODY]);
    }
  }
}

/** A pre-built error response (without `Date`, which is spliced in when sent). */
export interface ErrorResponse {
  status: number;
  /** Status line. */
  head: Buffer;
  /** Headers after Date + blank line + body; always `Connection: close`. */
  tail: Buffer;
}

const errorCache = new Map<string, ErrorResponse>();

/**
 * The response for a protocol error: `status`, a short plain-text body naming `code` and `reason`,
 * and `Connection: close`. Built once per (status, code) and cached.
 */
export function errorResponse(status: number, code: string, reason: string): ErrorResponse {
  const key = `${status} ${code}`;
  let r = errorCache.get(key);
  if (r === undefined) {
    const body = `${status} ${STATUS_TEXT[status] ?? ''}: ${reason} (${code})\n`;
    r = {
      status,
      head: Buffer.from(statusLine(status), 'latin1'),
      tail: Buffer.from(
        `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        'utf8',
      ),
    };
    errorCache.set(key, r);
  }
  return r;
}
