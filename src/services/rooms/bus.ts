/**
 * The seam where room delivery crosses process boundaries. Every room delivery (danmaku, whisper,
 * voice, system, presence, room close) is published as a {@link RoomEnvelope}; each instance
 * subscribed to the room delivers it to its own local members. {@link LocalBus} is the
 * in-process implementation; the cluster issue adds one over Redis pub/sub (a dedicated
 * subscriber connection, refcounted SUBSCRIBE per room, own echoes dropped by `origin`).
 */

/** Who in the room an envelope is for. */
export const Delivery = {
  /** Every member (danmaku, system, join/leave). */
  Everyone: 0,
  /** Every member except the sessions of `user` (voice: never echoed to its sender). */
  ExceptUser: 1,
  /** The sessions of `user`, plus connection `conn` on instance `origin` (whisper + its sender's copy). */
  User: 2,
  /** Close every member with `closeCode`/`payload` as reason, then drop the room (admin DELETE). */
  CloseRoom: 3,
} as const;
export type Delivery = (typeof Delivery)[keyof typeof Delivery];

/**
 * One room delivery, already serialized: text payloads are the exact JSON every recipient gets
 * (serialized once at the origin, framed once per instance), binary payloads are voice.
 */
export interface RoomEnvelope {
  readonly room: string;
  readonly delivery: Delivery;
  /** JSON text (sent as a text frame) or voice bytes (binary frame). */
  readonly payload: string | Uint8Array;
  /** The user that `ExceptUser` excludes or that `User` targets; '' otherwise. */
  readonly user: string;
  /** Instance that published it (own-echo suppression over Redis; the sender's copy of a whisper). */
  readonly origin: string;
  /** For `User`: id of the sending connection on `origin` (gets its copy); -1 otherwise. */
  readonly conn: number;
  /** For `CloseRoom`: the WebSocket close code. */
  readonly closeCode?: number;
}

/** Receives envelopes of the rooms this instance subscribed to. */
export type BusListener = (envelope: RoomEnvelope) => void;

/**
 * Publish/subscribe of room envelopes. Contract:
 * - `publish` may run listeners synchronously (LocalBus) or later (Redis); a payload that is a view
 *   (voice bytes in the read slab) is valid only during `publish`, so an implementation that defers
 *   delivery must copy it.
 * - Delivery order per room, from one publisher, is publish order.
 * - `subscribe`/`unsubscribe` are refcounted by the caller: one listener per room per instance.
 * - `publish` never throws for an outage: what cannot cross instances is dropped and counted.
 */
export interface BroadcastBus {
  publish(envelope: RoomEnvelope): void;
  /**
   * Starts delivering `room` to `listener`. A bus whose subscription takes effect later (Redis)
   * returns a Promise that resolves once it has (after a failure too: it never rejects).
   */
  subscribe(room: string, listener: BusListener): void | Promise<void>;
  unsubscribe(room: string, listener: BusListener): void;
  /**
   * Optional barrier (buses that deliver later): resolves true once every envelope published to
   * `room` before this call, by any instance, has been delivered here; false when that cannot be
   * known (outage, timeout). A joiner reads history, then waits for it, so nothing published
   * before its read can arrive after it stopped buffering.
   */
  sync?(room: string): Promise<boolean>;
  /** Releases connections and timers (LocalBus: nothing). */
  close(): Promise<void>;
}

/**
 * {@link BroadcastBus} inside one process: delivers synchronously to the room's listeners, so a
 * sender's confirmation and every local delivery happen before `publish` returns (the view
 * contract above holds trivially).
 */
export class LocalBus implements BroadcastBus {
  private readonly listeners = new Map<string, Set<BusListener>>();
  /** Envelopes published, and published to rooms nobody here subscribed to. */
  readonly stats = { published: 0, unrouted: 0 };

  publish(envelope: RoomEnvelope): void {
    this.stats.published++;
    const set = this.listeners.get(envelope.room);
    if (set === undefined) {
      this.stats.unrouted++;
      return;
    }
    for (const listener of set) listener(envelope);
  }

  subscribe(room: string, listener: BusListener): void {
    let set = this.listeners.get(room);
    if (set === undefined) this.listeners.set(room, (set = new Set()));
    set.add(listener);
  }

  unsubscribe(room: string, listener: BusListener): void {
    const set = this.listeners.get(room);
    if (set === undefined) return;
    set.delete(listener);
    if (set.size === 0) this.listeners.delete(room);
  }

  /** Rooms with at least one listener. */
  get rooms(): number {
    return this.listeners.size;
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }
}
