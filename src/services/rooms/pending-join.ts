import type { WebSocket } from '../../protocols/websocket/websocket.js';
import { Delivery, type RoomEnvelope } from './bus.js';
import type { RoomSession } from './room-session.js';

const ID_KEY = '"id":';
/** The id key of a room message comes right after its type: `{"type":"danmaku","id":…`. */
const ID_KEY_WITHIN = 32;

/**
 * The id of a serialized room message (danmaku, whisper, system), or -1 (presence, anything
 * else). Reads the JSON text the service built: inside string values every `"` is escaped, so the
 * first `"id":` is the key itself.
 */
export function messageIdOf(json: string): number {
  const at = json.indexOf(ID_KEY);
  if (at < 0 || at > ID_KEY_WITHIN) return -1;
  let n = 0;
  let i = at + ID_KEY.length;
  for (; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + c - 0x30;
  }
  return i === at + ID_KEY.length ? -1 : n;
}

/**
 * A member whose history read is in flight (cluster mode): live deliveries of its room wait here,
 * in arrival order, and are written after the replay, minus what the replay already carried. The
 * buffer is bounded by `max` envelopes; past it the caller closes the member 1013 (try again
 * later) rather than buffering without bound. Voice is never buffered (latency first: stale voice
 * is worthless).
 */
export class PendingJoin {
  private readonly buffer: RoomEnvelope[] = [];
  /** The member left (or its room closed) before the read came back. */
  aborted = false;

  constructor(
    readonly ws: WebSocket<RoomSession>,
    readonly session: RoomSession,
    private readonly max: number,
  ) {}

  /** Buffers one delivery; false once past the bound. */
  hold(envelope: RoomEnvelope): boolean {
    if (typeof envelope.payload !== 'string') return true;
    this.buffer.push(envelope);
    return this.buffer.length <= this.max;
  }

  /**
   * Writes the buffered deliveries meant for this member whose ids were not in the replay
   * (`replayed`), in order. Returns the frames written.
   */
  flush(replayed: ReadonlySet<number>): number {
    let sent = 0;
    const user = this.session.user;
    for (const env of this.buffer) {
      const json = env.payload as string;
      if (env.delivery === Delivery.User ? env.user !== user : env.delivery !== Delivery.Everyone) continue;
      if (replayed.size > 0 && replayed.has(messageIdOf(json))) continue;
      this.ws.send(json);
      sent++;
    }
    this.buffer.length = 0;
    return sent;
  }
}

/** The pending joins of this instance, by room (deliveries) and by connection (an early close). */
export class PendingJoins {
  private readonly byRoom = new Map<string, Set<PendingJoin>>();
  private readonly byWs = new Map<WebSocket<RoomSession>, PendingJoin>();

  /** Registers the pending join of `ws` (at most `max` buffered deliveries). */
  add(ws: WebSocket<RoomSession>, session: RoomSession, max: number): PendingJoin {
    const pending = new PendingJoin(ws, session, max);
    let set = this.byRoom.get(session.room);
    if (set === undefined) this.byRoom.set(session.room, (set = new Set()));
    set.add(pending);
    this.byWs.set(ws, pending);
    return pending;
  }

  /** Forgets it (admitted or aborted). */
  remove(pending: PendingJoin): void {
    this.byWs.delete(pending.ws);
    const set = this.byRoom.get(pending.session.room);
    if (set === undefined) return;
    set.delete(pending);
    if (set.size === 0) this.byRoom.delete(pending.session.room);
  }

  /** The pending join of `ws`, if its history read is in flight. */
  of(ws: WebSocket<RoomSession>): PendingJoin | undefined {
    return this.byWs.get(ws);
  }

  /** The pending joins of `room` (a copy: handling one may remove it). */
  inRoom(room: string): PendingJoin[] | null {
    const set = this.byRoom.get(room);
    return set === undefined ? null : [...set];
  }
}
