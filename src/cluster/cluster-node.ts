import type { AddressInfo } from 'node:net';
import type { ServerConfig } from '../config.js';
import type { Identity } from '../ops/identity.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { ReadinessCheck } from '../ops/readiness.js';
import type { RoomOwner } from '../services/rooms/admin-api.js';
import type { RoomsBackend } from '../services/rooms/mount-rooms.js';
import { parseRateLimit } from '../services/rooms/rate-limiter.js';
import type { RingMember } from './hash-ring.js';
import { InstanceRegistry, type RingChange } from './instance-registry.js';
import { RedisBus } from './redis-bus.js';
import { RedisHistory } from './redis-history.js';
import { LinkState, RedisLink } from './redis-link.js';
import { presenceTtlMs, RedisPresence } from './redis-presence.js';
import { RedisRateLeases } from './redis-rate.js';
import { RingPresence } from './ring-presence.js';
import { StreamReplicator } from './stream-replicator.js';
import type { Router } from '../protocols/http/router.js';
import type { AudioCache } from '../services/audio-cache/mount-audio-cache.js';
import type { ClusterDelete, StreamPlacement } from '../services/audio-cache/stream-placement.js';

/** Ring key of a room. Rooms and audio streams share one ring. */
export const roomKey = (room: string): string => `room:${room}`;
/** Ring key of an audio stream. */
export const streamKey = (stream: string): string => `stream:${stream}`;

/** Longest wait for Redis at start-up; past it the instance serves anyway and keeps reconnecting. */
const CONNECT_WAIT_MS = 2000;
/** Longest backoff between reconnect attempts. */
const MAX_BACKOFF_MS = 2000;

/** The cluster's slice of the configuration. */
export type ClusterOptions = Pick<
  ServerConfig,
  | 'redisUrl'
  | 'redisPrefix'
  | 'redisTimeoutMs'
  | 'redisPingMs'
  | 'redisMaxPending'
  | 'heartbeatMs'
  | 'heartbeatTtlMs'
  | 'vnodes'
  | 'rateLimit'
  | 'rateLease'
  | 'historySize'
  | 'historyTtlSeconds'
  | 'host'
  | 'audioPath'
  | 'clusterSecret'
  | 'streamReplicas'
  | 'replicationConcurrency'
  | 'replicationBytesPerSec'
  | 'replicationIntervalMs'
  | 'streamTombstoneSeconds'
  | 'scrubBytesPerSec'
>;

/** Counters of the node itself. */
export interface ClusterNodeStats {
  /** Audio GET/START answered with ERROR:MOVED. */
  moved: number;
  /** Redis command failures reported by the parts (also counted by each part). */
  failures: number;
}

/**
 * One slabcast instance in cluster mode (`--redis`): the Redis link, the instance registry and its
 * consistent-hash ring, and the rooms backend over them (RedisBus, RedisHistory, RedisPresence).
 * Built before the services mount (they take {@link rooms} and {@link streamRedirect}), started
 * once the server listens (the advertised URL needs the bound port), closed after the services:
 * it deletes its presence sets and heartbeat key, so its rooms move at once, then quits Redis.
 *
 * Outages (Redis refusing connections, or connected but not answering: see RedisLink's liveness
 * bounds): every part keeps serving local members and counts what it could not do; the link
 * reconnects with capped backoff; when it is back this node re-registers and rewrites its
 * presence at once, and the bus re-subscribes. State changes and ring changes are logged once each.
 */
export class ClusterNode {
  readonly id: string;
  readonly link: RedisLink;
  readonly bus: RedisBus;
  readonly history: RedisHistory;
  readonly presence: RedisPresence;
  /** The per-user rate limit across instances. */
  readonly rate: RedisRateLeases;
  /** `leave`/`join` for the users of instances that leave the ring or come back. */
  readonly ringPresence: RingPresence;
  readonly stats: ClusterNodeStats = { moved: 0, failures: 0 };
  /** Null until {@link start}: before that, this instance is alone on its ring. */
  registry: InstanceRegistry | null = null;
  /** Copies of audio streams across the ring; null without --cluster-secret or without the audio cache. */
  replicator: StreamReplicator | null = null;
  private audio: AudioCache | null = null;
  /** What rooms mount with (see `mountRooms`). */
  readonly rooms: RoomsBackend;
  /** `GET /readyz`: not ready while Redis is unreachable. */
  readonly readiness: ReadinessCheck = () => (this.link.ready ? null : 'redis unreachable');
  private self: RingMember;
  private started = false;
  /** The start-up line is out: later state changes get their own lines. */
  private announced = false;
  /** Whether the heartbeats' shard answered at the last link or shard change (the ring's own outage). */
  private heartbeatsUp = false;
  /** Redis Cluster shards down at the last shard change (logged when it changes). */
  private shardsDown = 0;

