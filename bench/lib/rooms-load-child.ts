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
import { placeholderDanmaku, realisticDanmaku } from './danmaku-samples.js';
import { DeflatedDeliveries } from './deflated-deliveries.js';
import { timedWindow, WindowRunner, type WindowTotals } from './timed-window.js';
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
   * Offer permessage-deflate on every socket (bench/load/rooms-deflate.ts) and send realistic
   * danmaku (bench/lib/danmaku-samples.ts) instead of the `n:<seq>` placeholder.
   */
  readonly deflate?: boolean;
}

/** Per-window counters of the compressed path (zero without `deflate`). */
export interface DeflateCounters {
  /** Deliveries whose frame had RSV1 set. */
  readonly compressedDeliveries: number;
  /**
   * Danmaku sent in an earlier window (the warm-up) that arrived during this one: not deliveries of
   * this window, but the server spent this window's CPU on them (a server that fell behind).
   */
  readonly staleDeliveries: number;
  readonly staleWireBytes: number;
  /** Deliveries matched from the client's cache of inflated payloads (no inflation). */
  readonly cacheHits: number;
  /** Distinct payloads inflated once (server compresses each message on its own). */
  readonly sharedInflations: number;
  /** Deliveries inflated in their receiver's own context (context takeover). */
  readonly streamInflations: number;
  /** The servers' Sec-WebSocket-Extensions answers and how many sockets got each ('' = none). */
  readonly extensions: Record<string, number>;
}

/** Child → parent. */
export type RoomsReply =
  | { type: 'ready' }
  | { type: 'progress'; line: string }
  | (WindowTotals & {
      /** Wire bytes (frame headers + payloads) of the counted deliveries. */
      wireBytes: number;
      deflate: DeflateCounters;
    })
  | { type: 'error'; message: string };

const CONNECT_CONCURRENCY = 200;
/** Per upgrade; generous because the bench machine is shared (a loaded one took over 10 s for some of 1,001). */
const CONNECT_TIMEOUT_MS = 30_000;
/** Deliveries still missing this long after the window count as lost. */
const DRAIN_TIMEOUT_MS = 3000;
/**
 * After the sockets open, wait until no message arrived for this long: the 1,001 joins broadcast
 * ~500,000 presence messages, and a server that compresses each for each member (`ws`) needs
 * tens of seconds for them. The first window must not start while that backlog is in flight.
 */
const SETTLE_QUIET_MS = 500;
const SETTLE_MAX_MS = 180_000;
/** Enough of a danmaku's JSON to reach `"text":"n:<seq>"` (user ids are guest-<12 hex>). */
const PREFIX_BYTES = 160;
/** With compression, a message's whole compressed payload is captured (it is inflated from there). */
const DEFLATE_PREFIX_BYTES = 4096;
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
/** What a compressed delivery decodes to; lives as long as the connections (inflate contexts are per stream). */
const deflated = new DeflatedDeliveries((inflated) => sequenceOf(inflated, inflated.length));
/** The sequence number of each connection's last compressed message (set by `onCompressed`). */
const inflatedSeq = new WeakMap<LeanConnection, number>();

function onCompressed(conn: LeanConnection, length: number): void {
  let n = -1;
  try {
    n = deflated.read(conn, length);
  } catch (error) {
    conn.fail(`inflate: ${error instanceof Error ? error.message : String(error)}`);
  }
  inflatedSeq.set(conn, n);
}

async function connections(r: RoomsRequest): Promise<LeanConnection[]> {
  const ports = r.ports ?? [r.port];
  const key = `${r.host}:${ports.join(',')}${r.path}#${r.receivers}${r.deflate === true ? '+deflate' : ''}`;
  if (pool !== null && pool.key === key && pool.conns.every((c) => c.isOpen)) return pool.conns;
  if (pool !== null) for (const c of pool.conns) c.close();
  pool = null;
  const total = r.receivers + 1;
  const share = (i: number): number => Math.floor(total / ports.length) + (i < total % ports.length ? 1 : 0);
  const results = await Promise.all(
    ports.map((port, i) => connectAll({
        host: r.host,
        port,
        path: r.path,
        count: share(i),
        concurrency: CONNECT_CONCURRENCY,
        prefixBytes: r.deflate === true ? DEFLATE_PREFIX_BYTES : PREFIX_BYTES,
        timeoutMs: CONNECT_TIMEOUT_MS,
        ...(r.deflate === true ? { offerDeflate: true, onCompressed } : {}),
      })),
  );
  const conns = results.flatMap((result) => result.connections); // the sender: the first on ports[0]
  const failed = results.reduce((n, result) => n + result.failed, 0);
  if (failed > 0) {
    for (const c of conns) c.close();
    throw new Error(`${failed} of ${total} upgrades to ${r.path} failed; first: ${results.find((x) => x.failed > 0)?.firstFailure}`);
  }
  const elapsed = Math.max(...results.map((result) => result.elapsedSec));
  send({ type: 'progress', line: `opened ${total} WebSocket(s) on ${r.path} (port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}) in ${elapsed.toFixed(2)} s` });
  if (r.deflate === true) await settle(conns);
  pool = { key, conns };
  return conns;
}

