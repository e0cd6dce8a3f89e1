/**
 * Re-hashes the complete streams here one after the other, in id order, at `--scrub-bytes-per-sec`
 * (after hashing a stream of n bytes it waits as long as n bytes take at that rate). A stream
 * whose bytes no longer match its SHA-256 is reported damaged; one kept without a digest gets the
 * one just computed.
 */
import type { Logger } from '../ops/logger.js';
import type { AudioStore } from '../services/audio-cache/audio-store.js';
import type { AudioStream } from '../services/audio-cache/audio-stream.js';
import { SHA256_HEX, sha256File } from '../storage/file-digest.js';

/** The scrubber's counters (part of the replicator's). */
export interface ScrubberStats {
  /** Streams re-hashed, and those found damaged. */
  scrubbed: number;
  corrupt: number;
}

export class StreamScrubber {
  private timer: NodeJS.Timeout | null = null;
  /** Where the scrubber is: the id of the stream it hashed last. */
  private last = '';
  private closed = false;

  /** `damaged` runs for a complete stream whose bytes no longer match its SHA-256. */
  constructor(
    private readonly store: AudioStore,
    private readonly bytesPerSec: number,
    private readonly stats: ScrubberStats,
    private readonly log: Logger,
    private readonly damaged: (stream: AudioStream, found: string) => void,
  ) {}

  start(): void {
    this.next(1000);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }

  /** Hashes the next complete stream after {@link last}, then waits as long as its size takes at the scrub rate. */
  private next(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      const streams = this.store.completeStreams().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const stream = streams.find((s) => s.id > this.last) ?? streams[0];
      if (stream === undefined) return this.next(1000);
      this.last = stream.id;
      const size = stream.size;
      sha256File(stream.dataPath, size)
        .then((digest) => this.hashed(stream, digest), (err: Error) => this.hashed(stream, `unreadable: ${err.message}`))
        .finally(() => this.next(Math.max(50, Math.ceil((size * 1000) / this.bytesPerSec))));
    }, delayMs);
    this.timer.unref();
  }

  private hashed(stream: AudioStream, digest: string): void {
    if (stream.removed || !stream.complete) return;
    this.stats.scrubbed++;
    if (stream.sha256 === null) {
      if (SHA256_HEX.test(digest)) stream.adoptDigest(digest).catch((err: unknown) => this.log.warn({ stream: stream.id, err }, 'cluster: recording a digest failed'));
      return;
    }
    if (digest === stream.sha256) return;
    this.stats.corrupt++;
    this.log.error({ stream: stream.id, expected: stream.sha256, found: digest }, 'cluster: a stream copy no longer matches its SHA-256; dropped, fetched again from another holder');
    this.damaged(stream, digest);
  }
}
