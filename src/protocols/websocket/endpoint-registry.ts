import type { Connection } from '../../core/connection.js';
import { PauseReason } from '../../core/pause-reason.js';
import { asciiBytes } from '../http/bytes.js';
import { HttpDeadline } from '../http/http-handler.js';
import { Method } from '../http/method.js';
import type { RequestHead } from '../http/request-head.js';
import { STATUS_TEXT } from '../http/responses.js';
import type { UpgradeRequest, UpgradeVerdict, WebSocketEndpoint } from './endpoint.js';
import {
  BAD_REQUEST_RESPONSE,
  computeAcceptFrom,
  isValidWebSocketKey,
  isWebSocketVersion13,
  NOT_FOUND_RESPONSE,
  UPGRADE_REQUIRED_RESPONSE,
  upgradeResponseLength,
  upgradeResponseTail,
  writeUpgradeResponse,
} from './handshake.js';
import { HandshakeFields, ORIGIN, SEC_EXTENSIONS, SEC_PROTOCOL } from './handshake-fields.js';
import { negotiateDeflate } from './permessage-deflate.js';
import { OriginPolicy } from './origin-policy.js';
import { WebSocket } from './websocket.js';
import type { WebSocketHandler } from './websocket-handler.js';

const HOST = asciiBytes('host');
/** Reused by every handshake: read synchronously in {@link EndpointRegistry.upgrade}, never kept. */
const fields = new HandshakeFields();
const LINGER_MS = 2000;
// RFC 6455 §4.1, §11.5: subprotocol names are RFC 9110 §5.6.2 tokens.
const SUBPROTOCOL_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Counters of handshakes refused, by HTTP status. */
export type UpgradeRefusals = Record<number, number>;

/**
 * The opening handshake (RFC 6455 §4.2): finds the endpoint claiming the path, validates the request,
 * negotiates a subprotocol, asks the endpoint, then writes `101` and switches the connection from the
 * HTTP handler to the WebSocket handler. Refusals are complete HTTP responses with `Connection: close`:
 * unknown path 404, non-GET or bad key 400, wrong version 426, origin refused 403, or the endpoint's own.
 */
export class EndpointRegistry {
  private readonly byPath = new Map<string, WebSocketEndpoint<unknown>>();
  /** Prefix endpoints, longest prefix first. */
  private readonly byPrefix: WebSocketEndpoint<unknown>[] = [];
  readonly refusals: UpgradeRefusals = {};
  /** Handshakes refused by the origin policy (also counted under 403 in {@link refusals}). */
  originRefusals = 0;
  /** Handshakes whose endpoint has not given its (asynchronous) verdict yet; their connections are not read meanwhile. */
  pendingVerdicts = 0;
  /** Hook for exceptions from an endpoint's `verifyOrigin`/`upgrade` (logging); the client gets 500 either way. */
  onUpgradeError: ((err: unknown, req: UpgradeRequest) => void) | null = null;
  /** Told of each handshake the origin policy refused (debug logging). */
  onOriginRefused: ((origin: string, host: string | undefined, path: string) => void) | null = null;

  constructor(
    private readonly handler: WebSocketHandler,
    /** Which browser origins may open a socket on any endpoint (default: the request's own origin). */
    private readonly origins: OriginPolicy = OriginPolicy.parse(''),
  ) {}

  /** Registers `endpoint` at its path. Throws if the path is taken. */
  add<T>(endpoint: WebSocketEndpoint<T>): void {
    if (!endpoint.path.startsWith('/')) throw new TypeError(`WebSocket endpoint path must start with '/': ${endpoint.path}`);
    // Checked here: the 101 carries the chosen name unchecked (writeUpgradeResponse).
    for (const name of endpoint.protocols ?? []) {
      if (!SUBPROTOCOL_TOKEN.test(name)) throw new TypeError(`WebSocket subprotocol must be an RFC 9110 token: ${JSON.stringify(name)}`);
    }
    if (endpoint.matchPrefix === true) {
      if (this.byPrefix.some((e) => e.path === endpoint.path)) throw new TypeError(`WebSocket endpoint prefix taken: ${endpoint.path}`);
      this.byPrefix.push(endpoint);
      this.byPrefix.sort((a, b) => b.path.length - a.path.length);
      return;
    }
    if (this.byPath.has(endpoint.path)) throw new TypeError(`WebSocket endpoint path taken: ${endpoint.path}`);
    this.byPath.set(endpoint.path, endpoint);
  }

