/**
 * The rooms client (docs/rooms.md): one WebSocket to `/ws/room/{room}` that reconnects with jittered
 * exponential backoff and resumes with `?since=` the last id it delivered. Messages with an id
 * (danmaku, whisper, system) reach the application once each, in id order: the replay before `ready`
 * is held back until `ready` says whether history still covers the hole, then an explicit `gap`
 * event (if any) comes first and every id at or below the last delivered one is dropped.
 *
 * Known limitation: ids are per server process in single-node mode. After a restart they start
 * again from 1; a `since` ahead of the room's new last id is a `gap` (the server says so), but if the
 * restarted room already got more messages than `since` before this client reconnects, the server
 * cannot tell and those early ids are skipped as duplicates. Cluster mode (shared history) keeps ids.
 */
import { type BackoffOptions, backoffDelay, bytesOf, type CloseEventLike, type MessageEventLike, resolveWebSocket, type WebSocketConstructor, type WebSocketLike } from './socket.js';

/** A danmaku (live comment) as the server sends it. */
export interface DanmakuMessage {
  type: 'danmaku';
  id: number;
  room: string;
  user: string;
  ts: number;
  text: string;
  color: string;
  mode: 'scroll' | 'top' | 'bottom';
}

/** A whisper (to this user, or this connection's own, confirmed). */
export interface WhisperMessage {
  type: 'whisper';
  id: number;
  room: string;
  from: string;
  to: string;
  ts: number;
  text: string;
}

/** An admin broadcast. */
export interface SystemMessage {
  type: 'system';
  id: number;
  room: string;
  ts: number;
  text: string;
}

/** A user's first session joined, or its last left; `count` is distinct users. */
export interface PresenceMessage {
  type: 'join' | 'leave';
  user: string;
  count: number;
}

/** The answer to {@link RoomClient.who}. */
export interface WhoMessage {
  type: 'who';
  users: string[];
  count: number;
}

/** A refused message (`BAD_JSON`, `RATE_LIMITED`, `TOKEN_*` for a refused refresh, …); the connection stays open. */
export interface RoomServerError {
  type: 'error';
  code: string;
  message: string;
}

/** History replayed (or none missing): the room is live from here. */
export interface ReadyInfo {
  /** The room's last id as the server reported it. */
  lastId: number;
  /** This `ready` follows a reconnect. */
  resumed: boolean;
}

/** Messages were missed: ids in (`since`, `until`] were not all delivered (history evicted them, or the server restarted). */
export interface GapInfo {
  /** The last id delivered before the hole (null: none yet). */
  since: number | null;
  /** The room's last id at `ready`; ids restarted when it is below `since`. */
  until: number;
}

/** The connection dropped; `retryInMs` until the next attempt. */
export interface DisconnectInfo {
  code: number;
  reason: string;
  /** What the close code means ({@link CLOSE_REASONS}). */
  meaning: string;
  retryInMs: number;
  /** Where the next attempt goes: the next of the URLs given to {@link connectRoom}. */
  nextUrl: string;
}

/** The client stopped for good: {@link RoomClient.close}, a terminal close code, or retries exhausted. */
export interface CloseInfo {
  code: number;
  reason: string;
  meaning: string;
}

/** Event name → payload. */
export interface RoomEvents {
  danmaku: DanmakuMessage;
  whisper: WhisperMessage;
  system: SystemMessage;
  join: PresenceMessage;
  leave: PresenceMessage;
  who: WhoMessage;
  ready: ReadyInfo;
  gap: GapInfo;
  error: RoomServerError;
  /** A binary frame from another member. */
  voice: Uint8Array;
  disconnect: DisconnectInfo;
  close: CloseInfo;
}

/** Close codes the rooms endpoint uses, and what they mean for the client. */
export const CLOSE_REASONS: Readonly<Record<number, string>> = {
  1000: 'closed',
  1001: 'the server is going away',
  1006: 'connection lost (or the upgrade was refused: bad token, bad room id)',
  1008: 'policy: too many refused messages',
  1013: 'too slow: could not keep up with the room',
  4000: 'the room was closed by an admin',
  4001: 'token expired',
};

/** Codes after which the client does not reconnect (1013 and 4001 reconnect: resuming is the cure). */
const TERMINAL_CODES: ReadonlySet<number> = new Set([1008, 4000]);

