import type { BroadcastBus, BusListener, Delivery, RoomEnvelope } from '../services/rooms/bus.js';
import { Delivery as RoomDelivery } from '../services/rooms/bus.js';
import { messageIdOf } from '../services/rooms/pending-join.js';
import { decodeEnvelope, encodeEnvelope, encodeSequencedHeader, isSequenced } from './envelope.js';
import { DEFAULT_KEYS, type RedisKeys } from './redis-keys.js';
import { LinkState, type RedisLink } from './redis-link.js';

/** Pub/sub channel of a room (under `keys`' prefix, the default one unless given). */
export function roomChannel(room: string, keys: RedisKeys = DEFAULT_KEYS): string {
  return keys.roomChannel(room);
}

/** Counters of the Redis bus. */
export interface RedisBusStats {
  published: number;
  /** Envelopes not published because Redis was down (local delivery still happened). */
  publishDropped: number;
  received: number;
  /** Own envelopes that came back from Redis and were dropped (already delivered locally). */
  ownEchoes: number;
  /** Own sequenced envelopes that came back from Redis and were delivered here then (see publishSequenced). */
  ownSequenced: number;
  malformed: number;
  subscribedRooms: number;
  /** SUBSCRIBEs that failed (outage) and were issued again once Redis was back. */
  resubscribes: number;
  /** Barriers (joins) that came back, and those that did not within the timeout or could not be sent. */
  barriers: number;
  barrierFailures: number;
  /** Sequenced messages that arrived after a hole in the room's ids, and the missing ones then found in history and delivered. */
  holes: number;
  holesFilled: number;
}

/** Reads the kept messages of `room` with ids in (after, before), oldest first (the history's READ). */
export type HoleFiller = (room: string, after: number, before: number) => Promise<{ id: number; json: string }[]>;

/** A room whose ids skipped: later deliveries wait here, in order, until history filled the hole. */
interface Repair {
  readonly held: RoomEnvelope[];
}

/** Delivery value of a barrier envelope: bus-internal, never handed to listeners. */
const BARRIER = 255 as Delivery;
/** A barrier not back within this long resolves false (the joiner goes on without it). */
const BARRIER_TIMEOUT_MS = 2000;
/** A SUBSCRIBE that failed while the link was up is retried after this long. */
const RESUBSCRIBE_DELAY_MS = 250;

/** One sequenced publish of this instance: its echo once back, whether its command was answered, and whether it failed. */
interface InFlight {
  echo: RoomEnvelope | null;
  settled: boolean;
  /** `send` rejected before the echo came: it will not come (the script did not publish, or the link is gone). */
  failed: boolean;
}

/** A room's subscription: its listeners, and whether Redis confirmed the SUBSCRIBE. */
interface RoomSub {
  readonly listeners: Set<BusListener>;
  confirmed: boolean;
  /** A SUBSCRIBE is on its way (not re-issued when the link comes back). */
  inFlight: boolean;
  /** Resolves when the current SUBSCRIBE settled (never rejects). */
  settled: Promise<void>;
}

/**
 * {@link BroadcastBus} across instances over Redis pub/sub. `publish` delivers to this instance's own
 * listeners synchronously (so local members never wait for Redis and keep getting messages during an
 * outage) and PUBLISHes the envelope for the others; envelopes coming back with this instance's
 * origin are dropped, except sequenced ones ({@link publishSequenced}: messages with ids), which
 * every instance delivers as Redis orders them. SUBSCRIBE is per room, issued for the first local listener and undone after the
 * last, on the dedicated subscriber connection; one that failed in an outage is issued again when
 * the link is back. Order per publisher is Redis's: one connection, FIFO. While Redis is down,
 * remote publishes are dropped and counted — never queued without bound.
 */
