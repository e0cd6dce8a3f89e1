import type { BroadcastBus, BusListener, RoomEnvelope } from '../services/rooms/bus.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import type { RedisLink } from './redis-link.js';

/** Pub/sub channel of a room. */
export function roomChannel(room: string): string {
  return `slabcast:room:${room}`;
}

/** Counters of the Redis bus. */
export interface RedisBusStats {
  published: number;
  /** Envelopes not published because Redis was down (local delivery still happened). */
  publishDropped: number;
  received: number;
  /** Own envelopes that came back from Redis and were dropped (already delivered locally). */
  ownEchoes: number;
  malformed: number;
  subscribedRooms: number;
}

/**
 * {@link BroadcastBus} across instances over Redis pub/sub. `publish` delivers to this instance's own
 * listeners synchronously (so local members never wait for Redis and keep getting messages during an
 * outage) and PUBLISHes the envelope for the others; envelopes coming back with this instance's
 * origin are dropped. SUBSCRIBE is per room, issued for the first local listener and undone after the
 * last, on the dedicated subscriber connection. Order per publisher is Redis's: one connection, FIFO.
 * While Redis is down, remote publishes are dropped and counted — never queued without bound.
 */
export class RedisBus implements BroadcastBus {
  readonly stats: RedisBusStats = { published: 0, publishDropped: 0, received: 0, ownEchoes: 0, malformed: 0, subscribedRooms: 0 };
  private readonly listeners = new Map<string, Set<BusListener>>();
  private readonly channelListener = (message: Buffer, channel: Buffer | string): void => this.onMessage(message, channel);

  constructor(
    private readonly link: RedisLink,
    private readonly instanceId: string,
    /** Called when a Redis command failed (logging). */
    private readonly onFailure: (err: Error) => void = () => undefined,
  ) {}

  publish(envelope: RoomEnvelope): void {
    this.deliverLocal(envelope);
    if (!this.link.ready) {
      this.stats.publishDropped++;
      return;
    }
    this.stats.published++;
    this.link.cmd.publish(roomChannel(envelope.room), encodeEnvelope(envelope)).catch((err: unknown) => {
      this.stats.publishDropped++;
      this.onFailure(err as Error);
    });
  }

  subscribe(room: string, listener: BusListener): void {
    let set = this.listeners.get(room);
    if (set === undefined) {
      this.listeners.set(room, (set = new Set()));
      this.stats.subscribedRooms++;
      this.link.sub.subscribe(roomChannel(room), this.channelListener, true).catch((err: unknown) => this.onFailure(err as Error));
    }
    set.add(listener);
  }

  unsubscribe(room: string, listener: BusListener): void {
    const set = this.listeners.get(room);
    if (set === undefined) return;
    set.delete(listener);
    if (set.size > 0) return;
    this.listeners.delete(room);
    this.stats.subscribedRooms--;
    this.link.sub.unsubscribe(roomChannel(room), this.channelListener, true).catch((err: unknown) => this.onFailure(err as Error));
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  private deliverLocal(envelope: RoomEnvelope): void {
    const set = this.listeners.get(envelope.room);
    if (set !== undefined) for (const l of set) l(envelope);
  }

  private onMessage(message: Buffer, _channel: Buffer | string): void {
    const envelope = decodeEnvelope(message);
    if (envelope === null) {
      this.stats.malformed++;
      return;
    }
    if (envelope.origin === this.instanceId) {
      this.stats.ownEchoes++;
      return;
    }
    this.stats.received++;
    this.deliverLocal(envelope);
  }
}
