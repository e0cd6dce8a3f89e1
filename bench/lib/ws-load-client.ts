/**
 * The lean WebSocket load client (runs inside bench/lib/ws-load-child.ts). The `ws` package
 * saturates its own core near 110k msgs/s on the bench machine, so the client is kept to the
 * bare minimum a measurement needs:
 * - raw `net` sockets and a hand-written upgrade request (RFC 6455 §4.1) with a fixed key;
 * - client frames masked once with a fixed key (§5.3) and written again as the same Buffer;
 * - every socket reads into one shared buffer (`onread`: no per-read allocation), and server
 *   frames are parsed minimally: header and length only, payload bytes counted, not copied,
 *   except the first few bytes a scenario asks for (the fan-out timestamp) and control payloads;
 * - on request, an offer of permessage-deflate (RFC 7692) in the upgrade: RSV1 is then accepted on
 *   the first frame of a message and reported (`messageCompressed`); inflating is the runner's
 *   business (bench/lib/deflated-deliveries.ts), the connection only captures the bytes.
 */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { LatencyHistogram } from './latency-histogram.js';

/** RFC 6455 §5.2 opcodes the client sends or must react to. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** A fixed Sec-WebSocket-Key (§4.1 asks for a random nonce; a bench can reuse one). */
const WS_KEY = 'c2xhYmNhc3QtYmVuY2gtaw=='; // base64('slabcast-bench-k'): 16 bytes (§4.1)
/** §4.2.2: base64(SHA-1(key + GUID)); computed once for the fixed key. */
const WS_ACCEPT = createHash('sha1').update(`${WS_KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
/** The mask key of every client frame (§5.3: must be present; unpredictability does not matter here). */
export const MASK_KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** An upgrade response longer than this is refused (a real one is ~130 B). */
const MAX_HANDSHAKE_BYTES = 8192;
/** Control frame payloads are at most 125 bytes (§5.5). */
const MAX_CONTROL_PAYLOAD = 125;
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
/**
 * The permessage-deflate offer (RFC 7692 §7.1), as a browser sends it: no parameter but
 * `client_max_window_bits` (§7.1.2.2: the client can take any window the server picks).
 */
export const DEFLATE_OFFER = 'permessage-deflate; client_max_window_bits';
/** RSV1 in the first header byte: a compressed message (RFC 7692 §6). */
const RSV1 = 0x40;

/**
 * One read buffer shared by every socket of the process: `onread` callbacks run one at a time
 * and the parser never keeps a reference to it past the call.
 */
const SHARED_READ_BUFFER = Buffer.alloc(64 * 1024);

/**
 * The GET that opens a WebSocket on `path` (RFC 6455 §4.1), built once per target; with
 * `offerDeflate`, it offers permessage-deflate ({@link DEFLATE_OFFER}).
 */
export function upgradeRequest(host: string, port: number, path: string, offerDeflate = false): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n` +
      (offerDeflate ? `Sec-WebSocket-Extensions: ${DEFLATE_OFFER}\r\n` : '') +
      '\r\n',
    'latin1',
  );
}

/** Header bytes of a client frame carrying `length` payload bytes (with the 4-byte mask key). */
export function clientHeaderLength(length: number): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + 4;
}

/** A complete masked client frame (FIN set), built once and written as many times as needed. */
export function clientFrame(opcode: number, payload: Uint8Array): Buffer {
  const length = payload.length;
  const header = clientHeaderLength(length);
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) frame[1] = 0x80 | length;
  else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  MASK_KEY.copy(frame, header - 4);
  for (let i = 0; i < length; i++) frame[header + i] = payload[i] ^ MASK_KEY[i & 3];
  return frame;
}

/** What a {@link LeanConnection} reports to whoever drives it (connect phase, then a runner). */
export interface ConnectionOwner {
  /** The 101 arrived and checked out; the socket is a WebSocket now. */
  onOpen(conn: LeanConnection): void;
  /**
   * A complete data message (FIN frame) arrived: `opcode` of its first frame and its payload
   * length. The first `prefixBytes` payload bytes are in `conn.prefix` (fewer if shorter).
   */
  onMessage(conn: LeanConnection, opcode: number, length: number): void;
  /** The connection failed or was closed by the server; called at most once, never after our own close(). */
  onFail(conn: LeanConnection, reason: string): void;
}

/** Parser states of a {@link LeanConnection}, named for what they wait for. */
const READ_HANDSHAKE = 0;
const READ_HEADER = 1;
const READ_PAYLOAD = 2;
const CLOSED = 3;

