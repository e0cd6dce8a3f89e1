import { WriteStatus } from '../../core/message-writer.js';
import type { WebSocket } from '../../protocols/websocket/websocket.js';
import type { WebSocketHandler } from '../../protocols/websocket/websocket-handler.js';
import type { MappingLease } from '../../storage/mapped-file.js';
import { AudioErrorCode, audioError, isAudioError, wireError } from './audio-errors.js';
import type { AudioStore } from './audio-store.js';
import type { AudioStream } from './audio-stream.js';

/** Bytes per frame while a follower catches up from its offset (paced by the socket draining). */
export const FOLLOW_CHUNK_BYTES = 64 * 1024;

/** Where one follower is in its stream. */
export interface Follow {
  readonly stream: AudioStream;
  position: number;
  /** Caught up: new chunks reach it by broadcast as they are stored. */
  live: boolean;
}

/** What the followers need of a connection's state. */
export interface Following {
  follow: Follow | null;
}

/**
 * The live side of FOLLOW: each follower first reads its backlog from the stream's mapping (frames
 * of {@link FOLLOW_CHUNK_BYTES}, zero-copy views paced by its socket draining); once caught up it is
 * "live" and every stored chunk reaches all live followers of the stream (encoded once, or sent from
 * the mapping when big); one that falls more than the slow-consumer limit behind catches up from
 * the cache again. A complete stream ends each follower with `END`; a deleted or evicted one with
 * `ERROR:DELETED` or `ERROR:EVICTED`. It is the store's listener.
 */
export class AudioFollowers {
  /** Followers per stream: all of them, and those caught up. */
  /** Live followers with more than this pending after a chunk are flushed at once (half the slow-consumer limit). */
  private readonly flushAboveBytes: number;
  private readonly byStream = new Map<AudioStream, { all: Set<WebSocket<Following>>; live: Set<WebSocket<Following>> }>();

  constructor(
    private readonly store: AudioStore,
    private readonly handler: WebSocketHandler,
    /** The slow-consumer limit (`--ws-max-backpressure-bytes`): a live follower with more pending goes back to catching up. */
    private readonly slowAboveBytes: number,
  ) {
    this.flushAboveBytes = slowAboveBytes / 2;
    store.listener = {
      appended: (stream, offset, n) => this.appended(stream, offset, n),
      completed: (stream) => this.completed(stream),
      removed: (stream, evicted) => this.removed(stream, evicted),
    };
  }

  /** `ws` follows `stream` from `offset` (checked by the caller): its backlog starts now. */
  follow(ws: WebSocket<Following>, stream: AudioStream, offset: number): void {
    ws.data.follow = { stream, position: offset, live: false };
    let group = this.byStream.get(stream);
    if (group === undefined) this.byStream.set(stream, (group = { all: new Set(), live: new Set() }));
    group.all.add(ws);
    this.pump(ws);
  }

  /** `ws` stops following (it closed, or its stream ended). */
  unfollow(ws: WebSocket<Following>): void {
    const f = ws.data.follow;
    if (f === null) return;
    ws.data.follow = null;
    const group = this.byStream.get(f.stream);
    if (group === undefined) return;
    group.all.delete(ws);
    group.live.delete(ws);
    if (group.all.size === 0) this.byStream.delete(f.stream);
  }

  /** Sends a follower's backlog until its output pushes back (its drain calls this again); caught up, it goes live or gets END. */
  pump(ws: WebSocket<Following>): void {
    const f = ws.data.follow;
    if (f === null || f.live || f.stream.removed) return;
    const stream = f.stream;
    while (f.position < stream.size) {
      const lease = this.store.lease(stream);
      if (isAudioError(lease)) {
        this.unfollow(ws);
        ws.send(wireError(lease), false);
        return;
      }
      const n = Math.min(FOLLOW_CHUNK_BYTES, stream.size - f.position);
      const status = sendRange(this.store, ws, lease, f.position, n);
      if (status === WriteStatus.Closed) return;
      f.position += n;
      if (status === WriteStatus.Backpressure) return;
    }
    if (stream.complete) {
      this.unfollow(ws);
      ws.send(`END:${stream.id}:${stream.size}`, false);
      return;
    }
    f.live = true;
    this.byStream.get(stream)?.live.add(ws);
  }

  private appended(stream: AudioStream, offset: number, n: number): void {
    const group = this.byStream.get(stream);
    if (group === undefined || group.live.size === 0) return;
    const chunk = stream.region(offset, n);
    // A live follower that fell behind by more than the slow-consumer limit goes back to catching
    // up from the cache, paced by its socket: it is never sent more than the limit plus one chunk,
    // and never closed for being slow (a dead one is found by the ping timeout).
    let behind: WebSocket<Following>[] | null = null;
    for (const ws of group.live) {
      if (ws.bufferedAmount <= this.slowAboveBytes) continue;
      const f = ws.data.follow as Follow;
      f.live = false;
      f.position = stream.size - chunk.length;
      group.live.delete(ws);
      (behind ??= []).push(ws);
    }
    if (group.live.size > 0) this.deliver(stream, group.live, chunk);
    // Its drain pumps it; one whose output is not held back by the write-queue limit (a
    // slow-consumer limit set below it) would get no drain: pump it now.
    if (behind !== null) for (const ws of behind) if (!ws.backpressured) this.pump(ws);
  }

  /**
   * A stored chunk to the live followers, framed once for all of them: a small one copied into the
   * write slab, a big one sent from the mapping (held by a lease until every write completed).
   */
  private deliver(stream: AudioStream, live: Set<WebSocket<Following>>, chunk: Uint8Array): void {
    let lease: MappingLease | null = null;
    if (chunk.length > FOLLOW_CHUNK_BYTES) {
      const leased = this.store.lease(stream);
      if (!isAudioError(leased)) lease = leased; // else copied: the chunk is still in the upload's mapping
    }
    const { sent } = this.handler.broadcast(live, chunk, true, null, lease);
    this.store.stats.bytesServed += sent * chunk.length;
    // Output leaves once per processor turn, but one poll phase can read megabytes of upload (up to
    // 32 socket reads), so a follower that reads perfectly well would fall behind on bytes nobody
    // tried to send yet. Flush it early instead (uWS flushes a full cork buffer the same way): what
    // then stays pending is what its socket did not take.
    for (const ws of live) if (ws.bufferedAmount > this.flushAboveBytes) ws.flush();
  }

  private completed(stream: AudioStream): void {
    const group = this.byStream.get(stream);
    if (group === undefined) return;
    for (const ws of [...group.live]) {
      this.unfollow(ws);
      ws.send(`END:${stream.id}:${stream.size}`, false);
    }
  }

  private removed(stream: AudioStream, evicted: boolean): void {
    const group = this.byStream.get(stream);
    if (group === undefined) return;
    for (const ws of [...group.all]) {
      this.unfollow(ws);
      const error = evicted
        ? audioError(AudioErrorCode.Evicted, `stream ${stream.id} was evicted from the cache while followed`)
        : audioError(AudioErrorCode.Deleted, `stream ${stream.id} was deleted while followed`);
      ws.send(wireError(error), false);
    }
  }
}

/** One binary frame of `length` bytes at `offset` of a leased mapping: header in the write slab, payload the mapping itself (no copy). */
export function sendRange(store: AudioStore, ws: WebSocket<unknown>, lease: MappingLease, offset: number, length: number): WriteStatus {
  const status = ws.sendView(lease.view.subarray(offset, offset + length), lease);
  if (status !== WriteStatus.Closed) store.stats.bytesServed += length;
  return status;
}
