import { EventEmitter } from 'node:events';
import { createClient, createCluster, type RedisClusterType } from 'redis';
import { keySlot } from './key-slot.js';
import { DEFAULT_REDIS_PREFIX, RedisKeys } from './redis-keys.js';
import { ConnectionWatch, StallKind, type WatchedClient } from './redis-liveness.js';
import { type ChannelListener, ClusterRedisOps, type RedisOps, SingleRedisOps } from './redis-ops.js';

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
type RedisClusterClient = RedisClusterType;
/** A master as the node-redis cluster client holds it (its command and sharded pub/sub connections). */
type MasterNode = RedisClusterClient['masters'][number];

/** What the link talks to: one Redis, or a Redis Cluster. */
export const RedisMode = {
  Single: 'single',
  Cluster: 'cluster',
} as const;
export type RedisMode = (typeof RedisMode)[keyof typeof RedisMode];

/** `--redis`: one URL, or several comma-separated seed URLs of a Redis Cluster. */
export function redisSeeds(url: string): string[] {
  return url.split(',').map((u) => u.trim()).filter((u) => u !== '');
}

/**
 * A Redis Cluster node whose connection broke retries this long before node-redis re-reads the
 * cluster's topology (a replica that took over a dead master is found then).
 */
const TOPOLOGY_REFRESH_MS = 250;

/** The node-redis cluster client's internal event carrying subscriptions to move (see startCluster). */
const RESUBSCRIBE_EVENT = '__resubscribeListeners';

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
  /** One Redis or a Redis Cluster (decided when the first connection is ready: see {@link RedisLink}). */
  mode: RedisMode;
  /** Cluster mode: the masters the cluster client knows now (0 on a single Redis). */
  masters: number;
  /** Cluster mode: masters not answering now (their slots' rooms are local-only: see {@link RedisLink.readyFor}). */
  shardsDown: number;
  /** Cluster mode: times a master was declared down (a PING or a handshake unanswered, or its connection lost). */
  shardOutages: number;
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
 * `sub` dedicated to SUBSCRIBE (a subscribed connection can do nothing else); on a Redis Cluster,
 * node-redis's cluster client, watched per master (see {@link RedisLink.readyFor}: one master that
 * stops answering takes only its own slots down, the link as a whole is down only when every
 * master is). Reconnects with capped
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
export class RedisLink extends EventEmitter<{ state: [LinkState, LinkState]; failure: [Error]; reset: []; shards: [] }> {
  /** The single-Redis connections (closed and unused in cluster mode). Parts send through {@link ops}. */
  readonly cmd: RedisCommandClient;
  readonly sub: RedisCommandClient;
  readonly stats: RedisLinkStats;
  readonly bounds: Readonly<RedisLinkBounds>;
  private readyCount = 0;
  private readonly watches: Map<RedisCommandClient, ConnectionWatch> = new Map();
  private readonly settled = (): void => {
    this.stats.pending--;
  };

  private currentKeys: RedisKeys;
  private currentOps: RedisOps;
  private readonly seeds: string[];
  /** Single mode, one URL: whether the server said it is no cluster node (asked once its first connection is ready). */
  private probed = false;
  private cluster: RedisClusterClient | null = null;
  /** Cluster mode: a watch per master address. */
  private readonly masterWatches = new Map<string, ConnectionWatch>();
  /** Cluster mode: masters declared down (address → ms since the epoch), until their connection is ready again. */
  private readonly mastersDown = new Map<string, number>();
  /** Cluster mode: when each master's connection (not ready) was first seen connecting. */
  private readonly mastersConnecting = new Map<string, number>();
  /** Cluster mode: the masters that answered, as last announced with a `shards` event. */
  private mastersUp = new Set<string>();
  private shardsSeen = '';
  private clusterTimer: NodeJS.Timeout | null = null;
  /** Cluster mode: a new cluster client is being connected (after a stall, or while none answered yet). */
  private clusterConnecting = false;
  private readonly reconnectStrategy: (retries: number) => number;

  /** Every key and channel name this link's users touch, under the deployment's prefix (hash-tagged in cluster mode). */
  get keys(): RedisKeys {
    return this.currentKeys;
  }