/**
 * One client WebSocket over a raw socket. Sends pre-built frames; parses server frames by
 * header and length (§5.2), answers pings (§5.5.2) and fails on a server Close or a masked
 * server frame (§5.1). Fragmented messages are summed until FIN.
 */
export class LeanConnection {
  readonly socket: Socket;
  /** performance.now() of the last send (the echo runner's round-trip start). */
  sentAt = 0;
  /** First payload bytes of the current data message, up to `prefixBytes`. */
  readonly prefix: Buffer;
  /**
   * The server's `Sec-WebSocket-Extensions` answer (header lines joined with ', '), or null when it
   * sent none. Set before `onOpen`. A connection that did not negotiate permessage-deflate fails
   * on an RSV1 frame.
   */
  extensions: string | null = null;
  /**
   * The server negotiated permessage-deflate with `server_no_context_takeover` (RFC 7692 §7.1.1.1):
   * it compresses every message on its own, so a room's members get the same bytes for one message.
   */
  serverNoContextTakeover = false;
  /** Whether the current (last completed) data message had RSV1 set on its first frame. */
  messageCompressed = false;
  /** Bytes the current data message took on the wire: every frame's header and payload. */
  messageWireBytes = 0;
  /**
   * Called for every compressed data message, before `owner.onMessage` and whoever the owner is
   * (connect phase, a runner, between windows): a peer with context takeover needs every message
   * of the stream inflated in order.
   */
  onCompressed: ((conn: LeanConnection, length: number) => void) | null = null;
  private state = READ_HANDSHAKE;
  private handshake: Buffer | null = null;
  private readonly head = Buffer.alloc(14);
  private headHave = 0;
  private headNeed = 2;
  private payloadLeft = 0;
  private frameOpcode = 0;
  private frameFin = false;
  private frameLength = 0;
  private messageOpcode = 0;
  private messageLength = 0;
  private frameRsv1 = false;
  private frameWireBytes = 0;
  private deflate = false;
  /** Where the current frame's captured bytes go (prefix or control), and how many are wanted. */
  private capture: Buffer | null = null;
  private captureWant = 0;
  private captureHave = 0;
  private control: Buffer | null = null;

