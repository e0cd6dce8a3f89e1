/**
 * The audio cache client (docs/audio-cache.md): commands on a shared connection per URL, uploads
 * that resume from the server's `OK:START` offset after a dropped connection and resolve only at
 * `OK:STOP` (durable), follows that reconnect and continue from the last byte received, reads
 * over HTTP where it can (audio-http-read.ts), and `ERROR:MOVED` (cluster) followed transparently.
 */
import { AudioChannel, movedTo, type Reply } from './audio-channel.js';
import { AudioClientError, AudioClientErrorCode, AudioServerCode, serverError } from './audio-errors.js';
import { type FetchLike, globalFetch, httpBaseOf, httpRead, tokenOf } from './audio-http-read.js';
import { type BackoffOptions, backoffDelay, resolveWebSocket, type WebSocketConstructor } from './socket.js';

/** A stream's metadata (`INFO`, `LIST`). */
export interface StreamInfo {
  id: string;
  size: number;
  complete: boolean;
  /** An upload of it is open on the server now (an incomplete stream nobody uploads can be resumed). */
  uploading: boolean;
  createdAt: number;
  updatedAt: number;
  /** The media type sniffed from its first bytes, as the HTTP reads send it. */
  contentType: string;
  /** SHA-256 (hex) of a complete stream's bytes, computed by the server at STOP; null while incomplete. */
  sha256: string | null;
  /** Complete copies of it known in the cluster, the answering instance's included (1 on a single node). */
  replicas: number;
}

/** What {@link AudioClient.upload} accepts: the whole stream's bytes from offset 0. */
export type UploadSource = Uint8Array | ArrayBuffer | AsyncIterable<Uint8Array | ArrayBuffer> | Iterable<Uint8Array | ArrayBuffer>;

/** The result of an upload: the stream is durable. */
export interface UploadResult {
  size: number;
  /** Connections it took (1 when nothing dropped). */
  attempts: number;
  /** The offsets the server resumed from, one per attempt. */
  resumedAt: number[];
  /** With `verify`: the stream's SHA-256 (hex), the server's and this client's alike. */
  sha256?: string;
}

/** Options of one {@link AudioClient.upload}. */
export interface UploadOptions {
  /** Called after each chunk is handed to the socket with the stream offset sent so far (it may go back after a resume). */
  onProgress?: (sentBytes: number) => void;
  /**
   * After `OK:STOP`, ask the server for the stream's SHA-256 (`INFO`) and compare it with the digest
   * of the bytes sent (WebCrypto: Node ≥ 20, browsers in a secure context); a difference rejects
   * with `ERR_CLIENT_AUDIO_DIGEST_MISMATCH`. The digest needs the whole stream in one buffer once.
   */
  verify?: boolean;
}

/** Options of {@link AudioClient}. */
export interface AudioClientOptions {
  /** WebSocket constructor (Node 20: `ws`); default the global one. */
  WebSocket?: WebSocketConstructor;
  /** Backoff between reconnection attempts of uploads and follows (and of commands on a dropped connection). */
  reconnect?: BackoffOptions;
  /** Bytes per binary frame of an upload (default 64 KiB). */
  chunkBytes?: number;
  /** `ERROR:MOVED` in a row before giving up (default 5). */
  maxRedirects?: number;
  /**
   * Where {@link AudioClient.read} reads over HTTP: the audio path's HTTP URL (`https://host/audio`).
   * Default: derived from the WebSocket URL (`ws:`→`http:`, `wss:`→`https:`, same host and path).
   * `false`: reads use the WebSocket `GET`. Without a global `fetch` reads use the WebSocket too.
   */
  httpUrl?: string | false;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A client of one slabcast audio endpoint (`ws://host/audio`). */
export class AudioClient {
  private readonly Ctor: WebSocketConstructor;
  private readonly channels = new Map<string, Promise<AudioChannel>>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Where each stream was last found to live (learned from MOVED). */
  private readonly owners = new Map<string, string>();
  /** HTTP reads: `fetch` and the base URL, or null when reads use the WebSocket. */
  private readonly http: { fetch: FetchLike; base: string } | null;

  constructor(
    readonly url: string,
    private readonly options: AudioClientOptions = {},
  ) {
    this.Ctor = resolveWebSocket(options.WebSocket);
    const fetchFn = options.httpUrl === false ? null : globalFetch();
    const base = options.httpUrl === false ? null : (options.httpUrl?.replace(/\/+$/, '') ?? httpBaseOf(url));
    this.http = fetchFn === null || base === null ? null : { fetch: fetchFn, base };
  }

