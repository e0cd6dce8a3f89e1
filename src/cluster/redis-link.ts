import { EventEmitter } from 'node:events';
import { createClient } from 'redis';
import { DEFAULT_REDIS_PREFIX, RedisKeys } from './redis-keys.js';
import { ConnectionWatch, StallKind } from './redis-liveness.js';

/** Connection state of the link to Redis, as `/api/push/status` and metrics report it. */
export const LinkState = {
  Connecting: 'connecting',
  Ready: 'ready',
  Down: 'down',
  Closed: 'closed',
} as const;
export type LinkState = (typeof LinkState)[keyof typeof LinkState];

/** The command client type (node-redis). */
export type RedisCommandClient = ReturnType<typeof createClient>;

/** How long Redis may take before the link counts as down (`--redis-ping-ms`, `--redis-timeout-ms`, `--redis-max-pending`). */
export interface RedisLinkBounds {
  /** A PING on each connection this often while it is ready. */
  pingMs: number;
  /** A PING, a handshake or a TCP connect not answered within this long: the connection stalled. */
  timeoutMs: number;
  /** Commands waiting for a reply ({@link RedisLink.track}) past which the link is declared down. */
  maxPending: number;
}

/** Defaults of {@link RedisLinkBounds} (the config's defaults are the same). */
export const DEFAULT_LINK_BOUNDS: Readonly<RedisLinkBounds> = Object.freeze({ pingMs: 1000, timeoutMs: 2000, maxPending: 16_384 });

/** A torn-down connection reconnects after this long (the socket it replaces is closed by then). */
const RESTART_DELAY_MS = 50;

/** Counters of the link. */
export interface RedisLinkStats {
  state: LinkState;
  errors: number;
  reconnects: number;
  /** Times the link went from ready to down. */
  outages: number;
  /** ms since the epoch when the current outage began, 0 when up. */
  downSince: number;
  lastError: string;
  /** Times the link was declared down because Redis stopped answering (a PING unanswered, or `maxPending` commands waiting). */
  stalls: number;
  /** Connection attempts given up because the handshake got no reply within `timeoutMs`. */
  handshakeTimeouts: number;
  /** Commands sent through {@link RedisLink.track} that wait for a reply now; the most there ever were; the bound. */
  pending: number;
  pendingPeak: number;
  maxPending: number;
}

/**
 * Two connections to one Redis (the official `redis` client): `cmd` for commands and publishing,
 * `sub` dedicated to SUBSCRIBE (a subscribed connection can do nothing else). Reconnects with capped
 * backoff forever; while down, commands fail at once instead of queueing (no unbounded queue), and
 * the instance keeps serving its local members. State changes are emitted as `state` events.
 *
 * Liveness: a Redis that keeps the connection open but stops answering is down too. Each
 * connection is PINGed every `pingMs` ({@link ConnectionWatch}); a PING not answered within
 * `timeoutMs`, or more than `maxPending` commands waiting for a reply, declares the link down:
 * both connections are destroyed (every command waiting on them is rejected at once, and no late
 * reply can reach a later command) and reconnect. A reconnect whose handshake is not answered
 * within `timeoutMs` is abandoned and tried again, so the link is ready again as soon as Redis
 * answers.
 */
export class RedisLink extends EventEmitter<{ state: [LinkState, LinkState]; failure: [Error] }> {
  readonly cmd: RedisCommandClient;
  readonly sub: RedisCommandClient;
  readonly stats: RedisLinkStats;
  readonly bounds: Readonly<RedisLinkBounds>;
  private readyCount = 0;
  private readonly watches: Map<RedisCommandClient, ConnectionWatch> = new Map();
  private readonly settled = (): void => {
    this.stats.pending--;
  };

  /** Every key and channel name this link's users touch, under the deployment's prefix. */
  readonly keys: RedisKeys;