  constructor(
    host: string,
    port: number,
    request: Buffer,
    public owner: ConnectionOwner,
    private readonly prefixBytes: number,
  ) {
    this.prefix = Buffer.alloc(prefixBytes);
    this.socket = connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: SHARED_READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.onRead(buf as Buffer, n) },
    });
    this.socket.on('connect', () => this.socket.write(request));
    this.socket.on('error', (error: Error) => this.fail(`socket error: ${error.message}`));
    this.socket.on('close', () => this.fail('connection closed by the server'));
  }

  /** Whether the upgrade completed and the connection has not failed or been closed. */
  get isOpen(): boolean {
    return this.state === READ_HEADER || this.state === READ_PAYLOAD;
  }

  /** Writes a pre-built frame (the same Buffer may be passed again and again). */
  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  /** Drops the connection without a closing handshake; no onFail follows. */
  close(): void {
    this.state = CLOSED;
    this.socket.destroy();
  }

  /** Drops the connection and reports `reason` to the owner (once). */
  fail(reason: string): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.socket.destroy();
    this.owner.onFail(this, reason);
  }

  private onRead(buf: Buffer, n: number): boolean {
    if (this.state === READ_HANDSHAKE) this.readHandshake(buf, n);
    else if (this.state !== CLOSED) this.parse(buf, 0, n);
    return true;
  }

  /** Collects the 101 response (§4.2.2), checks status and Sec-WebSocket-Accept, then parses the rest as frames. */
  private readHandshake(buf: Buffer, n: number): void {
    // The shared read buffer is reused by the next read: keep a copy while incomplete (rare).
    const all = this.handshake === null ? buf.subarray(0, n) : Buffer.concat([this.handshake, buf.subarray(0, n)]);
    const end = all.indexOf(HEADER_END);
    if (end < 0) {
      if (all.length > MAX_HANDSHAKE_BYTES) this.fail(`upgrade response over ${MAX_HANDSHAKE_BYTES} B`);
      else this.handshake = Buffer.from(all);
      return;
    }
    this.handshake = null;
    const head = all.toString('latin1', 0, end);
    const statusLine = head.slice(0, head.indexOf('\r\n') >>> 0);
    if (!statusLine.startsWith('HTTP/1.1 101')) {
      this.fail(`upgrade refused: ${statusLine}`);
      return;
    }
    const accept = /\r\nsec-websocket-accept:[ \t]*([^\r\n]*?)[ \t]*(?:\r\n|$)/i.exec(head);
    if (accept?.[1] !== WS_ACCEPT) {
      this.fail(`bad Sec-WebSocket-Accept: ${accept?.[1] ?? 'missing'}`);
      return;
    }
    const extensions = [...head.matchAll(/\r\nsec-websocket-extensions:[ \t]*([^\r\n]*?)[ \t]*(?=\r\n|$)/gi)].map((m) => m[1]);
    if (extensions.length > 0) {
      this.extensions = extensions.join(', ');
      this.deflate = /^\s*permessage-deflate\b/i.test(this.extensions);
      this.serverNoContextTakeover = this.deflate && /;\s*server_no_context_takeover\s*(?:;|,|$)/i.test(this.extensions);
    }
    this.state = READ_HEADER;
    this.owner.onOpen(this);
    if (this.state !== CLOSED && end + 4 < all.length) this.parse(all, end + 4, all.length);
  }

  /** Walks frames in buf[pos, end): header bytes are gathered across reads, payload bytes only counted. */
  private parse(buf: Buffer, pos: number, end: number): void {
    while (pos < end && this.state !== CLOSED) {
      if (this.state === READ_HEADER) {
        while (pos < end && this.headHave < this.headNeed) {
          this.head[this.headHave++] = buf[pos++];
          if (this.headHave === 2) {
            const len7 = this.head[1] & 0x7f;
            // §5.2: 126 → 16-bit length, 127 → 64-bit length; a mask key would follow (§5.1: never from a server).
            this.headNeed = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (this.head[1] & 0x80 ? 4 : 0);
          }
        }
        if (this.headHave < this.headNeed) return;
        if (!this.startFrame()) return;
      } else {
        const take = Math.min(this.payloadLeft, end - pos);
        if (this.captureHave < this.captureWant) {
          const n = Math.min(take, this.captureWant - this.captureHave);
          buf.copy(this.capture as Buffer, this.captureHave, pos, pos + n);
          this.captureHave += n;
        }
        pos += take;
        this.payloadLeft -= take;
        if (this.payloadLeft === 0) this.endFrame();
      }
    }
  }

  /** A complete frame header is in `head`: decode it; false when the connection failed. */
  private startFrame(): boolean {
    const b0 = this.head[0];
    const b1 = this.head[1];
    if (b1 & 0x80) {
      this.fail('masked frame from the server (RFC 6455 §5.1)');
      return false;
    }
    const len7 = b1 & 0x7f;
    let length = len7;
    if (len7 === 126) length = this.head.readUInt16BE(2);
    else if (len7 === 127) length = this.head.readUInt32BE(2) * 2 ** 32 + this.head.readUInt32BE(6);
    this.frameOpcode = b0 & 0x0f;
    this.frameFin = (b0 & 0x80) !== 0;
    this.frameRsv1 = (b0 & RSV1) !== 0;
    // RFC 7692 §6.1: RSV1 only with the extension, and only on the first frame of a data message.
    if (this.frameRsv1 && (!this.deflate || this.frameOpcode === Opcode.Continuation || this.frameOpcode >= Opcode.Close)) {
      this.fail('RSV1 set without permessage-deflate or not on the first frame of a data message (RFC 7692 §6.1)');
      return false;
    }
    this.frameLength = length;
    this.frameWireBytes = this.headNeed + length;
    this.payloadLeft = length;
    this.headHave = 0;
    this.headNeed = 2;
    this.captureHave = 0;
    if (this.frameOpcode >= Opcode.Close) {
      this.capture = this.control ??= Buffer.alloc(MAX_CONTROL_PAYLOAD);
      this.captureWant = Math.min(length, MAX_CONTROL_PAYLOAD);
    } else {
      this.capture = this.prefix;
      // Only the first frame of a message carries the prefix a runner reads.
      this.captureWant = this.frameOpcode === Opcode.Continuation ? 0 : Math.min(length, this.prefixBytes);
    }
    this.state = READ_PAYLOAD;
    if (length === 0) this.endFrame();
    return true;
  }

  private endFrame(): void {
    this.state = READ_HEADER;
    const opcode = this.frameOpcode;
    if (opcode >= Opcode.Close) {
      this.onControl(opcode);
      return;
    }
    if (opcode !== Opcode.Continuation) {
      this.messageOpcode = opcode;
      this.messageLength = 0;
      this.messageCompressed = this.frameRsv1;
      this.messageWireBytes = 0;
    }
    this.messageLength += this.frameLength;
    this.messageWireBytes += this.frameWireBytes;
    if (!this.frameFin) return;
    if (this.messageCompressed) this.onCompressed?.(this, this.messageLength);
    this.owner.onMessage(this, this.messageOpcode, this.messageLength);
  }

  private onControl(opcode: number): void {
    const payload = (this.control as Buffer).subarray(0, this.captureHave);
    if (opcode === Opcode.Ping) {
      // §5.5.2: a Pong with the Ping's payload; rare (idle sockets), so built on the spot.
      this.socket.write(clientFrame(Opcode.Pong, payload));
    } else if (opcode === Opcode.Close) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.fail(`server sent Close ${code} ${payload.toString('utf8', 2)}`.trimEnd());
    }
    // §5.5.3: an unsolicited Pong needs no answer.
  }
}

