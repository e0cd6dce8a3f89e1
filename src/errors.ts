/**
 * The error registry: every error slabcast raises or puts on the wire has a stable code here.
 *
 * Ledger (codes are never reused; a retired code stays listed with "retired"):
 * - ERR_CONFIG_INVALID        a configuration value is out of range or of the wrong type
 * - ERR_CONFIG_UNKNOWN_FLAG   an unknown command-line flag
 * - ERR_SLAB_DOUBLE_FREE      a section was freed twice (programmer error, always thrown)
 * - ERR_SLAB_BAD_SECTION      a section handle outside the slab (programmer error)
 * - ERR_SERVER_STATE          listen() twice, or use after close()
 * - ERR_MMAP_CLOSED           a mapped file used after close() (see src/storage/mapped-file.ts)
 * - ERR_HTTP_*                HTTP parse errors: src/protocols/http/http-errors.ts
 * - ERR_WS_*                  WebSocket protocol errors: src/protocols/websocket/ws-errors.ts
 * - ERR_AUDIO_*               audio cache errors: src/services/audio-cache/audio-errors.ts
 * - ERR_STATIC_*              static file errors: src/services/static/static-files.ts
 * - ERR_MMAP_READ_ONLY        a write through a read-only mapping (src/storage/mapped-file.ts)
 * - ERR_MAX_CONNECTIONS, ERR_SOCKET_QUEUE_FULL   acceptor refusals (logged through LimitHook)
 * - ERR_NATIVE_ADOPT          the native transport could not take an accepted socket (kept on net.Socket, logged)
 * - ERR_NATIVE_TRANSPORT      --transport native, but not on Linux or the addon's libuv does not match this Node's (warned at start-up)
 * - ERR_HTTP_HEADERS_TIMEOUT, ERR_HTTP_REQUEST_TIMEOUT   408s (src/protocols/http/http-handler.ts)
 * - ERR_HTTP_REQUEST_TOO_SLOW  408: an incomplete request held read sections without enough progress
 *                             (--min-read-progress-bytes / --read-fill-intervals per --read-progress-interval-ms)
 * - ERR_HTTP_SERVER_BUSY      503: no read section of the needed tier and --max-section-waiters already wait
 * - ERR_WS_MESSAGE_TOO_SLOW   WebSocket close 1008, the same progress rule (ws-errors.ts)
 * - ERR_WS_PING_TIMEOUT, ERR_WS_TRY_AGAIN_LATER, ERR_WS_CLOSED   WebSocket liveness and 1013 closes
 */
export const ErrorCode = {
  ConfigInvalid: 'ERR_CONFIG_INVALID',
  ConfigUnknownFlag: 'ERR_CONFIG_UNKNOWN_FLAG',
  SlabDoubleFree: 'ERR_SLAB_DOUBLE_FREE',
  SlabBadSection: 'ERR_SLAB_BAD_SECTION',
  ServerState: 'ERR_SERVER_STATE',
  MmapClosed: 'ERR_MMAP_CLOSED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An Error with a stable registry `code`. */
export class SlabcastError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'SlabcastError';
    this.code = code;
  }
}

/** A configuration error: names the knob that is wrong. Thrown at start-up, never in the loop. */
export class ConfigError extends RangeError {
  readonly code: string;
  readonly knob: string;
  constructor(knob: string, message: string, code: string = ErrorCode.ConfigInvalid) {
    super(`${knob}: ${message}`);
    this.name = 'ConfigError';
    this.code = code;
    this.knob = knob;
  }
}
