import { CloseCode } from '../../protocols/websocket/opcode.js';
import type { WebSocket } from '../../protocols/websocket/websocket.js';
import type { WebSocketHandler } from '../../protocols/websocket/websocket-handler.js';
import { type BroadcastBus, type BusListener, Delivery, type RoomEnvelope } from './bus.js';
import { type HistoryEntry, type HistoryRead, type HistoryStore, isPromise, type MaybePromise } from './history.js';
import { messageIdOf, type PendingJoin, PendingJoins } from './pending-join.js';
import type { LocalRooms, PresenceNote, PresenceStore } from './presence.js';
import { type RateGate, type RateLimit, RateLimiter } from './rate-limiter.js';
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
import { RoomStepQueue } from './room-step-queue.js';
import { RoomSubscriptions } from './room-subscriptions.js';


/** A room member's socket: its data is its session. */
export type Member = WebSocket<RoomSession>;
import type { RoomSession } from './room-session.js';
import type { TokenLifetime } from './token-lifetime.js';
import type { TokenError } from './token.js';

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
  /** A rate gate other than the per-instance {@link RateLimiter} of `rateLimit` (cluster mode: cluster-wide). */
  rateGate?: RateGate;
  /** The slow-consumer bound (`--max-backpressure-bytes`): past it danmaku are dropped. */
  maxBackpressureBytes: number;
  /** A member past the bound this long is closed 1013. */
  slowCloseMs: number;
  /** Past this much pending output a member skips voice frames. */
  voiceMaxPendingBytes: number;
  /** Errors within {@link misbehaviourWindowMs} that close a connection 1008 (default 50 in 10 s). */
  maxErrors?: number;
  misbehaviourWindowMs?: number;
  /** Cluster-wide presence (cluster mode); absent = this instance's registry is the whole room. */
  presence?: PresenceStore;
  /** Live deliveries buffered for a member whose history read is in flight; past it → 1013. */
  maxJoinBacklog?: number;
  /** A store answer or step failed (logging); it is counted in `asyncFailures` either way. */
  onError?: (err: unknown) => void;
  /** Token mode: expiring tokens are refreshed on the connection or it is closed (absent in open mode). */
  tokens?: TokenLifetime;
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
  /** Members whose history read was in flight and whose join backlog passed the bound (closed 1013). */
  joinOverflows: number;
  /** Store answers or steps that failed (see `onError`). */
  asyncFailures: number;
}

const DEFAULT_MAX_ERRORS = 50;
const DEFAULT_MISBEHAVIOUR_WINDOW_MS = 10_000;
const DEFAULT_MAX_JOIN_BACKLOG = 1024;

/**
 * Rooms on this instance: membership, the protocol's actions, and local delivery of bus
 * envelopes. Every room delivery is published on the {@link BroadcastBus} and comes back through
 * {@link deliver}, which frames it once per instance (`WebSocketHandler.broadcast`); ids and
 * history go through the {@link HistoryStore}. Replies to one connection (history replay,
 * `ready`, `who`, errors) are sent directly: they are not room deliveries.
 */
export class RoomService {
  readonly registry = new RoomRegistry<Member>();
  readonly limiter: RateGate;
  readonly stats: RoomStats = { messagesIn: 0, voiceIn: 0, messagesOut: 0, slowDrops: 0, voiceDrops: 0, slowCloses: 0, policyCloses: 0, errors: {}, joinOverflows: 0, asyncFailures: 0 };
  readonly startedAt = Date.now();
  private readonly byId = new Map<number, Member>();
  /** Reused target list for filtered fan-outs (voice, whisper): no allocation per message. */
  private readonly scratch: Member[] = [];
  private readonly listener: BusListener = (envelope) => this.deliver(envelope);
  private readonly maxErrors: number;
  private readonly windowMs: number;
  private readonly subscriptions: RoomSubscriptions;
  /** Members whose history read is in flight (cluster mode). */
  private readonly joining = new PendingJoins();
  private readonly steps: RoomStepQueue;