  /** The commands, on the single Redis or the cluster, whichever this link talks to now. */
  get ops(): RedisOps {
    return this.currentOps;
  }

  constructor(readonly url: string, private readonly maxBackoffMs = 2000, bounds: Partial<RedisLinkBounds> = {}, private readonly prefix: string = DEFAULT_REDIS_PREFIX) {
    super();
    this.seeds = redisSeeds(url);
    if (this.seeds.length === 0) throw new RangeError('RedisLink: no URL');
    this.currentKeys = new RedisKeys(prefix);
    this.bounds = Object.freeze({ ...DEFAULT_LINK_BOUNDS, ...bounds });
    const { timeoutMs, maxPending } = this.bounds;
    if (!(timeoutMs > 0) || !(this.bounds.pingMs > 0) || !(maxPending >= 1)) throw new RangeError(`RedisLink: bad bounds ${JSON.stringify(this.bounds)}`);
    this.stats = { state: LinkState.Connecting, mode: RedisMode.Single, masters: 0, shardsDown: 0, shardOutages: 0, errors: 0, reconnects: 0, outages: 0, downSince: 0, lastError: '', stalls: 0, handshakeTimeouts: 0, pending: 0, pendingPeak: 0, maxPending };
    this.reconnectStrategy = (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), maxBackoffMs);
    const options = {
      url: this.seeds[0],
      disableOfflineQueue: true,
      socket: { reconnectStrategy: this.reconnectStrategy, connectTimeout: timeoutMs },
    };
    this.cmd = createClient(options);
    this.sub = this.cmd.duplicate();
    this.currentOps = new SingleRedisOps(this.cmd, this.sub);
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
        if (client === this.cmd && !this.probed) this.probe();
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

