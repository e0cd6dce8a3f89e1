/**
 * Child-process entry of the audio benchmark (bench/load/audio.ts). It moves one stream's bytes
 * two ways:
 * - through slabcast's audio endpoint, with the lean WebSocket client of ws-load-client.ts
 *   (raw `net`, pre-masked frames): START, binary chunks, STOP (`OK:STOP` = durable), then GETs;
 * - with plain `fs`, the baseline: fs.write of the same chunks + fsync, then fs.read of them.
 * Its own process keeps its CPU apart: in slabcast windows it is the load generator (measured
 * with process.cpuUsage()), in fs windows it does all the work and the parent reads its CPU from
 * /proc as the "server" CPU. One request at a time over the fork IPC channel; it exits when the
 * parent disconnects.
 */
import { randomBytes } from 'node:crypto';
import { close, fsync, open, read, write } from 'node:fs';
import { promisify } from 'node:util';
import { LatencyHistogram } from './latency-histogram.js';
import { clientFrame, type ConnectionOwner, LeanConnection, Opcode, upgradeRequest } from './ws-load-client.js';

/** Where the audio endpoint is. */
interface TargetSpec {
  readonly host: string;
  readonly port: number;
  readonly path: string;
}

/** What one window moves: `totalBytes` (a multiple of `chunkBytes`) in `chunkBytes` pieces. */
interface Transfer {
  readonly chunkBytes: number;
  readonly totalBytes: number;
  /** The window fails (error reply) past this many ms. */
  readonly timeoutMs: number;
}

/** Parent → child. */
export type AudioChildRequest =
  /** START, every chunk as one binary frame (written as fast as the socket takes them), STOP. */
  | (TargetSpec & Transfer & { type: 'ws-upload'; id: string })
  /** GET of consecutive `chunkBytes` ranges, `window` requests in flight on one connection. */
  | (TargetSpec & Transfer & { type: 'ws-download'; id: string; window: number })
  | (TargetSpec & { type: 'ws-delete'; id: string; timeoutMs: number })
  /** fs.write of the same chunks at consecutive offsets, one at a time, then fsync. */
  | (Transfer & { type: 'fs-write'; file: string })
  /** fs.read of consecutive `chunkBytes` ranges, one at a time. */
  | (Transfer & { type: 'fs-read'; file: string });

/** One measured window. */
export interface AudioWindowResult {
  readonly type: 'result';
  /** Payload bytes moved and checked. */
  readonly bytes: number;
  readonly elapsedSec: number;
  /** Per request (GET round trip, fs.read call); null for uploads, which have no per-chunk answer. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** Uploads: from the last chunk handed to the socket / file to `OK:STOP` / fsync done. */
  readonly syncMs: number | null;
  /** ERROR replies, wrong sizes, bytes that differ from what was stored. */
  readonly errors: number;
  readonly firstError: string | null;
  readonly cpuMicros: number;
}

/** Child → parent. */
export type AudioChildReply = { type: 'ready' } | AudioWindowResult | { type: 'deleted' } | { type: 'error'; message: string };

/** Distinct chunks per size; chunk i of a stream is pool[i % POOL_CHUNKS], so a GET at a wrong offset shows. */
const POOL_CHUNKS = 4;
/** Payload bytes compared per GET / read (the lean client captures a message's first bytes only). */
const CHECK_BYTES = 128;
const CONNECT_TIMEOUT_MS = 10_000;

const pools = new Map<number, { plain: Buffer[]; frames: Buffer[] }>();

/** The chunk pool of one size and its pre-masked binary frames (RFC 6455 §5.3), built once per process. */
function pool(chunkBytes: number): { plain: Buffer[]; frames: Buffer[] } {
  let p = pools.get(chunkBytes);
  if (p === undefined) {
    const plain = Array.from({ length: POOL_CHUNKS }, () => randomBytes(chunkBytes));
    p = { plain, frames: plain.map((chunk) => clientFrame(Opcode.Binary, chunk)) };
    pools.set(chunkBytes, p);
  }
  return p;
}

function chunkCount(t: Transfer): number {
  if (t.totalBytes % t.chunkBytes !== 0) throw new RangeError(`totalBytes ${t.totalBytes} is not a multiple of chunkBytes ${t.chunkBytes}`);
  return t.totalBytes / t.chunkBytes;
}

/** Error tally of one window. */
class Errors {
  count = 0;
  first: string | null = null;

  add(reason: string): void {
    this.count++;
    this.first ??= reason;
  }
}

/** One WebSocket to the audio endpoint: text replies queued in order, binary replies to `onBinary`. */
class AudioSession implements ConnectionOwner {
  readonly texts: string[] = [];
  /** Called for each binary message with its length; its first bytes are in `conn.prefix`. */
  onBinary: ((prefix: Buffer, length: number) => void) | null = null;
  failure: string | null = null;
  private opened = false;
  private waiter: (() => void) | null = null;
  readonly conn: LeanConnection;

