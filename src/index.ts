/** Public API: re-exports only. */
export { Slabcast } from './slabcast.js';
export { DEFAULTS, KNOBS, validateConfig, type ServerConfig } from './config.js';
export { ConfigError, ErrorCode, SlabcastError } from './errors.js';
export { CoreServer, type CoreStats } from './core/core-server.js';
export { Connection, PauseReason } from './core/connection.js';
export type { ProtocolHandler } from './core/protocol.js';
export { SlabAllocator, NO_SECTION, Tier } from './core/slab.js';
export { WriteStatus, type Releasable } from './core/message-writer.js';
export { Router, type RouteHandler } from './protocols/http/router.js';
export { HttpRequest } from './protocols/http/http-request.js';
export { HttpResponse } from './protocols/http/http-response.js';
