import { isPromise, type MaybePromise } from './history.js';

const IDLE: Promise<boolean> = Promise.resolve(true);

/** A store's answer, or its failure, held until the room's turn. */
type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * Per-room order for work that waits on a shared store (cluster mode: ids from Redis). The
 * caller starts the store request at once (requests on one connection are pipelined and answered
 * in order) and hands its result here; `step` runs when it has settled and every earlier step of
 * the same room has run, so one sender's messages keep their order and a room's steps never
 * interleave. With a synchronous store and nothing in flight the caller skips this entirely
 * ({@link idle}): single node pays nothing.
 */
export class RoomStepQueue {
  private readonly tails = new Map<string, Promise<boolean>>();
  /** Steps that threw or whose value rejected (each reported to `onError`). */
  failures = 0;

  constructor(private readonly onError: (err: unknown) => void) {}

  /** Whether `room` has no step in flight (a synchronous result may be used at once). */
  idle(room: string): boolean {
    return !this.tails.has(room);
  }

  /** Rooms with steps in flight. */
  get busyRooms(): number {
    return this.tails.size;
  }

  /**
   * Runs `step(value)` after `value` settled and after every earlier step of `room`. Resolves
   * true once it ran, false when `value` rejected or the step threw (reported to `onError`).
   */
  run<T>(room: string, value: MaybePromise<T>, step: (value: T) => MaybePromise<void>): Promise<boolean> {
    const prev = this.tails.get(room) ?? IDLE;
    // Settled into a value now (a rejection is held, never unhandled) but used only after `prev`:
    // a failure must not overtake the steps before it.
    const settled: Settled<T> | Promise<Settled<T>> = isPromise(value)
      ? value.then(
          (v): Settled<T> => ({ ok: true, value: v }),
          (error: unknown): Settled<T> => ({ ok: false, error }),
        )
      : { ok: true, value };
    const next: Promise<boolean> = prev
      .then(() => settled)
      .then((r) => {
        if (!r.ok) throw r.error;
        return step(r.value);
      })
      .then(
        () => this.settled(room, next, true),
        (err: unknown) => {
          this.failures++;
          this.onError(err);
          return this.settled(room, next, false);
        },
      );
    this.tails.set(room, next);
    return next;
  }

  private settled(room: string, done: Promise<boolean>, ok: boolean): boolean {
    if (this.tails.get(room) === done) this.tails.delete(room);
    return ok;
  }
}
