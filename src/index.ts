/**
 * The public API: what a library user needs to run slabcast, configure it, and mount routes and
 * WebSocket endpoints of their own (docs/api.md). Re-exports only; the core's internals are not part of it.
 */
export { Slabcast, type SlabcastOptions } from './slabcast.js';
export { DEFAULTS, KNOBS, SERVICE_NAMES, validateConfig, type KnobSpec, type ServerConfig, type ServiceName } from './config.js';
export { ConfigError, ErrorCode, SlabcastError } from './errors.js';
export { Router, type RouteHandler } from './protocols/http/router.js';
export { HttpRequest } from './protocols/http/http-request.js';
export { HttpResponse } from './protocols/http/http-response.js';
export { type BinarySink, SlowConsumerPolicy, type UpgradeRequest, type UpgradeVerdict, type WebSocketEndpoint } from './protocols/websocket/endpoint.js';
export { WebSocket } from './protocols/websocket/websocket.js';
export { CloseCode } from './protocols/websocket/opcode.js';
export type { BroadcastResult, WebSocketHandler, WsStats } from './protocols/websocket/websocket-handler.js';
export { WriteStatus, type Releasable } from './core/message-writer.js';
export type { Service, ServiceHost } from './services/service-host.js';
export { signToken, verifyToken, TokenError, type RoomClaims, type TokenResult } from './services/rooms/token.js';
export type { TokenKeys, TokenVerifier, VerifiedToken } from './auth/token-verifier.js';
export type { AudioGrant, AudioRefusal } from './services/audio-cache/audio-access.js';
export type { ServerStats } from './ops/server-metrics.js';
export type { Logger } from './ops/logger.js';
