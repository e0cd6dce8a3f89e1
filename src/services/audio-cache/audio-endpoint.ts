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
import { SlowConsumerPolicy, type UpgradeVerdict, type WebSocketEndpoint } from '../../protocols/websocket/endpoint.js';
import type { WebSocket } from '../../protocols/websocket/websocket.js';
import type { WebSocketHandler } from '../../protocols/websocket/websocket-handler.js';
import { AudioFollowers, type Following, sendRange } from './audio-followers.js';
import { AudioErrorCode, audioError, isAudioError, isNoSpaceError, wireError, type AudioError } from './audio-errors.js';
import type { AudioStream } from './audio-stream.js';
import { CommandName, parseCommand, type Command } from './command-parser.js';
import { SIDECAR_DISK_BYTES, type AudioStore } from './audio-store.js';
import { type AudioAccess, type AudioGrant, type AudioRefusal, grantCovers } from './audio-access.js';
import { TOKEN_EXPIRED_CLOSE_CODE } from '../../auth/token-error.js';
import { describeStream } from './stream-info.js';
import type { ClusterDelete, StreamPlacement } from './stream-placement.js';

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
   * Cluster placement (stream-placement.ts): a command naming a stream served elsewhere (START,
   * GET, INFO, FOLLOW, DELETE) is answered `ERROR:MOVED:{streamId}:{url}` (like a Redis Cluster
   * MOVED): the client reconnects there.
   */
  placement?: StreamPlacement;
  /** Cluster: DELETE of a stream not held here deletes the copies held elsewhere (stream-placement.ts). */
  clusterDelete?: ClusterDelete;
  /** Who may read and write (tokens, or open mode with loopback-only writes); default: open, writes for everyone. */
  access?: AudioAccess;
}


/** Per-connection state: tiny, as the style asks. */
interface Session extends Following {
  upload: AudioStream | null;
  /** Bytes of the data chunk being received: reserved, and written to the file, not stored yet. */
  pending: number;
  written: number;
  /** What this connection may do, decided at the handshake (its token, or its address in open mode). */
  grant: AudioGrant;
  /** Closes the connection at its token's `exp` (token mode with `exp` only). */
  expiry: NodeJS.Timeout | null;
}

/** The grant without an access policy (library use without one): everything, as before. */
const EVERYTHING: AudioGrant = { ok: true, read: true, write: true, prefix: '', mode: 'open', sub: '', expSec: 0 };

/** Commands by the right they need (LIST is a read filtered by the prefix). */
const WRITES: ReadonlySet<string> = new Set([CommandName.Start, CommandName.Stop, CommandName.Delete]);

/**
 * Commands answered `ERROR:MOVED` in cluster mode when another instance owns their stream. Not STOP
 * and not data: they act on this connection's open upload, which its START placed here (after a
 * ring change the upload still finishes where its bytes are; a STOP with no upload open here is
 * NOT_UPLOADING on every instance). LIST shows this instance's streams.
 */
const REDIRECTED: ReadonlySet<string> = new Set([CommandName.Start, CommandName.Get, CommandName.Info, CommandName.Follow, CommandName.Delete]);

/**
 * Builds the endpoint over `store` and wires itself as the store's listener. `handler` is the
 * server's WebSocket handler (its `broadcast` frames a live chunk once for all followers).
 */
