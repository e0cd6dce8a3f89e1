import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopbackAddress } from '../../auth/loopback.js';
import type { HttpRequest } from '../../protocols/http/http-request.js';
import type { HttpResponse } from '../../protocols/http/http-response.js';
import type { Router } from '../../protocols/http/router.js';
import { ROOM_PATH_PREFIX } from './room-endpoint.js';
import { isValidRoomId } from './room-id.js';
import type { RoomService } from './room-service.js';

/** Error codes of the admin API's JSON error bodies `{"error":…,"message":…}`. Stable. */
export const AdminError = {
  Unauthorized: 'UNAUTHORIZED',
  /** No `--admin-key` and no `--insecure`: only loopback clients may use the API (403). */
  LoopbackOnly: 'ADMIN_LOOPBACK_ONLY',
  BadRoomId: 'BAD_ROOM_ID',
  NoSuchRoom: 'NO_SUCH_ROOM',
  BadJson: 'BAD_JSON',
  BadMessage: 'BAD_MESSAGE',
  TooLong: 'TOO_LONG',
} as const;
export type AdminError = (typeof AdminError)[keyof typeof AdminError];

/** What the admin API needs besides the room service. */
export interface AdminApiOptions {
  /** Bearer key; '' = no key: loopback clients only, or everyone with {@link insecure} (the start-up warning says which). */
  adminKey: string;
  /** Without a key, answer every client rather than loopback ones only (`--insecure`). */
  insecure?: boolean;
  maxTextBytes: number;
  /** Instance-wide figures for `status` (connections, slabs, memory). */
  instanceStats: () => Record<string, unknown>;
  /** Base URL clients reach this instance at; default: `ws://{Host header}`. */
  publicUrl?: string;
  /** Cluster mode: which instance owns a room (the consistent-hash ring); absent = always this one. */
  placement?: (room: string) => RoomOwner;
  /** Told of every action that changes something (a system broadcast, a room closed): the audit log. */
  audit?: (action: 'broadcast' | 'delete', detail: Readonly<Record<string, string | number>>) => void;
}

/** The instance that owns a room: its id, its advertised base URL, and whether it is this one. */
export interface RoomOwner {
  readonly id: string;
  readonly url: string;
  readonly local: boolean;
}

type Handler = (req: HttpRequest, res: HttpResponse) => void | Promise<void>;

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * The admin HTTP API under `/api/push/`: status, system broadcast, room inspection and deletion,
 * behind `Authorization: Bearer {adminKey}` (compared in constant time over SHA-256 digests, so
 * neither content nor length leaks). Without a key it answers loopback clients only (others get
 * 403 `ADMIN_LOOPBACK_ONLY`), unless `insecure` opens it. `GET /api/push/check/{roomId}` is always public: gateways
 * ask it where a room lives. Wrong methods get the router's 405 JSON with `Allow`.
 */