  constructor(
    private readonly config: Readonly<ClusterOptions>,
    private readonly identity: Identity,
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    this.id = identity.instanceId;
    this.self = { id: this.id, url: '' };
    this.link = new RedisLink(config.redisUrl, MAX_BACKOFF_MS, { timeoutMs: config.redisTimeoutMs, pingMs: config.redisPingMs, maxPending: config.redisMaxPending }, config.redisPrefix);
    const failed = (err: Error): void => {
      this.stats.failures++;
      log.debug({ err: err.message }, 'redis command failed');
    };
    this.bus = new RedisBus(this.link, this.id, failed);
    this.history = new RedisHistory(this.link, this.bus, config.historySize, config.historyTtlSeconds * 1000, failed);
    this.rate = new RedisRateLeases(this.link, parseRateLimit(config.rateLimit), config.rateLease, failed);
    this.presence = new RedisPresence(this.link, this.id, () => this.registry?.ring.members.map((m) => m.id) ?? [], presenceTtlMs(config.heartbeatTtlMs), failed);
    // Settle after an outage: instances reconnecting up to one backoff later are not announced as gone.
    this.ringPresence = new RingPresence(this.link, this.presence, this.id, config.heartbeatTtlMs + MAX_BACKOFF_MS, failed, (s) => {
      log.info({ instance: this.id, left: s.left, returned: s.returned, rooms: s.rooms, leaves: s.leaves, joins: s.joins }, 'cluster: presence after ring change');
    });
    this.link.on('state', (next) => (next === LinkState.Closed ? this.ringPresence.linkChanged(next) : this.heartbeatsChanged()));
    this.link.on('state', (next, prev) => this.linkChanged(next, prev));
    this.link.on('shards', () => {
      this.heartbeatsChanged();
      this.shardsChanged();
    });
    this.link.on('failure', failed);
    this.rooms = {
      bus: this.bus,
      history: this.history,
      presence: this.presence,
      rateGate: this.rate,
      placement: (room) => this.placement(room),
      status: () => this.status(),
      onError: (err) => log.warn({ err }, 'rooms: cluster step failed'),
    };
    this.addMetrics(metrics);
  }

  /** Ring owner of `key`; this instance before {@link start}. */
  ownerOf(key: string): RingMember {
    return this.registry?.ownerOf(key) ?? this.self;
  }

  /** `/api/push/check`: the room's owner on the ring. */
  placement(room: string): RoomOwner {
    const owner = this.ownerOf(roomKey(room));
    return { id: owner.id, url: owner.url, local: owner.id === this.id };
  }

  /**
   * The audio placement hook (stream-placement.ts). Writes go to the stream's owner. A read is
   * served by any instance with a complete copy; else by the owner, which, when it has no copy yet
   * (a ring change, the copy still on its way), sends the reader to an instance that has one.
   * Workers of one machine share a URL, so a redirect to it could land anywhere: an owner at this
   * instance's own URL is served here.
   */
  readonly streamRedirect: StreamPlacement = (streamId, write) => {
    const local = this.replicator !== null ? this.audio?.store.peek(streamId) : undefined;
    if (!write && local !== undefined && local.complete && !local.removed) return null;
    const owner = this.ownerOf(streamKey(streamId));
    if (owner.id !== this.id && owner.url !== this.self.url) {
      this.stats.moved++;
      return `${owner.url}${this.config.audioPath}`;
    }
    // An upload here (or none anywhere) is served here; so is a partial copy nobody holds complete.
    if (write || this.replicator === null || (local !== undefined && (local.complete || this.replicator.uploadedByClient(local)))) return null;
    const holder = this.replicator.holderFor(streamId);
    if (holder === null || typeof holder === 'string') {
      if (holder !== null) this.stats.moved++;
      return holder;
    }
    return holder.then((url) => {
      if (url !== null) this.stats.moved++;
      return url;
    });
  };

  /** The audio DELETE hooks (stream-placement.ts): a copy being fetched stops; the copies other instances hold go when this one has none. */
  readonly streamDelete: ClusterDelete = {
    prepare: (streamId) => this.replicator?.stopFetching(streamId),
    elsewhere: (streamId) => this.replicator?.deleteElsewhere(streamId) ?? Promise.resolve(false),
  };