  constructor(target: TargetSpec) {
    this.conn = new LeanConnection(target.host, target.port, upgradeRequest(target.host, target.port, target.path), this, CHECK_BYTES);
  }

  static async open(target: TargetSpec): Promise<AudioSession> {
    const session = new AudioSession(target);
    try {
      await session.until(() => session.opened, performance.now() + CONNECT_TIMEOUT_MS, 'the WebSocket upgrade');
    } catch (error) {
      session.close();
      throw error;
    }
    return session;
  }

  onOpen(): void {
    this.opened = true;
    this.poke();
  }

  onMessage(conn: LeanConnection, opcode: number, length: number): void {
    if (opcode === Opcode.Binary && this.onBinary !== null) this.onBinary(conn.prefix, length);
    else this.texts.push(opcode === Opcode.Text ? conn.prefix.toString('latin1', 0, Math.min(length, CHECK_BYTES)) : `(opcode ${opcode}, ${length} B)`);
    this.poke();
  }

  onFail(_conn: LeanConnection, reason: string): void {
    this.failure ??= reason;
    this.poke();
  }

  sendText(text: string): void {
    this.conn.send(clientFrame(Opcode.Text, Buffer.from(text, 'latin1')));
  }

  /** Writes a pre-built frame; waits for 'drain' when the socket's buffer is full (no unbounded queue). */
  async write(frame: Buffer, deadline: number): Promise<void> {
    if (this.conn.socket.write(frame)) return;
    let drained = false;
    const onDrain = (): void => {
      drained = true;
      this.poke();
    };
    this.conn.socket.once('drain', onDrain);
    try {
      await this.until(() => drained, deadline, 'the socket to drain');
    } finally {
      this.conn.socket.off('drain', onDrain);
    }
  }

  /** The next text reply. */
  async text(deadline: number, what: string): Promise<string> {
    await this.until(() => this.texts.length > 0, deadline, what);
    return this.texts.shift() as string;
  }

