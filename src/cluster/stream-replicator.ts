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
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { HttpRequest } from '../protocols/http/http-request.js';
import type { HttpResponse } from '../protocols/http/http-response.js';
import type { Router } from '../protocols/http/router.js';
import { isAudioError } from '../services/audio-cache/audio-errors.js';
import { type AudioHttp, httpUrl } from '../services/audio-cache/audio-http.js';
import type { AudioStore } from '../services/audio-cache/audio-store.js';
import type { AudioStream } from '../services/audio-cache/audio-stream.js';
import { isValidStreamId } from '../services/audio-cache/stream-id.js';
import { SHA256_HEX, sha256File } from '../storage/file-digest.js';
import { BytePacer } from './byte-pacer.js';
import type { HashRing, RingMember } from './hash-ring.js';
import { peerGet, peerJson } from './peer-http.js';
import type { RedisLink } from './redis-link.js';

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
export interface ReplicationStats {
  /** Copies fetched from another instance, verified and complete here. */
  copiesMade: number;
  bytesCopied: number;
  /** Fetches that failed (connection, refusal, size, storage); retried on a later ask. */
  copyFailures: number;
  /** Fetched copies whose SHA-256 differed from the holder's (dropped). */
  digestMismatches: number;
  /** Copies dropped here because the instances that own them now confirmed theirs. */
  handOffs: number;
  /** Hold requests sent, and those that failed (no answer, refused). */
  holdAsks: number;
  holdAskFailures: number;
  /** Copies deleted here because the stream was deleted (a DELETE elsewhere, or its tombstone). */
  tombstoned: number;
  /** Complete streams here with fewer confirmed copies than the ring wants, at the last pass. */
  underReplicated: number;
  /** Streams re-hashed by the scrubber, and copies it found damaged. */
  scrubbed: number;
  corrupt: number;
  /** Fetches waiting and running now. */
  queued: number;
  active: number;
}

/** A copy to fetch. */
interface FetchJob {
  readonly id: string;
  /** The original is complete: the copy ends complete (SHA-256 checked); else the bytes uploaded so far, left incomplete. */
  readonly complete: boolean;
  /** The copy being written, once the fetch started it. */
  stream: AudioStream | null;
  /** http:// base of the instance that has it. */
  readonly from: string;
  readonly size: number;
  readonly sha256: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  abort: ((reason: Error) => void) | null;
  cancelled: boolean;
  /** The source answered that it has no such stream. */
  gone: boolean;
}

/** What a hold request carries. */
interface HoldRequest {
  from: string;
  /** The original is complete (then `sha256` is its digest), or being uploaded at the asker (`sha256` is ''). */
  complete: boolean;
  size: number;
  sha256: string;
  createdAt: number;
  updatedAt: number;
}

/** Adds the instance to the stream's holders unless a tombstone at or after the copy's creation says it was deleted: 1 added, 0 deleted. */
const REGISTER = `
local d = redis.call('GET', KEYS[2])
if d and tonumber(d) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1`;

/** Writes the tombstone (the latest time wins), forgets the holders and returns them. */
const TOMBSTONE = `
local d = redis.call('GET', KEYS[2])
if not d or tonumber(d) < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end
local holders = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return holders`;

/** The tombstone's time (ms), or false. */
const TOMBSTONE_OF = `return redis.call('GET', KEYS[1])`;

const HOLDERS = `return redis.call('SMEMBERS', KEYS[1])`;
const UNREGISTER = `return redis.call('SREM', KEYS[1], ARGV[1])`;

/** Deadline of a hold request or an internal DELETE. */
const ASK_TIMEOUT_MS = 5_000;
/** A fetch whose source sends nothing for this long is abandoned (resumed at the next ask). */
const FETCH_STALL_MS = 15_000;
/** Hold requests in flight at once from this instance. */
const MAX_ASKS = 16;
/** Holder registrations sent per pass: a cache of many streams registers over several passes, never past --redis-max-pending. */
const MAX_REGISTERS_PER_PASS = 256;

/** How long this instance remembers a deletion itself (the tombstone in Redis is the lasting record). */
const RECENT_DELETE_MS = 60_000;