export function addAdminApi(router: Router, service: RoomService, options: AdminApiOptions): void {
  const keyDigest = options.adminKey === '' ? null : digest(options.adminKey);
  const guarded =
    (handler: Handler): Handler =>
    (req, res) => {
      if (keyDigest === null && options.insecure !== true && !isLoopbackAddress(req.remoteAddress)) {
        // Secure by default: without a key, the port being reachable is not enough to act on rooms.
        res.json({ error: AdminError.LoopbackOnly, message: 'no --admin-key is set: the admin API answers loopback clients only (set --admin-key, or --insecure to open it)' }, 403);
        return;
      }
      if (keyDigest !== null) {
        const auth = req.header('authorization') ?? '';
        const given = auth.startsWith('Bearer ') ? digest(auth.slice(7).trim()) : null;
        if (given === null || !timingSafeEqual(given, keyDigest)) {
          res.setHeader('WWW-Authenticate', 'Bearer realm="slabcast"'); // RFC 6750 §3
          res.json({ error: AdminError.Unauthorized, message: 'Authorization: Bearer <admin key> required' }, 401);
          return;
        }
      }
      return handler(req, res);
    };
  const withRoom =
    (handler: (req: HttpRequest, res: HttpResponse, room: string) => void | Promise<void>): Handler =>
    (req, res) => {
      const room = req.params.roomId ?? '';
      if (!isValidRoomId(room)) {
        res.json({ error: AdminError.BadRoomId, message: 'room ids are 1-64 of [A-Za-z0-9_-]' }, 400);
        return;
      }
      return handler(req, res, room);
    };

  router.add(
    'GET',
    '/api/push/status',
    guarded((_req, res) => {
      const r = service.registry;
      res.json({
        id: service.options.instanceId,
        uptimeMs: Date.now() - service.startedAt,
        rooms: r.roomCount,
        roomConnections: r.connectionCount,
        users: r.userCount,
        ...service.stats,
        ...options.instanceStats(),
      });
    }),
  );

  router.add(
    'POST',
    '/api/push/broadcast/:roomId',
    guarded(
      withRoom(async (req, res, room) => {
        let body: unknown;
        try {
          body = req.json();
        } catch {
          // The client's bad JSON is a 400 value, not a handler failure.
          res.json({ error: AdminError.BadJson, message: 'body must be JSON' }, 400);
          return;
        }
        const text = typeof body === 'object' && body !== null ? (body as { text?: unknown }).text : undefined;
        if (typeof text !== 'string' || text.length === 0) {
          res.json({ error: AdminError.BadMessage, message: 'body must be {"text": "…"}' }, 400);
          return;
        }
        if (Buffer.byteLength(text, 'utf8') > options.maxTextBytes) {
          res.json({ error: AdminError.TooLong, message: `text is over ${options.maxTextBytes} bytes of UTF-8` }, 413);
          return;
        }
        if (!(await service.knows(room))) {
          res.json({ error: AdminError.NoSuchRoom, message: `no room ${room}` }, 404);
          return;
        }
        const id = await service.system(room, text);
        options.audit?.('broadcast', { room, id, bytes: Buffer.byteLength(text, 'utf8') });
        res.json({ room, id });
      }),
    ),
  );

  router.add(
    'GET',
    '/api/push/check/:roomId',
    withRoom((req, res, room) => {
      if (options.placement !== undefined) {
        const owner = options.placement(room);
        res.json({ room, owner: { id: owner.id, url: `${owner.url}${ROOM_PATH_PREFIX}${room}` }, local: owner.local });
        return;
      }
      const base = options.publicUrl ?? `ws://${req.header('host') ?? 'localhost'}`;
      res.json({ room, owner: { id: service.options.instanceId, url: `${base}${ROOM_PATH_PREFIX}${room}` }, local: true });
    }),
  );

  router.add(
    'GET',
    '/api/push/room/:roomId',
    guarded(
      withRoom(async (_req, res, room) => {
        const r = service.registry.get(room);
        if (r === undefined && !(await service.knows(room))) {
          res.json({ error: AdminError.NoSuchRoom, message: `no room ${room}` }, 404);
          return;
        }
        // `users`/`connections`: this instance's sessions; `count` (and `cluster` in cluster mode): every instance.
        const users = r === undefined ? [] : [...r.users].map(([id, sessions]) => ({ id, sessions: sessions.size }));
        const { lastId } = await service.options.history.read(room, null, Date.now());
        const presence = service.options.presence;
        if (presence === undefined) {
          res.json({ room, count: users.length, connections: r?.members.size ?? 0, users, lastId });
          return;
        }
        const everyone = await presence.users(room, r?.users ?? new Map());
        res.json({ room, count: everyone.length, connections: r?.members.size ?? 0, users, lastId, cluster: { users: everyone } });
      }),
    ),
  );

  router.add(
    'DELETE',
    '/api/push/room/:roomId',
    guarded(
      withRoom(async (_req, res, room) => {
        if (!(await service.knows(room))) {
          res.json({ error: AdminError.NoSuchRoom, message: `no room ${room}` }, 404);
          return;
        }
        const closed = service.closeRoom(room, 'room closed by admin');
        options.audit?.('delete', { room, closed });
        res.json({ room, closed });
      }),
    ),
  );
}
