import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Slabcast } from '../../app.js';
import { addAdminApi } from './admin-api.js';
import { LocalBus } from './bus.js';
import { MemoryHistory } from './history.js';
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
 * Wires rooms into `app`: the `/ws/room/` endpoint, the `/api/push/*` routes, a history sweep, and
 * the start-up warnings for open token mode and an open admin API. Throws ConfigError for a bad
 * `--rate-limit` (construction time, never in the loop).
 */
export function mountRooms(app: Slabcast): Rooms {
  const c = app.config;
  const history = new MemoryHistory(c.historySize, c.historyTtlSeconds * 1000);
  const bus = new LocalBus();
  const service = new RoomService({
    handler: app.ws,
    bus,
    history,
    instanceId: c.instanceId !== '' ? c.instanceId : `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    maxTextBytes: c.maxTextBytes,
    rateLimit: parseRateLimit(c.rateLimit),
    maxBackpressureBytes: c.wsMaxBackpressureBytes,
    slowCloseMs: c.slowCloseSeconds * 1000,
    voiceMaxPendingBytes: c.voiceMaxPendingBytes,
  });
  const refusals: RoomRefusals = {};
  app.addEndpoint(roomEndpoint(service, { tokenSecret: c.tokenSecret }, refusals));
  addAdminApi(app.router, service, {
    adminKey: c.adminKey,
    maxTextBytes: c.maxTextBytes,
    ...(c.advertiseUrl !== '' ? { publicUrl: c.advertiseUrl.replace(/\/+$/, '') } : {}),
    instanceStats: () => {
      const s = app.stats();
      return {
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
