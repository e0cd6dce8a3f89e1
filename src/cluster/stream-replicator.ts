/**
 * Copies of complete audio streams across the ring (`--stream-replicas`, `--cluster-secret`).
 *
 * Placement: a stream's copies belong on the first `replicas` distinct instances walking the ring
 * from its key (HashRing.successors): its owner, then the next ones. When the owner dies, the next
 * instance on the ring owns the stream and already has it; when an instance joins, it takes its
 * place in the lists of the streams it now precedes.
 *
 * One rule drives hand-off and replication alike (anti-entropy, holder-driven): every
 * `--replication-interval-ms`, and at once after a ring change or a STOP, each instance walks its
 * complete streams and asks every instance that should hold one and has not confirmed it to hold
 * it (`POST /internal/streams/{id}/hold`). The asked instance answers `held` (it has a copy with
 * that SHA-256), or queues a fetch of it from the asker (`GET /internal/streams/{id}`, resumed with
 * a Range after a failure), bounded by `--replication-concurrency` and
 * `--replication-bytes-per-sec`, verified against the SHA-256 before it is complete, and answers
 * `fetching` meanwhile. An instance that holds a stream it should not hold drops its copy only once
 * every instance that should hold it confirmed it (the old copy goes once the new owner has it
 * durably: its STOP-equivalent, fdatasync and sidecar, ran before it says `held`).
 *
 * Redis keeps, per stream, the set of instances holding a complete copy (so an owner that has no
 * copy yet sends readers to one that has) and, after DELETE or eviction, a tombstone with its time
 * for `--stream-tombstone-seconds`: a copy created before it is deleted wherever it turns up and is
 * never fetched, held or registered again. DELETE and eviction also tell every holder at once.
 *
 * A scrubber re-hashes complete streams at `--scrub-bytes-per-sec`; a copy whose bytes no longer
 * match its SHA-256 is dropped and fetched again from another holder.
 *
 * The parts: the internal routes ({@link mountInternalStreamRoutes}), the fetches
 * ({@link StreamFetcher}), the Redis records ({@link StreamHolders}), the scrubber
 * ({@link StreamScrubber}); this class decides what each does and when.
 */
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { Router } from '../protocols/http/router.js';
import { isAudioError } from '../services/audio-cache/audio-errors.js';
import { type AudioHttp, httpUrl } from '../services/audio-cache/audio-http.js';
import type { AudioStore } from '../services/audio-cache/audio-store.js';
import type { AudioStream } from '../services/audio-cache/audio-stream.js';
import { sha256File } from '../storage/file-digest.js';
import type { HashRing, RingMember } from './hash-ring.js';
import { type HoldAnswer, type HoldRequest, INTERNAL_STREAMS_PATH, mountInternalStreamRoutes } from './internal-stream-routes.js';
import { peerJson } from './peer-http.js';
import type { RedisLink } from './redis-link.js';
import { type FetcherStats, StreamFetcher } from './stream-fetcher.js';
import { StreamHolders } from './stream-holders.js';
import { type ScrubberStats, StreamScrubber } from './stream-scrubber.js';

/** The replication slice of the configuration. */
export interface ReplicationOptions {
  secret: string;
  replicas: number;
  concurrency: number;
  bytesPerSec: number;
  intervalMs: number;
  tombstoneMs: number;
  scrubBytesPerSec: number;
  /** `--audio-path`: a holder's public audio URL (where readers are sent) is its URL plus this. */
  audioPath: string;
}

/** Counters of {@link StreamReplicator} (`/api/push/status` cluster.streams, `slabcast_cluster_stream_*`). */
export interface ReplicationStats extends FetcherStats, ScrubberStats {
  /** Copies dropped here because the instances that own them now confirmed theirs. */
  handOffs: number;
  /** Hold requests sent, and those that failed (no answer, refused). */
  holdAsks: number;
  holdAskFailures: number;
  /** Copies deleted here because the stream was deleted (a DELETE elsewhere, or its tombstone). */
  tombstoned: number;
  /** Complete streams here with fewer confirmed copies than the ring wants, at the last pass. */
  underReplicated: number;
}

/** Deadline of a hold request or an internal DELETE. */
const ASK_TIMEOUT_MS = 5_000;
/** Hold requests in flight at once from this instance. */
const MAX_ASKS = 16;
/** Holder registrations sent per pass: a cache of many streams registers over several passes, never past --redis-max-pending. */
const MAX_REGISTERS_PER_PASS = 256;

/** How long this instance remembers a deletion itself (the tombstone in Redis is the lasting record). */
const RECENT_DELETE_MS = 60_000;