  constructor(readonly options: RoomServiceOptions) {
    this.limiter = options.rateGate ?? new RateLimiter(options.rateLimit);
    this.maxErrors = options.maxErrors ?? DEFAULT_MAX_ERRORS;
    this.windowMs = options.misbehaviourWindowMs ?? DEFAULT_MISBEHAVIOUR_WINDOW_MS;
    this.steps = new RoomStepQueue((err) => this.failed(err));
    this.subscriptions = new RoomSubscriptions(options.bus, this.listener, (err) => this.failed(err));
    options.presence?.attach?.(this.localRooms);
  }

  /** What a presence store sees of this instance's rooms (see {@link LocalRooms}). */
  readonly localRooms: LocalRooms = {
    roomIds: () => this.registry.roomIds(),
    users: (room) => this.registry.get(room)?.users,
    announce: (room, notes) => {
      void this.steps.run(room, notes, (list) => this.announce(room, list));
    },
  };

  /** Presence notes the store worked out itself, to this instance's members only (never published). */
  private announce(room: string, notes: readonly PresenceNote[]): void {
    for (const n of notes) {
      this.deliver({ room, delivery: Delivery.Everyone, payload: presenceJson(n.type, n.user, n.count), user: '', origin: this.options.instanceId, conn: -1 });
    }
  }

  /**
   * A member arrives: it gets the kept history after its `since` (the original messages, in
   * order) and `ready`, then it joins, and everyone (itself included) sees `join` if it is the
   * user's first session. With an in-process store all of it runs synchronously, so no live
   * message can slip in between. With a shared store (cluster) the room is subscribed first, then
   * history is read, then the bus barrier is awaited; live deliveries meanwhile wait in a
   * {@link PendingJoin} and are written after the replay, minus the ids it already carried.
   */
  join(ws: Member, s: RoomSession): void {
    const subscribed = this.subscriptions.hold(s.room);
    if (subscribed === null) {
      const read = this.options.history.read(s.room, s.since, Date.now());
      if (!isPromise(read)) {
        this.admit(ws, s, read, null);
        return;
      }
      this.awaitRead(this.pend(ws, s), read);
      return;
    }
    const pending = this.pend(ws, s);
    subscribed.then(() => {
      if (!pending.aborted) this.awaitRead(pending, this.options.history.read(s.room, s.since, Date.now()));
    }, (err: unknown) => this.failed(err));
  }

  private pend(ws: Member, s: RoomSession): PendingJoin {
    return this.joining.add(ws, s, this.options.maxJoinBacklog ?? DEFAULT_MAX_JOIN_BACKLOG);
  }

  /** The read was sent: the barrier goes after it on the same connection, then the member is admitted. */
  private awaitRead(pending: PendingJoin, read: MaybePromise<HistoryRead>): void {
    const barrier = this.options.bus.sync?.(pending.session.room) ?? null;
    Promise.all([read, barrier]).then(
      ([r]) => {
        if (pending.aborted) return;
        this.joining.remove(pending);
        this.admit(pending.ws, pending.session, r, pending);
      },
      (err: unknown) => {
        this.failed(err);
        if (pending.aborted) return;
        this.joining.remove(pending);
        this.admit(pending.ws, pending.session, { entries: [], lastId: 0, gap: pending.session.since !== null }, pending);
      },
    );
  }

