/**
 * A raw WebSocket client for big messages: sends frames it builds itself (whole, fragmented, or
 * written in TCP chops of any size) and reads the server's frames incrementally, hashing payloads as
 * they arrive instead of keeping them, so a test can push gigabytes through without holding them.
 * Independent of src/ (its own framing and masking), like ws-raw.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { expectedAccept, randomKey } from './ws-raw.js';

/** One frame received from the server: payload hashed (SHA-256 hex), small payloads kept. */
export interface ReceivedMessage {
  opcode: number;
  length: number;
  sha256: string;
  /** The payload itself when it is at most 4 KiB (close frames, small echoes). */
  small: Buffer | null;
}

/** SHA-256 hex of `data`. */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A masked client frame header for `length` payload bytes (§5.2), with `mask`. */
export function clientFrameHeader(opcode: number, fin: boolean, length: number, mask: Uint8Array): Buffer {
  const form = length <= 125 ? 0 : length <= 0xffff ? 2 : 8;
  const h = Buffer.alloc(2 + form + 4);
  h[0] = (fin ? 0x80 : 0) | opcode;
  if (form === 0) h[1] = 0x80 | length;
  else if (form === 2) {
    h[1] = 0x80 | 126;
    h.writeUInt16BE(length, 2);
  } else {
    h[1] = 0x80 | 127;
    h.writeBigUInt64BE(BigInt(length), 2);
  }
  h.set(mask, 2 + form);
  return h;
}

/** `payload` masked with `mask` from payload offset 0 (a new buffer). */
export function masked(payload: Uint8Array, mask: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  const n = payload.length;
  let i = 0;
  // 32 bits at a time over whole words; the key is in wire order.
  const word = mask[0] | (mask[1] << 8) | (mask[2] << 16) | (mask[3] << 24);
  for (; i + 4 <= n; i += 4) out.writeInt32LE((payload[i] | (payload[i + 1] << 8) | (payload[i + 2] << 16) | (payload[i + 3] << 24)) ^ word, i);
  for (; i < n; i++) out[i] = payload[i] ^ mask[i & 3];
  return out;
}

/** The frames of one message of `payload`, cut in fragments of `fragmentBytes` (0 = one frame). */
export function messageFrames(opcode: number, payload: Uint8Array, fragmentBytes = 0): Buffer[] {
  const out: Buffer[] = [];
  const size = fragmentBytes > 0 ? fragmentBytes : Math.max(payload.length, 1);
  let at = 0;
  do {
    const end = Math.min(payload.length, at + size);
    const mask = randomBytes(4);
    out.push(clientFrameHeader(at === 0 ? opcode : 0, end === payload.length, end - at, mask), masked(payload.subarray(at, end), mask));
    at = end;
  } while (at < payload.length);
  return out;
}

export class WsStreamClient {
  private readonly socket: Socket;
  private chunks: Buffer[] = [];
  private have = 0;
  private readonly inbox: ReceivedMessage[] = [];
  private wake: (() => void) | null = null;
  private ended = false;
  /** The frame being received: its header, and its payload hashed so far. */
  private current: { opcode: number; length: number; got: number; hash: ReturnType<typeof createHash>; small: Buffer[] } | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.have += chunk.length;
      this.parse();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => {});
  }

  /** Connects and completes the opening handshake on `path`. */
  static async open(port: number, path = '/echo'): Promise<WsStreamClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    const key = randomKey();
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    let head = Buffer.alloc(0);
    const rest = await new Promise<Buffer>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const text = head.subarray(0, end).toString('latin1');
        if (!text.startsWith('HTTP/1.1 101') || !text.includes(expectedAccept(key))) reject(new Error(`handshake refused: ${text}`));
        else resolve(head.subarray(end + 4));
      };
      socket.on('data', onData);
      socket.once('close', () => reject(new Error('closed during the handshake')));
    });
    const client = new WsStreamClient(socket);
    if (rest.length > 0) socket.emit('data', rest);
    return client;
  }

  /** Writes `buffers` in order, cut into writes of `chop` bytes (0 = as they are), honouring backpressure. */
  async write(buffers: Buffer[], chop = 0): Promise<void> {
    for (const b of buffers) {
      if (chop === 0) {
        if (!this.socket.write(b)) await this.drained();
        continue;
      }
      for (let at = 0; at < b.length; at += chop) {
        if (!this.socket.write(b.subarray(at, Math.min(b.length, at + chop)))) await this.drained();
      }
    }
  }

  /** Sends one message (text when `opcode` is 1), fragmented and chopped as asked. */
  send(opcode: number, payload: Uint8Array, options: { fragment?: number; chop?: number } = {}): Promise<void> {
    return this.write(messageFrames(opcode, payload, options.fragment ?? 0), options.chop ?? 0);
  }

  /** The next frame from the server; rejects when the connection ends first or after `timeoutMs`. */
  async next(timeoutMs = 60_000): Promise<ReceivedMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.inbox.shift();
      if (m !== undefined) return m;
      if (this.ended) throw new Error('connection closed before the next frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no frame within the timeout');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          resolve();
        };
      });
    }
  }

  /** The next frame must be a Close: its status code. */
  async closeCode(): Promise<number> {
    const m = await this.next();
    if (m.opcode !== 8 || m.small === null) throw new Error(`expected a Close frame, got opcode ${m.opcode}`);
    return m.small.length >= 2 ? m.small.readUInt16BE(0) : 1005;
  }

  /** Resolves once the server closed the TCP connection. */
  closed(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Takes `n` bytes off the front of the received chunks. */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.have -= n;
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    const b = Buffer.concat(this.chunks);
    this.chunks = [b];
    return b.subarray(0, n);
  }

  private parse(): void {
    for (;;) {
      if (this.current === null) {
        if (this.have < 2) return;
        const h2 = this.peek(2);
        const form = h2[1] & 0x7f;
        const headerLength = form === 126 ? 4 : form === 127 ? 10 : 2;
        if (this.have < headerLength) return;
        const h = this.take(headerLength);
        const length = form === 126 ? h.readUInt16BE(2) : form === 127 ? Number(h.readBigUInt64BE(2)) : form;
        this.current = { opcode: h[0] & 0x0f, length, got: 0, hash: createHash('sha256'), small: [] };
      }
      const cur = this.current;
      while (cur.got < cur.length && this.have > 0) {
        const c = this.chunks[0];
        const k = Math.min(c.length, cur.length - cur.got);
        const piece = c.subarray(0, k);
        cur.hash.update(piece);
        if (cur.length <= 4096) cur.small.push(Buffer.from(piece));
        cur.got += k;
        this.have -= k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
      if (cur.got < cur.length) return;
      this.current = null;
      // Server pings and pongs are not messages. Pings are not answered: a pong written now could
      // land inside a data frame a test is writing in pieces; a test that idles past two ping
      // intervals sets a longer --ws-ping-interval-ms.
      if (cur.opcode === 9 || cur.opcode === 10) continue;
      this.inbox.push({ opcode: cur.opcode, length: cur.length, sha256: cur.hash.digest('hex'), small: cur.length <= 4096 ? Buffer.concat(cur.small) : null });
      this.wake?.();
    }
  }
}
