import { CloseCode } from '../../protocols/websocket/opcode.js';
import type { WebSocket } from '../../protocols/websocket/websocket.js';
import type { WebSocketHandler } from '../../protocols/websocket/websocket-handler.js';
import { type BroadcastBus, type BusListener, Delivery, type RoomEnvelope } from './bus.js';
import type { HistoryStore } from './history.js';
import { type RateLimit, RateLimiter } from './rate-limiter.js';
import { type LeaveResult, type Room, RoomRegistry } from './room-registry.js';
import {
  type ClientMessage,
  danmakuJson,
  errorJson,
  parseClientMessage,
  presenceJson,
  readyJson,
  RoomErrorCode,
  systemJson,
  whisperJson,
  whoJson,
} from './room-messages.js';
import type { RoomSession } from './room-session.js';

/** Close code of members of a room deleted through the admin API (4000–4999: private use, RFC 6455 §7.4.2). */
export const ROOM_CLOSED_CODE = 4000;

/** Limits and collaborators of a {@link RoomService}. */
export interface RoomServiceOptions {
  /** The WebSocket layer: owner of the encode-once `broadcast`. */
  handler: WebSocketHandler;
  bus: BroadcastBus;
  history: HistoryStore;
  /** This instance's id (envelope origin, admin status). */
  instanceId: string;
  maxTextBytes: number;
  rateLimit: RateLimit;
  /** The fan-out's slow-consumer bound (`wsMaxBackpressureBytes`): past it danmaku are dropped. */
  maxBackpressureBytes: number;
  /** A member past the bound this long is closed 1013. */
  slowCloseMs: number;
  /** Past this much pending output a member skips voice frames. */
  voiceMaxPendingBytes: number;
  /** Errors within {@link misbehaviourWindowMs} that close a connection 1008 (default 50 in 10 s). */
  maxErrors?: number;
  misbehaviourWindowMs?: number;
}

/** Counters of the room service (admin `status`). */
export interface RoomStats {
  /** Text messages received (danmaku, whisper, who, invalid ones). */
  messagesIn: number;
  /** Voice frames received. */
  voiceIn: number;
  /** Frames queued to members by room deliveries. */
  messagesOut: number;
  /** Deliveries skipped for members past the backpressure bound. */
  slowDrops: number;
  /** Voice frames skipped for members past `--voice-max-pending-bytes`. */
  voiceDrops: number;
  /** Members closed 1013 after `--slow-close-seconds` past the bound. */
  slowCloses: number;
  /** Members closed 1008 for repeated errors. */
  policyCloses: number;
  /** Error replies by code. */
  errors: Record<string, number>;
}

const DEFAULT_MAX_ERRORS = 50;
const DEFAULT_MISBEHAVIOUR_WINDOW_MS = 10_000;

/**
 * Rooms on this instance: membership, the protocol's actions, and local delivery of bus
 * envelopes. Every room delivery is published on the {@link BroadcastBus} and comes back through
 * {@link deliver}, which frames it once per instance (`WebSocketHandler.broadcast`); ids and
 * history go through the {@link HistoryStore}. Replies to one connection (history replay,
 * `ready`, `who`, errors) are sent directly: they are not room deliveries.
 */
export class RoomService {
  readonly registry = new RoomRegistry<WebSocket>();
  readonly limiter: RateLimiter;
  readonly stats: RoomStats = { messagesIn: 0, voiceIn: 0, messagesOut: 0, slowDrops: 0, voiceDrops: 0, slowCloses: 0, policyCloses: 0, errors: {} };
  readonly startedAt = Date.now();
  private readonly byId = new Map<number, WebSocket>();
  /** Reused target list for filtered fan-outs (voice, whisper): no allocation per message. */
  private readonly scratch: WebSocket[] = [];
  private readonly listener: BusListener = (envelope) => this.deliver(envelope);
  private readonly maxErrors: number;
  private readonly windowMs: number;

  constructor(readonly options: RoomServiceOptions) {
    this.limiter = new RateLimiter(options.rateLimit);
    this.maxErrors = options.maxErrors ?? DEFAULT_MAX_ERRORS;
    this.windowMs = options.misbehaviourWindowMs ?? DEFAULT_MISBEHAVIOUR_WINDOW_MS;
  }