  /** Whether {@link read} goes over HTTP (else the WebSocket `GET`). */
  get readsOverHttp(): boolean {
    return this.http !== null;
  }

  /** `INFO:{id}`. */
  async info(id: string): Promise<StreamInfo> {
    const r = await this.command(id, `INFO:${id}`);
    return JSON.parse(text(r).slice(`INFO:${id}:`.length)) as StreamInfo;
  }

  /** `LIST`: every stream, least recently used first. */
  async list(): Promise<StreamInfo[]> {
    const r = text(await this.command(null, 'LIST'));
    if (!r.startsWith('LIST:')) throw protocol(r);
    return JSON.parse(r.slice(5)) as StreamInfo[];
  }

  /** `DELETE:{id}`. */
  async delete(id: string): Promise<void> {
    const r = text(await this.command(id, `DELETE:${id}`));
    if (r !== `OK:DELETE:${id}`) throw protocol(r);
  }

  /**
   * Bytes `[offset, offset + length)` of stream `id`, clamped at its end. Over HTTP (`Range`; a
   * cluster's `307` followed by `fetch`; the URL's `token` sent as `Authorization: Bearer`) unless
   * the client has no HTTP URL, else `GET:{id}:{offset}:{length}` on the WebSocket (at most
   * `--max-get-bytes` per read there). `offset` at or past the end → `BAD_RANGE`.
   */
  async read(id: string, offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`read: offset must be a non-negative integer, got ${offset}`);
    if (!Number.isSafeInteger(length) || length < 1) throw new RangeError(`read: length must be a positive integer, got ${length}`);
    if (this.http !== null) return this.readHttp(this.http, id, offset, length);
    const r = await this.command(id, `GET:${id}:${offset}:${length}`);
    if (typeof r === 'string') throw protocol(r);
    return r;
  }

  /**
   * Uploads `source` as stream `id` (resuming a stream the server holds incomplete) and resolves once
   * the server reported it durable (`OK:STOP`). A dropped connection is retried with backoff from the
   * size the server reports; an async source's bytes are kept until then so they can be sent again.
   */
  async upload(id: string, source: UploadSource, options: UploadOptions = {}): Promise<UploadResult> {
    const src = new RetainedSource(source);
    const resumedAt: number[] = [];
    let url = this.owners.get(id) ?? this.url;
    let failures = 0;
    let redirects = 0;
    for (;;) {
      let ch: AudioChannel | null = null;
      try {
        ch = await AudioChannel.open(this.Ctor, url);
        ch.send(`START:${id}`);
        const started = await ch.next();
        const target = typeof started === 'string' ? movedTo(started, id) : null;
        if (target !== null) {
          url = this.redirect(id, target, ++redirects);
          continue;
        }
        const stored = startedAt(started, id);
        resumedAt.push(stored);
        await this.sendFrom(ch, src, stored, options.onProgress);
        ch.send(`STOP:${id}`);
        const stop = await ch.nextText();
        if (!stop.startsWith(`OK:STOP:${id}:`)) throw protocol(stop);
        const result: UploadResult = { size: Number(stop.slice(stop.lastIndexOf(':') + 1)), attempts: resumedAt.length, resumedAt };
        if (options.verify === true) {
          ch.send(`INFO:${id}`);
          const info = await ch.nextText();
          if (!info.startsWith(`INFO:${id}:`)) throw protocol(info);
          const server = (JSON.parse(info.slice(`INFO:${id}:`.length)) as StreamInfo).sha256;
          const mine = await src.sha256();
          if (server !== mine) {
            throw new AudioClientError(AudioClientErrorCode.DigestMismatch, `stream ${id}: the server's SHA-256 is ${String(server)}, the bytes sent hash to ${mine}`);
          }
          result.sha256 = mine;
        }
        return result;
      } catch (err) {
        if (!(err instanceof AudioClientError) || !err.retryable) throw err;
        if (failures >= (this.options.reconnect?.maxRetries ?? Infinity)) throw err;
        await sleep(backoffDelay(failures++, this.options.reconnect));
        url = this.forgetOwner(id, url);
        redirects = 0;
      } finally {
        ch?.close();
      }
    }
  }

