import type { AddressInfo } from 'node:net';
import { TokenVerifier } from './auth/token-verifier.js';
import { type ServerConfig, validateConfig } from './config.js';
import { CoreServer } from './core/core-server.js';
import { HttpHandler } from './protocols/http/http-handler.js';
import { Router } from './protocols/http/router.js';
import type { WebSocketEndpoint } from './protocols/websocket/endpoint.js';
import { WebSocketHandler } from './protocols/websocket/websocket-handler.js';
import { EndpointRegistry } from './protocols/websocket/endpoint-registry.js';
import { type Logger, silentLogger } from './ops/logger.js';
import { Identity } from './ops/identity.js';
import { byLabel, Metrics } from './ops/metrics.js';
import { addOpsRoutes } from './ops/ops-routes.js';
import { Readiness } from './ops/readiness.js';
import { registerServerMetrics, type ServerStats } from './ops/server-metrics.js';
import type { Service, ServiceHost } from './services/service-host.js';
import { echoEndpoint } from './services/echo/echo-endpoint.js';
import { fanoutEndpoint } from './services/bench-fanout/fanout-endpoint.js';
import { mountRooms, type Rooms } from './services/rooms/mount-rooms.js';
import { type AudioCache, mountAudioCache } from './services/audio-cache/mount-audio-cache.js';
import type { AudioStore } from './services/audio-cache/audio-store.js';
import { mountDemo } from './services/static/mount-demo.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { ErrorCode, SlabcastError } from './errors.js';
import { type Settings, settingsFrom } from './settings.js';

/** Options that are objects rather than configuration values. */
export interface SlabcastOptions {
  /** Structured logger (default: silent, for library use and tests). */
  logger?: Logger;
}

/**
 * One slabcast instance, and the only place that wires its parts together: the core (acceptor,
 * processor, slabs), HTTP/1.1 and WebSocket on it, the operator endpoints, and the services — /echo,
 * /fanout, rooms, the audio cache, the demo page — each mounted on one narrow {@link ServiceHost};
 * in cluster mode (`--redis`) the cluster node backs rooms and places audio streams.
 *
 * Constructing it does no I/O; {@link listen} starts the services (the audio cache reads its
 * directory), binds, and joins the cluster; {@link close} drains the connections, then closes the
 * services and leaves the cluster.
 */
export class Slabcast {
  readonly config: Readonly<ServerConfig>;
  /** The services' parsed configuration slices. */
  readonly settings: Settings;
  readonly router = new Router();
  readonly http: HttpHandler;
  readonly core: CoreServer;
  readonly ws: WebSocketHandler;
  readonly endpoints: EndpointRegistry;
  readonly logger: Logger;
  /** Prometheus metrics: every part registers its own at construction. */
  readonly metrics = new Metrics();
  /** Checks and details of `GET /readyz`. */
  readonly readiness = new Readiness();
  /** The instance id (with the worker suffix) and advertised URL. */
  readonly identity: Identity;
  /** Things an operator must hear about at start-up (open admin API, open token mode…). */
  readonly startupWarnings: string[] = [];
  /** Rooms (`/ws/room/{roomId}`, the `/api/push/*` admin API); null when `--services` has neither. */
  readonly roomsService: Rooms | null;
  /** The audio stream cache (`--audio-path`, `--cache-dir`); null when `--services` leaves it out. */
  readonly audioCache: AudioCache | null;
  /** Cluster mode (`--redis`): Redis link, ring, shared rooms backend; null on a single node. */
  readonly cluster: ClusterNode | null;
  /** The one token verifier (jose) every service uses; `enabled` is false without a token key. */
  readonly tokens: TokenVerifier;
  /** What every service mounts on. */
  private readonly host: ServiceHost;
  /** Mounted services, in mount order (started in it, closed in reverse). */
  private readonly services: Service[] = [];
  private started = false;