export function audioEndpoint(store: AudioStore, handler: WebSocketHandler, options: AudioEndpointOptions): WebSocketEndpoint<Session> {
  const followers = new AudioFollowers(store, handler, options.wsMaxBackpressureBytes ?? DEFAULTS.wsMaxBackpressureBytes);

  function reply(ws: WebSocket<Session>, text: string): void {
    ws.send(text, false);
  }

  function fail(ws: WebSocket<Session>, error: AudioError): void {
    reply(ws, wireError(error));
  }

  /** Answers once `work` settles; reading from `ws` pauses meanwhile (command order). */
  function answerLater(ws: WebSocket<Session>, work: Promise<string>, onError: (error: unknown) => AudioError): void {
    ws.pause();
    work.then(
      (text) => reply(ws, text),
      (error: unknown) => fail(ws, onError(error)),
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
      return storageRefusal(store, error, `cannot start stream ${id}`);
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
      storageRefusal(store, error, `stream ${id} could not be made durable`),
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
      fail(ws, store.refuse(AudioErrorCode.AlreadyFollowing, `cannot follow stream ${id}: this connection already follows stream ${s.follow.stream.id}`));
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

  /**
   * Null when `grant` allows `what` (a command name or `data`) on stream `id`, else the refusal:
   * `LOOPBACK_ONLY` (open mode, a write from afar), `FORBIDDEN` (the token lacks the right),
   * `FORBIDDEN_STREAM` (outside the token's prefix).
   */
  function denied(grant: AudioGrant, write: boolean, what: string, id: string | null): AudioError | null {
    if (write && !grant.write) {
      if (grant.mode === 'open') {
        return store.refuse(AudioErrorCode.LoopbackOnly, `${what} refused: no token key is set, so writes (START, data, STOP, DELETE) are for loopback clients only (configure --token-secret, --token-public-key or --token-jwks-url, or --insecure)`);
      }
      return store.refuse(AudioErrorCode.Forbidden, `${what} refused: the token does not grant "write"`);
    }
    if (!write && !grant.read) return store.refuse(AudioErrorCode.Forbidden, `${what} refused: the token does not grant "read"`);
    if (id !== null && !grantCovers(grant, id)) {
      return store.refuse(AudioErrorCode.ForbiddenStream, `${what} refused: stream ${id} is outside the token's audio_prefix ${JSON.stringify(grant.prefix)}`);
    }
    return null;
  }

  function command(ws: WebSocket<Session>, s: Session, cmd: Command): void {
    const id = cmd.name === CommandName.List ? null : cmd.id;
    const refused = denied(s.grant, WRITES.has(cmd.name), id === null ? cmd.name : `${cmd.name} on stream ${id}`, id);
    if (refused !== null) return fail(ws, refused);
    if (REDIRECTED.has(cmd.name) && id !== null && options.placement !== undefined) {
      const owner = options.placement(id, WRITES.has(cmd.name));
      if (typeof owner === 'string') return fail(ws, audioError(AudioErrorCode.Moved, `${id}:${owner}`));
      if (owner !== null) {
        // The cluster asks Redis who holds a copy: reading pauses meanwhile (command order).
        ws.pause();
        owner.then(
          (url) => (url !== null ? fail(ws, audioError(AudioErrorCode.Moved, `${id}:${url}`)) : run(ws, s, cmd)),
          () => run(ws, s, cmd), // placement reports its own failures; the stream is served as this instance has it
        ).finally(() => ws.resume());
        return;
      }
    }
    run(ws, s, cmd);
  }

  function run(ws: WebSocket<Session>, s: Session, cmd: Command): void {
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
      case CommandName.List: {
        const prefix = s.grant.prefix;
        return reply(ws, `LIST:${JSON.stringify(prefix === '' ? store.list() : store.list().filter((m) => m.id.startsWith(prefix)))}`);
      }
      case CommandName.Delete: {
        options.clusterDelete?.prepare(cmd.id);
        const done = store.delete(cmd.id);
        if (isAudioError(done) && done.code === AudioErrorCode.NotFound && options.clusterDelete !== undefined) {
          // Not here (an owner whose copy is still on its way): the copies elsewhere go, or NOT_FOUND.
          ws.pause();
          options.clusterDelete.elsewhere(cmd.id).then(
            (found) => (found ? reply(ws, `OK:DELETE:${cmd.id}`) : fail(ws, done)),
            (error: unknown) => fail(ws, store.refuse(AudioErrorCode.Storage, `stream ${cmd.id}: deleting its copies on other instances failed: ${describe(error)}`)),
          ).finally(() => ws.resume());
          return;
        }
        if (isAudioError(done)) return fail(ws, done);
        return answerLater(ws, done.then(() => `OK:DELETE:${cmd.id}`), (error) =>
          store.refuse(AudioErrorCode.Storage, `stream ${cmd.id} deleted, but its files could not all be removed: ${describe(error)}`),
        );
      }
    }
  }

  return {
    path: options.path,
    // Live fan-out: a follower that falls behind goes back to catching up from the cache before any
    // broadcast could find it past the limit (audio-followers.ts); closing with 1013 is the backstop.
    slowConsumer: SlowConsumerPolicy.Close,
    // The handshake decides what the connection may do: a token's claims (refused 401/403/503 before
    // any WebSocket exists), or in open mode the client's address.
    upgrade(req) {
      const access = options.access;
      if (access === undefined) return { accept: true, data: session(EVERYTHING) };
      const verdict = access.authorize(req);
      if (!('then' in verdict)) return accepted(verdict);
      return verdict.then(accepted);
    },
    onOpen(ws) {
      if (ws.data === undefined || ws.data === null) ws.data = session(EVERYTHING);
      // A token's rights end at its `exp`, on a live connection too: closed then (an upload resumes with a new token).
      const expSec = ws.data.grant.expSec;
      if (expSec > 0) {
        ws.data.expiry = setTimeout(expireConnection, Math.max(0, expSec * 1000 - Date.now()), ws);
        ws.data.expiry.unref();
      }
    },
    // Data chunks are written to the stream's file as they arrive, never assembled: a chunk of any
    // size up to --max-stream-bytes, stored whole (at its last byte) or not at all. Past
    // the stream's limit the sink answers ERROR and the rest of the chunk is read and dropped (no
    // memory is held for it), so the connection stays usable: no WebSocket size limit applies here.
    maxMessageBytes: Number.MAX_SAFE_INTEGER,
    binarySink: {
      reserve(ws, bytes, first) {
        const s = ws.data;
        if (first) {
          s.pending = 0;
          s.written = 0;
          // Nothing that arrives at or after the token's `exp` is acted on (the timer may not have fired yet).
          if (s.grant.expSec > 0 && Date.now() >= s.grant.expSec * 1000) {
            expireConnection(ws);
            return false;
          }
          const refused = denied(s.grant, true, `${bytes}-byte data frame`, null);
          if (refused !== null) {
            fail(ws, refused);
            return false;
          }
        }
        if (s.upload === null && store.readOnly) {
          fail(ws, store.refuseReadOnly(`${bytes}-byte data frame refused`));
          return false;
        }
        if (s.upload === null) {
          fail(ws, store.refuse(AudioErrorCode.NotUploading, `${bytes}-byte data frame refused: no upload is open on this connection (send START:{streamId} first)`));
          return false;
        }
        const refused = store.reserveChunk(s.upload, s.pending, bytes);
        if (refused !== null) {
          fail(ws, refused);
          return false;
        }
        s.pending += bytes;
        return true;
      },
      write(ws, piece) {
        const s = ws.data;
        if (s.upload === null) return false;
        const failed = store.writeChunk(s.upload, s.written, piece);
        if (failed !== null) {
          fail(ws, failed);
          return false;
        }
        s.written += piece.length;
        return true;
      },
      commit(ws) {
        const s = ws.data;
        if (s.upload !== null) store.commitChunk(s.upload, s.written);
        s.pending = 0;
        s.written = 0;
      },
      abort(ws) {
        ws.data.pending = 0;
        ws.data.written = 0;
      },
    },
    onMessage(ws, data, isBinary) {
      const s = ws.data;
      if (isBinary) return; // binary messages go to binarySink
      // The timer may not have fired yet: nothing that arrives at or after `exp` is acted on.
      if (s.grant.expSec > 0 && Date.now() >= s.grant.expSec * 1000) return expireConnection(ws);
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
      if (s.expiry !== null) clearTimeout(s.expiry);
      s.expiry = null;
      followers.unfollow(ws);
      if (s.upload !== null) store.abandon(s.upload);
      s.upload = null;
    },
  };
}

function session(grant: AudioGrant): Session {
  return { upload: null, follow: null, pending: 0, written: 0, grant, expiry: null };
}

/** The connection's token expired: close 4001 (its upload, if any, is checkpointed and can be resumed). */
function expireConnection(ws: WebSocket<Session>): void {
  if (ws.isOpen) ws.close(TOKEN_EXPIRED_CLOSE_CODE, 'token expired');
}

function accepted(verdict: AudioGrant | AudioRefusal): UpgradeVerdict<Session> {
  if (!verdict.ok) return { accept: false, status: verdict.status, code: verdict.code, message: verdict.message };
  return { accept: true, data: session(verdict) };
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
