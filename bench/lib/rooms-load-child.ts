/**
 * Child-process entry of the rooms load client (bench/load/rooms.ts): one sender posts danmaku
 * at a fixed rate into one room of N receivers; every receiver's copy is matched to its send
 * time and counted as a delivery. It reuses the lean WebSocket client (ws-load-client.ts) and
 * runs in its own process so its CPU never mixes with the harness's or the servers'.
 *
 * Open loop on purpose (the issue: "one sender at a fixed rate"): the sender does not wait for
 * deliveries, so a server that falls behind shows it as growing delivery latency and as
 * deliveries missing at the end of the window (counted as errors), not as a lower send rate.
 */
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import { LatencyHistogram } from './latency-histogram.js';
import { clientFrame, connectAll, type ConnectionOwner, type LeanConnection, Opcode } from './ws-load-client.js';

/** Parent → child: one measured window. */
export interface RoomsRequest {
  readonly type: 'rooms';
  readonly host: string;
  readonly port: number;
  /**
   * Several instances of one cluster (bench/load/cluster.ts): the members are split evenly over
   * these ports, the sender on the first. Default: everyone on `port`.
   */
  readonly ports?: readonly number[];
  /** e.g. `/ws/room/bench` (open mode: each socket gets its own guest user). */
  readonly path: string;
  readonly receivers: number;
  /** Danmaku per second from the one sender. */
  readonly rate: number;
  readonly seconds: number;
  /**
   * Offer permessage-deflate: danmaku then arrive compressed (the sequence number is read by
   * inflating each distinct compressed payload once: a server that compresses a broadcast once
   * sends every member the same bytes) and the reply's `bytes` is what the receivers read.
   */
  readonly deflate?: boolean;
}

/** Child → parent. */
export type RoomsReply =
  | { type: 'ready' }
  | { type: 'progress'; line: string }
  | { type: 'result'; ops: number; elapsedSec: number; p50Ms: number | null; p99Ms: number | null; errors: number; firstError: string | null; cpuMicros: number; bytes: number }
  | { type: 'error'; message: string };

const CONNECT_CONCURRENCY = 200;
const CONNECT_TIMEOUT_MS = 10_000;
/** Deliveries still missing this long after the window count as lost. */
const DRAIN_TIMEOUT_MS = 3000;
/** Enough of a danmaku's JSON to reach `"text":"n:<seq>"` (user ids are guest-<12 hex>). */
const PREFIX_BYTES = 160;
/** All of a compressed danmaku (it is inflated whole). */
const DEFLATE_PREFIX_BYTES = 512;
/** Send times kept for matching: far more than can be in flight. */
const RING = 1 << 16;
/** Sends are batched per tick of this many ms (timers are not precise below ~1 ms). */
const TICK_MS = 10;
const TEXT_MARK = Buffer.from('"text":"n:', 'latin1');

function send(message: RoomsReply): void {
  if (process.send === undefined) throw new TypeError('rooms-load-child must be started with fork()');
  process.send(message);
}

let pool: { key: string; conns: LeanConnection[] } | null = null;
/**
 * Sequence numbers continue across the windows of a session (warm-up, then measured), so a late
 * delivery from the previous window is recognised as stale and ignored, not mistaken for a new one.
 */
let lastSeq = 0;

async function connections(r: RoomsRequest): Promise<LeanConnection[]> {
  const ports = r.ports ?? [r.port];
  const key = `${r.host}:${ports.join(',')}${r.path}#${r.receivers}${r.deflate === true ? '+deflate' : ''}`;
  if (pool !== null && pool.key === key && pool.conns.every((c) => c.isOpen)) return pool.conns;
  if (pool !== null) for (const c of pool.conns) c.close();
  pool = null;
  const total = r.receivers + 1;
  const share = (i: number): number => Math.floor(total / ports.length) + (i < total % ports.length ? 1 : 0);
  const results = await Promise.all(
    ports.map((port, i) =>
      connectAll({
        host: r.host,
        port,
        path: r.path,
        count: share(i),
        concurrency: CONNECT_CONCURRENCY,
        prefixBytes: r.deflate === true ? DEFLATE_PREFIX_BYTES : PREFIX_BYTES,
        timeoutMs: CONNECT_TIMEOUT_MS,
        ...(r.deflate === true ? { extensions: DEFLATE_OFFER } : {}),
      }),
    ),
  );
  const conns = results.flatMap((result) => result.connections); // the sender: the first on ports[0]
  const failed = results.reduce((n, result) => n + result.failed, 0);
  if (failed > 0) {
    for (const c of conns) c.close();
    throw new Error(`${failed} of ${total} upgrades to ${r.path} failed; first: ${results.find((x) => x.failed > 0)?.firstFailure}`);
  }
  const elapsed = Math.max(...results.map((result) => result.elapsedSec));
  send({ type: 'progress', line: `opened ${total} WebSocket(s) on ${r.path} (port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}) in ${elapsed.toFixed(2)} s` });
  pool = { key, conns };
  return conns;
}

/** What a deflate run offers (a browser's offer). */
const DEFLATE_OFFER = 'permessage-deflate; client_max_window_bits';
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** Sequence numbers of compressed payloads already inflated, by their bytes (cleared when it grows large). */
const inflated = new Map<string, number>();

