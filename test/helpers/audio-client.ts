/** Test client of the audio cache protocol (text commands, binary data) over the `ws` package. */
import WebSocket from 'ws';

export type Msg = { text: string; bin?: undefined } | { bin: Buffer; text?: undefined };

/** A `ws` client of the audio endpoint that queues every message, so a test can await them in order. */
export class AudioClient {
  private readonly inbox: Msg[] = [];
  private readonly waiters: ((m: Msg) => void)[] = [];
  readonly closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const m: Msg = isBinary ? { bin: Buffer.from(data) } : { text: data.toString('utf8') };
      const w = this.waiters.shift();
      if (w !== undefined) w(m);
      else this.inbox.push(m);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code: number) => resolve(code)));
  }

  static async open(port: number, path = '/audio'): Promise<AudioClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const c = new AudioClient(ws);
    open.add(c);
    return c;
  }

  next(ms = 10_000): Promise<Msg> {
    const m = this.inbox.shift();
    if (m !== undefined) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within timeout')), ms);
      this.waiters.push((msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
  }

  async text(): Promise<string> {
    const m = await this.next();
    if (m.text === undefined) throw new Error(`expected text, got ${m.bin.length} binary bytes`);
    return m.text;
  }

  async bin(): Promise<Buffer> {
    const m = await this.next();
    if (m.bin === undefined) throw new Error(`expected binary, got text ${m.text}`);
    return m.bin;
  }

  send(data: string | Buffer): void {
    this.ws.send(data, { binary: typeof data !== 'string' });
  }

  async cmd(text: string): Promise<string> {
    this.send(text);
    return this.text();
  }

  /** Binary frames up to the next text frame (a FOLLOW's bytes and its END or ERROR). */
  async collect(): Promise<{ bytes: Buffer; end: string }> {
    const parts: Buffer[] = [];
    for (;;) {
      const m = await this.next();
      if (m.text !== undefined) return { bytes: Buffer.concat(parts), end: m.text };
      parts.push(m.bin);
    }
  }
}

const open = new Set<AudioClient>();

/** Terminates every client opened since the last call (afterEach). */
export function closeAudioClients(): void {
  for (const c of open) c.ws.terminate();
  open.clear();
}

/** Reads a whole stream back with GETs of at most 1 MiB (the default --max-get-bytes). */
export async function readBack(c: AudioClient, id: string, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < size; at += 1024 * 1024) {
    c.send(`GET:${id}:${at}:${1024 * 1024}`);
    parts.push(await c.bin());
  }
  return Buffer.concat(parts);
}