  /**
   * Every byte of stream `id` from `offset` on, as it is stored, until the stream is complete:
   * catch-up from the cache, then live chunks. A dropped connection is retried with backoff from
   * the last byte yielded, so each byte is yielded once. Breaking out of the loop closes the connection.
   */
  async *follow(id: string, offset = 0): AsyncGenerator<Uint8Array, void, undefined> {
    let url = this.owners.get(id) ?? this.url;
    let failures = 0;
    let redirects = 0;
    let at = offset;
    let reconnected = false;
    for (;;) {
      let ch: AudioChannel | null = null;
      try {
        ch = await AudioChannel.open(this.Ctor, url);
        ch.send(`FOLLOW:${id}:${at}`);
        const ok = await ch.next();
        const target = typeof ok === 'string' ? movedTo(ok, id) : null;
        if (target !== null) {
          url = this.redirect(id, target, ++redirects);
          continue;
        }
        if (typeof ok === 'string' && reconnected && ok.startsWith(`ERROR:${AudioServerCode.BadRange}:`)) {
          // The server restarted from its last checkpoint, behind what we already have: the upload
          // is being resumed; wait for the stream to grow past our offset again.
          throw new AudioClientError(AudioClientErrorCode.Connection, ok.slice('ERROR:'.length), serverError(ok).serverMessage);
        }
        if (text(ok).startsWith('ERROR:')) throw serverError(ok as string);
        if (ok !== `OK:FOLLOW:${id}:${at}`) throw protocol(ok as string);
        for (;;) {
          const r = await ch.next();
          if (typeof r !== 'string') {
            at += r.byteLength;
            failures = 0;
            yield r;
          } else if (r.startsWith(`END:${id}:`)) return;
          else throw r.startsWith('ERROR:') ? serverError(r) : protocol(r);
        }
      } catch (err) {
        if (!(err instanceof AudioClientError) || !err.retryable) throw err;
        if (failures >= (this.options.reconnect?.maxRetries ?? Infinity)) throw err;
        reconnected = true;
        await sleep(backoffDelay(failures++, this.options.reconnect));
        url = this.forgetOwner(id, url);
        redirects = 0;
      } finally {
        ch?.close();
      }
    }
  }

  /** Closes the command connections (uploads and follows close their own). */
  close(): void {
    for (const p of this.channels.values()) void p.then((ch) => ch.close(), () => undefined);
    this.channels.clear();
  }

  /** Runs one command (after the ones queued before it) and returns its reply, following MOVED. */
  private command(id: string | null, cmd: string): Promise<Reply> {
    const run = this.queue.then(async () => {
      let url = (id === null ? undefined : this.owners.get(id)) ?? this.url;
      let failures = 0;
      for (let redirects = 0; ; ) {
        let r: Reply;
        let owner: string | null = null;
        try {
          const ch = await this.channel(url);
          ch.send(cmd);
          r = await ch.next();
          if (id !== null && typeof r === 'string') owner = movedTo(r, id);
        } catch (err) {
          // A dropped command connection: open a new one and ask again (commands are idempotent reads or DELETE).
          if (!(err instanceof AudioClientError) || !err.retryable) throw err;
          if (failures >= (this.options.reconnect?.maxRetries ?? 3)) throw err;
          this.channels.delete(url);
          await sleep(backoffDelay(failures++, this.options.reconnect));
          continue;
        }
        if (owner !== null && id !== null) {
          url = this.redirect(id, owner, ++redirects);
          continue;
        }
        if (typeof r === 'string' && r.startsWith('ERROR:')) throw serverError(r);
        return r;
      }
    });
    this.queue = run.catch(() => undefined); // the next command runs whatever this one did
    return run;
  }

  /** An HTTP read, at the owner learned from an earlier MOVED if any; a failed request is retried like a command. */
  private async readHttp(http: { fetch: FetchLike; base: string }, id: string, offset: number, length: number): Promise<Uint8Array> {
    const owner = this.owners.get(id);
    const base = (owner === undefined ? null : httpBaseOf(owner)) ?? http.base;
    const token = tokenOf(this.url);
    for (let failures = 0; ; ) {
      try {
        return await httpRead(http.fetch, base, id, offset, length, token);
      } catch (err) {
        if (!(err instanceof AudioClientError) || err.code !== AudioClientErrorCode.Connection) throw err;
        if (failures >= (this.options.reconnect?.maxRetries ?? 3)) throw err;
        await sleep(backoffDelay(failures++, this.options.reconnect));
      }
    }
  }

  private async channel(url: string): Promise<AudioChannel> {
    let p = this.channels.get(url);
    if (p !== undefined) {
      const ch = await p.catch(() => null);
      if (ch !== null && ch.open) return ch;
    }
    p = AudioChannel.open(this.Ctor, url);
    this.channels.set(url, p);
    return p;
  }

