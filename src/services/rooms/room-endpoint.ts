import { randomBytes } from 'node:crypto';
import { SlowConsumerPolicy, type UpgradeRequest, type UpgradeVerdict, type WebSocketEndpoint } from '../../protocols/websocket/endpoint.js';
import { isValidRoomId, isValidUserId } from './room-id.js';
import type { Member, RoomService } from './room-service.js';
import { RoomSession } from './room-session.js';
import type { TokenVerifier } from '../../auth/token-verifier.js';
import { tokenFrom } from '../../auth/token-verifier.js';
import { tokenErrorStatus } from '../../auth/token-error.js';
import { roomClaims } from './token.js';

/** Path prefix of room sockets: `/ws/room/{roomId}`. */
export const ROOM_PATH_PREFIX = '/ws/room/';

/** Handshake refusals by reason (a token error code, `BAD_ROOM_ID`, `BAD_USER`, `BAD_SINCE`). */
export type RoomRefusals = Record<string, number>;

/** How the endpoint authenticates: tokens checked by the server's verifier, or open mode when it has no key. */
export interface RoomEndpointOptions {
  /** The server's token verifier; null or one without keys (`enabled` false) = open mode. */
  tokens: TokenVerifier | null;
  /** Pending output past which a member's danmaku are dropped (`--max-backpressure-bytes`). */
  maxBackpressureBytes?: number;
  /** Seconds since the epoch (tests move the clock). */
  nowSec?: () => number;
}

const SINCE = /^\d{1,15}$/;

/**
 * `/ws/room/{roomId}?token=…[&since=…]` (or `?user=…` in open mode): the room service's
 * WebSocket endpoint. Authentication happens in `upgrade`, before the 101, so a missing, bad,
 * expired or wrong-room token is a plain `401` and no WebSocket ever exists. Slow consumers use
 * the fan-out's Drop policy; the service closes those that stay slow.
 */
export function roomEndpoint(service: RoomService, options: RoomEndpointOptions, refusals: RoomRefusals = {}): WebSocketEndpoint<RoomSession> {
  const nowSec = options.nowSec ?? (() => Math.floor(Date.now() / 1000));
  const refuse = (status: number, code: string, message: string): UpgradeVerdict<RoomSession> => {
    refusals[code] = (refusals[code] ?? 0) + 1;
    return { accept: false, status, code, message: `${code}: ${message}` };
  };
  return {
    path: ROOM_PATH_PREFIX,
    matchPrefix: true,
    maxBackpressureBytes: options.maxBackpressureBytes,
    slowConsumer: SlowConsumerPolicy.Drop,
    // permessage-deflate for the text frames (danmaku, system, presence), compressed once per
    // broadcast; voice frames are binary audio, which does not compress: sent as they are.
    compressBinary: false,
    upgrade(req: UpgradeRequest): UpgradeVerdict<RoomSession> | Promise<UpgradeVerdict<RoomSession>> {
      const roomId = req.path.slice(ROOM_PATH_PREFIX.length);
      if (!isValidRoomId(roomId)) return refuse(400, 'BAD_ROOM_ID', 'room ids are 1-64 of [A-Za-z0-9_-]');
      const q = new URLSearchParams(req.query);
      const sinceRaw = q.get('since');
      if (sinceRaw !== null && !SINCE.test(sinceRaw)) return refuse(400, 'BAD_SINCE', 'since must be a message id');
      const since = sinceRaw === null ? null : Number(sinceRaw);
      const tokens = options.tokens;
      if (tokens !== null && tokens.enabled) {
        // `?token=` (browsers cannot set headers on a WebSocket) or `Authorization: Bearer` (kept out of proxy logs).
        return tokens.verify(tokenFrom(req), nowSec()).then((verified) => {
          const verdict = roomClaims(verified, roomId);
          if (!verdict.ok) return refuse(tokenErrorStatus(verdict.error), verdict.error, 'a valid token for this room is required');
          const session = new RoomSession(roomId, verdict.claims.sub, since);
          session.expSec = verdict.claims.exp ?? 0; // the service keeps it valid for the whole connection (token-lifetime.ts)
          return { accept: true, data: session };
        });
      }
      // Open mode (no token keys): the client names itself, or gets a guest id.
      const named = q.get('user');
      if (named !== null && !isValidUserId(named)) return refuse(400, 'BAD_USER', 'user ids are 1-128 characters, no controls');
      return { accept: true, data: new RoomSession(roomId, named ?? `guest-${randomBytes(6).toString('hex')}`, since) };
    },
    onOpen(ws: Member) {
      service.join(ws, ws.data);
    },
    onMessage(ws: Member, data: Buffer, isBinary: boolean) {
      const s = ws.data;
      if (!s.joined) return;
      if (isBinary) service.onVoice(ws, s, data);
      else service.onText(ws, s, data);
    },
    onDrain(ws: Member) {
      service.drained(ws.data);
    },
    // A fan-out skipped this member as slow: the service closes it if it stays slow.
    onSlow(ws: Member) {
      service.slow(ws);
    },
    onClose(ws: Member) {
      service.leave(ws, ws.data);
    },
  };
}