  constructor(readonly url: string, maxBackoffMs = 2000, bounds: Partial<RedisLinkBounds> = {}, prefix: string = DEFAULT_REDIS_PREFIX) {
    super();
    this.keys = new RedisKeys(prefix);
    this.bounds = Object.freeze({ ...DEFAULT_LINK_BOUNDS, ...bounds });
    const { timeoutMs, maxPending } = this.bounds;
    if (!(timeoutMs > 0) || !(this.bounds.pingMs > 0) || !(maxPending >= 1)) throw new RangeError(`RedisLink: bad bounds ${JSON.stringify(this.bounds)}`);
    this.stats = { state: LinkState.Connecting, errors: 0, reconnects: 0, outages: 0, downSince: 0, lastError: '', stalls: 0, handshakeTimeouts: 0, pending: 0, pendingPeak: 0, maxPending };
    const options = {
      url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), maxBackoffMs), connectTimeout: timeoutMs },
    };
    this.cmd = createClient(options);
    this.sub = this.cmd.duplicate();
    for (const client of [this.cmd, this.sub]) {
      const watch = new ConnectionWatch(client, this.bounds, (kind, waitedMs) => this.stalled(client, kind, waitedMs));
      this.watches.set(client, watch);
      client.on('error', (err: Error) => {
        this.stats.errors++;
        this.stats.lastError = err.message;
        this.update();
        // Not 'error': an EventEmitter throws on an unheard 'error', and a Redis outage must never crash.
        this.emit('failure', err);
      });
      client.on('connect', () => watch.connected());
      client.on('ready', () => {
        watch.ready();
        this.update();
      });
      client.on('end', () => {
        watch.reset();
        this.update();
      });
      client.on('reconnecting', () => {
        watch.reset();
        this.stats.reconnects++;
        this.update();
      });
    }
  }

  /** Starts connecting; resolves once both connections are ready or `waitMs` passed (then keeps trying). */
  async connect(waitMs = 3000): Promise<LinkState> {
    this.attempt(this.cmd);
    this.attempt(this.sub);
    if (this.stats.state === LinkState.Ready) return this.stats.state;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.off('state', onState);
        resolve();
      };
      const onState = (next: LinkState): void => {
        if (next === LinkState.Ready) done();
      };
      const timer = setTimeout(done, waitMs);
      timer.unref();
      this.on('state', onState);
    });
    return this.stats.state;
  }

  /** Whether commands can be sent now. */
  get ready(): boolean {
    return this.stats.state === LinkState.Ready;
  }

  /**
   * Counts `reply` (a command just sent on {@link cmd}) as waiting until it settles, and returns it.
   * The command past `maxPending` waiting ones declares the link down instead of being counted:
   * it is rejected with every other waiting command, and the callers fall back as in any outage.
   * This is what bounds the memory held by a Redis that stopped answering before its PING is due.
   */
  track<T>(reply: Promise<T>): Promise<T> {
    const s = this.stats;
    if (s.pending >= this.bounds.maxPending) {
      if (this.ready) this.declareDown(`${s.pending} commands waiting for a reply (--redis-max-pending ${this.bounds.maxPending})`);
      return reply;
    }
    s.pending++;
    if (s.pending > s.pendingPeak) s.pendingPeak = s.pending;
    reply.then(this.settled, this.settled);
    return reply;
  }

  private attempt(client: RedisCommandClient): void {
    client.connect().catch((err: unknown) => {
      // With a reconnect strategy that never gives up, connect() rejects only when the client was
      // closed or torn down meanwhile: that was counted where it was decided (close, stall).
      if (!client.isOpen) return;
      this.stats.errors++;
      this.stats.lastError = err instanceof Error ? err.message : String(err);
      this.update();
    });
  }

  private stalled(client: RedisCommandClient, kind: StallKind, waitedMs: number): void {
    if (this.stats.state === LinkState.Closed) return;
    if (kind === StallKind.Handshake) {
      this.stats.handshakeTimeouts++;
      this.stats.lastError = `no reply to the connection handshake within ${waitedMs} ms`;
      this.restart(client);
      return;
    }
    this.declareDown(`no reply to PING within ${waitedMs} ms (--redis-timeout-ms ${this.bounds.timeoutMs})`);
  }

  /** Redis stopped answering: an outage like a refused connection. Both connections are torn down and reconnect. */
  private declareDown(reason: string): void {
    this.stats.stalls++;
    this.stats.lastError = reason;
    this.emit('failure', new Error(`redis stalled: ${reason}`));
    for (const client of [this.cmd, this.sub]) if (client.isReady || this.watches.get(client)!.handshaking) this.restart(client);
    this.update();
  }

  /**
   * Destroys the connection (rejecting every command waiting on it) and connects again shortly.
   * Only a connection whose socket is up (ready or in its handshake) is restarted: one still
   * connecting TCP is bounded by `connectTimeout` and node-redis's own retries.
   */
  private restart(client: RedisCommandClient): void {
    this.watches.get(client)!.reset();
    if (client.isOpen) client.destroy();
    this.update();
    const timer = setTimeout(() => {
      if (this.stats.state !== LinkState.Closed && !client.isOpen) this.attempt(client);
    }, RESTART_DELAY_MS);
    timer.unref();
  }

  private update(): void {
    if (this.stats.state === LinkState.Closed) return;
    const next = this.cmd.isReady && this.sub.isReady ? LinkState.Ready : this.readyCount === 0 ? LinkState.Connecting : LinkState.Down;
    const prev = this.stats.state;
    if (next === prev) return;
    if (next === LinkState.Ready) this.readyCount++;
    if (next === LinkState.Down) {
      this.stats.outages++;
      this.stats.downSince = Date.now();
    } else if (next === LinkState.Ready) this.stats.downSince = 0;
    this.stats.state = next;
    this.emit('state', next, prev);
  }

  /** Closes both connections, waiting at most `timeoutMs` for replies still due. Idempotent. */
  async close(): Promise<void> {
    if (this.stats.state === LinkState.Closed) return;
    const prev = this.stats.state;
    this.stats.state = LinkState.Closed;
    for (const watch of this.watches.values()) watch.stop();
    this.emit('state', LinkState.Closed, prev);
    await Promise.all(
      [this.cmd, this.sub].map(async (c) => {
        if (!c.isReady) {
          c.destroy();
          return;
        }
        // close() waits for every reply due; a Redis that stopped answering would make it wait forever.
        const timer = setTimeout(() => c.destroy(), this.bounds.timeoutMs);
        try {
          await c.close();
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }
}