  /**
   * A member arrives: it gets the kept history after its `since` (the original messages, in
   * order) and `ready`, then it joins, and everyone (itself included) sees `join` if it is the
   * user's first session. All of it runs synchronously, so no live message can slip in between.
   */
  join(ws: WebSocket, s: RoomSession): void {
    const { history } = this.options;
    const read = history.read(s.room, s.since, Date.now());
    for (const e of read.entries) ws.send(e.json);
    ws.send(readyJson(read.lastId, read.gap));
    const { room, firstInRoom } = this.registry.add(s.room, s.user, ws);
    s.joined = true;
    this.byId.set(ws.id, ws);
    if (room.members.size === 1) this.options.bus.subscribe(s.room, this.listener);
    if (firstInRoom) this.publish(s.room, Delivery.Everyone, presenceJson('join', s.user, room.userCount));
  }

  /** A member is gone (closed, failed, or removed by a room close). Idempotent. */
  leave(ws: WebSocket, s: RoomSession): void {
    const left = this.detach(ws, s);
    // Published even when the room emptied here: other instances may still have members.
    if (left !== null && left.lastInRoom) this.publish(s.room, Delivery.Everyone, presenceJson('leave', s.user, left.room.userCount));
  }

  /** Removes a member without presence (a closing room tells nobody who left). */
  private detach(ws: WebSocket, s: RoomSession): LeaveResult<WebSocket> | null {
    this.clearSlow(s);
    if (!s.joined) return null;
    s.joined = false;
    this.byId.delete(ws.id);
    const left = this.registry.remove(s.room, s.user, ws);
    if (left === null) return null;
    if (left.lastAnywhere) this.limiter.forget(s.user);
    if (left.emptied) this.options.bus.unsubscribe(s.room, this.listener);
    return left;
  }

  /** One text frame from a member: rate limit, parse, act; a refused message gets an error reply. */
  onText(ws: WebSocket, s: RoomSession, data: Uint8Array): void {
    this.stats.messagesIn++;
    const now = Date.now();
    if (!this.limiter.take(s.user, now)) {
      this.refuse(ws, s, RoomErrorCode.RateLimited, 'slow down', now);
      return;
    }
    const msg = parseClientMessage(data, this.options.maxTextBytes);
    if (msg.type === 'error') {
      this.refuse(ws, s, msg.code, msg.message, now);
      return;
    }
    this.act(ws, s, msg, now);
  }

  private act(ws: WebSocket, s: RoomSession, msg: ClientMessage, now: number): void {
    const { history } = this.options;
    switch (msg.type) {
      case 'danmaku': {
        const id = history.allocateId(s.room);
        const json = danmakuJson(id, s.room, s.user, now, msg.text, msg.color, msg.mode);
        history.append(s.room, { id, ts: now, json });
        this.publish(s.room, Delivery.Everyone, json);
        return;
      }
      case 'whisper': {
        // Local presence only: the cluster issue answers "is `to` in the room" across instances.
        if (this.registry.get(s.room)?.users.has(msg.to) !== true) {
          this.refuse(ws, s, RoomErrorCode.NoSuchUser, `${msg.to} is not in the room`, now);
          return;
        }
        const id = history.allocateId(s.room); // a room id, but whispers are never kept
        const json = whisperJson(id, s.room, s.user, msg.to, now, msg.text);
        this.options.bus.publish({ room: s.room, delivery: Delivery.User, payload: json, user: msg.to, origin: this.options.instanceId, conn: ws.id });
        return;
      }
      case 'who': {
        const room = this.registry.get(s.room);
        ws.send(whoJson(room === undefined ? [] : [...room.users.keys()]));
        return;
      }
    }
  }

  /** One binary frame: voice, relayed to every member but the sender's own sessions, never kept. */
  onVoice(_ws: WebSocket, s: RoomSession, data: Uint8Array): void {
    this.stats.voiceIn++;
    this.options.bus.publish({ room: s.room, delivery: Delivery.ExceptUser, payload: data, user: s.user, origin: this.options.instanceId, conn: -1 });
  }

  /** An admin system message: kept in history, delivered to everyone. Returns its id. */
  system(roomId: string, text: string): number {
    const { history } = this.options;
    const now = Date.now();
    const id = history.allocateId(roomId);
    const json = systemJson(id, roomId, now, text);
    history.append(roomId, { id, ts: now, json });
    this.publish(roomId, Delivery.Everyone, json);
    return id;
  }

  /** Closes every member of `roomId` (everywhere, through the bus) with 4000 and drops its state. */
  closeRoom(roomId: string, reason: string): number {
    const count = this.registry.get(roomId)?.members.size ?? 0;
    this.options.bus.publish({ room: roomId, delivery: Delivery.CloseRoom, payload: reason, user: '', origin: this.options.instanceId, conn: -1, closeCode: ROOM_CLOSED_CODE });
    this.options.history.delete(roomId);
    return count;
  }