  /** The `UpgradeHook` for the HTTP handler. */
  readonly upgrade = (conn: Connection, head: RequestHead, buf: Buffer): boolean => {
    const path = buf.toString('latin1', head.targetStart, head.pathEnd);
    const endpoint = this.byPath.get(path) ?? this.byPrefix.find((e) => path.length > e.path.length && path.startsWith(e.path));
    if (endpoint === undefined) return this.refuse(conn, 404, NOT_FOUND_RESPONSE);
    if (head.method !== Method.Get || head.versionMinor !== 1 || head.contentLength > 0 || head.chunked) {
      return this.refuse(conn, 400, BAD_REQUEST_RESPONSE);
    }
    const f = fields.scan(head, buf);
    const key = f.key;
    const h = head.headers;
    if (key < 0 || f.keyLines > 1 || !isValidWebSocketKey(buf, h[key * 4 + 2], h[key * 4 + 3])) {
      return this.refuse(conn, 400, BAD_REQUEST_RESPONSE);
    }
    const version = f.version;
    if (version < 0 || !isWebSocketVersion13(buf, h[version * 4 + 2], h[version * 4 + 3])) {
      return this.refuse(conn, 426, UPGRADE_REQUIRED_RESPONSE);
    }
    // Header strings are decoded only where something reads them: a request without `Origin` to an
    // endpoint without hooks (every bench and `ws` client) decodes none.
    const origin = headerString(head, buf, f.origin, ORIGIN);
    // An endpoint with its own verifyOrigin decides for itself; the others follow the server's policy.
    if (endpoint.verifyOrigin === undefined && origin !== undefined) {
      const host = headerString(head, buf, head.findHeader(buf, HOST), HOST);
      if (!this.origins.allows(origin, host)) {
        this.originRefusals++;
        if (this.onOriginRefused !== null) this.onOriginRefused(origin, host, path);
        return this.refuse(conn, 403, refusal(403, 'origin not allowed (--allowed-origins)'));
      }
    }
    // Everything taken from the request bytes is taken now: a verdict given later cannot read them.
    const protocol = chooseProtocol(endpoint, head, buf, f.protocol);
    const accept = computeAcceptFrom(buf, h[key * 4 + 2], h[key * 4 + 3]);
    // permessage-deflate when the server and the endpoint take it (never for a binary sink) and the client offers it.
    const deflate =
      this.handler.compressionEnabled && endpoint.perMessageDeflate !== false && endpoint.binarySink === undefined
        ? negotiateDeflate(headerString(head, buf, f.extensions, SEC_EXTENSIONS))
        : null;
    let verdict: UpgradeVerdict | Promise<UpgradeVerdict> = ACCEPT;
    // Only endpoint code sees the request object (its headers decoded at once: it may keep it).
    let req: UpgradeRequest | null = null;
    // Endpoint code runs inside the socket's 'data' listener: an exception there would be an
    // uncaught exception for the whole process. It refuses this handshake with 500 instead.
    try {
      if (endpoint.verifyOrigin !== undefined && !endpoint.verifyOrigin(origin)) {
        return this.refuse(conn, 403, refusal(403, 'origin not allowed'));
      }
      if (endpoint.upgrade !== undefined) verdict = endpoint.upgrade((req = upgradeRequest(head, buf, path, conn)), head);
    } catch (err) {
      return this.failed(conn, err, req ?? upgradeRequest(head, buf, path, conn));
    }
    if (!isPromise(verdict)) return this.decide(conn, endpoint, verdict, accept, protocol, deflate);
    // An asynchronous verdict: the request is consumed, and reading pauses so that bytes the client
    // sent behind it (frames, after an optimistic client's handshake) wait for the new protocol.
    this.pendingVerdicts++;
    conn.pause(PauseReason.Handler);
    verdict.then(
      (v) => {
        this.pendingVerdicts--;
        // The client left, or HTTP ended the connection meanwhile (headers timeout, shutdown): nothing to answer.
        if (conn.closing || conn.closed) return;
        this.decide(conn, endpoint, v, accept, protocol, deflate);
        if (v.accept) conn.unpause(PauseReason.Handler);
      },
      (err: unknown) => {
        this.pendingVerdicts--;
        if (conn.closing || conn.closed) return;
        this.failed(conn, err, req as UpgradeRequest);
      },
    );
    return true;
  };

