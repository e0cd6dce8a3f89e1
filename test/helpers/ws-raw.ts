/**
 * Raw WebSocket client for integration tests: a {@link RawClient} upgraded with a hand-written
 * handshake, sending masked frames built by ws-client-frames.ts, and reading the server's frames
 * with its own parser (independent of src/, so the server's encoder is cross-checked).
 */

import { createHash, randomBytes } from 'node:crypto';
import { buildClientFrame, type ClientFrameOptions } from './ws-client-frames.js';
import { RawClient } from './raw-client.js';

/** The RFC 6455 §1.3 sample key; its accept value is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`. */
export const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** Sec-WebSocket-Accept computed here, independently of src/ (RFC 6455 §4.2.2 step 5.4). */
export function expectedAccept(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`, 'latin1').digest('base64');
}

/** A fresh random Sec-WebSocket-Key: base64 of 16 random bytes (§4.1 step 7). */
export function randomKey(): string {
  return randomBytes(16).toString('base64');
}

/** Options of {@link handshakeRequest}; `null` leaves a header out. */
export interface HandshakeOptions {
  method?: string;
  key?: string | null;
  version?: string | null;
  /** Extra header lines, without CRLF. */
  headers?: readonly string[];
}

/** A client opening handshake (§4.1) as text. */
export function handshakeRequest(path = '/echo', options: HandshakeOptions = {}): string {
  const { method = 'GET', key = SAMPLE_KEY, version = '13', headers = [] } = options;
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade'];
  if (key !== null) lines.push(`Sec-WebSocket-Key: ${key}`);
  if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
  lines.push(...headers);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** One server-to-client frame as seen on the wire. */
export interface ServerFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** Length form the server chose: 7, 16 or 64 bits (§5.2). */
  lengthForm: 7 | 16 | 64;
  payload: Buffer;
  /** Offset of the frame's first byte in the parsed buffer. */
  offset: number;
}

/**
 * Every complete frame in data[start, end). Stops at an incomplete frame; `end` is where the next
 * frame would start. Server frames must be unmasked (§5.1), so a masked one is returned as such
 * for the test to reject.
 */
export function parseServerFrames(data: Buffer, start = 0): { frames: ServerFrame[]; end: number } {
  const frames: ServerFrame[] = [];
  let pos = start;
  for (;;) {
    if (data.length - pos < 2) break;
    const b0 = data[pos];
    const b1 = data[pos + 1];
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let at = pos + 2;
    let lengthForm: 7 | 16 | 64 = 7;
    if (length === 126) {
      if (data.length < at + 2) break;
      length = data.readUInt16BE(at);
      at += 2;
      lengthForm = 16;
    } else if (length === 127) {
      if (data.length < at + 8) break;
      length = Number(data.readBigUInt64BE(at));
      at += 8;
      lengthForm = 64;
    }
    const mask = masked ? data.subarray(at, at + 4) : null;
    if (masked) at += 4;
    if (data.length < at + length) break;
    // A view (received bytes are never modified); copied only to unmask a (non-conforming) masked frame.
    const payload = mask === null ? data.subarray(at, at + length) : Buffer.from(data.subarray(at, at + length));
    if (mask !== null) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, lengthForm, payload, offset: pos });
    pos = at + length;
  }
  return { frames, end: pos };
}

/** A Close frame's body: the status code (null when empty) and the reason (§5.5.1). */
export function closeBody(frame: ServerFrame): { code: number | null; reason: string } {
  if (frame.payload.length < 2) return { code: null, reason: '' };
  return { code: frame.payload.readUInt16BE(0), reason: frame.payload.toString('utf8', 2) };
}

/** Frame opcodes, spelled out here so the tests do not depend on src/ for the wire numbers. */
export const OP = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

/** A client Close frame body: 2-byte code + UTF-8 reason (or raw bytes). */
export function closePayload(code: number, reason: string | Buffer = ''): Buffer {
  const r = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason;
  const out = Buffer.alloc(2 + r.length);
  out.writeUInt16BE(code, 0);
  r.copy(out, 2);
  return out;
}

/** A RawClient past a successful handshake: sends client frames, reads server frames. */
export class WsRawClient {
  private readonly parsed: ServerFrame[] = [];
  private parsedEnd: number;

  private constructor(
    readonly raw: RawClient,
    /** Offset in `raw.received` where the server's frames begin (after the 101 head). */
    readonly framesStart: number,
    /** The 101 response head as text. */
    readonly head: string,
  ) {
    this.parsedEnd = framesStart;
  }

  /** Connects, sends the handshake (and `after`, in the same write), and waits for the 101 head. */
  static async open(port: number, path = '/echo', options: HandshakeOptions = {}, after?: Buffer): Promise<WsRawClient> {
    const raw = await RawClient.connect(port);
    const request = Buffer.from(handshakeRequest(path, options), 'latin1');
    await raw.send(after === undefined ? request : Buffer.concat([request, after]));
    await raw.until(() => raw.received.indexOf('\r\n\r\n') >= 0);
    const headEnd = raw.received.indexOf('\r\n\r\n');
    if (headEnd < 0) {
      raw.destroy();
      throw new Error('connection closed before the handshake response');
    }
    const head = raw.received.toString('latin1', 0, headEnd);
    if (!head.startsWith('HTTP/1.1 101 ')) {
      raw.destroy();
      throw new Error(`handshake refused: ${head}`);
    }
    return new WsRawClient(raw, headEnd + 4, head);
  }

  get closed(): boolean {
    return this.raw.closed;
  }

  /** Sends raw bytes. */
  send(bytes: Buffer | string): Promise<void> {
    return this.raw.send(bytes);
  }

  /** Sends one masked client frame. */
  sendFrame(opcode: number, payload: Uint8Array | string = '', options: ClientFrameOptions = {}): Promise<void> {
    return this.raw.send(buildClientFrame(opcode, payload, options));
  }

  /** Every complete server frame received so far (parsed incrementally: the prefix never changes). */
  frames(): readonly ServerFrame[] {
    const { frames, end } = parseServerFrames(this.raw.received, this.parsedEnd);
    for (const f of frames) this.parsed.push(f);
    this.parsedEnd = end;
    return this.parsed;
  }

  /** Data frames (Text/Binary/Continuation) received so far. */
  dataFrames(): ServerFrame[] {
    return this.frames().filter((f) => f.opcode < OP.Close);
  }

  /** Waits for at least `count` frames matching `filter` (all frames by default). */
  async waitFrames(count: number, filter: (f: ServerFrame) => boolean = () => true, ms = 5000): Promise<ServerFrame[]> {
    await this.raw.until(() => this.frames().filter(filter).length >= count, ms);
    const got = this.frames().filter(filter);
    if (got.length < count) throw new Error(`expected ${count} frames, got ${got.length} before the socket closed`);
    return got;
  }

  /** Waits for the server's Close frame and returns its code and reason. */
  async waitClose(ms = 5000): Promise<{ code: number | null; reason: string }> {
    const [frame] = await this.waitFrames(1, (f) => f.opcode === OP.Close, ms);
    return closeBody(frame);
  }

  /** Waits until the server closed the TCP connection. */
  waitClosed(ms = 5000): Promise<void> {
    return this.raw.waitClosed(ms);
  }

  destroy(): void {
    this.raw.destroy();
  }
}