  /** Starts connecting; resolves once both connections (or every cluster master) are ready, or `waitMs` passed (then keeps trying). */
  async connect(waitMs = 3000): Promise<LinkState> {
    if (this.seeds.length > 1) this.becomeCluster();
    else {
      this.attempt(this.cmd);
      this.attempt(this.sub);
    }
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

  /**
   * Whether commands can be sent now: to the single Redis, or to at least one shard of a Redis
   * Cluster. Commands on a key go out only when {@link readyFor} that key.
   */
  get ready(): boolean {
    return this.stats.state === LinkState.Ready;
  }

  /**
   * Whether commands on `key` (a key or a sharded channel) can be sent now: the link is ready and,
   * on a Redis Cluster, the master owning the key's slot answers. A shard whose master is down
   * (stopped, dead, failing over) makes its slots' keys unready while the others stay ready, so only
   * the rooms of that shard fall back to local delivery. Keys of one hash tag share the answer.
   */
  readyFor(key: string): boolean {
    if (!this.ready) return false;
    if (this.stats.mode !== RedisMode.Cluster) return true;
    const master = this.cluster?.slots[keySlot(key)]?.master;
    return master !== undefined && this.masterUp(master);
  }

  /** Whether every shard answers (on a single Redis: {@link ready}). */
  get whole(): boolean {
    return this.ready && (this.stats.mode !== RedisMode.Cluster || this.stats.shardsDown === 0);
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
    if (this.stats.state === LinkState.Closed || this.stats.mode === RedisMode.Cluster) return;
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
    if (this.stats.mode === RedisMode.Cluster) {
      this.restartCluster();
      return;
    }
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
      if (this.stats.state !== LinkState.Closed && this.stats.mode === RedisMode.Single && !client.isOpen) this.attempt(client);
    }, RESTART_DELAY_MS);
    timer.unref();
  }

  private update(): void {
    if (this.stats.state === LinkState.Closed) return;
    const up = this.stats.mode === RedisMode.Cluster ? this.clusterUp() : this.probed && this.cmd.isReady && this.sub.isReady;
    const next = up ? LinkState.Ready : this.readyCount === 0 ? LinkState.Connecting : LinkState.Down;
    const prev = this.stats.state;
    if (next !== prev) {
      if (next === LinkState.Ready) this.readyCount++;
      if (next === LinkState.Down) {
        this.stats.outages++;
        this.stats.downSince = Date.now();
      } else if (next === LinkState.Ready) this.stats.downSince = 0;
      this.stats.state = next;
      this.emit('state', next, prev);
    }
    if (this.stats.mode === RedisMode.Cluster) this.announceShards();
  }

  /** Closes both connections, waiting at most `timeoutMs` for replies still due. Idempotent. */
  async close(): Promise<void> {
    if (this.stats.state === LinkState.Closed) return;
    const prev = this.stats.state;
    this.stats.state = LinkState.Closed;
    for (const watch of this.watches.values()) watch.stop();
    this.stopClusterWatch();
    this.emit('state', LinkState.Closed, prev);
    const cluster = this.cluster;
    this.cluster = null;
    const closing: Promise<unknown>[] = [];
    if (cluster !== null) {
      // close() waits for replies due; a hung shard would make it wait forever.
      const timer = setTimeout(() => cluster.destroy(), this.bounds.timeoutMs);
      closing.push((cluster.isOpen ? cluster.close() : Promise.resolve()).catch(() => undefined).finally(() => clearTimeout(timer)));
    }
    await Promise.all([
      ...closing,
      ...[this.cmd, this.sub].map(async (c) => {
        if (!c.isReady) {
          if (c.isOpen) c.destroy();
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
    ]);
  }

  /**
   * Single mode, one URL: asks the server whether it is a Redis Cluster node (`INFO cluster`); one
   * that is turns the link into cluster mode with that URL as the seed. Until the answer is in,
   * the link is not ready (nothing is sent to a cluster node as if it were a single Redis).
   */
  private probe(): void {
    this.cmd.info('cluster').then(
      (info) => {
        if (this.stats.state === LinkState.Closed || this.probed) return;
        this.probed = true;
        if (/cluster_enabled:1/.test(info)) this.becomeCluster();
        else this.update();
      },
      (err: unknown) => {
        this.stats.lastError = err instanceof Error ? err.message : String(err);
        if (this.stats.state === LinkState.Closed || this.probed || !this.cmd.isReady) return; // the connection broke: asked again at the next ready
        // Redis answered with an error (an ACL without INFO, say): a single Redis (seed URLs force cluster mode).
        this.probed = true;
        this.update();
      },
    );
  }

  /** Cluster mode from now on: the single connections close, a cluster client connects to the seeds. */
  private becomeCluster(): void {
    this.probed = true;
    this.stats.mode = RedisMode.Cluster;
    for (const [client, watch] of this.watches) {
      watch.stop();
      if (client.isOpen) client.destroy();
    }
    this.currentKeys = new RedisKeys(this.prefix, true);
    this.clusterTimer = setInterval(() => this.clusterTick(), this.bounds.pingMs);
    this.clusterTimer.unref();
    this.startCluster();
  }

  /** A fresh cluster client, connected in the background (again after a failure, with backoff). */
  private startCluster(): void {
    if (this.stats.state === LinkState.Closed) return;
    const { timeoutMs } = this.bounds;
    const cluster = createCluster({
      rootNodes: this.seeds.map((url) => ({ url })),
      defaults: { disableOfflineQueue: true, socket: { reconnectStrategy: this.reconnectStrategy, connectTimeout: timeoutMs } },
      topologyRefreshOnReconnectionAttemptStrategy: TOPOLOGY_REFRESH_MS,
    });
    this.cluster = cluster;
    this.currentOps = new ClusterRedisOps(cluster);
    this.clusterConnecting = true;
    const mine = (): boolean => this.cluster === cluster;
    const failed = (err: Error): void => {
      if (!mine()) return;
      this.stats.errors++;
      this.stats.lastError = err.message;
      this.update();
      this.emit('failure', err);
    };
    cluster.on('error', failed);
    cluster.on('node-error', failed);
    cluster.on('node-reconnecting', () => {
      if (!mine()) return;
      this.stats.reconnects++;
      this.update();
    });
    for (const event of ['node-ready', 'node-connect', 'node-disconnect', 'connect', 'disconnect'] as const) cluster.on(event, () => mine() && this.update());
    // node-redis moves the subscriptions of a node that left the topology (a dead master) with
    // sSubscribe calls whose failures nobody handles, and an unhandled rejection ends the process.
    // The same moves here, with a failure counted and answered by a fresh client (the bus then
    // subscribes every room again once the link is ready).
    cluster.removeAllListeners(RESUBSCRIBE_EVENT);
    cluster.on(RESUBSCRIBE_EVENT, (listeners: { SHARDED?: Map<string, { buffers: Set<ChannelListener>; strings: Set<(message: string, channel: string) => void> }> }) => {
      for (const [channel, set] of listeners.SHARDED ?? []) {
        for (const l of set.buffers) cluster.sSubscribe(channel, l, true).catch((err: unknown) => this.movedFailed(cluster, err));
        for (const l of set.strings) cluster.sSubscribe(channel, l).catch((err: unknown) => this.movedFailed(cluster, err));
      }
    });
    // A seed that accepts TCP but never answers (hung) would hold discovery forever: give up and retry.
    const deadline = setTimeout(() => {
      if (!mine() || cluster.isReady) return;
      this.stats.handshakeTimeouts++;
      this.stats.lastError = `no Redis Cluster seed answered within ${timeoutMs} ms`;
      this.restartCluster();
    }, timeoutMs);
    deadline.unref();
    let tries = 0;
    const connect = (): void => {
      cluster.connect().then(
        () => {
          clearTimeout(deadline);
          if (!mine()) return;
          this.clusterConnecting = false;
          this.update();
        },
        (err: unknown) => {
          if (!mine()) return;
          failed(err instanceof Error ? err : new Error(String(err)));
          const timer = setTimeout(() => mine() && !cluster.isOpen && connect(), this.reconnectStrategy(tries++));
          timer.unref();
        },
      );
    };
    connect();
  }

  /** A subscription could not be moved to its slot's new master: a fresh client subscribes everything again. */
  private movedFailed(cluster: RedisClusterClient, err: unknown): void {
    if (this.cluster !== cluster) return;
    this.stats.errors++;
    this.stats.lastError = `moving a subscription failed: ${err instanceof Error ? err.message : String(err)}`;
    this.emit('failure', new Error(this.stats.lastError));
    this.restartCluster();
  }

  /** Tears the cluster client down (every command waiting on it is rejected) and connects a new one. */
  private restartCluster(): void {
    const old = this.cluster;
    this.cluster = null;
    this.stopClusterWatch(false);
    if (old !== null) {
      try {
        old.destroy();
      } catch {
        // Destroying a client that never opened: nothing to release.
      }
    }
    this.update();
    // Subscriptions lived on the old client: its users subscribe again once the link is ready.
    this.emit('reset');
    const timer = setTimeout(() => this.startCluster(), RESTART_DELAY_MS);
    timer.unref();
  }

  /** Cluster mode: ready when the client knows the slots and at least one master answers. */
  private clusterUp(): boolean {
    const c = this.cluster;
    if (c === null || this.clusterConnecting || !c.isReady) return false;
    const masters = c.masters;
    this.stats.masters = masters.length;
    let down = 0;
    for (const m of masters) if (!this.masterUp(m)) down++;
    this.stats.shardsDown = down;
    return masters.length > down;
  }

  /** A master answers: its connection is ready and it was not declared down since. */
  private masterUp(m: MasterNode): boolean {
    return m.client?.isReady === true && !this.mastersDown.has(m.address);
  }

  /** Emits `shards` when the set of masters that answer changed (the bus re-checks its rooms then). */
  private announceShards(): void {
    const c = this.cluster;
    const up = new Set(c === null ? [] : c.masters.filter((m) => this.masterUp(m)).map((m) => m.address));
    const known = new Set(c === null ? [] : c.masters.map((m) => m.address));
    for (const address of this.mastersUp) if (known.has(address) && !up.has(address)) this.stats.shardOutages++;
    this.mastersUp = up;
    const seen = `${this.stats.state}|${[...up].sort().join(',')}`;
    if (seen === this.shardsSeen) return;
    this.shardsSeen = seen;
    this.emit('shards');
  }

  /**
   * Every `pingMs`, per master: a PING with a deadline on a ready connection; a connection not
   * ready within `timeoutMs` of being seen connecting (a stopped Redis accepts TCP, never answers)
   * declares the master down, as does an unanswered PING. A master declared down whose connection
   * was torn down gets a fresh one here (up again once it is ready), and while any is down the
   * client re-reads the topology (a replica that took over is found then).
   */
  private clusterTick(): void {
    const c = this.cluster;
    if (c === null || this.stats.state === LinkState.Closed) return;
    const seen = new Set<string>();
    const now = Date.now();
    let anyDown = false;
    for (const m of c.masters) {
      seen.add(m.address);
      let watch = this.masterWatches.get(m.address);
      if (watch === undefined) {
        const node: WatchedClient = {
          get isReady() {
            return m.client?.isReady === true;
          },
          ping: () => (m.client !== undefined ? m.client.ping() : Promise.reject(new Error('no connection'))),
        };
        watch = new ConnectionWatch(node, this.bounds, (_kind, waitedMs) => {
          if (this.cluster === c) this.masterStalled(m, `no reply to PING from cluster node ${m.address} within ${waitedMs} ms (--redis-timeout-ms ${this.bounds.timeoutMs})`);
        });
        this.masterWatches.set(m.address, watch);
      }
      const client = m.client;
      if (client?.isReady === true) {
        this.mastersConnecting.delete(m.address);
        if (this.mastersDown.delete(m.address)) this.stats.lastError = '';
        watch.ready();
        continue;
      }
      watch.reset();
      anyDown = true;
      if (client === undefined) {
        // Torn down when it stalled: a fresh connection (its handshake is bounded like any other).
        if (m.connectPromise === undefined) c.nodeClient(m).catch((err: unknown) => this.nodeFailed(c, err));
        this.mastersConnecting.set(m.address, now);
        continue;
      }
      const since = this.mastersConnecting.get(m.address);
      if (since === undefined) this.mastersConnecting.set(m.address, now);
      else if (client.isOpen && now - since >= this.bounds.timeoutMs) {
        this.stats.handshakeTimeouts++;
        this.masterStalled(m, `cluster node ${m.address} not ready within ${now - since} ms (--redis-timeout-ms ${this.bounds.timeoutMs})`);
      }
    }
    for (const [address, watch] of this.masterWatches) {
      if (seen.has(address)) continue;
      watch.stop();
      this.masterWatches.delete(address);
      this.mastersDown.delete(address);
      this.mastersConnecting.delete(address);
    }
    if (anyDown) c._slots.rediscover().catch((err: unknown) => this.nodeFailed(c, err));
    this.update();
  }

  /**
   * A master stopped answering: it is down (the rooms of its slots go local-only), and both its
   * connections are destroyed, rejecting every command waiting on them at once. Its sharded
   * subscriptions go with them; the bus subscribes those rooms again once their slots' master
   * answers (this one again, or the replica that took over).
   */
  private masterStalled(m: MasterNode, reason: string): void {
    this.stats.stalls++;
    this.stats.lastError = reason;
    this.emit('failure', new Error(`redis stalled: ${reason}`));
    if (!this.mastersDown.has(m.address)) this.mastersDown.set(m.address, Date.now());
    this.mastersConnecting.delete(m.address);
    this.masterWatches.get(m.address)?.reset();
    const client = m.client;
    const pubSub = m.pubSub;
    m.client = undefined;
    m.pubSub = undefined;
    client?.destroy();
    pubSub?.client.destroy();
    // No master answers: the whole link is down; a fresh client starts over from the seeds.
    if (this.cluster !== null && this.cluster.masters.every((x) => this.mastersDown.has(x.address))) {
      this.restartCluster();
      return;
    }
    this.update();
  }

  /** A cluster client's background step (a reconnect, a topology read) failed: counted and reported. */
  private nodeFailed(c: RedisClusterClient, err: unknown): void {
    if (this.cluster !== c) return;
    this.stats.errors++;
    this.stats.lastError = err instanceof Error ? err.message : String(err);
    this.emit('failure', err instanceof Error ? err : new Error(this.stats.lastError));
  }

  private stopClusterWatch(forGood = true): void {
    if (forGood && this.clusterTimer !== null) {
      clearInterval(this.clusterTimer);
      this.clusterTimer = null;
    }
    for (const watch of this.masterWatches.values()) watch.stop();
    this.masterWatches.clear();
    this.mastersDown.clear();
    this.mastersConnecting.clear();
  }
}