  /** Carries out an endpoint's verdict: its refusal, or the 101 and the switch to the WebSocket handler. */
  private decide(conn: Connection, endpoint: WebSocketEndpoint, verdict: UpgradeVerdict, accept: string, protocol: string, deflate: string | null): true {
    if (!verdict.accept) return this.refuse(conn, verdict.status, refusal(verdict.status, verdict.message, verdict.code));
    // Written into the write slab (an idle socket then keeps no queue of external buffers); when no
    // section is free it is queued as a buffer of its own: a lost 101 would leave the client waiting.
    const tail = upgradeResponseTail(protocol, deflate);
    const length = upgradeResponseLength(tail);
    const writer = conn.writer;
    const at = writer.reserve(length);
    if (at >= 0) writer.commit(writeUpgradeResponse(writer.buffer, at, accept, tail));
    else {
      const response = Buffer.allocUnsafe(length);
      writeUpgradeResponse(response, 0, accept, tail);
      writer.queueExternal(response, null);
    }
    conn.protocol = this.handler; // the WebSocket's owner (see WebSocket.owner)
    const ws = new WebSocket(conn, endpoint, protocol, verdict.data);
    if (deflate !== null) {
      ws.compressed = true;
      this.handler.stats.compressedConnections++;
    }
    conn.state = ws;
    this.handler.opened(ws);
    return true;
  }

  /** An endpoint's `verifyOrigin`/`upgrade` threw (or its verdict rejected): 500, counted and reported. */
  private failed(conn: Connection, err: unknown, req: UpgradeRequest): true {
    this.handler.stats.endpointErrors++;
    if (this.onUpgradeError !== null) this.onUpgradeError(err, req);
    return this.refuse(conn, 500, refusal(500, 'internal error'));
  }

  private refuse(conn: Connection, status: number, response: Buffer): true {
    this.refusals[status] = (this.refusals[status] ?? 0) + 1;
    conn.writer.queueExternal(response, null);
    conn.end();
    conn.setDeadline(LINGER_MS, HttpDeadline.Linger);
    return true;
  }
}

/** The verdict of an endpoint without an `upgrade` hook. */
const ACCEPT: UpgradeVerdict = { accept: true };

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}

/** A JSON refusal with `Connection: close` for statuses without a pre-built response; `error` is `code` when given. */
function refusal(status: number, message: string, code?: string): Buffer {
  const body = JSON.stringify({ error: code ?? STATUS_TEXT[status] ?? 'refused', message });
  return Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Refused'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    'utf8',
  );
}

/**
 * The endpoint's most preferred subprotocol among those the client offered ('' when none). §4.2.2
 * lets the server pick any offered one; `WebSocketEndpoint.protocols` is documented as the
 * endpoint's preference order, so that order decides, not the client's.
 */
function chooseProtocol(endpoint: WebSocketEndpoint, head: RequestHead, buf: Buffer, first: number): string {
  const supported = endpoint.protocols;
  if (supported === undefined || supported.length === 0) return '';
  const offered = new Set<string>();
  for (let i = first; i >= 0; i = head.findNextHeader(buf, SEC_PROTOCOL, i + 1)) {
    for (const name of head.headerValue(buf, i).split(',')) offered.add(name.trim());
  }
  for (const name of supported) if (offered.has(name)) return name;
  return '';
}

/**
 * The value of the header named `lowerName`, whose first field line is `first` (-1: the request has
 * none, undefined), as one string, repeated fields joined with ", " (RFC 9110 §5.3).
 */
function headerString(head: RequestHead, buf: Buffer, first: number, lowerName: Uint8Array): string | undefined {
  let i = first;
  if (i < 0) return undefined;
  let value = head.headerValue(buf, i);
  while ((i = head.findNextHeader(buf, lowerName, i + 1)) >= 0) value += `, ${head.headerValue(buf, i)}`;
  return value;
}

function upgradeRequest(head: RequestHead, buf: Buffer, path: string, conn: Connection): UpgradeRequest {
  const query = head.pathEnd < head.targetEnd ? buf.toString('latin1', head.pathEnd + 1, head.targetEnd) : '';
  const headers = new Map<string, string>();
  for (let i = 0; i < head.headerCount; i++) {
    const name = head.headerName(buf, i).toLowerCase();
    const value = head.headerValue(buf, i);
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  return {
    path,
    query,
    header: (name) => headers.get(name.toLowerCase()),
    // Asked of the socket only when an endpoint reads it (getpeername(2) with the native transport).
    get remoteAddress() {
      return conn.remoteAddress;
    },
  };
}

