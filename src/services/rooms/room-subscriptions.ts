import type { BroadcastBus, BusListener } from './bus.js';

/** A room's bus subscription, held by its members and pending joiners. */
interface Hold {
  count: number;
  /** Until the subscription took effect (a bus that subscribes later); null once it has. */
  ready: Promise<void> | null;
}

/**
 * The service's one bus subscription per room, refcounted by members and pending joiners: the
 * first hold subscribes, the last release unsubscribes. A joiner must not read history before the
 * subscription is in effect (or it could miss what is published in between), so {@link hold}
 * tells it when that is.
 */
export class RoomSubscriptions {
  private readonly holds = new Map<string, Hold>();

  constructor(
    private readonly bus: BroadcastBus,
    private readonly listener: BusListener,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Holds `room` for one member or joiner. Null when the subscription is in effect, else when it will be. */
  hold(room: string): Promise<void> | null {
    let h = this.holds.get(room);
    if (h === undefined) {
      const result = this.bus.subscribe(room, this.listener);
      const hold: Hold = { count: 0, ready: null };
      if (result instanceof Promise) {
        const done = (): void => {
          hold.ready = null;
        };
        hold.ready = result.then(done, (err: unknown) => {
          this.onError(err);
          done();
        });
      }
      this.holds.set(room, (h = hold));
    }
    h.count++;
    return h.ready;
  }

  /** Releases one hold of `room`; the last one unsubscribes. */
  release(room: string): void {
    const h = this.holds.get(room);
    if (h === undefined || --h.count > 0) return;
    this.holds.delete(room);
    this.bus.unsubscribe(room, this.listener);
  }

  /** Rooms subscribed. */
  get size(): number {
    return this.holds.size;
  }
}
