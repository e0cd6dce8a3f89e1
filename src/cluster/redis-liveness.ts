/** What {@link ConnectionWatch} needs of a node-redis client. */
export interface WatchedClient {
  readonly isReady: boolean;
  ping(): Promise<unknown>;
}

/** Liveness bounds of one connection to Redis (`--redis-ping-ms`, `--redis-timeout-ms`). */
export interface LivenessOptions {
  /** A PING is sent this often while the connection is ready (one in flight at most). */
  pingMs: number;
  /** A PING, or a connection's handshake, not answered within this long is a stall. */
  timeoutMs: number;
}

/** What stalled: an unanswered PING on a ready connection, or a handshake that never finished. */
export const StallKind = {
  Ping: 'ping',
  Handshake: 'handshake',
} as const;
export type StallKind = (typeof StallKind)[keyof typeof StallKind];

/**
 * Liveness of one node-redis connection. node-redis's own bounds stop short of a Redis that keeps
 * the TCP connection open but no longer answers (a stopped process, a black-holed network): its
 * per-command `timeout` only covers a command not yet written to the socket, `socketTimeout` is an
 * idle timer that every write resets, and `pingInterval` sends PINGs but never fails on a missing
 * reply. So this watch sends its own PING every {@link LivenessOptions.pingMs} on a ready
 * connection and reports a stall when the reply has not come within
 * {@link LivenessOptions.timeoutMs}; replies come in order, so no command sent on the connection
 * waits longer than pingMs + timeoutMs unnoticed. A connection that connected (TCP) but did not
 * finish its handshake within timeoutMs is a stall too (a stopped Redis accepts connections in the
 * kernel and never answers). The owner reacts to `onStall` by tearing the connection down.
 */
export class ConnectionWatch {
  /** When the PING in flight was sent (0 = none in flight). */
  private pingSentAt = 0;
  /** Bumped on every reset: a reply to a PING of an earlier connection is ignored. */
  private epoch = 0;
  private pingTimer: NodeJS.Timeout | null = null;
  private deadline: NodeJS.Timeout | null = null;
  private handshake: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly answered = (): void => {
    this.pingSentAt = 0;
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.deadline = null;
  };

  constructor(
    private readonly client: WatchedClient,
    private readonly options: LivenessOptions,
    private readonly onStall: (kind: StallKind, waitedMs: number) => void,
  ) {}

  /** The connection is TCP-connected and its handshake began: it has timeoutMs to become ready. */
  connected(): void {
    if (this.stopped) return;
    this.clearHandshake();
    const epoch = this.epoch;
    const since = Date.now();
    this.handshake = setTimeout(() => {
      this.handshake = null;
      if (epoch === this.epoch && !this.client.isReady) this.onStall(StallKind.Handshake, Date.now() - since);
    }, this.options.timeoutMs);
    this.handshake.unref();
  }

  /** Whether the connection is connected and in its handshake (its socket is up, not ready yet). */
  get handshaking(): boolean {
    return this.handshake !== null;
  }

  /** The connection is ready: PINGs begin. */
  ready(): void {
    if (this.stopped) return;
    this.clearHandshake();
    if (this.pingTimer === null) {
      this.pingTimer = setInterval(() => this.ping(), this.options.pingMs);
      this.pingTimer.unref();
    }
  }

  /** The connection is gone (closed, destroyed or failed): nothing in flight counts any more. */
  reset(): void {
    this.epoch++;
    this.pingSentAt = 0;
    this.clearHandshake();
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.pingTimer = this.deadline = null;
  }

  /** For good (the link closed). */
  stop(): void {
    this.stopped = true;
    this.reset();
  }

  private ping(): void {
    if (this.pingSentAt !== 0 || !this.client.isReady) return;
    const epoch = this.epoch;
    this.pingSentAt = Date.now();
    this.client.ping().then(
      () => {
        if (epoch === this.epoch) this.answered();
      },
      // A failed PING means the connection failed: node-redis reports that as 'error'/'end', which
      // reset this watch. Nothing to count here.
      () => {
        if (epoch === this.epoch) this.answered();
      },
    );
    this.deadline = setTimeout(() => this.expired(), this.options.timeoutMs);
    this.deadline.unref();
  }

  private expired(): void {
    this.deadline = null;
    if (this.pingSentAt === 0) return;
    const epoch = this.epoch;
    // Timers run before I/O in a loop turn: a reply already in the socket (the process was busy)
    // is read in this turn's poll phase, before setImmediate. Only a PING still unanswered stalls.
    setImmediate(() => {
      if (epoch === this.epoch && this.pingSentAt !== 0) this.onStall(StallKind.Ping, Date.now() - this.pingSentAt);
    });
  }

  private clearHandshake(): void {
    if (this.handshake !== null) clearTimeout(this.handshake);
    this.handshake = null;
  }
}