  /**
   * Copies the audio cache's complete streams across the ring (with --cluster-secret): mounts the
   * internal routes on `router` now; the copies start with {@link start}.
   */
  attachAudio(audio: AudioCache, router: Router): void {
    const c = this.config;
    this.audio = audio;
    if (c.clusterSecret === '') return;
    const replicator = new StreamReplicator(
      this.link,
      () => this.self,
      () => this.registry?.ring ?? null,
      audio.store,
      {
        secret: c.clusterSecret,
        replicas: c.streamReplicas,
        concurrency: c.replicationConcurrency,
        bytesPerSec: c.replicationBytesPerSec,
        intervalMs: c.replicationIntervalMs,
        tombstoneMs: c.streamTombstoneSeconds * 1000,
        scrubBytesPerSec: c.scrubBytesPerSec,
        audioPath: c.audioPath,
      },
      this.log,
    );
    replicator.mountRoutes(router, audio.http);
    const listener = audio.store.listener;
    audio.store.listener = {
      appended: (stream, offset, n) => listener?.appended(stream, offset, n),
      completed: (stream) => {
        listener?.completed(stream);
        replicator.completed();
      },
      removed: (stream, evicted) => listener?.removed(stream, evicted),
      uploadEnded: (stream) => listener?.uploadEnded?.(stream),
    };
    this.replicator = replicator;
  }

  /** Connects (waiting up to 2 s), registers with the bound address, starts heartbeats and presence refresh. */
  async start(address: AddressInfo): Promise<void> {
    if (this.started) throw new TypeError('ClusterNode.start: already started');
    this.started = true;
    const c = this.config;
    this.self = { id: this.id, url: this.identity.urlFor(c.host, address.port) };
    this.registry = new InstanceRegistry(this.link, { self: this.self, heartbeatMs: c.heartbeatMs, ttlMs: c.heartbeatTtlMs, vnodes: c.vnodes });
    this.registry.on('change', (change) => this.ringChanged(change));
    this.registry.on('change', (change) => this.ringPresence.ringChanged(change));
    this.registry.on('change', () => this.replicator?.ringChanged());
    this.registry.on('failure', (err) => {
      this.stats.failures++;
      this.log.debug({ err: err.message }, 'redis heartbeat failed');
    });
    const state = await this.link.connect(CONNECT_WAIT_MS);
    // Presence first: its refresh timer then fires before the heartbeat's, so an instance coming
    // back (e.g. after a pause) has rewritten its sets when the others see it on the ring again.
    this.presence.start(c.heartbeatMs);
    await this.registry.start();
    const log = state === LinkState.Ready ? this.log.info.bind(this.log) : this.log.warn.bind(this.log);
    log({ instance: this.id, url: this.self.url, redis: state, members: this.registry.ring.members.map((m) => m.id) }, state === LinkState.Ready ? 'cluster: joined' : 'cluster: redis unreachable at start; serving local members and retrying');
    this.announced = true;
    this.replicator?.start();
  }

  /** Leaves the cluster cleanly: presence sets and heartbeat key deleted, then the link closed. */
  async close(): Promise<void> {
    this.replicator?.close();
    await this.presence.close();
    if (this.registry !== null) await this.registry.stop();
    await this.bus.close();
    this.rate.close();
    if (this.started) await this.link.close();
  }

  /** The `cluster` object of `/api/push/status`. */
  status(): Record<string, unknown> {
    const l = this.link.stats;
    return {
      instanceId: this.id,
      url: this.self.url,
      redis: {
        mode: l.mode, masters: l.masters, shardsDown: l.shardsDown, shardOutages: l.shardOutages, state: l.state, outage: l.state !== LinkState.Ready, downSince: l.downSince, outages: l.outages, stalls: l.stalls, handshakeTimeouts: l.handshakeTimeouts,
        errors: l.errors, reconnects: l.reconnects, lastError: l.lastError, pending: l.pending, pendingPeak: l.pendingPeak, maxPending: l.maxPending,
      },
      ring: { members: this.registry?.ring.members ?? [this.self], changes: this.registry?.stats.ringChanges ?? 0, heartbeats: this.registry?.stats.heartbeats ?? 0, heartbeatFailures: this.registry?.stats.heartbeatFailures ?? 0 },
      bus: this.bus.stats,
      history: this.history.stats,
      presence: this.presence.stats,
      rate: this.rate.stats,
      ringPresence: { ...this.ringPresence.stats, departed: this.ringPresence.departedCount },
      streams: this.replicator?.stats ?? null,
      ...this.stats,
    };
  }