  /** Replay, `ready`, membership, the backlog of a pending join, then presence. */
  private admit(ws: Member, s: RoomSession, read: HistoryRead, pending: PendingJoin | null): void {
    if (!ws.isOpen) {
      this.subscriptions.release(s.room);
      return;
    }
    for (const e of read.entries) ws.send(e.json);
    ws.send(readyJson(read.lastId, read.gap));
    const { room, firstInRoom } = this.registry.add(s.room, s.user, ws);
    s.joined = true;
    this.byId.set(ws.id, ws);
    this.options.tokens?.arm(ws);
    if (pending !== null) this.stats.messagesOut += pending.flush(replayedIds(read.entries));
    if (!firstInRoom) return;
    const presence = this.options.presence;
    if (presence === undefined) {
      this.publish(s.room, Delivery.Everyone, presenceJson('join', s.user, room.userCount));
      return;
    }
    void this.steps.run(s.room, presence.joined(s.room, s.user, room.users), (change) => {
      if (!change.elsewhere) this.publish(s.room, Delivery.Everyone, presenceJson('join', s.user, change.count));
    });
  }

  /** A member is gone (closed, failed, or removed by a room close). Idempotent. */
  leave(ws: Member, s: RoomSession): void {
    const left = this.detach(ws, s);
    // Published even when the room emptied here: other instances may still have members.
    if (left === null || !left.lastInRoom) return;
    const presence = this.options.presence;
    if (presence === undefined) {
      this.publish(s.room, Delivery.Everyone, presenceJson('leave', s.user, left.room.userCount));
      return;
    }
    void this.steps.run(s.room, presence.left(s.room, s.user, left.room.users), (change) => {
      if (!change.elsewhere) this.publish(s.room, Delivery.Everyone, presenceJson('leave', s.user, change.count));
    });
  }

  /** Removes a member without presence (a closing room tells nobody who left). */
  private detach(ws: Member, s: RoomSession): LeaveResult<Member> | null {
    this.clearSlow(s);
    this.options.tokens?.clear(s);
    const pending = this.joining.of(ws);
    if (pending !== undefined) {
      pending.aborted = true;
      this.joining.remove(pending);
      this.subscriptions.release(s.room);
      return null;
    }
    if (!s.joined) return null;
    s.joined = false;
    this.byId.delete(ws.id);
    const left = this.registry.remove(s.room, s.user, ws);
    if (left === null) return null;
    if (left.lastAnywhere) this.limiter.forget(s.user, Date.now());
    this.subscriptions.release(s.room);
    return left;
  }

  /**
   * One text frame from a member: rate limit, parse, act; a refused message gets an error reply.
   * When the rate decision is on its way (a promise: cluster mode), this frame and the member's
   * next ones wait for it in order, copied; past the burst of `--rate-limit` waiting, the newest are
   * refused at once (`RATE_LIMITED`): no member holds more than that many frames here.
   */
  onText(ws: Member, s: RoomSession, data: Uint8Array): void {
    this.stats.messagesIn++;
    if (s.rateQueue !== null) {
      if (s.rateQueue.length >= this.options.rateLimit.burst) this.refuse(ws, s, RoomErrorCode.RateLimited, 'slow down', Date.now());
      else s.rateQueue.push(Uint8Array.from(data));
      return;
    }
    this.gate(ws, s, data);
  }

  /** The rate decision for one frame, then the frame; a pending decision queues it (see {@link onText}). */
  private gate(ws: Member, s: RoomSession, data: Uint8Array): void {
    const now = Date.now();
    if (this.options.tokens?.expired(ws, now) === true) return; // closed: nothing after exp is delivered
    const verdict = this.limiter.take(s.user, now);
    if (verdict === true || verdict === false) {
      this.afterGate(ws, s, data, verdict, now);
      return;
    }
    s.rateQueue = [Uint8Array.from(data)];
    verdict.then(
      (ok) => this.resume(ws, s, ok),
      () => this.resume(ws, s, false),
    );
  }

  /** A pending rate decision arrived: the frame waiting for it, then the ones queued behind it. */
  private resume(ws: Member, s: RoomSession, ok: boolean): void {
    const queue = s.rateQueue ?? [];
    s.rateQueue = null;
    if (!s.joined || !ws.isOpen) return;
    const first = queue.shift();
    if (first !== undefined) this.afterGate(ws, s, first, ok, Date.now());
    for (let i = 0; i < queue.length; i++) {
      if (s.rateQueue !== null) {
        // Waiting again: the rest stays queued behind it.
        (s.rateQueue as Uint8Array[]).push(...queue.slice(i));
        return;
      }
      if (!s.joined || !ws.isOpen) return;
      this.gate(ws, s, queue[i]);
    }
  }

