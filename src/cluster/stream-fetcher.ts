/**
 * Fetches copies of streams from the instances that hold them: a queue of jobs, at most
 * `--replication-concurrency` running, all sharing one `--replication-bytes-per-sec` budget. A
 * fetch resumes a partial copy with a Range, writes the bytes into the audio store as they arrive,
 * and ends the copy complete only when its SHA-256 matches the original's (the store's STOP
 * checks it); a copy of an upload still in progress elsewhere is left incomplete and resumable.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../ops/logger.js';
import { isAudioError } from '../services/audio-cache/audio-errors.js';
import type { AudioStore } from '../services/audio-cache/audio-store.js';
import type { AudioStream } from '../services/audio-cache/audio-stream.js';
import { BytePacer } from './byte-pacer.js';
import { type HoldRequest, INTERNAL_STREAMS_PATH } from './internal-stream-routes.js';
import { peerGet } from './peer-http.js';

/** A fetch whose source sends nothing for this long is abandoned (resumed at the next ask). */
const FETCH_STALL_MS = 15_000;

/** The fetcher's slice of the configuration. */
export interface FetcherOptions {
  secret: string;
  concurrency: number;
  bytesPerSec: number;
  /** `--audio-path`: readers are sent to the source's URL plus this while the copy is fetched. */
  audioPath: string;
}

/** The fetcher's counters (part of the replicator's). */
export interface FetcherStats {
  copiesMade: number;
  bytesCopied: number;
  copyFailures: number;
  digestMismatches: number;
  queued: number;
  active: number;
}

/** A copy to fetch. */
interface FetchJob extends HoldRequest {
  readonly id: string;
  /** The copy being written, once the fetch started it. */
  stream: AudioStream | null;
  abort: ((reason: Error) => void) | null;
  cancelled: boolean;
  /** The source answered that it has no such stream. */
  gone: boolean;
}

export class StreamFetcher {
  /** Fetches queued or running, by stream. */
  private readonly jobs = new Map<string, FetchJob>();
  private readonly queue: FetchJob[] = [];
  /** Per stream being fetched, the audio URL of an instance that has it (readers are sent there meanwhile). */
  private readonly hints = new Map<string, string>();
  private readonly pacer: BytePacer;
  private closed = false;

  /** `copied` runs once a complete copy is verified and stored here. */
  constructor(
    private readonly store: AudioStore,
    private readonly options: Readonly<FetcherOptions>,
    private readonly stats: FetcherStats,
    private readonly log: Logger,
    private readonly copied: (stream: AudioStream) => void,
  ) {
    this.pacer = new BytePacer(options.bytesPerSec);
  }

  /** Whether a fetch of `id` is queued or running. */
  has(id: string): boolean {
    return this.jobs.has(id);
  }

  /** The audio URL of an instance holding `id` while it is fetched from there, if it is. */
  hint(id: string): string | undefined {
    return this.hints.get(id);
  }

  /** Queues a fetch of `id` from `hold.from` (the caller checked none is queued). */
  enqueue(id: string, hold: HoldRequest): void {
    const job: FetchJob = { id, ...hold, stream: null, abort: null, cancelled: false, gone: false };
    this.jobs.set(id, job);
    if (hold.complete) this.hints.set(id, `${hold.from.replace(/^http/, 'ws')}${this.options.audioPath}`);
    this.queue.push(job);
    this.stats.queued = this.queue.length;
    this.startFetches();
  }

  /** Stops the fetch of `id`, if it is of a copy created at or before `createdBy` (the partial copy is left idle). */
  cancel(id: string, createdBy = Number.POSITIVE_INFINITY): void {
    const job = this.jobs.get(id);
    if (job === undefined || job.createdAt > createdBy) return;
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

  /** Stops every fetch (partial copies stay, resumable). */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    for (const job of this.jobs.values()) {
      job.cancelled = true;
      job.abort?.(new Error('shutting down'));
    }
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

  /** Fetches `job`'s stream into the store (resuming a partial copy) and verifies it. */
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
    this.log.info({ stream: job.id, from: job.from, bytes: job.size }, 'cluster: stream copy made');
    this.copied(stream);
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
}

/** Drops a partial copy, a missing one being fine. */
async function dropQuietly(store: AudioStore, id: string): Promise<void> {
  const dropped = store.dropCopy(id);
  if (!isAudioError(dropped)) await dropped;
}
