/**
 * Child-process entry of the lean WebSocket load client (bench/lib/ws-load-client.ts), so its
 * CPU (`process.cpuUsage()`) never mixes with the harness's or the servers'. One request at a
 * time over the fork IPC channel (types below); progress lines go back as `progress`
 * messages. Connections stay open between requests for the same target, so a warm-up window
 * pays for the upgrades and the measured window does not. The child exits when the parent
 * disconnects (harness exit or close()), which drops every socket with it.
 */
import {
  clientFrame,
  clientHeaderLength,
  connectAll,
  type ConnectionOwner,
  type ConnectResult,
  type LeanConnection,
  MASK_KEY,
  Opcode,
} from './ws-load-client.js';
import { timedWindow, WindowRunner, type WindowTotals } from './timed-window.js';

/** Where to connect. */
interface TargetSpec {
  readonly host: string;
  readonly port: number;
  readonly path: string;
}

/** Parent → child. */
export type WsChildRequest =
  /** `connections` sockets, one binary message of `messageBytes` in flight on each, for `seconds`. */
  | (TargetSpec & { type: 'echo'; connections: number; messageBytes: number; seconds: number })
  /** One sender and `receivers` sockets; one message per round (see runFanout), for `seconds`. */
  | (TargetSpec & { type: 'fanout'; receivers: number; messageBytes: number; seconds: number; window?: number })
  /** Opens `connections` idle sockets and keeps them until `idle-close`. */
  | (TargetSpec & { type: 'idle-open'; connections: number })
  | { type: 'idle-close' };

/** One measured window, as the parent turns it into a LoadResult. */
export type WsWindowResult = WindowTotals;

/** The idle connections are open (or failed). */
export interface WsIdleOpened {
  readonly type: 'idle-opened';
  readonly opened: number;
  readonly failed: number;
  readonly firstFailure: string | null;
  readonly elapsedSec: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly cpuMicros: number;
}

/** Child → parent. */
export type WsChildReply =
  | { type: 'ready' }
  | { type: 'progress'; line: string }
  | WsWindowResult
  | WsIdleOpened
  /** `stillOpen`: idle sockets the server had not closed when the parent asked to close them. */
  | { type: 'idle-closed'; stillOpen: number }
  | { type: 'error'; message: string };

/** Upgrades in flight at once: well under the 511 listen backlog of both servers. */
const CONNECT_CONCURRENCY = 200;
const CONNECT_TIMEOUT_MS = 10_000;
/** After the window, in-flight echoes get this long to come back before they count as errors. */
const DRAIN_TIMEOUT_MS = 2000;
/** A fan-out round whose deliveries are not all in by then counts the missing ones as lost. */
const ROUND_TIMEOUT_MS = 2000;
/** Fan-out payload prefix: float64 send time (performance.now(), ms) + uint32 round number. */
const FANOUT_PREFIX_BYTES = 12;

function send(message: WsChildReply): void {
  if (process.send === undefined) throw new TypeError('ws-load-child must be started with fork()');
  process.send(message);
}

const progress = (line: string): void => send({ type: 'progress', line });

/** Open connections for one target, reused across requests with the same key. */
let pool: { key: string; result: ConnectResult } | null = null;

async function connections(target: TargetSpec, count: number, prefixBytes: number): Promise<LeanConnection[]> {
  const key = `${target.host}:${target.port}${target.path}#${count}/${prefixBytes}`;
  if (pool !== null && pool.key === key && pool.result.connections.every((c) => c.isOpen)) return pool.result.connections;
  dropPool();
  const result = await connectAll({ ...target, count, concurrency: CONNECT_CONCURRENCY, prefixBytes, timeoutMs: CONNECT_TIMEOUT_MS });
  if (result.failed > 0) {
    for (const conn of result.connections) conn.close();
    throw new Error(`${result.failed} of ${count} WebSocket upgrades to ${target.path} failed; first: ${result.firstFailure}`);
  }
  progress(`opened ${count} WebSocket(s) on ${target.path} in ${result.elapsedSec.toFixed(2)} s`);
  pool = { key, result };
  return result.connections;
}

function dropPool(): void {
  if (pool === null) return;
  for (const conn of pool.result.connections) conn.close();
  pool = null;
}

