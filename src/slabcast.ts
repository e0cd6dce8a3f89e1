import type { AddressInfo } from 'node:net';
import { type ServerConfig, validateConfig } from './config.js';
import { CoreServer, type CoreStats } from './core/core-server.js';
import { HttpHandler, type HttpStats } from './protocols/http/http-handler.js';
import { Router } from './protocols/http/router.js';
import type { WebSocketEndpoint } from './protocols/websocket/endpoint.js';
import { CloseCode } from './protocols/websocket/opcode.js';
import type { WebSocket } from './protocols/websocket/websocket.js';
import { WebSocketHandler, type WsStats } from './protocols/websocket/websocket-handler.js';
import { EndpointRegistry } from './protocols/websocket/endpoint-registry.js';
import { echoEndpoint } from './services/echo/echo-endpoint.js';
import { fanoutEndpoint } from './services/bench-fanout/fanout-endpoint.js';
import { mountRooms, type Rooms } from './services/rooms/mount-rooms.js';
import { mountAudioCache } from './services/audio-cache/mount-audio-cache.js';
import { mountDemo } from './services/static/mount-demo.js';
import type { AudioStore } from './services/audio-cache/audio-store.js';
import { type Logger, silentLogger } from './ops/logger.js';
import { Metrics } from './ops/metrics.js';
import { addOpsRoutes, type ReadinessCheck, type ReadinessDetail } from './ops/ops-routes.js';
import { cacheHealth } from './services/audio-cache/cache-health.js';
import { ClusterNode } from './cluster/cluster-node.js';

/** Options that are objects rather than configuration values. */
export interface SlabcastOptions {
  /** Structured logger (default: silent, for library use and tests). */
  logger?: Logger;
}

/**
 * One slabcast instance: the core (acceptor, processor, slabs), HTTP/1.1 and WebSocket on it, and the
 * services — /echo, /fanout, rooms, the audio cache, the demo page, the operator endpoints — in cluster
 * mode when `--redis` is set. This is the only place that wires them together.
 */
export class Slabcast {
  readonly config: Readonly<ServerConfig>;
  readonly router = new Router();
  readonly http: HttpHandler;
  readonly core: CoreServer;
  readonly ws: WebSocketHandler;
  readonly endpoints: EndpointRegistry;
  /** Rooms: `/ws/room/{roomId}` and the `/api/push/*` admin API. */
  readonly rooms: Rooms;
  /** The audio stream cache (`--audio-path`, `--cache-dir`). */
  readonly audio: AudioStore;
  /** Cluster mode (`--redis`): Redis link, ring, shared rooms backend; null on a single node. */
  readonly cluster: ClusterNode | null;
  readonly logger: Logger;
  /** Checks `GET /readyz` runs (services add theirs: cache directory, Redis…). */
  readonly readinessChecks: ReadinessCheck[] = [];
  /** State shown in the `GET /readyz` body that does not decide readiness (the audio cache's disk and mode). */
  readonly readinessDetails: Record<string, ReadinessDetail> = {};
  /** Things an operator must hear about at start-up (open admin API, open token mode…). */
  readonly startupWarnings: string[] = [];
  private metricsInstance: Metrics | null = null;

  constructor(config: Partial<ServerConfig> = {}, options: SlabcastOptions = {}) {
    this.config = validateConfig(config);
    this.logger = options.logger ?? silentLogger();
    this.http = new HttpHandler(this.config, this.router);
    this.core = new CoreServer(this.config, this.http);
    this.ws = new WebSocketHandler(this.config);
    this.endpoints = new EndpointRegistry(this.ws);
    this.http.upgrade = this.endpoints.upgrade;
    this.endpoints.add(echoEndpoint());
    // The benchmark's fan-out endpoint is an open broadcast: off unless asked for.
    if (this.config.fanoutPath !== '') this.endpoints.add(fanoutEndpoint(this.ws, this.config.fanoutPath));
    this.cluster = this.config.redisUrl !== '' ? new ClusterNode(this.config, this.logger) : null;
    if (this.cluster !== null) this.readinessChecks.push(this.cluster.readiness);
    this.rooms = mountRooms(this, this.cluster?.rooms);
    mountDemo(this);
    this.audio = mountAudioCache(this, [this.core.readSlab, this.core.writeSlab], this.cluster?.streamRedirect);
    this.readinessDetails.audioCache = () => cacheHealth(this.audio);
    this.core.processor.onClock = (now) => this.http.dates.update(now);
    this.wireLogging();
    addOpsRoutes(this.router, () => this.metrics, () => this.core.address() !== null, this.readinessChecks, this.readinessDetails);
  }

