import type { Service, ServiceHost } from '../service-host.js';
import { addAdminApi, type RoomOwner } from './admin-api.js';
import { type BroadcastBus, LocalBus } from './bus.js';
import { type HistoryStore, MemoryHistory } from './history.js';
import type { PresenceStore } from './presence.js';
import type { RateGate, RateLimit } from './rate-limiter.js';
import { roomEndpoint, type RoomRefusals } from './room-endpoint.js';
import { registerRoomMetrics } from './room-metrics.js';
import { RoomService } from './room-service.js';
import { TokenLifetime } from './token-lifetime.js';
import { roomClaims } from './token.js';

/** The rooms' slice of the configuration, parsed (src/settings.ts builds it). */
export interface RoomsOptions {
  /** Mount the `/ws/room/` endpoint. */
  endpoint: boolean;
  /** Mount the admin API `/api/push/*`. */
  adminApi: boolean;
  /** `--admin-key`; '' leaves the admin API to loopback clients (or to everyone with {@link insecure}). */
  adminKey: string;
  /** `--insecure`: without `--admin-key` the admin API answers every client, not only loopback ones. */
  insecure: boolean;
  historySize: number;
  historyTtlMs: number;
  maxTextBytes: number;
  rateLimit: RateLimit;
  maxBackpressureBytes: number;
  slowCloseMs: number;
  voiceMaxPendingBytes: number;
  /** `--workers`: only for the start-up warning that rooms do not span workers without Redis. */
  workers: number;
}

/** The mounted room service: the service and its handshake refusals. `close()` stops the sweep and releases the bus. */
export interface Rooms extends Service {
  readonly service: RoomService;
  readonly refusals: RoomRefusals;
}

/**
 * What cluster mode plugs into rooms (src/cluster/cluster-node.ts builds it): the shared bus,
 * history and presence, ring placement for `/api/push/check`, and its figures for `status`.
 */
export interface RoomsBackend {
  readonly bus: BroadcastBus;
  readonly history: HistoryStore;
  readonly presence: PresenceStore;
  /** The per-user rate limit across instances (in place of the per-instance one). */
  readonly rateGate?: RateGate;
  placement(room: string): RoomOwner;
  /** `cluster` of `/api/push/status`: Redis link state and outage, ring, bus counters. */
  status(): Record<string, unknown>;
  /** A shared-store step failed (logging; the service counts it). */
  onError(err: unknown): void;
}

/**
 * Mounts rooms on `host`: the `/ws/room/` endpoint and the `/api/push/*` routes (each when asked for), the rooms' metrics,
 * a history sweep (from `start()`), and the start-up warnings for open token mode and an open admin
 * API. Without `backend` (single node) the bus and history are in-process.
 */
export function mountRooms(host: ServiceHost, options: RoomsOptions, backend?: RoomsBackend): Rooms {
  const o = options;
  // The server's one verifier (jose: --token-secret, --token-public-key, --token-jwks-url); no key = open mode.
  const tokens = host.tokens;
  const history = backend?.history ?? new MemoryHistory(o.historySize, o.historyTtlMs);
  const bus = backend?.bus ?? new LocalBus();
  const service = new RoomService({
    handler: host.ws,
    bus,
    history,
    ...(backend !== undefined ? { presence: backend.presence, onError: (err: unknown) => backend.onError(err) } : {}),
    ...(backend?.rateGate !== undefined ? { rateGate: backend.rateGate } : {}),
    instanceId: host.identity.instanceId,
    maxTextBytes: o.maxTextBytes,
    rateLimit: o.rateLimit,
    maxBackpressureBytes: o.maxBackpressureBytes,
    slowCloseMs: o.slowCloseMs,
    voiceMaxPendingBytes: o.voiceMaxPendingBytes,
    ...(tokens.enabled ? { tokens: new TokenLifetime(async (token, room) => roomClaims(await tokens.verify(token), room)) } : {}),
  });
  const refusals: RoomRefusals = {};
  if (o.endpoint) host.addEndpoint(roomEndpoint(service, { tokens, maxBackpressureBytes: o.maxBackpressureBytes }, refusals));
  if (o.adminApi) addAdminApi(host.router, service, {
    adminKey: o.adminKey,
    insecure: o.insecure,
    maxTextBytes: o.maxTextBytes,
    ...(host.identity.advertiseUrl !== '' ? { publicUrl: host.identity.advertiseUrl } : {}),
    ...(backend !== undefined ? { placement: (room: string) => backend.placement(room) } : {}),
    audit: (action, detail) => host.logger.info({ audit: `admin.${action}`, ...detail }, `admin API: ${action === 'broadcast' ? 'system message sent' : 'room closed'}`),
    instanceStats: () => {
      const s = host.stats();
      return {
        ...(backend !== undefined ? { cluster: backend.status() } : {}),
        connections: s.core.processor.open,
        ws: { opened: s.ws.opened, closed: s.ws.closed, messagesIn: s.ws.messagesIn, messagesOut: s.ws.messagesOut, slowConsumerDrops: s.ws.slowConsumerDrops },
        slabs: [s.core.readSlab, s.core.writeSlab].map((slab) => ({ name: slab.name, totalBytes: slab.totalBytes, exhausted: slab.exhausted, tiers: slab.tiers })),
        memory: process.memoryUsage(),
      };
    },
  });
  registerRoomMetrics(host.metrics, service);
  if (o.endpoint && !tokens.enabled) {
    host.warn('rooms: OPEN MODE, no token key (--token-secret, --token-public-key, --token-jwks-url): anyone can join any room as any user (?user=)');
  }
  if (o.endpoint && o.workers > 1 && backend === undefined) {
    host.warn(`rooms: --workers ${o.workers} without --redis: each worker has its own rooms; members on different workers do not see each other`);
  }
  if (o.adminApi && o.adminKey === '') {
    host.warn(
      o.insecure
        ? 'rooms: the admin API /api/push/* is OPEN (--insecure, no --admin-key): anyone who reaches the port can broadcast to and close rooms'
        : 'rooms: no --admin-key: the admin API /api/push/* answers loopback clients only (others get 403 ADMIN_LOOPBACK_ONLY)',
    );
  }
  let sweep: NodeJS.Timeout | null = null;
  return {
    service,
    refusals,
    start() {
      // Housekeeping, not a poll loop: expired history of rooms nobody touches is freed once per period.
      if (sweep !== null) return;
      sweep = setInterval(() => history.sweep(Date.now(), (room) => service.registry.get(room) !== undefined), Math.min(o.historyTtlMs, 60_000));
      sweep.unref();
    },
    close() {
      if (sweep !== null) clearInterval(sweep);
      sweep = null;
      return bus.close();
    },
  };
}