export class StreamReplicator {
  readonly stats: ReplicationStats = {
    copiesMade: 0, bytesCopied: 0, copyFailures: 0, digestMismatches: 0, handOffs: 0, holdAsks: 0, holdAskFailures: 0,
    tombstoned: 0, underReplicated: 0, scrubbed: 0, corrupt: 0, queued: 0, active: 0,
  };
  /** Per stream, the other instances that confirmed a copy (forgotten at every ring change). */
  private readonly confirmed = new Map<string, Set<string>>();
  /** Streams registered in Redis as held here since the link was last ready. */
  private readonly registered = new Set<string>();
  /** Hold requests in flight, by `stream\0instance`. */
  private readonly asking = new Set<string>();
  /**
   * Hold requests answered `fetching` since the last periodic pass, by `stream\0instance`: not asked
   * again before it (which learns whether they are held), so that with more copies to make than
   * {@link MAX_ASKS} the next pass asks for the ones behind them instead of the same ones again.
   */
  private readonly fetching = new Set<string>();
  /**
   * Streams deleted here lately, and when: a hold request that arrives before the tombstone is in
   * Redis is refused all the same (kept {@link RECENT_DELETE_MS}).
   */
  private readonly deletedHere = new Map<string, number>();
  private readonly holders: StreamHolders;
  private readonly fetcher: StreamFetcher;
  private readonly scrubber: StreamScrubber | null;
  private timer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;
  /** A stream without a digest is being hashed (one at a time). */
  private hashingLegacy = false;
  private closed = false;

  constructor(
    private readonly link: RedisLink,
    private readonly self: () => RingMember,
    private readonly ring: () => HashRing | null,
    private readonly store: AudioStore,
    private readonly options: Readonly<ReplicationOptions>,
    private readonly log: Logger,
  ) {
    this.holders = new StreamHolders(link);
    this.fetcher = new StreamFetcher(store, options, this.stats, log, (stream) => {
      this.registered.delete(stream.id);
      this.register(stream);
      this.soon();
    });
    this.scrubber = options.scrubBytesPerSec > 0 ? new StreamScrubber(store, options.scrubBytesPerSec, this.stats, log, (stream) => this.refetch(stream)) : null;
  }

  /** Starts the passes and the scrubber; DELETE and eviction here delete every copy from now on. */
  start(): void {
    this.store.onDeleted = (stream, evicted) => this.deleted(stream, evicted);
    this.timer = setInterval(() => {
      this.fetching.clear();
      this.pass();
    }, this.options.intervalMs);
    this.timer.unref();
    this.link.on('state', () => {
      this.registered.clear(); // a restarted Redis forgot the holders: register again
      if (this.link.ready) this.soon();
    });
    this.scrubber?.start();
    this.soon();
  }

  /** Stops the passes and the fetches (partial copies stay, resumable). */
  close(): void {
    this.closed = true;
    for (const t of [this.timer, this.soonTimer]) if (t !== null) clearInterval(t);
    this.scrubber?.close();
    this.fetcher.close();
  }

  /** The ring changed: what each instance confirmed is about old placements; look again now. */
  ringChanged(): void {
    this.confirmed.clear();
    this.fetching.clear();
    this.soon();
  }

  /** A stream became complete here (STOP): copy it now rather than at the next pass. */
  completed(): void {
    this.soon();
  }

  /** Whether `stream` is being uploaded by a client here (not fetched as a copy). */
  uploadedByClient(stream: AudioStream): boolean {
    return stream.uploader !== null && !this.fetcher.has(stream.id);
  }

  /**
   * Where to send a reader of `id` that this instance owns but has no complete copy of: an instance
   * that has one (one being copied from, else Redis's holders on the ring), or null.
   */
  holderFor(id: string): string | null | Promise<string | null> {
    const hint = this.fetcher.hint(id);
    if (hint !== undefined) return hint;
    if (!this.holders.ready) return null;
    return this.holders.of(id).then((reply) => {
      const holders = new Set(reply);
      const me = this.self().id;
      const member = this.ring()?.members.find((m) => m.id !== me && holders.has(m.id));
      return member === undefined ? null : `${member.url}${this.options.audioPath}`;
    });
  }

  /** Mounts the internal routes (`/internal/streams/:id`, `…/hold`), every one behind the cluster secret. */
  mountRoutes(router: Router, http: AudioHttp): void {
    mountInternalStreamRoutes(router, http, this.options.secret, {
      isSource: (id) => {
        const stream = this.store.peek(id);
        return stream !== undefined && !stream.removed && (stream.complete || this.uploadedByClient(stream));
      },
      hold: (id, hold) => this.hold(id, hold),
      forget: (id, deletedAt) => this.forget(id, deletedAt),
    });
  }

