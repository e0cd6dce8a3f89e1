import type { TokenVerifier } from '../auth/token-verifier.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { Identity } from '../ops/identity.js';
import type { Readiness } from '../ops/readiness.js';
import type { ServerStats } from '../ops/server-metrics.js';
import type { Router } from '../protocols/http/router.js';
import type { WebSocketEndpoint } from '../protocols/websocket/endpoint.js';
import type { WebSocketHandler } from '../protocols/websocket/websocket-handler.js';

/**
 * What a service may touch of the server it mounts on, and nothing else: HTTP routes, WebSocket
 * endpoints and fan-out, the logger, the metrics registry, readiness, start-up warnings, the
 * instance's identity, and read-only figures (memory pressure, counters). The composition root
 * (src/slabcast.ts) implements it; a service never sees the core, the slabs or another service.
 */
export interface ServiceHost {
  readonly router: Router;
  /** The WebSocket protocol: fan-out (`broadcast`) and its counters. */
  readonly ws: WebSocketHandler;
  /** Registers a WebSocket endpoint at its path. */
  addEndpoint<T>(endpoint: WebSocketEndpoint<T>): void;
  readonly logger: Logger;
  /** Each service registers its own metrics here when it mounts. */
  readonly metrics: Metrics;
  /** Checks and details of `GET /readyz`. */
  readonly readiness: Readiness;
  /** The instance id (with the worker suffix) and advertised URL, computed once. */
  readonly identity: Identity;
  /**
   * The server's one token verifier (jose: `--token-secret`, `--token-public-key`,
   * `--token-jwks-url`, one JWKS cache for every service); `enabled` is false when no key is set.
   */
  readonly tokens: TokenVerifier;
  /** Something an operator must hear about at start-up (an open admin API, open token mode…). */
  warn(warning: string): void;
  /** Memory use of the server's buffers as a fraction in [0, 1] (admission control). */
  memoryPressure(): number;
  /** The server's own counters (core, HTTP, WebSocket), for status endpoints. */
  stats(): ServerStats;
}

/**
 * A mounted service's lifecycle: `start()` runs before the server accepts connections (open files,
 * reload state), `close()` after every connection is closed (make state durable, release resources).
 */
export interface Service {
  start(): Promise<void> | void;
  close(): Promise<void> | void;
}