  /** Whether the room has local members or kept state (the admin API's "known room"). */
  knows(roomId: string): boolean {
    return this.registry.get(roomId) !== undefined || this.options.history.has(roomId);
  }

  /** The member's output drained: it is no longer slow. */
  drained(s: RoomSession): void {
    this.clearSlow(s);
  }

  /** Local delivery of one envelope, framed once for all its local recipients. */
  deliver(env: RoomEnvelope): void {
    const room = this.registry.get(env.room);
    if (room === undefined) return;
    const handler = this.options.handler;
    switch (env.delivery) {
      case Delivery.Everyone: {
        const r = handler.broadcast(room.members, env.payload, typeof env.payload !== 'string');
        this.counted(room, r.sent, r.dropped);
        return;
      }
      case Delivery.ExceptUser: {
        const targets = this.voiceTargets(room, env.user);
        if (targets.length > 0) {
          const r = handler.broadcast(targets, env.payload, true);
          this.counted(room, r.sent, r.dropped);
        }
        targets.length = 0;
        return;
      }
      case Delivery.User: {
        const targets = this.scratch;
        const sessions = room.users.get(env.user);
        if (sessions !== undefined) for (const ws of sessions) targets.push(ws);
        const sender = env.origin === this.options.instanceId ? this.byId.get(env.conn) : undefined;
        if (sender !== undefined && !targets.includes(sender)) targets.push(sender);
        if (targets.length > 0) {
          const r = handler.broadcast(targets, env.payload, false);
          this.counted(room, r.sent, r.dropped);
        }
        targets.length = 0;
        return;
      }
      case Delivery.CloseRoom: {
        const reason = typeof env.payload === 'string' ? env.payload : 'room closed';
        for (const ws of [...room.members]) {
          this.detach(ws, ws.data as RoomSession);
          ws.close(env.closeCode ?? ROOM_CLOSED_CODE, reason);
        }
        return;
      }
    }
  }

  private voiceTargets(room: Room<WebSocket>, except: string): WebSocket[] {
    const targets = this.scratch;
    const limit = this.options.voiceMaxPendingBytes;
    for (const ws of room.members) {
      if ((ws.data as RoomSession).user === except) continue;
      // Latency first: a member with output queued misses this frame instead of buffering it.
      if (ws.bufferedAmount > limit) this.stats.voiceDrops++;
      else targets.push(ws);
    }
    return targets;
  }

  /** Counts a fan-out; when members were dropped as slow, starts their slow-close clocks. */
  private counted(room: Room<WebSocket>, sent: number, dropped: number): void {
    this.stats.messagesOut += sent;
    if (dropped === 0) return;
    this.stats.slowDrops += dropped;
    const limit = this.options.maxBackpressureBytes;
    for (const ws of room.members) {
      if (ws.isOpen && ws.bufferedAmount > limit) this.markSlow(ws, ws.data as RoomSession);
    }
  }

  private markSlow(ws: WebSocket, s: RoomSession): void {
    if (s.slowSinceMs !== 0) return;
    s.slowSinceMs = Date.now();
    s.slowTimer = setTimeout(slowTimerFired, this.options.slowCloseMs, this, ws);
    s.slowTimer.unref();
  }

  /** @internal the slow-close clock of `ws` ran out: still past the bound → 1013. */
  slowCheck(ws: WebSocket): void {
    const s = ws.data as RoomSession;
    s.slowTimer = null;
    if (ws.isOpen && ws.bufferedAmount > this.options.maxBackpressureBytes) {
      this.stats.slowCloses++;
      ws.close(CloseCode.TryAgainLater, 'slow consumer');
    } else s.slowSinceMs = 0;
  }

  private clearSlow(s: RoomSession): void {
    if (s.slowTimer !== null) clearTimeout(s.slowTimer);
    s.slowTimer = null;
    s.slowSinceMs = 0;
  }

  /** Sends an error reply; the `maxErrors`-th error within the window closes the connection 1008. */
  private refuse(ws: WebSocket, s: RoomSession, code: RoomErrorCode, message: string, now: number): void {
    this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
    ws.send(errorJson(code, message));
    if (now - s.errorWindowStartMs > this.windowMs) {
      s.errorWindowStartMs = now;
      s.errors = 0;
    }
    if (++s.errors >= this.maxErrors) {
      this.stats.policyCloses++;
      ws.close(CloseCode.PolicyViolation, 'too many errors');
    }
  }

  private publish(room: string, delivery: Delivery, payload: string): void {
    this.options.bus.publish({ room, delivery, payload, user: '', origin: this.options.instanceId, conn: -1 });
  }
}

function slowTimerFired(service: RoomService, ws: WebSocket): void {
  service.slowCheck(ws);
}
