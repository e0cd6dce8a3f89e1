/**
 * The audio cache's WebSocket endpoint (default `/audio`): text commands, binary data frames, and
 * live listeners. See the README "Audio stream cache" section for the protocol.
 *
 * Ordering: replies on one connection come in command order. Commands that wait for the disk
 * (START of a new stream, STOP, DELETE) pause reading from that connection (PauseReason.Handler)
 * until they have answered, so later commands and data frames wait in the socket's buffer, bounded
 * like any input, and are processed after it in order.
 *
 * Zero copy out: GET and FOLLOW catch-up write the frame header into the write slab and queue the
 * payload as a view of the mapping, owned by a lease released when the socket write completed.
 * Live chunks are framed once per chunk (SharedFrame) for all followers.
 */
import { DEFAULTS } from '../../config.js';
import { PauseReason } from '../../core/connection.js';
import { WriteStatus } from '../../core/message-writer.js';
import { SlowConsumerPolicy, type WebSocketEndpoint } from '../../protocols/websocket/endpoint.js';
import { frameHeaderLength, writeFrameHeader } from '../../protocols/websocket/frame-writer.js';
import { Opcode } from '../../protocols/websocket/opcode.js';
import type { WebSocket } from '../../protocols/websocket/websocket.js';
import type { WebSocketHandler } from '../../protocols/websocket/websocket-handler.js';
import type { MappingLease } from '../../storage/mapped-file.js';
import { AudioErrorCode, isAudioError, isNoSpaceError, type AudioError } from './audio-errors.js';
import type { AudioStream } from './audio-stream.js';
import { CommandName, parseCommand, type Command } from './command-parser.js';
import { SIDECAR_DISK_BYTES, type AudioStore } from './audio-store.js';

/** Options of {@link audioEndpoint}. */
export interface AudioEndpointOptions {
  path: string;
  maxGetBytes: number;
  /** The WebSocket slow-consumer limit (`--ws-max-backpressure-bytes`): followers are flushed early past half of it (default: the knob's default). */
  wsMaxBackpressureBytes?: number;
  /** New STARTs are refused while `memoryPressure()` is above this fraction. */
  memoryThreshold: number;
  memoryPressure: () => number;
  /**
   * Cluster placement: for a stream another instance owns, the owner's full audio URL, else null.
   * A GET or START for such a stream is answered `ERROR:MOVED:{streamId}:{url}` (like a Redis
   * Cluster MOVED): the client reconnects there.
   */
  placement?: (streamId: string) => string | null;
}

/** Bytes per frame while a follower catches up from its offset (paced by the socket draining). */
export const FOLLOW_CHUNK_BYTES = 64 * 1024;

interface Follow {
  stream: AudioStream;
  position: number;
  live: boolean;
}

/** Per-connection state: tiny, as the style asks. */
interface Session {
  upload: AudioStream | null;
  follow: Follow | null;
}

/**
 * Builds the endpoint over `store` and wires itself as the store's listener. `handler` is the
 * server's WebSocket handler (its `broadcast` frames a live chunk once for all followers).
 */