  /** Soon (debounced): the next pass. */
  private soon(): void {
    if (this.soonTimer !== null || this.closed) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.pass();
    }, 20);
    this.soonTimer.unref();
  }

  /** One look at every complete stream here: register it, ask for its missing copies, hand it off. */
  private pass(): void {
    const ring = this.ring();
    if (this.closed || ring === null || !this.link.ready) return;
    const me = this.self().id;
    let under = 0;
    let registers = 0;
    for (const stream of this.store.completeStreams()) {
      if (stream.sha256 === null) {
        this.hashLegacy(stream); // completed before digests were kept: copied once it has one
        continue;
      }
      if (!this.registered.has(stream.id)) {
        if (registers >= MAX_REGISTERS_PER_PASS) continue; // registered (and copied) at a later pass
        registers++;
        this.register(stream);
      }
      const targets = ring.successors(`stream:${stream.id}`, this.options.replicas);
      const confirmed = this.confirmed.get(stream.id);
      stream.copies = 1 + (confirmed?.size ?? 0);
      let missing = 0;
      for (const target of targets) {
        if (target.id === me || confirmed?.has(target.id) === true) continue;
        missing++;
        this.ask(target, stream);
      }
      if (missing > 0) under++;
      else if (targets.length > 0 && !targets.some((t) => t.id === me)) this.handOff(stream);
    }
    this.stats.underReplicated = under;
    if (registers >= MAX_REGISTERS_PER_PASS) this.soon(); // more to register: the next batch right after this one
    // Uploads in progress here: the instances that should hold the stream copy what is stored so far.
    for (const stream of this.store.uploads()) {
      if (!this.uploadedByClient(stream) || stream.size === 0) continue;
      for (const target of ring.successors(`stream:${stream.id}`, this.options.replicas)) if (target.id !== me) this.ask(target, stream);
    }
  }

  /** Hashes a complete stream that has no digest yet and records it (one at a time, in the background). */
  private hashLegacy(stream: AudioStream): void {
    if (this.hashingLegacy) return;
    this.hashingLegacy = true;
    sha256File(stream.dataPath, stream.size)
      .then((digest) => stream.adoptDigest(digest))
      .then(() => this.soon(), (err: unknown) => this.log.warn({ stream: stream.id, err }, 'cluster: hashing a stream without a digest failed; it is not copied'))
      .finally(() => (this.hashingLegacy = false));
  }

  /** Records in Redis that this instance holds `stream`; a tombstone newer than the copy deletes it instead. */
  private register(stream: AudioStream): void {
    this.registered.add(stream.id);
    this.holders.register(stream.id, this.self().id, stream.createdAt).then(
      (added) => {
        if (!added) this.dropDeleted(stream.id, 'a tombstone');
      },
      () => this.registered.delete(stream.id), // counted by the link; tried again at the next pass
    );
  }

  /** Asks `target` to hold `stream` (at most one ask per pair in flight). */
  private ask(target: RingMember, stream: AudioStream): void {
    const key = `${stream.id}\0${target.id}`;
    if (this.asking.has(key) || this.fetching.has(key) || this.asking.size >= MAX_ASKS) return;
    this.asking.add(key);
    this.stats.holdAsks++;
    const body: HoldRequest = { from: httpUrl(this.self().url), complete: stream.complete, size: stream.size, sha256: stream.complete ? (stream.sha256 ?? '') : '', createdAt: stream.createdAt, updatedAt: stream.updatedAt };
    peerJson('POST', `${httpUrl(target.url)}${INTERNAL_STREAMS_PATH}/${encodeURIComponent(stream.id)}/hold`, this.options.secret, body, ASK_TIMEOUT_MS)
      .then(
        (answer) => {
          const state = answer.body.state;
          if (answer.status === 200 && state === 'held' && stream.complete) {
            let set = this.confirmed.get(stream.id);
            if (set === undefined) this.confirmed.set(stream.id, (set = new Set()));
            set.add(target.id);
            stream.copies = 1 + set.size;
            this.soon(); // a hand-off may be due
          } else if (answer.status === 202) {
            this.fetching.add(key);
            this.soon(); // the asks this one held back (MAX_ASKS) go out now, not at the next periodic pass
          } else if (answer.status === 410) {
            this.dropDeleted(stream.id, `${target.id}'s tombstone`);
          } else {
            this.stats.holdAskFailures++;
            this.log.warn({ stream: stream.id, instance: target.id, status: answer.status, answer: answer.body }, 'cluster: a stream copy was refused');
          }
        },
        (err: Error) => {
          this.stats.holdAskFailures++;
          this.log.debug({ stream: stream.id, instance: target.id, err: err.message }, 'cluster: hold request failed');
        },
      )
      .finally(() => this.asking.delete(key));
  }

  /** The answer to a hold request for `id` (see the module comment). */
  private async hold(id: string, hold: HoldRequest): Promise<HoldAnswer> {
    const deletedHere = this.deletedHere.get(id);
    if (deletedHere !== undefined && deletedHere >= hold.createdAt) return { status: 410, body: { state: 'deleted', deletedAt: deletedHere } };
    if (this.holders.ready) {
      const deletedAt = await this.holders.deletedAt(id);
      if (deletedAt !== null && deletedAt >= hold.createdAt) return { status: 410, body: { state: 'deleted', deletedAt } };
    }
    const local = this.store.peek(id);
    if (local !== undefined && local.complete && !local.removed) {
      if (hold.complete && local.sha256 === hold.sha256) return { status: 200, body: { state: 'held' } };
      return { status: 409, body: { state: 'conflict', message: `stream ${id} here is another stream (complete, SHA-256 ${local.sha256 ?? 'unknown'})` } };
    }
    if (this.fetcher.has(id)) return { status: 202, body: { state: 'fetching' } };
    if (local !== undefined && local.uploader !== null) return { status: 409, body: { state: 'busy', message: `stream ${id} is being uploaded here` } };
    // An upload elsewhere whose stored bytes this copy has already: nothing to fetch until it grows.
    if (!hold.complete && local !== undefined && local.size === hold.size) return { status: 202, body: { state: 'current' } };
    this.fetcher.enqueue(id, hold);
    return { status: 202, body: { state: 'fetching' } };
  }

  /** Drops a copy the ring no longer places here, now that every instance that should hold it does. */
  private handOff(stream: AudioStream): void {
    const dropped = this.store.dropCopy(stream.id);
    if (isAudioError(dropped)) return; // being read into an upload, or gone: the next pass decides again
    this.stats.handOffs++;
    this.confirmed.delete(stream.id);
    this.registered.delete(stream.id);
    this.holders.unregister(stream.id, this.self().id).catch(() => undefined); // counted by the link; a stale holder is skipped by readers
    dropped.catch((error: unknown) => this.log.warn({ stream: stream.id, err: error }, 'cluster: dropping a handed-off copy failed'));
    this.log.info({ stream: stream.id }, 'cluster: stream handed off (its owners confirmed their copies)');
  }

  /** DELETE or eviction here: the tombstone, then every holder is told. */
  private deleted(stream: AudioStream, evicted: boolean): void {
    this.tombstone(stream.id, Math.max(Date.now(), stream.createdAt), evicted ? 'evicted' : 'deleted').catch(() => undefined); // reported inside
  }

  /**
   * DELETE of a stream this instance has no copy of: the copies the cluster's holders set names
   * are deleted; false when there are none (or Redis cannot say).
   */
  async deleteElsewhere(id: string): Promise<boolean> {
    if (!this.holders.ready) return false;
    const holders = await this.holders.of(id);
    const me = this.self().id;
    if (!holders.some((h) => h !== me) && !this.fetcher.has(id)) return false;
    await this.tombstone(id, Date.now(), 'deleted');
    return true;
  }

  /** Writes the tombstone of `id` at `deletedAt` and tells every holder (and every instance that should hold it). */
  private async tombstone(id: string, deletedAt: number, why: 'deleted' | 'evicted'): Promise<void> {
    const now = Date.now();
    for (const [old, at] of this.deletedHere) if (now - at > RECENT_DELETE_MS) this.deletedHere.delete(old);
    this.deletedHere.set(id, deletedAt);
    this.confirmed.delete(id);
    this.registered.delete(id);
    this.fetcher.cancel(id);
    const ring = this.ring();
    const targets = new Map((ring?.successors(`stream:${id}`, this.options.replicas) ?? []).map((m) => [m.id, m]));
    let holders: string[] = [];
    if (this.holders.ready) {
      try {
        holders = await this.holders.tombstone(id, deletedAt, this.options.tombstoneMs);
      } catch {
        this.log.warn({ stream: id, why }, 'cluster: the tombstone of a deleted stream could not be written; holders told directly');
      }
    } else {
      this.log.warn({ stream: id, why }, 'cluster: stream deleted while Redis is unreachable: no tombstone, holders told directly');
    }
    for (const h of holders) {
      const m = ring?.members.find((x) => x.id === h);
      if (m !== undefined) targets.set(m.id, m);
    }
    targets.delete(this.self().id);
    await Promise.all(
      [...targets.values()].map((target) =>
        peerJson('DELETE', `${httpUrl(target.url)}${INTERNAL_STREAMS_PATH}/${encodeURIComponent(id)}?deletedAt=${deletedAt}`, this.options.secret, undefined, ASK_TIMEOUT_MS).catch((err: Error) =>
          this.log.warn({ stream: id, instance: target.id, err: err.message }, 'cluster: telling a holder about a deletion failed; its copy goes when it next meets the tombstone'),
        ),
      ),
    );
  }

  /** An internal DELETE: this instance's copy goes if it is not newer than the deletion. */
  private forget(id: string, deletedAt: number): void {
    this.fetcher.cancel(id, deletedAt);
    const local = this.store.peek(id);
    if (local !== undefined && local.createdAt <= deletedAt && local.uploader === null) this.dropDeleted(id, 'a deletion on another instance');
  }

  /** A DELETE here is about to run: a fetch of `id` stops now and frees its upload, so the DELETE finds the partial copy idle. */
  stopFetching(id: string): void {
    this.fetcher.cancel(id);
  }

  /** Deletes this instance's copy of a stream deleted elsewhere. */
  private dropDeleted(id: string, why: string): void {
    const dropped = this.store.dropCopy(id);
    if (isAudioError(dropped)) return;
    this.stats.tombstoned++;
    this.confirmed.delete(id);
    this.registered.delete(id);
    dropped.catch((error: unknown) => this.log.warn({ stream: id, err: error }, 'cluster: deleting a copy failed'));
    this.log.info({ stream: id, why }, 'cluster: copy of a deleted stream removed');
  }

  /** The scrubber found `stream` damaged: its copy goes and is fetched again from another holder. */
  private refetch(stream: AudioStream): void {
    const original = { size: stream.size, sha256: stream.sha256 ?? '', createdAt: stream.createdAt, updatedAt: stream.updatedAt };
    const dropped = this.store.dropCopy(stream.id);
    if (isAudioError(dropped)) return;
    this.registered.delete(stream.id);
    this.confirmed.delete(stream.id);
    void dropped.then(async () => {
      if (!this.holders.ready) return;
      await this.holders.unregister(stream.id, this.self().id);
      const url = await this.holderFor(stream.id);
      if (url === null) {
        this.log.error({ stream: stream.id }, 'cluster: no other holder of a damaged stream: it is lost');
        return;
      }
      await this.hold(stream.id, { from: httpUrl(url.slice(0, url.length - this.options.audioPath.length)), complete: true, ...original });
    }).catch((error: unknown) => this.log.warn({ stream: stream.id, err: error }, 'cluster: re-fetching a damaged copy failed; the next ask from a holder retries'));
  }

  /** Prometheus metrics of the copies. */
  addMetrics(m: Metrics): void {
    const s = this.stats;
    m.counter('slabcast_cluster_stream_copies_total', 'Stream copies fetched from another instance, by outcome', ['outcome'], () => [
      [{ outcome: 'made' }, s.copiesMade],
      [{ outcome: 'failed' }, s.copyFailures],
      [{ outcome: 'digest_mismatch' }, s.digestMismatches],
    ]);
    m.counter('slabcast_cluster_stream_copy_bytes_total', 'Bytes of stream copies fetched from other instances', [], () => [[{}, s.bytesCopied]]);
    m.counter('slabcast_cluster_stream_handoffs_total', 'Copies dropped here once the instances owning them confirmed theirs', [], () => [[{}, s.handOffs]]);
    m.counter('slabcast_cluster_stream_tombstoned_total', 'Copies removed here because the stream was deleted elsewhere', [], () => [[{}, s.tombstoned]]);
    m.counter('slabcast_cluster_stream_corrupt_total', 'Copies the scrubber found not matching their SHA-256', [], () => [[{}, s.corrupt]]);
    m.gauge('slabcast_cluster_streams_under_replicated', 'Complete streams here with fewer confirmed copies than --stream-replicas (at the last pass)', [], () => [[{}, s.underReplicated]]);
    m.gauge('slabcast_cluster_stream_copies_pending', 'Stream copies queued or being fetched', [], () => [[{}, s.queued + s.active]]);
  }
}
