import { EventEmitter } from 'node:events';
import { HashRing, type RingMember } from './hash-ring.js';
import type { RedisLink } from './redis-link.js';


/** Options of the registry. */
export interface InstanceRegistryOptions {
  self: RingMember;
  heartbeatMs: number;
  ttlMs: number;
  vnodes: number;
  /** How often the member list is re-read (default: min(heartbeatMs, 2000)). */
  pollMs?: number;
}

/** A change of the ring: who joined, who left. */
export interface RingChange {
  joined: string[];
  left: string[];
  members: string[];
  /** Heartbeat `startedAt` of each joined instance (as now read) and left one (as last read): a run's identity. */
  startedAt: Record<string, number>;
}

/**
 * Cluster membership: this instance writes a heartbeat key with a TTL every `heartbeatMs`; every
 * instance re-reads the set of live keys every `pollMs` and rebuilds the consistent-hash ring, so an
 * instance that stops heartbeating leaves every ring within `ttlMs + pollMs`. While Redis is down —
 * on a Redis Cluster, while the shard holding the heartbeats is down (failing over) — the last known
 * ring is kept (nothing better is known) and this instance stays on it. When it answers again, this
 * instance beats at once, and for one `heartbeatMs` the ring only grows: keys that expired during a
 * long outage (or a Redis that lost them) do not drop instances that simply have not beaten again yet.
 */
export class InstanceRegistry extends EventEmitter<{ change: [RingChange]; failure: [Error] }> {
  readonly ring: HashRing;
  readonly stats = { heartbeats: 0, heartbeatFailures: 0, ringChanges: 0 };
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  /** `startedAt` of the instances the last poll found. */
  private incarnations = new Map<string, number>();
  /** Whether the heartbeats' key space answered at the last link change. */
  private heartbeatsUp = false;
  /** Until then (ms since the epoch) a poll adds instances and removes none (see the class doc). */
  private keepUntil = 0;
  private readonly linkListener = (): void => this.linkChanged();

  constructor(
    private readonly link: RedisLink,
    private readonly options: InstanceRegistryOptions,
  ) {
    super();
    this.ring = new HashRing(options.vnodes);
    this.ring.setMembers([options.self]);
  }

  /** Starts heartbeating and polling (first beat and poll at once). */
  async start(): Promise<void> {
    this.heartbeatsUp = this.link.readyFor(this.link.keys.instancePrefix);
    this.link.on('state', this.linkListener);
    this.link.on('shards', this.linkListener);
    await this.beat();
    await this.poll();
    this.heartbeatTimer = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.heartbeatTimer.unref();
    this.pollTimer = setInterval(() => void this.poll(), this.options.pollMs ?? Math.min(this.options.heartbeatMs, 2000));
    this.pollTimer.unref();
  }

  /** Stops timers and removes this instance's key (a clean leave moves its rooms at once). */
  async stop(): Promise<void> {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.heartbeatTimer = this.pollTimer = null;
    this.link.off('state', this.linkListener);
    this.link.off('shards', this.linkListener);
    if (this.link.readyFor(this.link.keys.instancePrefix)) {
      try {
        await this.link.ops.del([this.link.keys.instance(this.options.self.id)]);
      } catch (err) {
        this.emit('failure', err as Error);
      }
    }
  }

  /** The owner of `key` (`room:{id}` or `stream:{id}`). Never null: this instance is always a member. */
  ownerOf(key: string): RingMember {
    return this.ring.ownerOf(key) ?? this.options.self;
  }

  /** Whether this instance owns `key`. */
  owns(key: string): boolean {
    return this.ownerOf(key).id === this.options.self.id;
  }

  /** Writes the heartbeat now (also when Redis comes back, so a restarted Redis learns this instance at once). */
  async beat(): Promise<void> {
    if (!this.link.readyFor(this.link.keys.instancePrefix)) {
      this.stats.heartbeatFailures++;
      return;
    }
    const { self, ttlMs } = this.options;
    try {
      await this.link.ops.setPx(this.link.keys.instance(self.id), JSON.stringify({ id: self.id, url: self.url, startedAt: this.startedAt }), ttlMs);
      this.stats.heartbeats++;
    } catch (err) {
      this.stats.heartbeatFailures++;
      this.emit('failure', err as Error);
    }
  }

  /** The heartbeats' key space came back (the link, or its shard): beat and re-read now, keeping the ring for a while. */
  private linkChanged(): void {
    const up = this.link.readyFor(this.link.keys.instancePrefix);
    if (up === this.heartbeatsUp) return;
    this.heartbeatsUp = up;
    if (!up || this.heartbeatTimer === null) return;
    this.keepUntil = Date.now() + this.options.heartbeatMs;
    void this.beat().then(() => this.poll());
  }

  /** Re-reads the live instances and rebuilds the ring when they changed. */
  async poll(): Promise<void> {
    if (!this.link.readyFor(this.link.keys.instancePrefix)) return;
    try {
      const keys: string[] = [];
      // On a Redis Cluster every heartbeat key hashes on one tag: one shard is scanned, one MGET reads them.
      const prefix = this.link.keys.instancePrefix;
      for await (const batch of this.link.ops.scan(`${prefix}*`, 200, prefix)) keys.push(...batch);
      const values = keys.length === 0 ? [] : await this.link.ops.mGet(keys);
      const members: RingMember[] = [this.options.self];
      const incarnations = new Map([[this.options.self.id, this.startedAt]]);
      for (const v of values) {
        if (v === null) continue;
        const m = JSON.parse(v) as RingMember & { startedAt?: number };
        if (typeof m.id === 'string' && typeof m.url === 'string' && m.id !== this.options.self.id) {
          members.push({ id: m.id, url: m.url });
          incarnations.set(m.id, typeof m.startedAt === 'number' ? m.startedAt : 0);
        }
      }
      if (Date.now() < this.keepUntil) {
        for (const m of this.ring.members) {
          if (incarnations.has(m.id)) continue;
          members.push(m);
          incarnations.set(m.id, this.incarnations.get(m.id) ?? 0);
        }
      }
      const before = new Set(this.ring.members.map((m) => m.id));
      const last = this.incarnations;
      this.incarnations = incarnations;
      if (this.ring.setMembers(members)) {
        this.stats.ringChanges++;
        const after = members.map((m) => m.id).sort();
        const joined = after.filter((id) => !before.has(id));
        const left = [...before].filter((id) => !after.includes(id));
        const startedAt: Record<string, number> = {};
        for (const id of joined) startedAt[id] = incarnations.get(id) ?? 0;
        for (const id of left) startedAt[id] = last.get(id) ?? 0;
        this.emit('change', { joined, left, members: after, startedAt });
      }
    } catch (err) {
      this.emit('failure', err as Error);
    }
  }
}
