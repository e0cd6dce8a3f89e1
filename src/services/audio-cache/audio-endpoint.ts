/**
 * The audio cache's WebSocket endpoint (default `/audio`): the command protocol (text commands,
 * binary data frames; docs/audio-cache.md). FOLLOW's live side is its own unit (audio-followers.ts).
 *
 * Ordering: replies on one connection come in command order. Commands that wait for the disk
 * (START of a new stream, STOP, DELETE) pause reading from that connection (`ws.pause()`) until
 * they have answered, so later commands and data frames wait in the socket's buffer, bounded like
 * any input, and are processed after it in order.
 *
 * Zero copy out: GET (and FOLLOW's catch-up) send the payload as a view of the mapping
 * (`ws.sendView`), owned by a lease released when the socket write completed.
 */
import { DEFAULTS } from '../../config.js';
import { SlowConsumerPolicy, type WebSocketEndpoint } from '../../protocols/websocket/endpoint.js';
import type { WebSocket } from '../../protocols/websocket/websocket.js';
import type { WebSocketHandler } from '../../protocols/websocket/websocket-handler.js';
import { AudioFollowers, type Following, sendRange } from './audio-followers.js';
import { AudioErrorCode, isAudioError, isNoSpaceError, type AudioError } from './audio-errors.js';
import type { AudioStream } from './audio-stream.js';
import { CommandName, parseCommand, type Command } from './command-parser.js';
import { SIDECAR_DISK_BYTES, type AudioStore } from './audio-store.js';
import { describeStream } from './stream-info.js';

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


/** Per-connection state: tiny, as the style asks. */
interface Session extends Following {
  upload: AudioStream | null;
}

/**
 * Builds the endpoint over `store` and wires itself as the store's listener. `handler` is the
 * server's WebSocket handler (its `broadcast` frames a live chunk once for all followers).
 */
export function audioEndpoint(store: AudioStore, handler: WebSocketHandler, options: AudioEndpointOptions): WebSocketEndpoint<Session> {
  const followers = new AudioFollowers(store, handler, (options.wsMaxBackpressureBytes ?? DEFAULTS.wsMaxBackpressureBytes) / 2);

  function reply(ws: WebSocket<Session>, text: string): void {
    ws.send(text, false);
  }

  function fail(ws: WebSocket<Session>, error: AudioError): void {
    reply(ws, `ERROR:${error.message}`);
  }

  /** Answers once `work` settles; reading from `ws` pauses meanwhile (command order). */
  function answerLater(ws: WebSocket<Session>, work: Promise<string>, onError: (error: unknown) => string): void {
    ws.pause();
    work.then(
      (text) => reply(ws, text),
      (error: unknown) => reply(ws, `ERROR:${onError(error)}`),
    ).finally(() => ws.resume());
  }

  function start(ws: WebSocket<Session>, s: Session, id: string): void {
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

  function stop(ws: WebSocket<Session>, s: Session, id: string): void {
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

  function get(ws: WebSocket<Session>, id: string, offset: number, length: number): void {
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
    sendRange(store, ws, lease, offset, Math.min(length, stream.size - offset));
  }

  function follow(ws: WebSocket<Session>, s: Session, id: string, offset: number): void {
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
    reply(ws, `OK:FOLLOW:${id}:${offset}`);
    followers.follow(ws, stream, offset);
  }

  function command(ws: WebSocket<Session>, s: Session, cmd: Command): void {
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
        return isAudioError(stream) ? fail(ws, stream) : reply(ws, `INFO:${cmd.id}:${JSON.stringify(describeStream(stream))}`);
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

  return {
    path: options.path,
    // Live fan-out: a follower that cannot keep up is closed with 1013, never buffered without bound.
    slowConsumer: SlowConsumerPolicy.Close,
    onOpen(ws) {
      ws.data = { upload: null, follow: null };
    },
    onMessage(ws, data, isBinary) {
      const s = ws.data;
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
      followers.pump(ws);
    },
    onClose(ws) {
      const s = ws.data;
      if (s === undefined || s === null) return;
      followers.unfollow(ws);
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