/**
 * The sequence number in a compressed danmaku (RFC 7692): each distinct payload is inflated once;
 * the other members' copies of a broadcast compressed once are the same bytes. -1 when it is not
 * one of ours, or too long to have been captured whole.
 */
function compressedSequence(prefix: Buffer, length: number): number {
  if (length > DEFLATE_PREFIX_BYTES) return -1;
  const key = prefix.toString('latin1', 0, length);
  const known = inflated.get(key);
  if (known !== undefined) return known;
  if (inflated.size > 100_000) inflated.clear();
  let n: number;
  try {
    const text = inflateRawSync(Buffer.concat([prefix.subarray(0, length), DEFLATE_TAIL]), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    n = sequenceOf(text, text.length);
  } catch {
    n = -1; // not DEFLATE: not one of ours
  }
  inflated.set(key, n);
  return n;
}

/** The sequence number in a danmaku's captured prefix, or -1 when it is not one of ours. */
function sequenceOf(prefix: Buffer, length: number): number {
  const at = prefix.subarray(0, Math.min(length, PREFIX_BYTES)).indexOf(TEXT_MARK);
  if (at < 0) return -1;
  let n = 0;
  let i = at + TEXT_MARK.length;
  for (; i < PREFIX_BYTES && prefix[i] >= 0x30 && prefix[i] <= 0x39; i++) n = n * 10 + prefix[i] - 0x30;
  return i === at + TEXT_MARK.length ? -1 : n;
}

class RoomsRunner implements ConnectionOwner {
  readonly latency = new LatencyHistogram();
  deliveries = 0;
  expected = 0;
  errors = 0;
  firstError: string | null = null;
  private seq = lastSeq;
  /** Sequences up to here belong to an earlier window. */
  private readonly base = lastSeq;
  private readonly sentAt = new Float64Array(RING);
  private measuring = true;
  private timer: NodeJS.Timeout | null = null;
  private carry = 0;
  private lastTick = 0;

  constructor(
    private readonly sender: LeanConnection,
    private readonly receivers: readonly LeanConnection[],
    private readonly rate: number,
  ) {}

  start(): void {
    this.sender.owner = this;
    for (const c of this.receivers) c.owner = this;
    this.lastTick = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Sends what the rate owes since the last tick (so timer jitter does not change the rate). */
  private tick(): void {
    const now = performance.now();
    this.carry += ((now - this.lastTick) * this.rate) / 1000;
    this.lastTick = now;
    while (this.carry >= 1) {
      this.carry -= 1;
      const n = ++this.seq;
      lastSeq = n;
      this.sentAt[n % RING] = performance.now();
      this.sender.send(clientFrame(Opcode.Text, Buffer.from(`{"type":"danmaku","text":"n:${n}"}`, 'latin1')));
      this.expected += this.receivers.length;
    }
  }

  /** Stops sending; waits for the deliveries of what was sent, up to DRAIN_TIMEOUT_MS. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    const until = performance.now() + DRAIN_TIMEOUT_MS;
    while (this.deliveries < this.expected && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.measuring = false;
    if (this.deliveries < this.expected) this.error(`${this.expected - this.deliveries} deliveries missing ${DRAIN_TIMEOUT_MS} ms after the window`, this.expected - this.deliveries);
  }

  onOpen(): void {}

  onMessage(conn: LeanConnection, opcode: number, length: number): void {
    if (conn === this.sender || opcode !== Opcode.Text || !this.measuring) return; // the sender's confirmation; presence
    const n = conn.messageCompressed ? compressedSequence(conn.prefix, length) : sequenceOf(conn.prefix, length);
    if (n < 0 || n <= this.base) return; // join/leave/ready, or a late one from the previous window
    if (n > this.seq || n <= this.seq - RING) {
      this.error(`unexpected sequence ${n} (sent up to ${this.seq})`);
      return;
    }
    this.deliveries++;
    this.latency.record((performance.now() - this.sentAt[n % RING]) * 1000);
  }

  onFail(_conn: LeanConnection, reason: string): void {
    this.error(reason);
  }

  private error(reason: string, count = 1): void {
    this.errors += count;
    this.firstError ??= reason;
  }
}

async function run(r: RoomsRequest): Promise<RoomsReply> {
  const conns = await connections(r);
  const [sender, ...receivers] = conns as [LeanConnection, ...LeanConnection[]];
  const runner = new RoomsRunner(sender, receivers, r.rate);
  const bytesBefore = receivers.reduce((n, c) => n + c.bytesRead, 0);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  runner.start();
  await new Promise((resolve) => setTimeout(resolve, r.seconds * 1000));
  // The rate is fixed, so deliveries/s is over the sending window; the drain after it only
  // lets the last messages arrive (their latency is measured all the same).
  const elapsedSec = (performance.now() - started) / 1000;
  await runner.stop();
  const cpu = process.cpuUsage(cpuBefore);
  return {
    type: 'result',
    ops: runner.deliveries,
    elapsedSec,
    p50Ms: runner.latency.quantileMs(0.5),
    p99Ms: runner.latency.quantileMs(0.99),
    errors: runner.errors,
    firstError: runner.firstError,
    cpuMicros: cpu.user + cpu.system,
    bytes: receivers.reduce((n, c) => n + c.bytesRead, 0) - bytesBefore,
  };
}

process.on('message', (request: RoomsRequest) => {
  run(request).then(send, (error: unknown) => send({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