  /**
   * After a dropped or refused connection to a learned owner: back to the client's own URL, which
   * answers MOVED to whoever owns the stream now (the owner may have died and the ring moved on).
   */
  private forgetOwner(id: string, url: string): string {
    if (url === this.url) return url;
    this.owners.delete(id);
    return this.url;
  }

  private redirect(id: string, target: string, redirects: number): string {
    if (redirects > (this.options.maxRedirects ?? 5)) {
      throw new AudioClientError(AudioClientErrorCode.Redirects, `more than ${this.options.maxRedirects ?? 5} redirects (last to ${target})`);
    }
    // The owner's URL is the server's; this client's query (its `token`) goes along.
    const owner = target.includes('?') ? target : `${target}${new URL(this.url).search}`;
    this.owners.set(id, owner);
    return owner;
  }

  /** Sends the source's bytes from `stored` on, in chunks, pausing while the socket buffers too much. */
  private async sendFrom(ch: AudioChannel, src: RetainedSource, stored: number, onProgress?: (sentBytes: number) => void): Promise<void> {
    const chunkBytes = this.options.chunkBytes ?? 64 * 1024;
    for (let at = stored; ; ) {
      const piece = await src.slice(at, chunkBytes);
      if (piece === null) return;
      await ch.drained();
      ch.send(piece);
      at += piece.byteLength;
      onProgress?.(at);
    }
  }
}

/**
 * The upload source, readable again from any offset not yet confirmed durable. A byte array is
 * its own store; an iterable's chunks are kept (as received, no copy) until the upload ends.
 */
class RetainedSource {
  private readonly chunks: Uint8Array[] = [];
  private readonly starts: number[] = [];
  private pulled = 0;
  private iterator: AsyncIterator<Uint8Array | ArrayBuffer> | Iterator<Uint8Array | ArrayBuffer> | null = null;
  private done = false;

  constructor(source: UploadSource) {
    if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
      this.push(source);
      this.done = true;
    } else if (Symbol.asyncIterator in source) this.iterator = source[Symbol.asyncIterator]();
    else this.iterator = source[Symbol.iterator]();
  }

  /** Up to `max` bytes from `offset` (a view), or null at the end of the source. */
  async slice(offset: number, max: number): Promise<Uint8Array | null> {
    while (offset >= this.pulled && !this.done) await this.pull();
    if (offset >= this.pulled) {
      if (offset > this.pulled) {
        throw new AudioClientError(AudioClientErrorCode.CannotRewind, `the server holds ${offset} bytes of this stream, more than the source's ${this.pulled}`);
      }
      return null;
    }
    let i = this.starts.length - 1;
    while (this.starts[i] > offset) i--; // few chunks are ever behind the one being sent
    const c = this.chunks[i];
    const from = offset - this.starts[i];
    return c.subarray(from, Math.min(c.byteLength, from + max));
  }

  /** SHA-256 (hex) of every byte of the source (all of it pulled by now: the upload is complete). */
  async sha256(): Promise<string> {
    const whole = new Uint8Array(this.pulled);
    for (let i = 0; i < this.chunks.length; i++) whole.set(this.chunks[i], this.starts[i]);
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', whole));
    let hex = '';
    for (const b of digest) hex += b.toString(16).padStart(2, '0');
    return hex;
  }

  private async pull(): Promise<void> {
    const r = await this.iterator!.next();
    if (r.done === true) this.done = true;
    else this.push(r.value);
  }

  private push(value: Uint8Array | ArrayBuffer): void {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : value;
    if (bytes.byteLength === 0) return;
    this.starts.push(this.pulled);
    this.chunks.push(bytes);
    this.pulled += bytes.byteLength;
  }
}

function text(r: Reply): string {
  if (typeof r !== 'string') throw new AudioClientError(AudioClientErrorCode.Protocol, `expected a text reply, got ${r.byteLength} bytes`);
  return r;
}

function protocol(r: string): AudioClientError {
  return new AudioClientError(AudioClientErrorCode.Protocol, `unexpected reply: ${r.slice(0, 120)}`);
}

/** `OK:START:{id}:{stored}` → stored; `ERROR:…` → a Server error. */
function startedAt(r: Reply, id: string): number {
  const t = text(r);
  if (t.startsWith('ERROR:')) throw serverError(t);
  const prefix = `OK:START:${id}:`;
  if (!t.startsWith(prefix)) throw protocol(t);
  return Number(t.slice(prefix.length));
}