  /** Prometheus metrics (created on first use: default collectors start timers). */
  get metrics(): Metrics {
    return (this.metricsInstance ??= new Metrics(this));
  }

  /** One log line per limit hit and per connection error; nothing per message. */
  private wireLogging(): void {
    const log = this.logger;
    const onLimit = (code: string, detail: Readonly<Record<string, string | number>>): void => log.info({ code, ...detail }, 'limit');
    this.http.onLimit = onLimit;
    this.ws.onLimit = onLimit;
    this.core.acceptor.onLimit = (code, detail) => log.warn({ code, ...detail }, 'connection refused');
    this.core.acceptor.onServerError = (err) => log.error({ err }, 'listening socket error');
    this.core.acceptor.descriptors.onEpisode = (exhausted, detail) => {
      if (exhausted) log.warn({ code: 'ERR_DESCRIPTORS_EXHAUSTED', ...detail }, 'descriptors exhausted: refusing new connections');
      else log.info({ ...detail }, 'descriptors available again: accepting connections');
    };
    if (this.core.acceptor.transportWarning !== null) log.warn({ code: 'ERR_NATIVE_TRANSPORT' }, `${this.core.acceptor.transportWarning}; sockets stay on net.Socket (--transport node)`);
    this.core.processor.onSocketError = (conn, err) => log.info({ conn: conn.id, code: (err as NodeJS.ErrnoException).code ?? err.name, err: err.message }, 'connection error');
    this.http.onHandlerError = (err, req) => log.error({ err, method: req.method, path: req.path }, 'route handler failed');
    this.ws.onEndpointError = (err, ws) => log.error({ err, conn: ws.id, endpoint: ws.endpoint.path }, 'websocket endpoint failed');
    this.audio.onStorageError = (err, stream) => log.error({ err, stream: stream?.id ?? null }, 'audio cache storage failed');
    this.audio.onDiskFull = (full, disk) => {
      const detail = { code: 'ERR_AUDIO_NO_SPACE', freeBytes: disk.freeBytes, minFreeBytes: disk.minFreeBytes };
      if (full) log.warn(detail, 'audio cache: no space on the cache filesystem, chunks and STARTs refused');
      else log.info(detail, 'audio cache: space again on the cache filesystem');
    };
  }

  /** Registers a WebSocket endpoint at its path. */
  addEndpoint(endpoint: WebSocketEndpoint): this {
    this.endpoints.add(endpoint);
    return this;
  }

  /** Starts listening (defaults from the config). Resolves with the bound address. */
  async listen(port?: number, host?: string): Promise<AddressInfo> {
    const address = await this.core.listen(port, host);
    if (this.cluster !== null) await this.cluster.start(address, this.metrics); // registers with the bound port
    return address;
  }

  /**
   * Stops accepting, lets in-flight HTTP responses finish (every further response says
   * `Connection: close`), and resolves when every connection is closed or `deadlineMs` passed.
   */
  close(deadlineMs = 5000): Promise<void> {
    this.http.draining = true;
    return this.core.close(deadlineMs, (conn) => {
      if (conn.protocol === this.ws) {
        (conn.state as WebSocket).close(CloseCode.GoingAway, 'server shutting down');
        return;
      }
      this.http.endWhenIdle(conn);
    })
      .then(() => this.audio.close()) // every stream msync'ed and its metadata written before we resolve
      .then(() => this.rooms.close()) // history sweep stopped, bus released once every member left
      .then(() => this.cluster?.close()); // presence and heartbeat deleted (rooms move at once), Redis quit
  }

  /** Every counter, for the admin API and tests. */
  stats(): { core: CoreStats; http: HttpStats; ws: WsStats } {
    return { core: this.core.stats(), ws: structuredClone(this.ws.stats), http: { ...this.http.stats, responsesByClass: [...this.http.stats.responsesByClass], errorsByStatus: { ...this.http.stats.errorsByStatus } } };
  }
}