export function audioEndpoint(store: AudioStore, handler: WebSocketHandler, options: AudioEndpointOptions): WebSocketEndpoint {
  /** Followers per stream: all of them, and those caught up (who get live chunks by broadcast). */
  const followers = new Map<AudioStream, { all: Set<WebSocket>; live: Set<WebSocket> }>();

  function session(ws: WebSocket): Session {
    return ws.data as Session;
  }

  function reply(ws: WebSocket, text: string): void {
    ws.send(text, false);
  }

  function fail(ws: WebSocket, error: AudioError): void {
    reply(ws, `ERROR:${error.message}`);
  }

  /** Answers once `work` settles; reading from `ws` pauses meanwhile (command order). */
  function answerLater(ws: WebSocket, work: Promise<string>, onError: (error: unknown) => string): void {
    ws.conn.pause(PauseReason.Handler);
    work.then(
      (text) => reply(ws, text),
      (error: unknown) => reply(ws, `ERROR:${onError(error)}`),
    ).finally(() => ws.conn.unpause(PauseReason.Handler));
  }

  /** One binary frame: header in the write slab, payload a leased view of the mapping (no copy). */
  function sendRange(ws: WebSocket, lease: MappingLease, offset: number, length: number): WriteStatus {
    if (!ws.isOpen) {
      lease.release();
      return WriteStatus.Closed;
    }
    const writer = ws.conn.writer;
    const h = frameHeaderLength(length);
    const at = writer.reserve(h);
    if (at >= 0) {
      writeFrameHeader(writer.buffer, at, Opcode.Binary, true, length);
      writer.commit(h);
    } else {
      const header = Buffer.allocUnsafe(h); // no write section free: a 10-byte heap header, still no payload copy
      writeFrameHeader(header, 0, Opcode.Binary, true, length);
      writer.queueExternal(header, null);
    }
    store.stats.bytesServed += length;
    return writer.queueExternal(lease.view.subarray(offset, offset + length), lease);
  }

  function start(ws: WebSocket, s: Session, id: string): void {
    if (s.upload !== null) {
      fail(ws, store.refuse(AudioErrorCode.AlreadyUploading, `cannot start stream ${id}: this connection is uploading stream ${s.upload.id} (STOP it first)`));
      return;
    }
    const pressure = options.memoryPressure();
    if (pressure > options.memoryThreshold) {
      const pct = (x: number): string => `${Math.round(x * 100)}%`;
      fail(ws, store.refuse(AudioErrorCode.ServerBusy, `server busy, retry later (stream ${id}: memory use ${pct(pressure)} over the ${pct(options.memoryThreshold)} threshold)`));
      return;
    }
    const stream = store.start(id, ws);
    if (isAudioError(stream)) return fail(ws, stream);
    s.upload = stream;
    if (stream.persistedSize >= 0) return reply(ws, `OK:START:${id}:${stream.size}`);
    // A new stream: its sidecar is on disk before the ack, so a restart knows it.
    answerLater(ws, stream.checkpoint().then(() => `OK:START:${id}:0`), (error) => {
      if (s.upload === stream) s.upload = null;
      store.abandon(stream);
      return storageRefusal(store, error, `cannot start stream ${id}`).message;
    });
  }

  function stop(ws: WebSocket, s: Session, id: string): void {
    const stream = s.upload;
    if (stream === null || stream.id !== id) {
      const now = stream === null ? 'no upload is open on this connection' : `this connection is uploading stream ${stream.id}`;
      fail(ws, store.refuse(AudioErrorCode.NotUploading, `cannot stop stream ${id}: ${now}`));
      return;
    }
    s.upload = null;
    answerLater(ws, store.stop(stream).then((size) => `OK:STOP:${id}:${size}`), (error) =>
      storageRefusal(store, error, `stream ${id} could not be made durable`).message,
    );
  }

  function get(ws: WebSocket, id: string, offset: number, length: number): void {
    const stream = store.get(id);
    if (isAudioError(stream)) return fail(ws, stream);
    if (length > options.maxGetBytes) {
      fail(ws, store.refuse(AudioErrorCode.GetTooLarge, `GET on stream ${id}: length ${length} is over the limit of ${options.maxGetBytes} bytes per request`));
      return;
    }
    if (offset >= stream.size) {
      fail(ws, store.refuse(AudioErrorCode.Range, `GET on stream ${id}: offset ${offset} is at or past the end of the stream (${stream.size} bytes)`));
      return;
    }
    const lease = store.lease(stream);
    if (isAudioError(lease)) return fail(ws, lease);
    if (offset >= stream.size) {
      // Mapping found the file shorter than its record: only what exists is served.
      lease.release();
      fail(ws, store.refuse(AudioErrorCode.Range, `GET on stream ${id}: offset ${offset} is at or past the end of the stream (${stream.size} bytes)`));
      return;
    }
    sendRange(ws, lease, offset, Math.min(length, stream.size - offset));
  }

  function follow(ws: WebSocket, s: Session, id: string, offset: number): void {
    if (s.follow !== null) {
      fail(ws, store.refuse(AudioErrorCode.BadArguments, `cannot follow stream ${id}: this connection already follows stream ${s.follow.stream.id}`));
      return;
    }
    const stream = store.get(id);
    if (isAudioError(stream)) return fail(ws, stream);
    if (offset > stream.size) {
      fail(ws, store.refuse(AudioErrorCode.Range, `FOLLOW on stream ${id}: offset ${offset} is past the end of the stream (${stream.size} bytes)`));
      return;
    }
    // An incomplete stream of a read-only cache never grows or ends: a follower would wait forever.
    if (store.readOnly && !stream.complete) return fail(ws, store.refuseReadOnly(`cannot follow incomplete stream ${id} (it cannot grow); GET its ${stream.size} bytes instead`));
    s.follow = { stream, position: offset, live: false };
    let group = followers.get(stream);
    if (group === undefined) followers.set(stream, (group = { all: new Set(), live: new Set() }));
    group.all.add(ws);
    reply(ws, `OK:FOLLOW:${id}:${offset}`);
    pump(ws, s);
  }

  /** Sends a follower's backlog until its output pushes back; once caught up it goes live (or gets END). */
  function pump(ws: WebSocket, s: Session): void {
    const f = s.follow;
    if (f === null || f.live || f.stream.removed) return;
    const stream = f.stream;
    while (f.position < stream.size) {
      const lease = store.lease(stream);
      if (isAudioError(lease)) {
        unfollow(ws, s);
        return fail(ws, lease);
      }
      const n = Math.min(FOLLOW_CHUNK_BYTES, stream.size - f.position);
      const status = sendRange(ws, lease, f.position, n);
      if (status === WriteStatus.Closed) return;
      f.position += n;
      if (status === WriteStatus.Backpressure) return; // onDrain resumes
    }
    if (stream.complete) {
      unfollow(ws, s);
      reply(ws, `END:${stream.id}:${stream.size}`);
      return;
    }
    f.live = true;
    followers.get(stream)?.live.add(ws);
  }

  function unfollow(ws: WebSocket, s: Session): void {
    const f = s.follow;
    if (f === null) return;
    s.follow = null;
    const group = followers.get(f.stream);
    if (group === undefined) return;
    group.all.delete(ws);
    group.live.delete(ws);
    if (group.all.size === 0) followers.delete(f.stream);
  }

  function command(ws: WebSocket, s: Session, cmd: Command): void {
    if ((cmd.name === CommandName.Start || cmd.name === CommandName.Get) && options.placement !== undefined) {
      const owner = options.placement(cmd.id);
      if (owner !== null) return reply(ws, `ERROR:MOVED:${cmd.id}:${owner}`);
    }
    switch (cmd.name) {
      case CommandName.Start:
        return start(ws, s, cmd.id);
      case CommandName.Stop:
        return stop(ws, s, cmd.id);
      case CommandName.Get:
        return get(ws, cmd.id, cmd.offset, cmd.length);
      case CommandName.Follow:
        return follow(ws, s, cmd.id, cmd.offset);
      case CommandName.Info: {
        const stream = store.get(cmd.id);
        return isAudioError(stream) ? fail(ws, stream) : reply(ws, `INFO:${cmd.id}:${JSON.stringify(stream.meta())}`);
      }
      case CommandName.List:
        return reply(ws, `LIST:${JSON.stringify(store.list())}`);
      case CommandName.Delete: {
        const done = store.delete(cmd.id);
        if (isAudioError(done)) return fail(ws, done);
        return answerLater(ws, done.then(() => `OK:DELETE:${cmd.id}`), (error) =>
          store.refuse(AudioErrorCode.Storage, `stream ${cmd.id} deleted, but its files could not all be removed: ${describe(error)}`).message,
        );
      }
    }
  }

  store.listener = {
    appended(stream, chunk) {
      const group = followers.get(stream);
      if (group === undefined || group.live.size === 0) return;
      const { sent } = handler.broadcast(group.live, chunk, true);
      store.stats.bytesServed += sent * chunk.length;
      // Output leaves once per processor turn, but one poll phase can read megabytes of upload (up to
      // 32 socket reads), so a follower that reads perfectly well would pass the slow-consumer limit
      // on bytes nobody tried to send yet, and be closed with 1013. Flush it early instead (uWS flushes
      // a full cork buffer the same way): what then stays pending is what its socket did not take.
      for (const ws of group.live) {
        const writer = ws.conn.writer;
        if (writer.pendingBytes > (options.wsMaxBackpressureBytes ?? DEFAULTS.wsMaxBackpressureBytes) / 2) writer.flush();
      }
    },
    completed(stream) {
      const group = followers.get(stream);
      if (group === undefined) return;
      for (const ws of [...group.live]) {
        unfollow(ws, session(ws));
        reply(ws, `END:${stream.id}:${stream.size}`);
      }
    },
    removed(stream, evicted) {
      const group = followers.get(stream);
      if (group === undefined) return;
      for (const ws of [...group.all]) {
        unfollow(ws, session(ws));
        reply(ws, `ERROR:stream ${stream.id} was ${evicted ? 'evicted from the cache' : 'deleted'} while followed`);
      }
    },
  };

  return {
    path: options.path,
    // Live fan-out: a follower that cannot keep up is closed with 1013, never buffered without bound.
    slowConsumer: SlowConsumerPolicy.Close,
    onOpen(ws) {
      ws.data = { upload: null, follow: null } satisfies Session;
    },
    onMessage(ws, data, isBinary) {
      const s = session(ws);
      if (isBinary) {
        if (s.upload === null && store.readOnly) return fail(ws, store.refuseReadOnly(`${data.length}-byte data frame refused`));
        if (s.upload === null) {
          fail(ws, store.refuse(AudioErrorCode.NotUploading, `${data.length}-byte data frame refused: no upload is open on this connection (send START:{streamId} first)`));
          return;
        }
        const error = store.append(s.upload, data);
        if (error !== null) fail(ws, error);
        return;
      }
      const cmd = parseCommand(data.toString('utf8'));
      if (isAudioError(cmd)) {
        store.refuse(cmd.code, cmd.message);
        fail(ws, cmd);
        return;
      }
      command(ws, s, cmd);
    },
    onDrain(ws) {
      const s = session(ws);
      if (s.follow !== null && !s.follow.live) pump(ws, s);
    },
    onClose(ws) {
      const s = session(ws);
      if (s === undefined || s === null) return;
      unfollow(ws, s);
      if (s.upload !== null) store.abandon(s.upload);
      s.upload = null;
    },
  };
}

/** A disk failure of START or STOP as a refusal: `ERR_AUDIO_NO_SPACE` for ENOSPC/EDQUOT (the sidecar could not be written), else `ERR_AUDIO_STORAGE`. */
function storageRefusal(store: AudioStore, error: unknown, what: string): AudioError {
  if (isNoSpaceError(error)) return store.refuseNoSpace(what, SIDECAR_DISK_BYTES, error);
  return store.refuse(AudioErrorCode.Storage, `${what}: ${describe(error)}`);
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return typeof e?.code === 'string' ? `${e.code}${e.syscall === undefined ? '' : ` (${e.syscall})`}` : String(error);
}