/** Deterministic filler bytes (the content does not matter, only that it is not all zeros). */
function payload(bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

/**
 * Closed-loop echo: each connection has exactly one message in flight; the echo's arrival
 * (opcode and length checked, payload not copied) is the round trip, and the same pre-built
 * frame goes out again at once.
 */
class EchoRunner extends WindowRunner implements ConnectionOwner {
  running = true;
  private inFlight = 0;
  private drained: (() => void) | null = null;

  constructor(
    private readonly conns: readonly LeanConnection[],
    private readonly frame: Buffer,
    private readonly expectedLength: number,
  ) {
    super();
  }

  start(): void {
    const now = performance.now();
    for (const conn of this.conns) {
      conn.owner = this;
      conn.sentAt = now;
      conn.send(this.frame);
    }
    this.inFlight = this.conns.length;
  }

  /** Stops sending; resolves once every in-flight echo is back or after DRAIN_TIMEOUT_MS. */
  stop(): Promise<void> {
    this.running = false;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.error(`${this.inFlight} echo(es) still missing ${DRAIN_TIMEOUT_MS} ms after the window`, this.inFlight);
        this.drained = null;
        resolve();
      }, DRAIN_TIMEOUT_MS);
      this.drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  onOpen(): void {}

  onMessage(conn: LeanConnection, opcode: number, length: number): void {
    const now = performance.now();
    if (opcode !== Opcode.Binary || length !== this.expectedLength) {
      this.error(`echo was opcode ${opcode}, ${length} B; sent binary ${this.expectedLength} B`);
    } else if (this.running) {
      this.ops++;
      this.latency.record((now - conn.sentAt) * 1000);
    }
    if (this.running) {
      conn.sentAt = now;
      conn.send(this.frame);
    } else if (--this.inFlight === 0) this.drained?.();
  }

  onFail(_conn: LeanConnection, reason: string): void {
    this.error(reason);
    // Its message is lost with it: one less to wait for.
    if (--this.inFlight === 0 && !this.running) this.drained?.();
  }
}

async function runEcho(request: Extract<WsChildRequest, { type: 'echo' }>): Promise<WsWindowResult> {
  const conns = await connections(request, request.connections, 0);
  return timedWindow(new EchoRunner(conns, clientFrame(Opcode.Binary, payload(request.messageBytes)), request.messageBytes), request.seconds);
}

/**
 * Fan-out with `window` rounds in flight (1 by default): the sender sends message n (its send time
 * and n written into the first 12 payload bytes of a copy of the pre-built masked frame), every
 * receiver's copy is checked (rounds arrive in order on each socket) and its delivery latency taken
 * from the embedded time, and message n + window goes out when the last receiver got n. A round
 * missing deliveries after ROUND_TIMEOUT_MS counts them as lost. With window 1 the latency is free
 * of queueing; a larger window measures throughput when several messages meet in one server turn.
 */
class FanoutRunner extends WindowRunner implements ConnectionOwner {
  rounds = 0;
  running = true;
  /** Newest round sent, and the oldest one not yet complete. */
  private round = 0;
  private oldest = 1;
  /** Per round in flight (index round % window): deliveries still missing, and its send time. */
  private readonly waiting: Int32Array;
  private readonly sentAt: Float64Array;
  private readonly plain = Buffer.alloc(FANOUT_PREFIX_BYTES);
  private readonly payloadAt: number;
  private readonly watchdog: NodeJS.Timeout;
  private finished: (() => void) | null = null;

  constructor(
    private readonly sender: LeanConnection,
    private readonly receivers: readonly LeanConnection[],
    private readonly frame: Buffer,
    private readonly messageBytes: number,
    private readonly window = 1,
  ) {
    super();
    this.waiting = new Int32Array(window);
    this.sentAt = new Float64Array(window);
    this.payloadAt = clientHeaderLength(messageBytes);
    this.watchdog = setInterval(() => this.checkRound(), ROUND_TIMEOUT_MS / 4);
  }

  start(): void {
    this.sender.owner = this;
    for (const conn of this.receivers) conn.owner = this;
    for (let i = 0; i < this.window; i++) this.nextRound();
  }

  /** Stops after the round in flight completes (or times out). */
  stop(): Promise<void> {
    this.running = false;
    return new Promise((resolve) => {
      this.finished = () => {
        clearInterval(this.watchdog);
        resolve();
      };
    });
  }

  private get inFlight(): number {
    return this.round - this.oldest + 1;
  }

  private nextRound(): void {
    if (!this.running) {
      if (this.inFlight === 0) this.finished?.();
      return;
    }
    this.round++;
    const slot = this.round % this.window;
    const now = performance.now();
    this.sentAt[slot] = now;
    this.waiting[slot] = this.receivers.length;
    this.plain.writeDoubleLE(now, 0);
    this.plain.writeUInt32LE(this.round, 8);
    // A copy per message when several are in flight: the kernel may still hold the previous one.
    const frame = this.window === 1 ? this.frame : Buffer.from(this.frame);
    // RFC 6455 §5.3: payload byte i is sent XOR mask[i mod 4].
    for (let i = 0; i < FANOUT_PREFIX_BYTES; i++) frame[this.payloadAt + i] = this.plain[i] ^ MASK_KEY[i & 3];
    this.sender.send(frame);
  }

