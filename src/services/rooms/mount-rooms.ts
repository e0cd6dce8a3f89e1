import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Slabcast } from '../../slabcast.js';
import { addAdminApi, type RoomOwner } from './admin-api.js';
import { type BroadcastBus, LocalBus } from './bus.js';
import { type HistoryStore, MemoryHistory } from './history.js';
import type { PresenceStore } from './presence.js';
import { parseRateLimit } from './rate-limiter.js';
import { roomEndpoint, type RoomRefusals } from './room-endpoint.js';
import { RoomService } from './room-service.js';

/** The mounted room service: the service, its handshake refusals, and `close()` for shutdown. */
export interface Rooms {
  readonly service: RoomService;
  readonly refusals: RoomRefusals;
  /** Stops the history sweep and releases the bus. */
  close(): Promise<void>;
}

/**
 * What cluster mode plugs into rooms (src/cluster/cluster-node.ts builds it): the shared bus,
 * history and presence, ring placement for `/api/push/check`, and its figures for `status`.
 */
export interface RoomsBackend {
  readonly instanceId: string;
  readonly bus: BroadcastBus;
  readonly history: HistoryStore;
  readonly presence: PresenceStore;
  placement(room: string): RoomOwner;
  /** `cluster` of `/api/push/status`: Redis link state and outage, ring, bus counters. */
  status(): Record<string, unknown>;
  /** A shared-store step failed (logging; the service counts it). */
  onError(err: unknown): void;
}

/**
 * Wires rooms into `app`: the `/ws/room/` endpoint, the `/api/push/*` routes, a history sweep, and
 * the start-up warnings for open token mode and an open admin API. Throws ConfigError for a bad
 * `--rate-limit` (construction time, never in the loop). Without `backend` (single node) the bus and
 * history are in-process.
 */
export function mountRooms(app: Slabcast, backend?: RoomsBackend): Rooms {
  const c = app.config;
  const history = backend?.history ?? new MemoryHistory(c.historySize, c.historyTtlSeconds * 1000);
  const bus = backend?.bus ?? new LocalBus();
  const service = new RoomService({
    handler: app.ws,
    bus,
    history,
    ...(backend !== undefined ? { presence: backend.presence, onError: (err: unknown) => backend.onError(err) } : {}),
    instanceId: backend?.instanceId ?? (c.instanceId !== '' ? c.instanceId : `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`),
    maxTextBytes: c.maxTextBytes,
    rateLimit: parseRateLimit(c.rateLimit),
    maxBackpressureBytes: c.maxBackpressureBytes,
    slowCloseMs: c.slowCloseSeconds * 1000,
    voiceMaxPendingBytes: c.voiceMaxPendingBytes,
  });
  const refusals: RoomRefusals = {};
  app.addEndpoint(roomEndpoint(service, { tokenSecret: c.tokenSecret, maxBackpressureBytes: c.maxBackpressureBytes }, refusals));
  addAdminApi(app.router, service, {
    adminKey: c.adminKey,
    maxTextBytes: c.maxTextBytes,
    ...(c.advertiseUrl !== '' ? { publicUrl: c.advertiseUrl.replace(/\/+$/, '') } : {}),
    ...(backend !== undefined ? { placement: (room: string) => backend.placement(room) } : {}),
    instanceStats: () => {
      const s = app.stats();
      return {
        ...(backend !== undefined ? { cluster: backend.status() } : {}),
        connections: s.core.processor.open,
        ws: { opened: s.ws.opened, closed: s.ws.closed, messagesIn: s.ws.messagesIn, messagesOut: s.ws.messagesOut, slowConsumerDrops: s.ws.slowConsumerDrops },
        slabs: [s.core.readSlab, s.core.writeSlab].map((slab) => ({ name: slab.name, totalBytes: slab.totalBytes, exhausted: slab.exhausted, tiers: slab.tiers })),
        memory: process.memoryUsage(),
      };
    },
  });
  if (c.tokenSecret === '') {
    app.startupWarnings.push('rooms: OPEN MODE, no --token-secret: anyone can join any room as any user (?user=)');
  }
  if (c.workers > 1 && backend === undefined) {
    app.startupWarnings.push(`rooms: --workers ${c.workers} without --redis: each worker has its own rooms; members on different workers do not see each other`);
  }
  if (c.adminKey === '') {
    app.startupWarnings.push('rooms: the admin API /api/push/* is OPEN, no --admin-key: anyone can broadcast to and delete rooms');
  }
  // Housekeeping, not a poll loop: expired history of rooms nobody touches is freed once per period.
  const sweep = setInterval(() => history.sweep(Date.now(), (room) => service.registry.get(room) !== undefined), Math.min(c.historyTtlSeconds * 1000, 60_000));
  sweep.unref();
  return {
    service,
    refusals,
    close: () => {
      clearInterval(sweep);
      return bus.close();
    },
  };
}
