/**
 * Room test client over the real `ws` package: logs every message it receives (JSON text parsed,
 * binary kept as Buffer), so tests wait for a message by predicate and then assert on the log.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { waitFor } from '../helpers/listen.js';

/** A received room message (parsed JSON). */
export type Msg = Record<string, unknown> & { type: string };

/**
 * The shortest interval for polling `who` in a test: every text frame counts against the member's
 * `--rate-limit` (10/s, burst 20, by default), so a faster poll is refused with RATE_LIMITED.
 */
export const WHO_POLL_MS = 150;

export class RoomClient {
  readonly texts: Msg[] = [];
  readonly binaries: Buffer[] = [];
  closeCode: number | null = null;
  closeReason = '';

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) this.binaries.push(Buffer.from(data));
      else this.texts.push(JSON.parse(data.toString('utf8')) as Msg);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
    ws.on('error', () => {});
  }

  /** Opens `/ws/room/{room}?{query}` and resolves once `ready` arrived (history replayed). */
  static async open(port: number, room: string, query: Record<string, string> = {}): Promise<RoomClient> {
    const qs = new URLSearchParams(query).toString();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/room/${room}${qs === '' ? '' : `?${qs}`}`, { perMessageDeflate: false });
    const c = new RoomClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await c.until((m) => m.type === 'ready');
    return c;
  }

  /** Resolves with the HTTP status of a refused handshake (rejects if it was accepted). */
  static refusal(port: number, path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
      ws.on('open', () => reject(new Error(`handshake accepted: ${path}`)));
      ws.on('error', () => {});
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
    });
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Waits for a logged message matching `pred` and returns the first one. */
  async until(pred: (m: Msg) => boolean, what = 'message'): Promise<Msg> {
    await waitFor(() => this.texts.some(pred), 5000, what);
    return this.texts.find(pred)!;
  }

  /** Sends `who` and resolves with its answer; an `error` in its place rejects at once, naming it. */
  async who(ms = 3000): Promise<Msg> {
    const before = this.texts.length;
    this.send({ type: 'who' });
    const answer = (): Msg | undefined => this.texts.slice(before).find((m) => m.type === 'who' || m.type === 'error');
    await waitFor(() => answer() !== undefined, ms, 'who');
    const m = answer()!;
    if (m.type === 'error') throw new Error(`who refused: ${JSON.stringify(m)}`);
    return m;
  }

  of(type: string): Msg[] {
    return this.texts.filter((m) => m.type === type);
  }

  async closed(): Promise<number> {
    await waitFor(() => this.closeCode !== null, 5000, 'close');
    return this.closeCode!;
  }

  /** The underlying TCP socket (to stop reading: a slow consumer). */
  get socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}