export class RedisBus implements BroadcastBus {
  readonly stats: RedisBusStats = { published: 0, publishDropped: 0, received: 0, ownEchoes: 0, ownSequenced: 0, malformed: 0, subscribedRooms: 0, resubscribes: 0, barriers: 0, barrierFailures: 0, holes: 0, holesFilled: 0 };
  /** Per room, the highest id of a sequenced message delivered here from Redis. */
  private readonly lastIds = new Map<string, number>();
  private readonly repairs = new Map<string, Repair>();
  private filler: HoleFiller | null = null;
  private readonly rooms = new Map<string, RoomSub>();
  private readonly barriers = new Map<string, () => void>();
  private barrierSeq = 0;
  /** Per room, this instance's sequenced publishes not yet both answered and back, in send order. */
  private readonly inFlight = new Map<string, InFlight[]>();
  private readonly channelListener = (message: Buffer, channel: Buffer | string): void => this.onMessage(message, channel);
  /** The remote half of {@link publish}: a PUBLISH, counted as waiting for its reply (see RedisLink.track). */
  private readonly plainPublish = (channel: string, message: Buffer): Promise<unknown> => this.link.track(this.link.ops.publish(channel, message));
  private readonly linkListener = (next: LinkState): void => {
    if (next === LinkState.Ready) this.resubscribe();
    // The subscriber connection went with the link: what was answered but not back never will be.
    else for (const room of [...this.inFlight.keys()]) this.trim(room, true);
  };
  /** A Redis Cluster shard went down or came back: its rooms' subscriptions went with it, or can be made again. */
  private readonly shardsListener = (): void => this.shardsChanged();
  /** The link replaced its Redis Cluster client: every subscription is gone with the old one. */
  private readonly resetListener = (): void => {
    for (const sub of this.rooms.values()) {
      sub.confirmed = false;
      sub.inFlight = false;
    }
  };

  constructor(
    private readonly link: RedisLink,
    private readonly instanceId: string,
    /** Called when a Redis command failed (logging). */
    private readonly onFailure: (err: Error) => void = () => undefined,
  ) {
    link.on('state', this.linkListener);
    link.on('reset', this.resetListener);
    link.on('shards', this.shardsListener);
  }

  /**
   * Sets what fills a hole in a room's sequenced ids. Sequenced messages reach every subscriber in
   * id order, one id after the other, except when a subscription was not there for a while: a
   * Redis Cluster slot moved to another master (its subscribers are moved after the keys, and what
   * the new master published meanwhile reached nobody), or an outage. The message after such a
   * hole waits, with those behind it, while the kept messages of the hole are read from history and
   * delivered first; whispers (never kept) and what never reached Redis stay missing.
   */
  setHoleFiller(filler: HoleFiller): void {
    this.filler = filler;
  }

  publish(envelope: RoomEnvelope): void {
    this.publishVia(envelope, this.plainPublish);
  }

  /**
   * {@link publish} whose remote half is `send(channel, message)` instead of a plain PUBLISH, e.g. a
   * script that keeps the message in history and publishes it in one atomic step. Same local
   * delivery, accounting and outage rule; `send` passes its command through `RedisLink.track`.
   */
  publishVia(envelope: RoomEnvelope, send: (channel: string, message: Buffer) => Promise<unknown>): void {
    this.deliverLocal(envelope);
    const channel = this.link.keys.roomChannel(envelope.room);
    if (!this.link.readyFor(channel)) {
      this.stats.publishDropped++;
      return;
    }
    this.stats.published++;
    send(channel, encodeEnvelope(envelope)).catch((err: unknown) => {
      this.stats.publishDropped++;
      this.onFailure(err as Error);
    });
  }

  /**
   * Publishes a text envelope whose payload Redis completes (a script writes the message id into it,
   * see RedisHistory.sequence) through `send(channel, header)`, which appends the payload itself. No
   * local delivery now: every instance, this one included, delivers it when it comes back on the
   * room's channel, so a room's sequenced messages reach every member in the one order Redis gave
   * them, which is their id order. Null, with nothing sent, while Redis is down (the caller falls back
   * to {@link publish}).
   *
   * When `send` fails (Redis hung or gone with the command in flight, or the script refused) and the
   * message did not come back, `fallback()` gives the envelope to deliver to this instance's members
   * instead (the outage rule: local members keep getting messages); the promise then rejects with
   * `send`'s error, carrying the echo (`echo`) when it did come back. Echoes are matched to sends in
   * order, per room: Redis runs one connection's scripts in order and publishes in that order.
   */
  publishSequenced<T>(envelope: RoomEnvelope, send: (channel: string, header: Buffer) => Promise<T>, fallback: () => RoomEnvelope): Promise<T> | null {
    const channel = this.link.keys.roomChannel(envelope.room);
    if (!this.link.readyFor(channel)) return null;
    this.stats.published++;
    const entry: InFlight = { echo: null, settled: false, failed: false };
    // Only a room subscribed here gets its echo back (an admin message to a room with no member
    // here has nobody to deliver to): only then is the send matched with it.
    if (this.rooms.get(envelope.room)?.confirmed === true) {
      let queue = this.inFlight.get(envelope.room);
      if (queue === undefined) this.inFlight.set(envelope.room, (queue = []));
      queue.push(entry);
    }
    return send(channel, encodeSequencedHeader(envelope)).then(
      (value) => {
        this.settle(envelope.room, entry);
        return value;
      },
      (err: unknown) => {
        this.stats.publishDropped++;
        entry.failed = entry.echo === null;
        this.settle(envelope.room, entry);
        if (entry.failed) this.deliverLocal(fallback());
        throw Object.assign(err as Error, { echo: entry.echo });
      },
    );
  }

