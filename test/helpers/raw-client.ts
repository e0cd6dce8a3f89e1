import * as net from 'node:net';

/** A parsed HTTP response as a test sees it. */
export interface ParsedResponse {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: Buffer;
  raw: string;
}

/**
 * A raw TCP client: sends hand-written bytes, collects every byte the server sends, and parses
 * complete HTTP responses out of them (Content-Length framing only, which is all slabcast sends).
 */
export class RawClient {
  readonly socket: net.Socket;
  closed = false;
  /** Bytes received so far in `[0, length)`, in a buffer that doubles as it fills (a big response is not copied once per read). */
  private store = Buffer.alloc(64 * 1024);
  private length = 0;
  private waiters: (() => void)[] = [];
  private readonly ready: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk: Buffer) => {
      if (this.length + chunk.length > this.store.length) {
        const bigger = Buffer.alloc(Math.max(this.store.length * 2, this.length + chunk.length));
        this.store.copy(bigger, 0, 0, this.length);
        this.store = bigger;
      }
      chunk.copy(this.store, this.length);
      this.length += chunk.length;
      this.wake();
    });
    this.socket.on('error', () => this.wake());
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Every byte received so far (a view: later bytes are not in it). */
  get received(): Buffer {
    return this.store.subarray(0, this.length);
  }

  static async connect(port: number): Promise<RawClient> {
    const c = new RawClient(port);
    await c.ready;
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Writes bytes (string as latin1) and resolves once they are handed to the kernel. */
  send(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Resolves when `predicate()` holds or the socket closed; rejects after `ms`. */
  async until(predicate: () => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      if (this.closed) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`RawClient: timed out; received so far: ${JSON.stringify(this.received.toString('latin1').slice(0, 500))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for `count` complete responses (fails if the socket closes first). */
  async responses(count: number, ms = 5000): Promise<ParsedResponse[]> {
    await this.until(() => parseResponses(this.received).length >= count, ms);
    const parsed = parseResponses(this.received);
    if (parsed.length < count) throw new Error(`expected ${count} responses, got ${parsed.length}: ${this.received.toString('latin1').slice(0, 300)}`);
    return parsed;
  }

  /** Waits until the server closes the connection. */
  async waitClosed(ms = 5000): Promise<void> {
    await this.until(() => this.closed, ms);
    if (!this.closed) throw new Error('socket still open');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Parses every complete response in `data`, in order. */
export function parseResponses(data: Buffer, headOnly = false): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', pos, 'latin1');
    if (headEnd < 0) return out;
    const headText = data.toString('latin1', pos, headEnd);
    const [statusLine, ...lines] = headText.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
    if (m === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const status = Number(m[1]);
    const length = headOnly || status === 204 || status === 304 || status < 200 ? 0 : Number(headers['content-length'] ?? 0);
    const bodyStart = headEnd + 4;
    if (data.length < bodyStart + length) return out;
    out.push({ status, reason: m[2], headers, body: data.subarray(bodyStart, bodyStart + length), raw: data.toString('latin1', pos, bodyStart + length) });
    pos = bodyStart + length;
  }
}

/** One-shot: connect, send, wait for `count` responses, return them and the client. */
export async function exchange(port: number, data: string | Buffer, count = 1): Promise<{ responses: ParsedResponse[]; client: RawClient }> {
  const client = await RawClient.connect(port);
  await client.send(data);
  const responses = await client.responses(count);
  return { responses, client };
}