  private linkChanged(next: LinkState, prev: LinkState): void {
    if (next === LinkState.Down) {
      this.log.warn({ instance: this.id, err: this.link.stats.lastError }, 'cluster: redis unreachable; cross-instance delivery paused, local delivery continues');
    } else if (next === LinkState.Ready && prev === LinkState.Connecting && this.announced) {
      this.log.info({ instance: this.id }, 'cluster: redis connected; cross-instance delivery on');
    } else if (next === LinkState.Ready && prev === LinkState.Down) {
      const downMs = Date.now() - (this.link.stats.downSince || Date.now());
      this.log.info({ instance: this.id, outages: this.link.stats.outages, downMs }, 'cluster: redis back; cross-instance delivery resumed');
    }
  }

  /**
   * The ring's view of Redis: the shard holding the heartbeats (the only one on a single Redis). While
   * it is down the ring is frozen (no heartbeat written, none read: nobody leaves it for that), as in
   * an outage of the whole link; once it answers again ring-caused presence waits its settle time
   * before announcing anyone gone.
   */
  private heartbeatsChanged(): void {
    const up = this.link.readyFor(this.link.keys.instancePrefix);
    if (up === this.heartbeatsUp) return;
    this.heartbeatsUp = up;
    // The registry beats and re-reads the ring itself then (see InstanceRegistry).
    this.ringPresence.linkChanged(up ? LinkState.Ready : LinkState.Down);
  }

  /** A Redis Cluster shard went down or came back while the link stays up: one line each. */
  private shardsChanged(): void {
    const l = this.link.stats;
    const down = this.link.ready ? l.shardsDown : 0;
    if (down === this.shardsDown) return;
    const before = this.shardsDown;
    this.shardsDown = down;
    if (down > before) this.log.warn({ instance: this.id, shardsDown: down, masters: l.masters, err: l.lastError }, 'cluster: redis shard unreachable; its rooms are local-only, the others still cross instances');
    else this.log.info({ instance: this.id, shardsDown: down, masters: l.masters }, 'cluster: redis shard back; its rooms cross instances again');
  }

  private ringChanged(change: RingChange): void {
    this.log.info({ instance: this.id, joined: change.joined, left: change.left, members: change.members, changes: this.registry?.stats.ringChanges ?? 0 }, 'cluster: ring changed');
  }

  private addMetrics(m: Metrics): void {
    const l = this.link.stats;
    m.gauge('slabcast_cluster_redis_up', 'Whether the Redis link is ready (1) or not (0)', [], () => [[{}, l.state === LinkState.Ready ? 1 : 0]]);
    m.counter('slabcast_cluster_redis_outages_total', 'Times the Redis link went from ready to down', [], () => [[{}, l.outages]]);
    m.gauge('slabcast_cluster_redis_shards_down', 'Redis Cluster masters not answering now (their rooms are local-only; 0 on a single Redis)', [], () => [[{}, l.shardsDown]]);
    m.counter('slabcast_cluster_redis_shard_outages_total', 'Times a Redis Cluster master stopped answering (its rooms went local-only)', [], () => [[{}, l.shardOutages]]);
    m.counter('slabcast_cluster_redis_stalls_total', 'Times Redis stopped answering (a PING past --redis-timeout-ms, or --redis-max-pending commands waiting) and the link was declared down', [], () => [[{}, l.stalls]]);
    m.gauge('slabcast_cluster_redis_pending', 'Redis commands waiting for a reply (bounded by --redis-max-pending)', [], () => [[{}, l.pending]]);
    m.gauge('slabcast_cluster_ring_members', 'Instances on this instance\'s consistent-hash ring', [], () => [[{}, this.registry?.ring.members.length ?? 1]]);
    m.counter('slabcast_cluster_ring_changes_total', 'Ring membership changes seen', [], () => [[{}, this.registry?.stats.ringChanges ?? 0]]);
    m.counter('slabcast_cluster_bus_envelopes_total', 'Room envelopes over Redis', ['outcome'], () => {
      const b = this.bus.stats;
      return [
        [{ outcome: 'published' }, b.published],
        [{ outcome: 'dropped' }, b.publishDropped],
        [{ outcome: 'received' }, b.received],
      ];
    });
    m.counter('slabcast_cluster_history_fallbacks_total', 'History ids and reads served without Redis', ['kind'], () => [
      [{ kind: 'id' }, this.history.stats.localIds],
      [{ kind: 'read' }, this.history.stats.readFallbacks],
    ]);
    m.counter('slabcast_cluster_presence_ring_notes_total', 'join/leave told to local members because an instance left the ring or came back', ['type'], () => [
      [{ type: 'leave' }, this.ringPresence.stats.leaves],
      [{ type: 'join' }, this.ringPresence.stats.joins],
    ]);
    m.counter('slabcast_cluster_audio_moved_total', 'Audio commands (START, GET, INFO, FOLLOW, DELETE) redirected to the owner instance', [], () => [[{}, this.stats.moved]]);
  }
}
