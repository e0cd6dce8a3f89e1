/**
 * One WebSocket to the audio endpoint with an in-order reply reader: replies carry no request id
 * and come in the order of the commands (docs/audio-cache.md), so a channel serves one operation at
 * a time and each reads the replies it caused.
 */
import { AudioClientError, AudioClientErrorCode, serverError } from './audio-errors.js';
import { bytesOf, type CloseEventLike, type MessageEventLike, ReadyState, type WebSocketConstructor, type WebSocketLike } from './socket.js';

/** A reply: a text frame or a binary frame. */
export type Reply = string | Uint8Array;

/** Pause sending while the socket buffers more than this (bytes). */
export const HIGH_WATER_BYTES = 1024 * 1024;

/** An open audio connection. */
export class AudioChannel {
  private readonly inbox: Reply[] = [];
  private head = 0;
  private waiter: { resolve(r: Reply): void; reject(e: Error): void } | null = null;
  private closedError: AudioClientError | null = null;
  private drainWaiters: (() => void)[] = [];

  private constructor(
    readonly url: string,
    private readonly ws: WebSocketLike,
  ) {}

  /** Opens a connection to `url`; rejects with a `Connection` error when it cannot. */
  static open(Ctor: WebSocketConstructor, url: string): Promise<AudioChannel> {
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new Ctor(url);
      } catch (err) {
        reject(new AudioClientError(AudioClientErrorCode.Connection, `cannot open ${url}: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
      ws.binaryType = 'arraybuffer';
      const ch = new AudioChannel(url, ws);
      let opened = false;
      ws.onopen = () => {
        opened = true;
        resolve(ch);
      };
      ws.onmessage = (e: MessageEventLike) => ch.onMessage(e.data);
      ws.onerror = () => undefined; // a close follows
      ws.onclose = (e: CloseEventLike) => {
        ch.onClose(e.code, e.reason);
        if (!opened) reject(ch.closedError!);
      };
    });
  }

  /** Whether the connection is still open. */
  get open(): boolean {
    return this.closedError === null && this.ws.readyState === ReadyState.Open;
  }

  /** Sends a command or a chunk; throws a `Connection` error once closed. */
  send(data: string | Uint8Array): void {
    if (this.closedError !== null) throw this.closedError;
    this.ws.send(data);
  }

  /** Resolves when the socket buffers at most {@link HIGH_WATER_BYTES} (or rejects once closed). */
  async drained(): Promise<void> {
    while (this.ws.bufferedAmount > HIGH_WATER_BYTES) {
      if (this.closedError !== null) throw this.closedError;
      // WebSocket has no drain event: poll the buffered amount at a short interval while over the mark.
      await new Promise<void>((r) => {
        this.drainWaiters.push(r);
        setTimeout(r, 5);
      });
    }
    if (this.closedError !== null) throw this.closedError;
  }

  /** The next reply (in order); rejects with a `Connection` error once the connection closed. */
  next(): Promise<Reply> {
    if (this.head < this.inbox.length) {
      const r = this.inbox[this.head++];
      if (this.head === this.inbox.length) this.inbox.length = this.head = 0;
      return Promise.resolve(r);
    }
    if (this.closedError !== null) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** The next reply, which must be text; `ERROR:{CODE}:…` becomes an error with the server's code. */
  async nextText(): Promise<string> {
    const r = await this.next();
    if (typeof r !== 'string') throw new AudioClientError(AudioClientErrorCode.Protocol, `expected a text reply, got ${r.byteLength} bytes`);
    if (r.startsWith('ERROR:')) throw serverError(r);
    return r;
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.closedError === null) this.onClose(1000, 'client closed');
    this.ws.close(1000);
  }

  private onMessage(data: unknown): void {
    const reply: Reply | null = typeof data === 'string' ? data : bytesOf(data);
    if (reply === null) return;
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w.resolve(reply);
    } else this.inbox.push(reply);
  }

  private onClose(code: number, reason: string): void {
    if (this.closedError !== null) return;
    this.closedError = new AudioClientError(AudioClientErrorCode.Connection, `audio connection to ${this.url} closed (${code}${reason === '' ? '' : ` ${reason}`})`);
    const w = this.waiter;
    this.waiter = null;
    w?.reject(this.closedError);
    for (const r of this.drainWaiters.splice(0)) r();
  }
}

/** The target of `ERROR:MOVED:{id}:{url}`, or null for any other reply. */
export function movedTo(reply: string, id: string): string | null {
  const prefix = `ERROR:MOVED:${id}:`;
  return reply.startsWith(prefix) ? reply.slice(prefix.length) : null;
}