  constructor(config: Partial<ServerConfig> = {}, options: SlabcastOptions = {}) {
    this.config = validateConfig(config);
    this.settings = settingsFrom(this.config);
    this.logger = options.logger ?? silentLogger();
    this.identity = new Identity(this.config.instanceId, this.config.advertiseUrl);
    this.tokens = new TokenVerifier(this.settings.tokens);
    this.http = new HttpHandler(this.config, this.router);
    this.ws = new WebSocketHandler(this.config);
    // The protocols tell the core how often its deadline sweep must run.
    this.core = new CoreServer({ ...this.config, shortestDeadlineMs: Math.min(this.http.shortestDeadlineMs, this.ws.shortestDeadlineMs) }, this.http);
    this.endpoints = new EndpointRegistry(this.ws, this.settings.origins);
    this.http.upgrade = this.endpoints.upgrade;
    if (this.settings.origins.crossOrigin) this.http.cors = this.settings.origins;
    this.core.processor.onClock = (now) => this.http.dates.update(now);
    registerServerMetrics(this.metrics, () => this.stats());
    const tokenStats = this.tokens.stats;
    this.metrics.counter('slabcast_tokens_total', 'Tokens verified (outcome ok) or refused (outcome = the reason code), rooms and audio cache together', ['outcome'], () => [
      [{ outcome: 'ok' }, tokenStats.verified],
      ...byLabel('outcome', tokenStats.refused),
    ]);
    this.readiness.addCheck(() => (this.core.address() !== null ? null : 'not listening'));
    this.host = this.serviceHost();

    const on = this.settings.services;
    if (on.has('echo')) this.endpoints.add(echoEndpoint());
    // The benchmark's fan-out endpoint is an open broadcast: off unless asked for.
    if (this.config.fanoutPath !== '') this.endpoints.add(fanoutEndpoint(this.ws, this.config.fanoutPath));
    this.cluster = this.config.redisUrl !== '' ? new ClusterNode(this.config, this.identity, this.logger, this.metrics) : null;
    if (this.cluster !== null) this.readiness.addCheck(this.cluster.readiness);
    this.roomsService = on.has('rooms') || on.has('admin') ? this.mount(mountRooms(this.host, this.settings.rooms, this.cluster?.rooms)) : null;
    if (on.has('demo')) mountDemo(this.host);
    this.audioCache = on.has('audio') ? this.mount(mountAudioCache(this.host, this.settings.audio, this.cluster?.streamRedirect, this.cluster?.streamDelete)) : null;
    if (this.cluster !== null && this.audioCache !== null) {
      this.cluster.attachAudio(this.audioCache, this.router);
      this.cluster.replicator?.addMetrics(this.metrics);
      if (this.cluster.replicator === null) this.startupWarnings.push('cluster: no --cluster-secret, so audio streams are not copied between instances: a stream lives on its owner only, and is unreachable when that instance is gone or the ring moves it');
    }
    addOpsRoutes(this.router, on.has('metrics') ? this.metrics : null, this.readiness);
    this.wireLogging();
  }

  /** The mounted rooms; throws when `--services` left rooms and admin out. */
  get rooms(): Rooms {
    if (this.roomsService === null) throw new SlabcastError(ErrorCode.ServerState, 'rooms are not mounted (--services has neither rooms nor admin)');
    return this.roomsService;
  }

  /** The audio cache's store (its stats, streams); throws when `--services` left audio out. */
  get audio(): AudioStore {
    if (this.audioCache === null) throw new SlabcastError(ErrorCode.ServerState, 'the audio cache is not mounted (--services has no audio)');
    return this.audioCache.store;
  }

  private serviceHost(): ServiceHost {
    return {
      router: this.router,
      ws: this.ws,
      addEndpoint: (endpoint) => void this.endpoints.add(endpoint),
      logger: this.logger,
      metrics: this.metrics,
      readiness: this.readiness,
      identity: this.identity,
      tokens: this.tokens,
      warn: (warning) => void this.startupWarnings.push(warning),
      memoryPressure: () => this.core.memoryPressure(),
      stats: () => this.stats(),
    };
  }

  private mount<S extends Service>(service: S): S {
    this.services.push(service);
    return service;
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
    this.tokens.onKeysError = (err) => log.warn({ code: 'TOKEN_KEYS_UNAVAILABLE', err, url: this.config.tokenJwksUrl }, 'token keys: the JWKS could not be fetched; tokens that need it are refused 503');
    this.endpoints.onUpgradeError = (err, req) => log.error({ err, path: req.path }, 'websocket upgrade failed');
    this.endpoints.onOriginRefused = (origin, host, path) => log.debug({ code: 'ERR_WS_ORIGIN', origin, host, path }, 'websocket handshake refused: origin not allowed');
  }

  /** Registers a WebSocket endpoint at its path. */
  addEndpoint<T>(endpoint: WebSocketEndpoint<T>): this {
    this.endpoints.add(endpoint);
    return this;
  }

  /**
   * Starts the services (the audio cache reads its directory), binds (defaults from the config),
   * then joins the cluster with the bound address. Resolves with that address.
   */
  async listen(port?: number, host?: string): Promise<AddressInfo> {
    if (!this.started) {
      this.started = true;
      for (const service of this.services) await service.start();
    }
    const address = await this.core.listen(port, host);
    if (this.cluster !== null) await this.cluster.start(address); // registers with the bound port
    return address;
  }

  /**
   * Stops accepting, lets in-flight HTTP responses finish (every further response says
   * `Connection: close`), and resolves when every connection is closed or `deadlineMs` passed; then
   * closes the services in reverse order (every audio stream durable, the rooms' bus released) and
   * leaves the cluster (presence and heartbeat deleted, so its rooms move at once).
   */
  async close(deadlineMs = 5000): Promise<void> {
    // Every further HTTP response says `Connection: close`, also on connections opened meanwhile.
    this.http.draining = true;
    await this.core.close(deadlineMs);
    for (const service of [...this.services].reverse()) await service.close();
    await this.cluster?.close();
  }

  /** What the services found when they started (for the start-up line): the audio cache's streams and set-aside entries. */
  startupSummary(): Record<string, unknown> {
    const io = { sockets: this.core.acceptor.socketIo };
    return this.audioCache !== null ? { ...io, audioCache: this.audioCache.summary() } : io;
  }

  /** Every counter of the server's own layers, for the admin API and tests. */
  stats(): ServerStats {
    return { core: this.core.stats(), ws: structuredClone(this.ws.stats), http: { ...this.http.stats, responsesByClass: [...this.http.stats.responsesByClass], errorsByStatus: { ...this.http.stats.errorsByStatus } } };
  }
}