/** Where an instance's internal stream routes live. */
export const INTERNAL_STREAMS_PATH = '/internal/streams';

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
  /** Fetches queued or running, by stream. */
  private readonly jobs = new Map<string, FetchJob>();
  private readonly queue: FetchJob[] = [];
  /** Per stream being fetched, the audio URL of an instance that has it (readers are sent there meanwhile). */
  private readonly hints = new Map<string, string>();
  /**
   * Streams deleted here lately, and when: a hold request that arrives before the tombstone is in
   * Redis is refused all the same (kept {@link RECENT_DELETE_MS}).
   */
  private readonly deletedHere = new Map<string, number>();
  private readonly pacer: BytePacer;
  private readonly secretBytes: Buffer;
  private timer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;
  private scrubTimer: NodeJS.Timeout | null = null;
  /** The scrubber's place: the id of the stream it hashed last. */
  private scrubbedLast = '';
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
    this.pacer = new BytePacer(options.bytesPerSec);
    this.secretBytes = Buffer.from(`Bearer ${options.secret}`);
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
    if (this.options.scrubBytesPerSec > 0) this.scrubNext(1000);
    this.soon();
  }

  /** Stops the passes and the fetches (partial copies stay, resumable). */
  close(): void {
    this.closed = true;
    for (const t of [this.timer, this.soonTimer]) if (t !== null) clearInterval(t);
    if (this.scrubTimer !== null) clearTimeout(this.scrubTimer);
    this.queue.length = 0;
    for (const job of this.jobs.values()) {
      job.cancelled = true;
      job.abort?.(new Error('shutting down'));
    }
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
    return stream.uploader !== null && !this.jobs.has(stream.id);
  }

  /**
   * Where to send a reader of `id` that this instance owns but has no complete copy of: an instance
   * that has one (one being copied from, else Redis's holders on the ring), or null.
   */
  holderFor(id: string): string | null | Promise<string | null> {
    const hint = this.hints.get(id);
    if (hint !== undefined) return hint;
    if (!this.link.ready) return null;
    const keys = this.link.keys.stream(id);
    return this.link.track(this.link.ops.eval(HOLDERS, [keys.holders], [])).then((reply) => {
      const holders = new Set(reply as string[]);
      const me = this.self().id;
      const member = this.ring()?.members.find((m) => m.id !== me && holders.has(m.id));
      return member === undefined ? null : `${member.url}${this.options.audioPath}`;
    });
  }

  /** Mounts the internal routes (`/internal/streams/:id`, `…/hold`), every one behind the cluster secret. */
  mountRoutes(router: Router, http: AudioHttp): void {
    router.add('GET', `${INTERNAL_STREAMS_PATH}/:id`, (req, res) => {
      if (!this.authorized(req, res)) return;
      const id = req.params.id ?? '';
      const stream = this.store.peek(id);
      // Sources: complete copies, and uploads by clients here (their bytes so far); never a copy still being fetched.
      if (stream === undefined || stream.removed || !(stream.complete || this.uploadedByClient(stream))) {
        return res.json({ error: 'NOT_FOUND', message: `no complete copy or upload of stream ${id} here` }, 404);
      }
      http.serve(req, res, id);
    });
    router.add('POST', `${INTERNAL_STREAMS_PATH}/:id/hold`, async (req, res) => {
      if (!this.authorized(req, res)) return;
      const id = req.params.id ?? '';
      const hold = holdRequest(req);
      if (!isValidStreamId(id) || hold === null) return res.json({ error: 'BAD_REQUEST', message: 'a hold request is {from, complete, size, sha256, createdAt, updatedAt}' }, 400);
      const answer = await this.hold(id, hold);
      res.json(answer.body, answer.status);
    });
    router.add('DELETE', `${INTERNAL_STREAMS_PATH}/:id`, (req, res) => {
      if (!this.authorized(req, res)) return;
      const id = req.params.id ?? '';
      const deletedAt = Number(new URLSearchParams(req.query).get('deletedAt'));
      if (!isValidStreamId(id) || !Number.isSafeInteger(deletedAt)) return res.json({ error: 'BAD_REQUEST', message: 'DELETE /internal/streams/{id}?deletedAt={ms}' }, 400);
      this.forget(id, deletedAt);
      res.json({ state: 'deleted' });
    });
  }

  private authorized(req: HttpRequest, res: HttpResponse): boolean {
    const got = Buffer.from(req.header('authorization') ?? '');
    if (got.length === this.secretBytes.length && timingSafeEqual(got, this.secretBytes)) return true;
    res.json({ error: 'CLUSTER_SECRET', message: 'internal stream routes need the cluster secret (Authorization: Bearer)' }, 401);
    return false;
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
    const keys = this.link.keys.stream(stream.id);
    this.link.track(this.link.ops.eval(REGISTER, [keys.holders, keys.deleted], [this.self().id, String(stream.createdAt)])).then(
      (added) => {
        if (Number(added) === 0) this.dropDeleted(stream.id, 'a tombstone');
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
  private async hold(id: string, hold: HoldRequest): Promise<{ status: number; body: Record<string, unknown> }> {
    const deletedHere = this.deletedHere.get(id);
    if (deletedHere !== undefined && deletedHere >= hold.createdAt) return { status: 410, body: { state: 'deleted', deletedAt: deletedHere } };
    if (this.link.ready) {
      const deletedAt = await this.tombstoneOf(id);
      if (deletedAt !== null && deletedAt >= hold.createdAt) return { status: 410, body: { state: 'deleted', deletedAt } };
    }
    const local = this.store.peek(id);
    if (local !== undefined && local.complete && !local.removed) {
      if (hold.complete && local.sha256 === hold.sha256) return { status: 200, body: { state: 'held' } };
      return { status: 409, body: { state: 'conflict', message: `stream ${id} here is another stream (complete, SHA-256 ${local.sha256 ?? 'unknown'})` } };
    }
    if (this.jobs.has(id)) return { status: 202, body: { state: 'fetching' } };
    if (local !== undefined && local.uploader !== null) return { status: 409, body: { state: 'busy', message: `stream ${id} is being uploaded here` } };
    // An upload elsewhere whose stored bytes this copy has already: nothing to fetch until it grows.
    if (!hold.complete && local !== undefined && local.size === hold.size) return { status: 202, body: { state: 'current' } };
    const job: FetchJob = { id, stream: null, ...hold, abort: null, cancelled: false, gone: false };
    this.jobs.set(id, job);
    if (hold.complete) this.hints.set(id, `${hold.from.replace(/^http/, 'ws')}${this.options.audioPath}`);
    this.queue.push(job);
    this.stats.queued = this.queue.length;
    this.startFetches();
    return { status: 202, body: { state: 'fetching' } };
  }

  private startFetches(): void {
    while (!this.closed && this.stats.active < this.options.concurrency && this.queue.length > 0) {
      const job = this.queue.shift() as FetchJob;
      this.stats.queued = this.queue.length;
      this.stats.active++;
      this.fetch(job)
        .catch((err: Error) => {
          this.stats.copyFailures++;
          this.log.warn({ stream: job.id, from: job.from, err: err.message }, 'cluster: fetching a stream copy failed; it is asked for again at the next pass');
        })
        .finally(() => {
          this.stats.active--;
          this.jobs.delete(job.id);
          this.hints.delete(job.id);
          this.startFetches();
        });
    }
  }

  /** Fetches `job`'s stream into the store (resuming a partial copy), verifies it, registers it. */
  private async fetch(job: FetchJob): Promise<void> {
    const owner = { copyOf: job.from };
    let stream = this.store.peek(job.id);
    if (stream !== undefined && !stream.complete && stream.uploader === null && stream.size > job.size) {
      const dropped = this.store.dropCopy(job.id); // longer than the original: not a prefix of it
      if (isAudioError(dropped)) throw new Error(dropped.message);
      await dropped;
    }
    const started = this.store.start(job.id, owner, job.createdAt);
    if (isAudioError(started)) throw new Error(started.message);
    stream = started;
    job.stream = stream;
    let ok = false;
    try {
      if (stream.size < job.size) await this.receive(job, stream);
      if (job.cancelled) throw new Error('cancelled: the stream was deleted');
      if (stream.size !== job.size) throw new Error(`received ${stream.size} of ${job.size} bytes`);
      if (!job.complete) {
        // An upload in progress elsewhere: its bytes so far are here, incomplete and resumable (a
        // START here after its owner died resumes from them); the next ask brings what came since.
        this.store.abandon(stream);
        ok = true;
        return;
      }
      try {
        await this.store.stop(stream, { sha256: job.sha256, updatedAt: job.updatedAt });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ERR_AUDIO_DIGEST') this.stats.digestMismatches++;
        throw error;
      }
      ok = true;
    } finally {
      if (!ok) {
        this.store.abandon(stream);
        // A copy that can no longer become the original (deleted, wrong bytes) goes; a short one stays, resumable.
        if (job.cancelled || job.gone || stream.size >= job.size) await dropQuietly(this.store, job.id);
      }
    }
    this.stats.copiesMade++;
    this.registered.delete(job.id);
    this.register(stream);
    this.log.info({ stream: job.id, from: job.from, bytes: job.size }, 'cluster: stream copy made');
    this.soon();
  }

  /** Reads the source's bytes from the copy's size on, paced, into the store. */
  private async receive(job: FetchJob, stream: AudioStream): Promise<void> {
    // An explicit last byte: of a stream still being uploaded, exactly the bytes the ask announced (never the live response).
    const get = peerGet(`${job.from}${INTERNAL_STREAMS_PATH}/${encodeURIComponent(job.id)}`, this.options.secret, stream.size, job.size - 1, FETCH_STALL_MS);
    job.abort = (reason) => get.abort(reason);
    const res: IncomingMessage = await get.response;
    if (res.statusCode !== 206) {
      res.resume();
      job.gone = res.statusCode === 404; // the source no longer has it (deleted meanwhile): the partial copy goes too
      throw new Error(`GET ${job.from}: ${res.statusCode ?? 0} (expected 206)`);
    }
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: Buffer) => {
        if (job.cancelled) return;
        const refused = this.store.append(stream, chunk);
        if (refused !== null) {
          res.destroy(new Error(refused.message));
          return;
        }
        this.stats.bytesCopied += chunk.length;
        const wait = this.pacer.take(chunk.length);
        if (wait > 0) {
          res.pause();
          setTimeout(() => res.resume(), wait).unref();
        }
      });
      res.on('end', resolve);
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`GET ${job.from}: the source closed the transfer`)));
    });
  }

  /** Drops a copy the ring no longer places here, now that every instance that should hold it does. */
  private handOff(stream: AudioStream): void {
    const keys = this.link.keys.stream(stream.id);
    const dropped = this.store.dropCopy(stream.id);
    if (isAudioError(dropped)) return; // being read into an upload, or gone: the next pass decides again
    this.stats.handOffs++;
    this.confirmed.delete(stream.id);
    this.registered.delete(stream.id);
    this.link.track(this.link.ops.eval(UNREGISTER, [keys.holders], [this.self().id])).catch(() => undefined); // counted by the link; a stale holder is skipped by readers
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
    if (!this.link.ready) return false;
    const holders = (await this.link.track(this.link.ops.eval(HOLDERS, [this.link.keys.stream(id).holders], []))) as string[];
    const me = this.self().id;
    if (!holders.some((h) => h !== me) && !this.jobs.has(id)) return false;
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
    const job = this.jobs.get(id);
    if (job !== undefined) this.cancel(job);
    const ring = this.ring();
    const targets = new Map((ring?.successors(`stream:${id}`, this.options.replicas) ?? []).map((m) => [m.id, m]));
    let holders: string[] = [];
    if (this.link.ready) {
      const keys = this.link.keys.stream(id);
      try {
        holders = (await this.link.track(this.link.ops.eval(TOMBSTONE, [keys.holders, keys.deleted], [String(deletedAt), String(this.options.tombstoneMs)]))) as string[];
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
    const job = this.jobs.get(id);
    if (job !== undefined && job.createdAt <= deletedAt) this.cancel(job);
    const local = this.store.peek(id);
    if (local !== undefined && local.createdAt <= deletedAt && local.uploader === null) this.dropDeleted(id, 'a deletion on another instance');
  }

  /** A DELETE here is about to run: a fetch of `id` stops now and frees its upload, so the DELETE finds the partial copy idle. */
  stopFetching(id: string): void {
    const job = this.jobs.get(id);
    if (job !== undefined) this.cancel(job);
  }

  private cancel(job: FetchJob): void {
    job.cancelled = true;
    job.abort?.(new Error('cancelled: the stream was deleted'));
    if (job.stream !== null) this.store.abandon(job.stream);
    const at = this.queue.indexOf(job);
    if (at >= 0) {
      this.queue.splice(at, 1);
      this.stats.queued = this.queue.length;
      this.jobs.delete(job.id);
      this.hints.delete(job.id);
    }
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

  private async tombstoneOf(id: string): Promise<number | null> {
    const reply = await this.link.track(this.link.ops.eval(TOMBSTONE_OF, [this.link.keys.stream(id).deleted], []));
    return reply === null || reply === undefined ? null : Number(reply);
  }

  /** Hashes the next complete stream after `scrubbedLast`, then waits as long as its size takes at the scrub rate. */
  private scrubNext(delayMs: number): void {
    if (this.closed) return;
    this.scrubTimer = setTimeout(() => {
      const streams = this.store.completeStreams().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const next = streams.find((s) => s.id > this.scrubbedLast) ?? streams[0];
      if (next === undefined) return this.scrubNext(1000);
      this.scrubbedLast = next.id;
      const size = next.size;
      sha256File(next.dataPath, size)
        .then((digest) => this.scrubbed(next, digest), (err: Error) => this.scrubbed(next, `unreadable: ${err.message}`))
        .finally(() => this.scrubNext(Math.max(50, Math.ceil((size * 1000) / this.options.scrubBytesPerSec))));
    }, delayMs);
    this.scrubTimer.unref();
  }

  private scrubbed(stream: AudioStream, digest: string): void {
    if (stream.removed || !stream.complete) return;
    this.stats.scrubbed++;
    if (stream.sha256 === null) {
      if (SHA256_HEX.test(digest)) stream.adoptDigest(digest).catch((err: unknown) => this.log.warn({ stream: stream.id, err }, 'cluster: recording a digest failed'));
      return;
    }
    if (digest === stream.sha256) return;
    this.stats.corrupt++;
    this.log.error({ stream: stream.id, expected: stream.sha256, found: digest }, 'cluster: a stream copy no longer matches its SHA-256; dropped, fetched again from another holder');
    const original = { size: stream.size, sha256: stream.sha256, createdAt: stream.createdAt, updatedAt: stream.updatedAt };
    const keys = this.link.keys.stream(stream.id);
    const dropped = this.store.dropCopy(stream.id);
    if (isAudioError(dropped)) return;
    this.registered.delete(stream.id);
    this.confirmed.delete(stream.id);
    void dropped.then(async () => {
      if (!this.link.ready) return;
      await this.link.track(this.link.ops.eval(UNREGISTER, [keys.holders], [this.self().id]));
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

/** The hold request in `req`'s body, or null when it is not one. */
function holdRequest(req: HttpRequest): HoldRequest | null {
  let value: Partial<HoldRequest>;
  try {
    value = req.json() as Partial<HoldRequest>;
  } catch {
    return null; // answered 400 by the caller
  }
  if (value === null || typeof value !== 'object') return null;
  const { from, complete, size, sha256, createdAt, updatedAt } = value;
  if (typeof from !== 'string' || !/^https?:\/\/\S+$/.test(from) || typeof complete !== 'boolean') return null;
  if (!Number.isSafeInteger(size) || (size as number) < 0 || typeof sha256 !== 'string' || (complete ? !SHA256_HEX.test(sha256) : sha256 !== '')) return null;
  if (!Number.isSafeInteger(createdAt) || !Number.isSafeInteger(updatedAt)) return null;
  return { from, complete, size: size as number, sha256, createdAt: createdAt as number, updatedAt: updatedAt as number };
}

/** Drops a partial copy, a missing one being fine. */
async function dropQuietly(store: AudioStore, id: string): Promise<void> {
  const dropped = store.dropCopy(id);
  if (!isAudioError(dropped)) await dropped;
}
