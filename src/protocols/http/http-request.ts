import { METHOD_NAMES } from './method.js';
import type { RequestHead } from './request-head.js';

/**
 * A routed request, decoded at the API edge: strings for method, path, query and headers, and a copy
 * of the body, so an async handler may keep it. (The hello-world path never builds one.)
 */
export class HttpRequest {
  readonly method: string;
  /** Path without the query, as sent (not %-decoded; route params are decoded). */
  readonly path: string;
  /** Raw query string without '?', '' when absent. */
  readonly query: string;
  /** HTTP minor version: 0 or 1. */
  readonly versionMinor: number;
  /** Route parameters (`:name` segments, `*` for the rest). */
  params: Record<string, string> = {};
  /** The body bytes (empty when there is none). */
  readonly body: Buffer;
  private readonly headerMap: Map<string, string>;

  /**
   * @param peer where the request came from (the connection): asked for its address only when
   *   {@link remoteAddress} is read, so routes that do not care pay no getpeername(2).
   */
  constructor(
    head: RequestHead,
    buf: Buffer,
    body: Buffer,
    private readonly peer: { readonly remoteAddress?: string | undefined } | null = null,
  ) {
    this.method = head.method === 0 ? buf.toString('latin1', head.methodStart, head.methodEnd) : METHOD_NAMES[head.method];
    this.path = buf.toString('latin1', head.targetStart, head.pathEnd);
    this.query = head.pathEnd < head.targetEnd ? buf.toString('latin1', head.pathEnd + 1, head.targetEnd) : '';
    this.versionMinor = head.versionMinor;
    this.body = body;
    this.headerMap = new Map();
    const h = head.headers;
    for (let i = 0; i < head.headerCount; i++) {
      const name = buf.toString('latin1', h[i * 4], h[i * 4 + 1]).toLowerCase();
      const value = buf.toString('latin1', h[i * 4 + 2], h[i * 4 + 3]);
      const prev = this.headerMap.get(name);
      this.headerMap.set(name, prev === undefined ? value : `${prev}, ${value}`);
    }
  }

  /**
   * The client's IP address as text (`127.0.0.1`, `::1`, `::ffff:127.0.0.1`): the TCP peer, not a
   * forwarded-for header. Undefined once the connection closed (an async handler answering late).
   */
  get remoteAddress(): string | undefined {
    return this.peer?.remoteAddress;
  }

  /** A header's value (case-insensitive name; repeated fields joined with ", "), or undefined. */
  header(name: string): string | undefined {
    return this.headerMap.get(name.toLowerCase());
  }

  /** Query parameters. */
  searchParams(): URLSearchParams {
    return new URLSearchParams(this.query);
  }

  /** The body parsed as JSON; throws SyntaxError on bad JSON (the handler answers 400). */
  json(): unknown {
    return JSON.parse(this.body.toString('utf8'));
  }
}