/** Options of {@link connectRoom}. */
export interface RoomOptions {
  /** A fixed token (`?token=`). */
  token?: string;
  /** Called before every connection attempt (so a 401 for an expired token is cured) and on the server's `refresh`. */
  getToken?: () => string | Promise<string>;
  /** Open mode only (no token secret): `?user=`. */
  user?: string;
  /** Resume after this id on the first connection too (default: all kept history). */
  since?: number;
  /** WebSocket constructor (Node 20: `ws`); default the global one. */
  WebSocket?: WebSocketConstructor;
  /** Reconnection backoff; `reconnect: false` never reconnects. */
  reconnect?: BackoffOptions | false;
}

type Listener<T> = (value: T) => void;
type IdMessage = DanmakuMessage | WhisperMessage | SystemMessage;

/** A room membership that survives dropped connections. Created by {@link connectRoom}. */
export class RoomClient {
  private readonly Ctor: WebSocketConstructor;
  private readonly listeners = new Map<keyof RoomEvents, Set<Listener<never>>>();
  private ws: WebSocketLike | null = null;
  private lastId: number | null;
  private held: IdMessage[] = [];
  private isReady = false;
  private everReady = false;
  private attempt = 0;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly urls: readonly string[];
  private urlIndex = 0;

  constructor(
    urls: string | readonly string[],
    private readonly options: RoomOptions = {},
  ) {
    this.Ctor = resolveWebSocket(options.WebSocket);
    this.urls = typeof urls === 'string' ? [urls] : [...urls];
    if (this.urls.length === 0) throw new TypeError('connectRoom: no URL');
    for (const url of this.urls) if (!/^wss?:\/\//.test(url)) throw new TypeError(`connectRoom: ${url} is not a ws:// or wss:// URL`);
    this.lastId = options.since ?? null;
    void this.open();
  }

  /** The URL of the current (or next) connection. */
  get url(): string {
    return this.urls[this.urlIndex];
  }

  /** The last id delivered (null: none yet). */
  get lastSeenId(): number | null {
    return this.lastId;
  }

  /** Whether the connection is open and past `ready`. */
  get ready(): boolean {
    return this.isReady;
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof RoomEvents>(event: K, listener: Listener<RoomEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Sends a danmaku; false when not connected (nothing is queued). */
  send(text: string, style: { color?: string; mode?: DanmakuMessage['mode'] } = {}): boolean {
    return this.sendJson({ type: 'danmaku', text, ...style });
  }

  /** Whispers to every session of `to` in the room; false when not connected. */
  whisper(to: string, text: string): boolean {
    return this.sendJson({ type: 'whisper', to, text });
  }

  /** Asks for the member list (answered by a `who` event); false when not connected. */
  who(): boolean {
    return this.sendJson({ type: 'who' });
  }

  /** Sends a voice frame to the other members; false when not connected. */
  voice(bytes: Uint8Array | ArrayBuffer): boolean {
    if (!this.isReady || this.ws === null) return false;
    this.ws.send(bytes);
    return true;
  }

  /** Leaves the room for good (no reconnect); emits `close`. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    this.isReady = false;
    ws?.close(1000, 'client closed');
    this.emit('close', { code: 1000, reason: 'client closed', meaning: CLOSE_REASONS[1000] });
  }

  private sendJson(value: object): boolean {
    if (!this.isReady || this.ws === null) return false;
    this.ws.send(JSON.stringify(value));
    return true;
  }

  private emit<K extends keyof RoomEvents>(event: K, value: RoomEvents[K]): void {
    for (const l of this.listeners.get(event) ?? []) (l as Listener<RoomEvents[K]>)(value);
  }

  private async open(): Promise<void> {
    let token = this.options.token;
    if (this.options.getToken !== undefined) {
      try {
        token = await this.options.getToken();
      } catch (err) {
        this.lost(1006, `getToken failed: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    }
    if (this.stopped) return;
    const u = new URL(this.url);
    if (token !== undefined) u.searchParams.set('token', token);
    if (this.options.user !== undefined) u.searchParams.set('user', this.options.user);
    if (this.lastId !== null) u.searchParams.set('since', String(this.lastId));
    let ws: WebSocketLike;
    try {
      ws = new this.Ctor(u.toString());
    } catch (err) {
      this.lost(1006, `cannot open a WebSocket: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.held = [];
    this.isReady = false;
    ws.onmessage = (e: MessageEventLike) => {
      if (this.ws === ws) this.onMessage(e.data);
    };
    ws.onclose = (e: CloseEventLike) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.lost(e.code, e.reason);
    };
    // An error is always followed by a close: the close decides.
    ws.onerror = () => undefined;
  }

  private onMessage(data: unknown): void {
    if (typeof data !== 'string') {
      const bytes = bytesOf(data);
      if (bytes !== null) this.emit('voice', bytes);
      return;
    }
    let msg: { type?: unknown; id?: unknown; [k: string]: unknown };
    try {
      msg = JSON.parse(data) as typeof msg;
    } catch {
      this.emit('error', { type: 'error', code: 'CLIENT_BAD_JSON', message: `the server sent a text frame that is not JSON: ${data.slice(0, 80)}` });
      return;
    }
    switch (msg.type) {
      case 'danmaku':
      case 'whisper':
      case 'system':
        if (typeof msg.id !== 'number') return;
        if (this.isReady) this.deliver(msg as unknown as IdMessage);
        else this.held.push(msg as unknown as IdMessage);
        return;
      case 'ready':
        this.onReady(Number(msg.lastId), msg.gap === true);
        return;
      case 'join':
      case 'leave':
        this.emit(msg.type, msg as unknown as PresenceMessage);
        return;
      case 'who':
        this.emit('who', msg as unknown as WhoMessage);
        return;
      case 'error':
        this.emit('error', msg as unknown as RoomServerError);
        return;
      case 'refresh':
        void this.refresh();
        return;
      default:
        return; // `refreshed` and types of later servers
    }
  }

  /** The replay is complete: the gap (if any) first, then the held messages, then `ready`. */
  private onReady(roomLastId: number, gap: boolean): void {
    if (gap) {
      this.emit('gap', { since: this.lastId, until: roomLastId });
      // Ids restarted (server restart, room deleted): what we saw no longer orders what comes.
      if (this.lastId !== null && roomLastId < this.lastId) this.lastId = null;
    }
    const held = this.held;
    this.held = [];
    for (const m of held) this.deliver(m);
    // Ids up to the room's last one are either replayed or never kept (whispers to others).
    if (this.lastId === null || roomLastId > this.lastId) this.lastId = roomLastId;
    this.isReady = true;
    this.attempt = 0;
    const resumed = this.everReady;
    this.everReady = true;
    this.emit('ready', { lastId: roomLastId, resumed });
  }

  private deliver(m: IdMessage): void {
    if (this.lastId !== null && m.id <= this.lastId) return; // a replayed message already delivered
    this.lastId = m.id;
    if (m.type === 'danmaku') this.emit('danmaku', m);
    else if (m.type === 'whisper') this.emit('whisper', m);
    else this.emit('system', m);
  }

  private async refresh(): Promise<void> {
    if (this.options.getToken === undefined) return;
    const ws = this.ws;
    try {
      const token = await this.options.getToken();
      if (this.ws === ws && ws !== null) ws.send(JSON.stringify({ type: 'refresh', token }));
    } catch (err) {
      this.emit('error', { type: 'error', code: 'CLIENT_GET_TOKEN', message: err instanceof Error ? err.message : String(err) });
    }
  }

  private lost(code: number, reason: string): void {
    this.isReady = false;
    this.held = [];
    if (this.stopped) return;
    const meaning = CLOSE_REASONS[code] ?? 'closed';
    const policy = this.options.reconnect;
    const maxRetries = policy === false ? 0 : (policy?.maxRetries ?? Infinity);
    if (TERMINAL_CODES.has(code) || this.attempt >= maxRetries) {
      this.stopped = true;
      this.emit('close', { code, reason, meaning });
      return;
    }
    const retryInMs = backoffDelay(this.attempt++, policy === false ? {} : policy);
    // Several URLs (the instances of a cluster: a room works from any of them): each attempt after
    // a drop goes to the next, so a dead instance costs one attempt.
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.emit('disconnect', { code, reason, meaning, retryInMs, nextUrl: this.url });
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.open();
    }, retryInMs);
  }
}

/**
 * Joins the room at `url` (`ws://host/ws/room/{room}`) and keeps it joined until
 * {@link RoomClient.close}. Given several URLs (the same room on each instance of a cluster), it
 * connects to the first and, after each dropped connection or failed attempt, tries the next in turn.
 */
export function connectRoom(url: string | readonly string[], options: RoomOptions = {}): RoomClient {
  return new RoomClient(url, options);
}