/** What {@link connectAll} needs. */
export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly count: number;
  /** Upgrades in flight at once, well under the servers' listen backlog (511). */
  readonly concurrency: number;
  readonly prefixBytes: number;
  /** Offer permessage-deflate in the upgrade ({@link DEFLATE_OFFER}). */
  readonly offerDeflate?: boolean;
  /** Set as every connection's {@link LeanConnection.onCompressed}. */
  readonly onCompressed?: (conn: LeanConnection, length: number) => void;
  /** A connection not upgraded by then counts as failed. */
  readonly timeoutMs: number;
  /** Called every `progressEvery` opened connections. */
  readonly onProgress?: (opened: number) => void;
  readonly progressEvery?: number;
}

/** The outcome of {@link connectAll}. */
export interface ConnectResult {
  /** Open connections, in the order their upgrade was sent. */
  readonly connections: LeanConnection[];
  readonly failed: number;
  readonly firstFailure: string | null;
  /** Connect + upgrade time per connection. */
  readonly handshake: LatencyHistogram;
  readonly elapsedSec: number;
}

/**
 * Opens `count` WebSockets with at most `concurrency` upgrades in flight (a sliding window,
 * so a burst never overflows the server's accept backlog). Every connection ends opened or
 * failed within `timeoutMs`, so this always resolves. Opened connections are handed over with
 * `owner` still pointing at the connect phase: the caller sets `conn.owner` to its runner.
 */
export function connectAll(options: ConnectOptions): Promise<ConnectResult> {
  const request = upgradeRequest(options.host, options.port, options.path, options.offerDeflate === true);
  const handshake = new LatencyHistogram();
  const all: LeanConnection[] = [];
  const pending = new Map<LeanConnection, NodeJS.Timeout>();
  const started = performance.now();
  const every = options.progressEvery ?? 0;
  let opened = 0;
  let firstFailure: string | null = null;
  return new Promise((resolve) => {
    const finish = (): void => {
      const connections = all.filter((c) => c.isOpen);
      const failed = options.count - connections.length;
      resolve({ connections, failed, firstFailure, handshake, elapsedSec: (performance.now() - started) / 1000 });
    };
    /** `conn` left the pending set (opened or failed): start the next one, or finish. */
    const settle = (conn: LeanConnection): void => {
      clearTimeout(pending.get(conn));
      pending.delete(conn);
      if (all.length < options.count) startNext();
      else if (pending.size === 0) finish();
    };
    const setup: ConnectionOwner = {
      onOpen(conn) {
        opened++;
        handshake.record((performance.now() - conn.sentAt) * 1000);
        if (every > 0 && opened % every === 0) options.onProgress?.(opened);
        settle(conn);
      },
      onMessage() {
        // No data is expected before the runner takes over: nothing was sent yet.
      },
      onFail(conn, reason) {
        firstFailure ??= reason;
        // A connection that fails after its upgrade (while others still connect) is simply not open at the end.
        if (pending.has(conn)) settle(conn);
      },
    };
    const startNext = (): void => {
      const sentAt = performance.now();
      const conn = new LeanConnection(options.host, options.port, request, setup, options.prefixBytes);
      conn.onCompressed = options.onCompressed ?? null;
      conn.sentAt = sentAt;
      all.push(conn);
      pending.set(conn, setTimeout(() => conn.fail(`no upgrade within ${options.timeoutMs} ms`), options.timeoutMs));
    };
    if (options.count === 0) finish();
    for (let i = 0; i < Math.min(options.concurrency, options.count); i++) startNext();
  });
}