  /** Completes the oldest rounds whose deliveries are all in, sending the next ones. */
  private advance(): void {
    while (this.inFlight > 0 && this.waiting[this.oldest % this.window] === 0) {
      this.oldest++;
      this.rounds++;
      this.nextRound();
    }
  }

  private checkRound(): void {
    const slot = this.oldest % this.window;
    if (this.inFlight > 0 && performance.now() - this.sentAt[slot] > ROUND_TIMEOUT_MS) {
      this.error(`round ${this.oldest}: ${this.waiting[slot]} deliveries missing after ${ROUND_TIMEOUT_MS} ms`, this.waiting[slot]);
      this.waiting[slot] = 0;
      this.advance();
    } else if (!this.running && this.inFlight === 0) this.finished?.();
  }

  onOpen(): void {}

  onMessage(conn: LeanConnection, opcode: number, length: number): void {
    if (conn === this.sender) {
      this.error('the sender received its own message');
      return;
    }
    if (opcode !== Opcode.Binary || length !== this.messageBytes) {
      this.error(`delivery was opcode ${opcode}, ${length} B; sent binary ${this.messageBytes} B`);
      return;
    }
    const round = conn.prefix.readUInt32LE(8);
    if (round < this.oldest || round > this.round) {
      this.error(`stale delivery: round ${round} while rounds ${this.oldest}..${this.round} are in flight`);
      return;
    }
    if (this.running) {
      this.ops++;
      this.latency.record((performance.now() - conn.prefix.readDoubleLE(0)) * 1000);
    }
    if (--this.waiting[round % this.window] === 0) this.advance();
  }

  onFail(_conn: LeanConnection, reason: string): void {
    this.error(reason);
  }
}

async function runFanout(request: Extract<WsChildRequest, { type: 'fanout' }>): Promise<WsWindowResult> {
  if (request.messageBytes < FANOUT_PREFIX_BYTES) throw new RangeError(`fan-out messages need ≥ ${FANOUT_PREFIX_BYTES} B`);
  const conns = await connections(request, request.receivers + 1, FANOUT_PREFIX_BYTES);
  const [sender, ...receivers] = conns as [LeanConnection, ...LeanConnection[]];
  const runner = new FanoutRunner(sender, receivers, clientFrame(Opcode.Binary, payload(request.messageBytes)), request.messageBytes, request.window ?? 1);
  const result = await timedWindow(runner, request.seconds);
  progress(`${runner.rounds} rounds × ${receivers.length} receivers`);
  return result;
}

/** Idle sockets held between `idle-open` and `idle-close`. */
let idle: LeanConnection[] = [];

async function openIdle(request: Extract<WsChildRequest, { type: 'idle-open' }>): Promise<WsIdleOpened> {
  dropPool();
  const cpuBefore = process.cpuUsage();
  const every = Math.max(1000, Math.round(request.connections / 5 / 1000) * 1000);
  const result = await connectAll({
    ...request,
    count: request.connections,
    concurrency: CONNECT_CONCURRENCY,
    prefixBytes: 0,
    timeoutMs: CONNECT_TIMEOUT_MS,
    progressEvery: every,
    onProgress: (opened) => progress(`${opened.toLocaleString('en-US')} / ${request.connections.toLocaleString('en-US')} open`),
  });
  const cpu = process.cpuUsage(cpuBefore);
  idle = result.connections;
  return {
    type: 'idle-opened',
    opened: result.connections.length,
    failed: result.failed,
    firstFailure: result.firstFailure,
    elapsedSec: result.elapsedSec,
    p50Ms: result.handshake.quantileMs(0.5),
    p99Ms: result.handshake.quantileMs(0.99),
    cpuMicros: cpu.user + cpu.system,
  };
}

function closeIdle(): WsChildReply {
  const stillOpen = idle.filter((c) => c.isOpen).length;
  for (const conn of idle) conn.close();
  idle = [];
  return { type: 'idle-closed', stillOpen };
}

async function handle(request: WsChildRequest): Promise<WsChildReply> {
  switch (request.type) {
    case 'echo':
      return runEcho(request);
    case 'fanout':
      return runFanout(request);
    case 'idle-open':
      return openIdle(request);
    case 'idle-close':
      return closeIdle();
  }
}

process.on('message', (request: WsChildRequest) => {
  handle(request).then(send, (error: unknown) => send({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