/** Waits until the presence backlog of the joins has been delivered (see SETTLE_QUIET_MS). */
async function settle(conns: readonly LeanConnection[]): Promise<void> {
  const started = performance.now();
  let last = started;
  let messages = 0;
  const state: { failure: string | null } = { failure: null };
  const quiet: ConnectionOwner = {
    onOpen() {},
    onMessage() {
      messages++;
      last = performance.now();
    },
    onFail(_conn, reason) {
      state.failure ??= reason;
    },
  };
  for (const c of conns) c.owner = quiet;
  while (state.failure === null && performance.now() - last < SETTLE_QUIET_MS && performance.now() - started < SETTLE_MAX_MS) await new Promise((r) => setTimeout(r, 50));
  if (state.failure !== null) throw new Error(`a connection failed while the joins settled: ${state.failure}`);
  const sec = ((last - started) / 1000).toFixed(1);
  const gaveUp = performance.now() - last < SETTLE_QUIET_MS ? ` (still arriving after ${SETTLE_MAX_MS / 1000} s: starting anyway)` : '';
  send({ type: 'progress', line: `joins settled: ${messages.toLocaleString('en-US')} presence message(s) in ${sec} s after the sockets opened${gaveUp}` });
}

/** The sequence number in a danmaku's captured prefix (or inflated payload), or -1 when it is not one of ours. */
function sequenceOf(prefix: Buffer, length: number): number {
  const end = Math.min(length, prefix.length);
  const at = prefix.subarray(0, Math.min(end, PREFIX_BYTES)).indexOf(TEXT_MARK);
  if (at < 0) return -1;
  let n = 0;
  let i = at + TEXT_MARK.length;
  for (; i < end && prefix[i] >= 0x30 && prefix[i] <= 0x39; i++) n = n * 10 + prefix[i] - 0x30;
  return i === at + TEXT_MARK.length ? -1 : n;
}

class RoomsRunner extends WindowRunner implements ConnectionOwner {
  expected = 0;
  /** Wire bytes of the counted deliveries (frame headers included). */
  wireBytes = 0;
  compressedDeliveries = 0;
  staleDeliveries = 0;
  staleWireBytes = 0;
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
    private readonly danmaku: (n: number) => string,
  ) {
    super();
  }

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
      this.sender.send(clientFrame(Opcode.Text, Buffer.from(this.danmaku(n), 'utf8')));
      this.expected += this.receivers.length;
    }
  }

  /** Stops sending; waits for the deliveries of what was sent, up to DRAIN_TIMEOUT_MS. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    const until = performance.now() + DRAIN_TIMEOUT_MS;
    while (this.ops < this.expected && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.measuring = false;
    if (this.ops < this.expected) this.error(`${this.expected - this.ops} deliveries missing ${DRAIN_TIMEOUT_MS} ms after the window`, this.expected - this.ops);
  }

  onOpen(): void {}

  onMessage(conn: LeanConnection, opcode: number, length: number): void {
    if (conn === this.sender || opcode !== Opcode.Text || !this.measuring) return; // the sender's confirmation; presence
    const n = conn.messageCompressed ? (inflatedSeq.get(conn) ?? -1) : sequenceOf(conn.prefix, length);
    if (n < 0) return; // join/leave/ready
    if (n <= this.base) {
      // A late one from the previous window: not a delivery of this one.
      this.staleDeliveries++;
      this.staleWireBytes += conn.messageWireBytes;
      return;
    }
    if (n > this.seq || n <= this.seq - RING) {
      this.error(`unexpected sequence ${n} (sent up to ${this.seq})`);
      return;
    }
    this.ops++;
    this.wireBytes += conn.messageWireBytes;
    if (conn.messageCompressed) this.compressedDeliveries++;
    this.latency.record((performance.now() - this.sentAt[n % RING]) * 1000);
  }

  onFail(_conn: LeanConnection, reason: string): void {
    this.error(reason);
  }
}

function countExtensions(conns: readonly LeanConnection[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of conns) out[c.extensions ?? ''] = (out[c.extensions ?? ''] ?? 0) + 1;
  return out;
}

async function run(r: RoomsRequest): Promise<RoomsReply> {
  const conns = await connections(r);
  const [sender, ...receivers] = conns as [LeanConnection, ...LeanConnection[]];
  const runner = new RoomsRunner(sender, receivers, r.rate, r.deflate === true ? realisticDanmaku : placeholderDanmaku);
  const before = { cacheHits: deflated.cacheHits, sharedInflations: deflated.sharedInflations, streamInflations: deflated.streamInflations };
  // The rate is fixed, so deliveries/s is over the sending window; the drain after it only
  // lets the last messages arrive (their latency is measured all the same).
  const totals = await timedWindow(runner, r.seconds);
  return {
    ...totals,
    wireBytes: runner.wireBytes,
    deflate: {
      compressedDeliveries: runner.compressedDeliveries,
      staleDeliveries: runner.staleDeliveries,
      staleWireBytes: runner.staleWireBytes,
      cacheHits: deflated.cacheHits - before.cacheHits,
      sharedInflations: deflated.sharedInflations - before.sharedInflations,
      streamInflations: deflated.streamInflations - before.streamInflations,
      extensions: countExtensions(conns),
    },
  };
}

process.on('message', (request: RoomsRequest) => {
  run(request).then(send, (error: unknown) => send({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