  /** Resolves once Redis confirmed the room's SUBSCRIBE, or once it failed (then retried when Redis is back). */
  subscribe(room: string, listener: BusListener): Promise<void> {
    let sub = this.rooms.get(room);
    if (sub === undefined) {
      sub = { listeners: new Set(), confirmed: false, inFlight: false, settled: Promise.resolve() };
      this.rooms.set(room, sub);
      this.stats.subscribedRooms++;
      this.issueSubscribe(room, sub);
    }
    sub.listeners.add(listener);
    return sub.settled;
  }

  unsubscribe(room: string, listener: BusListener): void {
    const sub = this.rooms.get(room);
    if (sub === undefined) return;
    sub.listeners.delete(listener);
    if (sub.listeners.size > 0) return;
    this.rooms.delete(room);
    this.inFlight.delete(room); // no echo comes back to an unsubscribed room
    this.lastIds.delete(room);
    this.repairs.delete(room);
    this.stats.subscribedRooms--;
    this.link.ops.unsubscribe(this.link.keys.roomChannel(room), this.channelListener).catch((err: unknown) => this.onFailure(err as Error));
  }

  /**
   * Barrier: PUBLISHes a marker on the room's channel from the command connection and resolves true
   * when it comes back on the subscriber connection. Redis delivers one channel's messages in the
   * order it executed the PUBLISHes, so everything published to the room before the marker — by any
   * instance — has been delivered here by then. Commands sent on the command connection before this
   * call (a history read) executed before the marker. False when Redis is down, the room is not
   * subscribed yet, or the marker is not back within {@link BARRIER_TIMEOUT_MS}.
   */
  sync(room: string): Promise<boolean> {
    const channel = this.link.keys.roomChannel(room);
    if (!this.link.readyFor(channel) || this.rooms.get(room)?.confirmed !== true) {
      this.stats.barrierFailures++;
      return Promise.resolve(false);
    }
    const token = `${++this.barrierSeq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), BARRIER_TIMEOUT_MS);
      const finish = (ok: boolean): void => {
        if (!this.barriers.delete(token)) return;
        clearTimeout(timer);
        if (ok) this.stats.barriers++;
        else this.stats.barrierFailures++;
        resolve(ok);
      };
      this.barriers.set(token, () => finish(true));
      const marker = encodeEnvelope({ room, delivery: BARRIER, payload: token, user: '', origin: this.instanceId, conn: -1 });
      this.link.track(this.link.ops.publish(channel, marker)).catch((err: unknown) => {
        this.onFailure(err as Error);
        finish(false);
      });
    });
  }

  close(): Promise<void> {
    this.link.off('state', this.linkListener);
    this.link.off('reset', this.resetListener);
    this.link.off('shards', this.shardsListener);
    this.rooms.clear();
    for (const release of [...this.barriers.values()]) release();
    return Promise.resolve();
  }

  private issueSubscribe(room: string, sub: RoomSub): void {
    sub.inFlight = true;
    sub.settled = this.link.ops.subscribe(this.link.keys.roomChannel(room), this.channelListener).then(
      () => {
        sub.inFlight = false;
        sub.confirmed = true;
      },
      (err: unknown) => {
        sub.inFlight = false;
        // Retried by resubscribe() when the link is ready again (node-redis only re-issues confirmed
        // ones), or shortly if it already is (the failure raced the reconnect).
        this.onFailure(err as Error);
        if (this.link.readyFor(this.link.keys.roomChannel(room))) setTimeout(() => this.retry(room, sub), RESUBSCRIBE_DELAY_MS).unref();
      },
    );
  }

  private retry(room: string, sub: RoomSub): void {
    if (this.rooms.get(room) !== sub || sub.confirmed || sub.inFlight) return;
    this.stats.resubscribes++;
    this.issueSubscribe(room, sub);
  }

  /** The link is back: rooms whose SUBSCRIBE failed during the outage subscribe now (those whose shard answers). */
  private resubscribe(): void {
    for (const [room, sub] of this.rooms) {
      if (sub.confirmed || sub.inFlight || !this.link.readyFor(this.link.keys.roomChannel(room))) continue;
      this.stats.resubscribes++;
      this.issueSubscribe(room, sub);
    }
  }

  /**
   * A Redis Cluster shard went down or came back. The rooms of a shard that is down lost their
   * subscription with its connection (what was answered but not back never will be: as in an
   * outage of the whole link); those of a shard that answers again subscribe again.
   */
  private shardsChanged(): void {
    if (!this.link.ready) return; // the whole link: linkListener
    for (const [room, sub] of this.rooms) {
      if (this.link.readyFor(this.link.keys.roomChannel(room))) continue;
      sub.confirmed = false;
      this.trim(room, true);
    }
    this.resubscribe();
  }

  private settle(room: string, entry: InFlight): void {
    entry.settled = true;
    this.trim(room, false);
  }

  /** Drops finished sends from the front of `room`'s queue (all answered ones when `linkLost`). */
  private trim(room: string, linkLost: boolean): void {
    const queue = this.inFlight.get(room);
    if (queue === undefined) return;
    let done = 0;
    while (done < queue.length && queue[done].settled && (queue[done].echo !== null || queue[done].failed || linkLost)) done++;
    if (linkLost) {
      const open = queue.filter((e) => !e.settled);
      if (open.length === 0) this.inFlight.delete(room);
      else this.inFlight.set(room, open);
      return;
    }
    if (done === queue.length) this.inFlight.delete(room);
    else if (done > 0) queue.splice(0, done);
  }

  private deliverLocal(envelope: RoomEnvelope): void {
    const sub = this.rooms.get(envelope.room);
    if (sub !== undefined) for (const l of sub.listeners) l(envelope);
  }

  private onMessage(message: Buffer, _channel: Buffer | string): void {
    const envelope = decodeEnvelope(message);
    if (envelope === null) {
      this.stats.malformed++;
      return;
    }
    if (envelope.delivery === BARRIER) {
      if (envelope.origin === this.instanceId) this.barriers.get(envelope.payload as string)?.();
      return;
    }
    if (envelope.origin === this.instanceId) {
      if (!isSequenced(message)) {
        this.stats.ownEchoes++;
        return;
      }
      this.stats.ownSequenced++;
      const queue = this.inFlight.get(envelope.room);
      const entry = queue?.find((e) => e.echo === null && !e.failed);
      if (entry !== undefined) {
        entry.echo = envelope;
        this.trim(envelope.room, false);
      }
    } else this.stats.received++;
    if (isSequenced(message)) this.deliverSequenced(envelope);
    else this.deliverLocal(envelope);
  }

  /** Delivers a sequenced message in id order, filling a hole before it from history (see {@link setHoleFiller}). */
  private deliverSequenced(envelope: RoomEnvelope): void {
    const room = envelope.room;
    const repair = this.repairs.get(room);
    if (repair !== undefined) {
      repair.held.push(envelope);
      return;
    }
    const id = messageIdOf(envelope.payload as string);
    const last = this.lastIds.get(room) ?? 0;
    if (id > last) this.lastIds.set(room, id);
    if (last === 0 || id <= last + 1 || this.filler === null) {
      this.deliverLocal(envelope);
      return;
    }
    this.stats.holes++;
    const held: Repair = { held: [envelope] };
    this.repairs.set(room, held);
    const release = (found: { id: number; json: string }[]): void => {
      if (this.repairs.get(room) !== held) return; // unsubscribed meanwhile
      this.repairs.delete(room);
      for (const e of found) {
        if (e.id <= last || e.id >= id) continue;
        this.stats.holesFilled++;
        this.deliverLocal({ room, delivery: RoomDelivery.Everyone, payload: e.json, user: '', origin: '', conn: -1 });
      }
      for (const e of held.held) this.deliverSequenced(e);
    };
    this.filler(room, last, id).then(release, (err: unknown) => {
      this.onFailure(err as Error);
      release([]);
    });
  }
}