  private afterGate(ws: Member, s: RoomSession, data: Uint8Array, ok: boolean, now: number): void {
    if (!ok) {
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

  private act(ws: Member, s: RoomSession, msg: ClientMessage, now: number): void {
    const { history } = this.options;
    switch (msg.type) {
      case 'refresh': {
        const tokens = this.options.tokens;
        if (tokens === undefined) return this.refuse(ws, s, RoomErrorCode.BadMessage, 'no tokens in open mode: nothing to refresh', now);
        // Answers keep their order: nothing more is read from this member until the token is checked.
        ws.pause();
        tokens
          .refresh(ws, msg.token)
          .then(
            (r) => {
              if (r.ok) ws.send(JSON.stringify({ type: 'refreshed', exp: r.exp }));
              else this.refuse(ws, s, r.code, r.message, Date.now());
            },
            (err: unknown) => this.failed(err),
          )
          .finally(() => ws.resume());
        return;
      }
      case 'danmaku': {
        const { text, color, mode } = msg;
        this.settle(this.post(s.room, now, (id) => danmakuJson(id, s.room, s.user, now, text, color, mode)));
        return;
      }
      case 'whisper': {
        const presence = this.options.presence;
        const { to, text } = msg;
        const envelope = (id: number): RoomEnvelope => ({ room: s.room, delivery: Delivery.User, payload: whisperJson(id, s.room, s.user, to, now, text), user: to, origin: this.options.instanceId, conn: ws.id });
        if (this.registry.get(s.room)?.users.has(to) === true) {
          // A room id, but whispers are never kept.
          this.settle(this.post(s.room, now, envelope, false));
        } else if (presence === undefined) {
          this.refuse(ws, s, RoomErrorCode.NoSuchUser, `${to} is not in the room`, now);
        } else if (history.sequence !== undefined) {
          // In the room on no instance → NO_SUCH_USER; anywhere → through the bus, after the check
          // and in the room's order (later messages wait for it).
          const sequence = history.sequence.bind(history);
          void this.steps.run(s.room, presence.elsewhere(s.room, to), (there) => {
            if (there) this.settle(this.reported(sequence(s.room, envelope(0), now, false)));
            else if (ws.isOpen) this.refuse(ws, s, RoomErrorCode.NoSuchUser, `${to} is not in the room`, now);
          });
        } else {
          // The id is taken now, with the check, so ids follow the order messages arrived in (a
          // refused whisper's id stays a hole).
          const check = Promise.all([presence.elsewhere(s.room, to), history.allocateId(s.room)]);
          void this.steps.run(s.room, check, ([there, n]) => {
            if (there) this.options.bus.publish(envelope(n));
            else if (ws.isOpen) this.refuse(ws, s, RoomErrorCode.NoSuchUser, `${to} is not in the room`, now);
          });
        }
        return;
      }
      case 'who': {
        const room = this.registry.get(s.room);
        const presence = this.options.presence;
        if (presence === undefined) {
          ws.send(whoJson(room === undefined ? [] : [...room.users.keys()]));
          return;
        }
        presence.users(s.room, room?.users ?? new Map()).then((users) => {
          if (ws.isOpen) ws.send(whoJson(users));
        }, (err: unknown) => this.failed(err));
        return;
      }
    }
  }

  /**
   * A message with a room id, in the order messages arrived: a danmaku or system message (`message`
   * gives its JSON for an id; kept in history, to everyone) or a whisper (`message` gives its
   * envelope; `keep` false). A shared store sequences it (id, history and publish in one step, see
   * {@link HistoryStore.sequence}); otherwise the id is allocated, then the message is kept and
   * published. Resolves to its id; a failure is counted and reported, and rejects.
   */
  private post(room: string, ts: number, message: (id: number) => string | RoomEnvelope, keep = true): MaybePromise<number> {
    const { history, bus, instanceId } = this.options;
    const envelope = (id: number): RoomEnvelope => {
      const m = message(id);
      return typeof m === 'string' ? { room, delivery: Delivery.Everyone, payload: m, user: '', origin: instanceId, conn: -1 } : m;
    };
    const publish = (id: number): void => {
      const e = envelope(id);
      if (keep) {
        const appended = history.append(room, { id, ts, json: e.payload as string });
        if (isPromise(appended)) appended.then(undefined, (err: unknown) => this.failed(err));
      }
      bus.publish(e);
    };
    const sequence = history.sequence?.bind(history);
    if (this.steps.idle(room)) {
      if (sequence !== undefined) return this.reported(sequence(room, envelope(0), ts, keep));
      const id = history.allocateId(room);
      if (!isPromise(id)) {
        publish(id);
        return id;
      }
    }
    let sent: MaybePromise<number> = 0;
    const step =
      sequence !== undefined
        ? this.steps.run(room, null, () => {
            sent = sequence(room, envelope(0), ts, keep);
          })
        : this.steps.run(room, history.allocateId(room), (id) => {
            publish(id);
            sent = id;
          });
    return step.then((ok) => {
      if (!ok) throw new Error(`a message to ${room} failed (see asyncFailures)`);
      return this.reported(sent);
    });
  }

  /** `id`, with a rejection counted and reported (and passed on). */
  private reported(id: MaybePromise<number>): MaybePromise<number> {
    if (!isPromise(id)) return id;
    return id.then(undefined, (err: unknown) => {
      this.failed(err);
      throw err;
    });
  }

  /** Ends a {@link post} nobody waits for (its failure is already counted and reported). */
  private settle(id: MaybePromise<number>): void {
    if (isPromise(id)) id.then(undefined, () => undefined);
  }

  /** One binary frame: voice, relayed to every member but the sender's own sessions, never kept. */
  onVoice(ws: Member, s: RoomSession, data: Uint8Array): void {
    this.stats.voiceIn++;
    if (this.options.tokens?.expired(ws, Date.now()) === true) return;
    this.options.bus.publish({ room: s.room, delivery: Delivery.ExceptUser, payload: data, user: s.user, origin: this.options.instanceId, conn: -1 });
  }

  /** An admin system message: kept in history, delivered to everyone. Resolves to its id. */
  system(roomId: string, text: string): MaybePromise<number> {
    const now = Date.now();
    return this.post(roomId, now, (id) => systemJson(id, roomId, now, text));
  }

  /** Closes every member of `roomId` (everywhere, through the bus) with 4000 and drops its state. */
  closeRoom(roomId: string, reason: string): number {
    const count = this.registry.get(roomId)?.members.size ?? 0;
    this.options.bus.publish({ room: roomId, delivery: Delivery.CloseRoom, payload: reason, user: '', origin: this.options.instanceId, conn: -1, closeCode: ROOM_CLOSED_CODE });
    const deleted = this.options.history.delete(roomId);
    if (isPromise(deleted)) deleted.then(undefined, (err: unknown) => this.failed(err));
    return count;
  }

  /** Whether the room has members (here or, in cluster mode, anywhere) or kept state: the admin API's "known room". */
  knows(roomId: string): MaybePromise<boolean> {
    const room = this.registry.get(roomId);
    if (room !== undefined) return true;
    const kept = this.options.history.has(roomId);
    const presence = this.options.presence;
    if (presence === undefined) return kept;
    return Promise.resolve(kept).then((k) => k || presence.users(roomId, new Map()).then((users) => users.length > 0));
  }

  /** The member's output drained: it is no longer slow. */
  drained(s: RoomSession): void {
    this.clearSlow(s);
  }

  /** Local delivery of one envelope, framed once for all its local recipients. */
  deliver(env: RoomEnvelope): void {
    const history = this.options.history;
    if (history.observe !== undefined && typeof env.payload === 'string' && env.delivery !== Delivery.CloseRoom) {
      const id = messageIdOf(env.payload);
      if (id > 0) history.observe(env.room, id);
    }
    const joining = this.joining.inRoom(env.room);
    if (joining !== null) this.backlog(joining, env);
    const room = this.registry.get(env.room);
    if (room === undefined) return;
    const handler = this.options.handler;
    switch (env.delivery) {
      case Delivery.Everyone: {
        const r = handler.broadcast(room.members, env.payload, typeof env.payload !== 'string');
        this.counted(r.sent, r.dropped);
        return;
      }
      case Delivery.ExceptUser: {
        const targets = this.voiceTargets(room, env.user);
        if (targets.length > 0) {
          const r = handler.broadcast(targets, env.payload, true);
          this.counted(r.sent, r.dropped);
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
          this.counted(r.sent, r.dropped);
        }
        targets.length = 0;
        return;
      }
      case Delivery.CloseRoom: {
        const reason = typeof env.payload === 'string' ? env.payload : 'room closed';
        for (const ws of [...room.members]) {
          this.detach(ws, ws.data);
          ws.close(env.closeCode ?? ROOM_CLOSED_CODE, reason);
        }
        return;
      }
    }
  }

  /** Deliveries for members whose history read is in flight; a room close or an overflow ends their join. */
  private backlog(joining: readonly PendingJoin[], env: RoomEnvelope): void {
    for (const p of joining) {
      if (env.delivery === Delivery.CloseRoom) {
        this.detach(p.ws, p.session);
        p.ws.close(env.closeCode ?? ROOM_CLOSED_CODE, typeof env.payload === 'string' ? env.payload : 'room closed');
      } else if (!p.hold(env)) {
        this.stats.joinOverflows++;
        this.detach(p.ws, p.session);
        p.ws.close(CloseCode.TryAgainLater, 'join backlog overflow');
      }
    }
  }

  private voiceTargets(room: Room<Member>, except: string): Member[] {
    const targets = this.scratch;
    const limit = this.options.voiceMaxPendingBytes;
    for (const ws of room.members) {
      if (ws.data.user === except) continue;
      // Latency first: a member with output queued misses this frame instead of buffering it.
      if (ws.bufferedAmount > limit) this.stats.voiceDrops++;
      else targets.push(ws);
    }
    return targets;
  }

  /** Counts a fan-out (the members it skipped as slow were told to {@link slow} by the fan-out itself). */
  private counted(sent: number, dropped: number): void {
    this.stats.messagesOut += sent;
    this.stats.slowDrops += dropped;
  }

  /** A fan-out skipped `ws` as slow (the endpoint's `onSlow`): its slow-close clock starts, once. */
  slow(ws: Member): void {
    const s = ws.data;
    if (s.slowSinceMs !== 0) return;
    s.slowSinceMs = Date.now();
    s.slowTimer = setTimeout(slowTimerFired, this.options.slowCloseMs, this, ws);
    s.slowTimer.unref();
  }

  /** @internal the slow-close clock of `ws` ran out: still past the bound → 1013. */
  slowCheck(ws: Member): void {
    const s = ws.data;
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
  private refuse(ws: Member, s: RoomSession, code: RoomErrorCode | TokenError, message: string, now: number): void {
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

  private failed(err: unknown): void {
    this.stats.asyncFailures++;
    this.options.onError?.(err);
  }
}

/** Ids of a replay (empty set, not allocated, for the common empty replay). */
function replayedIds(entries: readonly HistoryEntry[]): ReadonlySet<number> {
  return entries.length === 0 ? EMPTY_IDS : new Set(entries.map((e) => e.id));
}

const EMPTY_IDS: ReadonlySet<number> = new Set();

function slowTimerFired(service: RoomService, ws: Member): void {
  service.slowCheck(ws);
}