  /** Resolves when `predicate()` holds; rejects when the connection failed or at `deadline`. */
  async until(predicate: () => boolean, deadline: number, what: string): Promise<void> {
    while (!predicate()) {
      if (this.failure !== null) throw new Error(`waiting for ${what}: ${this.failure}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no ${what} within the time limit`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): void {
    this.conn.close();
  }

  private poke(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}

function result(bytes: number, started: number, cpuBefore: NodeJS.CpuUsage, errors: Errors, latency: LatencyHistogram | null, syncMs: number | null): AudioWindowResult {
  const elapsedSec = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    type: 'result',
    bytes,
    elapsedSec,
    p50Ms: latency?.quantileMs(0.5) ?? null,
    p99Ms: latency?.quantileMs(0.99) ?? null,
    syncMs,
    errors: errors.count,
    firstError: errors.first,
    cpuMicros: cpu.user + cpu.system,
  };
}

function expectReply(errors: Errors, got: string, want: string): void {
  if (got !== want) errors.add(`expected ${want}, got ${got}`);
}

async function wsUpload(r: Extract<AudioChildRequest, { type: 'ws-upload' }>): Promise<AudioWindowResult> {
  const { frames } = pool(r.chunkBytes);
  const count = chunkCount(r);
  const session = await AudioSession.open(r);
  try {
    const errors = new Errors();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const deadline = started + r.timeoutMs;
    session.sendText(`START:${r.id}`);
    expectReply(errors, await session.text(deadline, 'OK:START'), `OK:START:${r.id}:0`);
    for (let i = 0; i < count; i++) await session.write(frames[i % POOL_CHUNKS], deadline);
    const lastWritten = performance.now();
    // Data frames get no reply; any text now is an ERROR about a chunk, and comes before OK:STOP.
    session.sendText(`STOP:${r.id}`);
    for (;;) {
      const reply = await session.text(deadline, 'OK:STOP');
      if (!reply.startsWith('ERROR:')) {
        expectReply(errors, reply, `OK:STOP:${r.id}:${r.totalBytes}`);
        break;
      }
      errors.add(reply);
    }
    return result(r.totalBytes, started, cpuBefore, errors, null, performance.now() - lastWritten);
  } finally {
    session.close();
  }
}

async function wsDownload(r: Extract<AudioChildRequest, { type: 'ws-download' }>): Promise<AudioWindowResult> {
  const { plain } = pool(r.chunkBytes);
  const count = chunkCount(r);
  const session = await AudioSession.open(r);
  try {
    const errors = new Errors();
    const latency = new LatencyHistogram();
    const sentAt = new Float64Array(count);
    let next = 0;
    let done = 0;
    const sendGet = (): void => {
      sentAt[next] = performance.now();
      session.sendText(`GET:${r.id}:${next * r.chunkBytes}:${r.chunkBytes}`);
      next++;
    };
    // One reply per GET, in order (the protocol answers in command order).
    const answered = (): void => {
      latency.record((performance.now() - sentAt[done]) * 1000);
      done++;
      if (next < count) sendGet();
    };
    session.onBinary = (prefix, length) => {
      const expected = plain[done % POOL_CHUNKS].subarray(0, CHECK_BYTES);
      if (length !== r.chunkBytes) errors.add(`GET ${done}: ${length} B, expected ${r.chunkBytes}`);
      else if (!prefix.equals(expected)) errors.add(`GET ${done}: bytes differ from the uploaded chunk`);
      answered();
    };
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < Math.min(r.window, count); i++) sendGet();
    await session.until(
      () => {
        // A text reply to a GET is an ERROR: it still answers that GET.
        while (session.texts.length > 0) {
          errors.add(`GET ${done}: ${session.texts.shift() as string}`);
          answered();
        }
        return done === count;
      },
      started + r.timeoutMs,
      `${count} GET replies`,
    );
    return result(r.totalBytes, started, cpuBefore, errors, latency, null);
  } finally {
    session.close();
  }
}

async function wsDelete(r: Extract<AudioChildRequest, { type: 'ws-delete' }>): Promise<AudioChildReply> {
  const session = await AudioSession.open(r);
  try {
    session.sendText(`DELETE:${r.id}`);
    const reply = await session.text(performance.now() + r.timeoutMs, 'OK:DELETE');
    if (reply !== `OK:DELETE:${r.id}`) throw new Error(`DELETE:${r.id} answered ${reply}`);
    return { type: 'deleted' };
  } finally {
    session.close();
  }
}

const openFile = promisify(open);
const writeFile = promisify(write);
const readFile = promisify(read);
const fsyncFile = promisify(fsync);
const closeFile = promisify(close);

async function fsWrite(r: Extract<AudioChildRequest, { type: 'fs-write' }>): Promise<AudioWindowResult> {
  const { plain } = pool(r.chunkBytes);
  const count = chunkCount(r);
  const errors = new Errors();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const fd = await openFile(r.file, 'w');
  let syncMs: number;
  try {
    for (let i = 0; i < count; i++) {
      const { bytesWritten } = await writeFile(fd, plain[i % POOL_CHUNKS], 0, r.chunkBytes, i * r.chunkBytes);
      if (bytesWritten !== r.chunkBytes) errors.add(`write ${i}: ${bytesWritten} of ${r.chunkBytes} B`);
    }
    const lastWritten = performance.now();
    await fsyncFile(fd);
    syncMs = performance.now() - lastWritten;
  } finally {
    await closeFile(fd);
  }
  return result(r.totalBytes, started, cpuBefore, errors, null, syncMs);
}

async function fsRead(r: Extract<AudioChildRequest, { type: 'fs-read' }>): Promise<AudioWindowResult> {
  const { plain } = pool(r.chunkBytes);
  const count = chunkCount(r);
  const errors = new Errors();
  const latency = new LatencyHistogram();
  const buffer = Buffer.allocUnsafe(r.chunkBytes);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const fd = await openFile(r.file, 'r');
  try {
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      const { bytesRead } = await readFile(fd, buffer, 0, r.chunkBytes, i * r.chunkBytes);
      latency.record((performance.now() - t) * 1000);
      if (bytesRead !== r.chunkBytes) errors.add(`read ${i}: ${bytesRead} of ${r.chunkBytes} B`);
      else if (buffer.compare(plain[i % POOL_CHUNKS], 0, CHECK_BYTES, 0, CHECK_BYTES) !== 0) errors.add(`read ${i}: bytes differ from the written chunk`);
    }
  } finally {
    await closeFile(fd);
  }
  return result(r.totalBytes, started, cpuBefore, errors, latency, null);
}

function handle(request: AudioChildRequest): Promise<AudioChildReply> {
  switch (request.type) {
    case 'ws-upload':
      return wsUpload(request);
    case 'ws-download':
      return wsDownload(request);
    case 'ws-delete':
      return wsDelete(request);
    case 'fs-write':
      return fsWrite(request);
    case 'fs-read':
      return fsRead(request);
  }
}

function send(message: AudioChildReply): void {
  if (process.send === undefined) throw new TypeError('audio-load-child must be started with fork()');
  process.send(message);
}

process.on('message', (request: AudioChildRequest) => {
  handle(request).then(send, (error: unknown) => send({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
