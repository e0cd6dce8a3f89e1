import { EventEmitter } from 'node:events';
import { createClient } from 'redis';

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
}

/**
 * Two connections to one Redis (the official `redis` client): `cmd` for commands and publishing,
 * `sub` dedicated to SUBSCRIBE (a subscribed connection can do nothing else). Reconnects with capped
 * backoff forever; while down, commands fail at once instead of queueing (no unbounded queue), and
 * the instance keeps serving its local members. State changes are emitted as `state` events.
 */
export class RedisLink extends EventEmitter<{ state: [LinkState, LinkState]; failure: [Error] }> {
  readonly cmd: RedisCommandClient;
  readonly sub: RedisCommandClient;
  readonly stats: RedisLinkStats = { state: LinkState.Connecting, errors: 0, reconnects: 0, outages: 0, downSince: 0, lastError: '' };
  private readyCount = 0;

  constructor(readonly url: string, maxBackoffMs = 2000) {
    super();
    const options = {
      url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), maxBackoffMs), connectTimeout: 2000 },
    };
    this.cmd = createClient(options);
    this.sub = this.cmd.duplicate();
    for (const client of [this.cmd, this.sub]) {
      client.on('error', (err: Error) => {
        this.stats.errors++;
        this.stats.lastError = err.message;
        this.update();
        // Not 'error': an EventEmitter throws on an unheard 'error', and a Redis outage must never crash.
        this.emit('failure', err);
      });
      client.on('ready', () => this.update());
      client.on('end', () => this.update());
      client.on('reconnecting', () => {
        this.stats.reconnects++;
        this.update();
      });
    }
  }

  /** Starts connecting; resolves once both connections are ready or `waitMs` passed (then keeps trying). */
  async connect(waitMs = 3000): Promise<LinkState> {
    const attempt = (client: RedisCommandClient): void => {
      client.connect().catch((err: unknown) => {
        this.stats.errors++;
        this.stats.lastError = err instanceof Error ? err.message : String(err);
        this.update();
      });
    };
    attempt(this.cmd);
    attempt(this.sub);
    if (this.stats.state === LinkState.Ready) return this.stats.state;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs);
      timer.unref();
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.off('state', onState);
        resolve();
      }
      function onState(next: LinkState): void {
        if (next === LinkState.Ready) done();
      }
      this.on('state', onState);
    });
    return this.stats.state;
  }

  /** Whether commands can be sent now. */
  get ready(): boolean {
    return this.stats.state === LinkState.Ready;
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

  /** Closes both connections. Idempotent. */
  async close(): Promise<void> {
    if (this.stats.state === LinkState.Closed) return;
    const prev = this.stats.state;
    this.stats.state = LinkState.Closed;
    this.emit('state', LinkState.Closed, prev);
    await Promise.all(
      [this.cmd, this.sub].map(async (c) => {
        if (c.isOpen) await c.close();
        else c.destroy();
      }),
    );
  }
}
