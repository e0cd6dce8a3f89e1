/**
 * Child-process entry of the cluster-redis load client (bench/load/cluster-redis.ts): many rooms,
 * each with its members on some of a cluster's instances and one sender, all driven at one fixed
 * total rate (open loop: the sender never waits for deliveries). Speaks slabcast's rooms
 * (`ws` to `/ws/room/{room}`, danmaku JSON) or Socket.IO (socket.io-client, WebSocket transport
 * only, `join` then `danmaku` events), so both systems carry the same rooms and traffic. Every
 * receiver's copy is matched to its send time by the sequence number in its text. It runs in its
 * own process so its CPU never mixes with the harness's or the servers'.
 */
import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { LatencyHistogram } from './latency-histogram.js';

/** One room of the layout. */
export interface RoomPlan {
  readonly room: string;
  /** The instance (port) the sender is on: one of `members`. */
  readonly senderPort: number;
  /** Receivers' instances, one entry per receiver. */
  readonly members: readonly number[];
}

/** Parent → child. */
export type FleetRequest =
  | { type: 'open'; system: 'slabcast' | 'socket.io'; host: string; rooms: readonly RoomPlan[] }
  /** One window: send at `rate` for `seconds`, then wait up to `drainMs` for the last deliveries. */
  | { type: 'run'; rate: number; seconds: number; drainMs: number }
  | { type: 'close' };

/** Child → parent. */
export type FleetReply =
  | { type: 'ready' }
  | { type: 'opened'; connections: number }
  | {
      type: 'result';
      /** Messages sent in the window, and the deliveries they should have made. */
      sent: number;
      expected: number;
      delivered: number;
      elapsedSec: number;
      p50Ms: number | null;
      p99Ms: number | null;
      cpuMicros: number;
      firstError: string | null;
    }
  | { type: 'closed' }
  | { type: 'error'; message: string };

const CONNECT_TIMEOUT_MS = 30_000;
const CONNECT_CONCURRENCY = 50;
/** After the joins, wait until no message arrived for this long (presence broadcasts). */
const SETTLE_QUIET_MS = 500;
const TICK_MS = 10;
/** Send times kept for matching: far more than can be in flight. */
const RING = 1 << 16;

function reply(message: FleetReply): void {
  if (process.send === undefined) throw new TypeError('fleet-rooms-child must be started with fork()');
  process.send(message);
}

/** One connected member: `send` posts a danmaku; `onSeq` gets the sequence of each one delivered. */
interface Member {
  send(text: string): void;
  close(): void;
}

let onDelivery: (seq: number) => void = () => {};
let lastMessageAt = 0;
let firstError: string | null = null;
const fail = (reason: string): void => void (firstError ??= reason);

function slabcastMember(host: string, port: number, room: string, receiver: boolean): Promise<Member> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${host}:${port}/ws/room/${room}`, { perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error(`slabcast ${port}/${room}: no ready in ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    ws.on('error', (error) => {
      clearTimeout(timer);
      fail(`slabcast ${port}/${room}: ${error.message}`);
      reject(error);
    });
    ws.on('close', (code) => code !== 1000 && code !== 1005 && fail(`slabcast ${port}/${room}: closed ${code}`));
    ws.on('message', (data: Buffer) => {
      lastMessageAt = performance.now();
      const m = JSON.parse(data.toString('utf8'));
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve({ send: (text) => ws.send(JSON.stringify({ type: 'danmaku', text })), close: () => ws.close(1000) });
      } else if (m.type === 'danmaku' && receiver) onDelivery(Number(m.text));
      else if (m.type === 'error') fail(`slabcast ${port}/${room}: ${m.code}`);
    });
  });
}

function socketIoMember(host: string, port: number, room: string, receiver: boolean): Promise<Member> {
  return new Promise((resolve, reject) => {
    const socket: Socket = io(`http://${host}:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: CONNECT_TIMEOUT_MS });
    socket.on('connect_error', (error) => {
      fail(`socket.io ${port}/${room}: ${error.message}`);
      reject(error);
    });
    socket.on('disconnect', (reason) => reason !== 'io client disconnect' && fail(`socket.io ${port}/${room}: ${reason}`));
    socket.on('danmaku', (m: { text: string }) => {
      lastMessageAt = performance.now();
      if (receiver) onDelivery(Number(m.text));
    });
    socket.on('connect', () => {
      socket.timeout(CONNECT_TIMEOUT_MS).emit('join', room, (error: Error | null) => {
        if (error !== null) return reject(new Error(`socket.io ${port}/${room}: join not acknowledged`));
        lastMessageAt = performance.now();
        resolve({ send: (text) => void socket.emit('danmaku', { text }), close: () => void socket.close() });
      });
    });
  });
}

let senders: Member[] = [];
let everyone: Member[] = [];
let receiversPerRoom: number[] = [];
/** Sequence numbers continue across windows, so a late delivery from the warm-up is recognised and ignored. */
let lastSeq = 0;

async function open(request: Extract<FleetRequest, { type: 'open' }>): Promise<void> {
  const make = request.system === 'slabcast' ? slabcastMember : socketIoMember;
  const jobs: (() => Promise<Member>)[] = [];
  senders = new Array<Member>(request.rooms.length);
  request.rooms.forEach((plan, i) => {
    jobs.push(async () => (senders[i] = await make(request.host, plan.senderPort, plan.room, false)));
    for (const port of plan.members) jobs.push(() => make(request.host, port, plan.room, true));
  });
  receiversPerRoom = request.rooms.map((p) => p.members.length);
  everyone = [];
  for (let i = 0; i < jobs.length; i += CONNECT_CONCURRENCY) everyone.push(...(await Promise.all(jobs.slice(i, i + CONNECT_CONCURRENCY).map((j) => j()))));
  while (performance.now() - lastMessageAt < SETTLE_QUIET_MS) await new Promise((r) => setTimeout(r, 50));
  if (firstError !== null) throw new Error(`while joining: ${firstError}`);
  reply({ type: 'opened', connections: everyone.length });
}

async function runWindow(request: Extract<FleetRequest, { type: 'run' }>): Promise<void> {
  const latency = new LatencyHistogram();
  const sentAt = new Float64Array(RING);
  const base = lastSeq; // sequences ≤ base belong to an earlier window
  let seq = base;
  let delivered = 0;
  let expected = 0;
  onDelivery = (n) => {
    if (n <= base || n > seq) return;
    delivered++;
    latency.record((performance.now() - sentAt[n & (RING - 1)]) * 1000);
  };
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const end = started + request.seconds * 1000;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.floor((Math.min(now, end) - started) * request.rate / 1000);
      while (seq - base < due) {
        const k = seq - base;
        const room = k % senders.length;
        seq++;
        sentAt[seq & (RING - 1)] = performance.now();
        expected += receiversPerRoom[room];
        senders[room].send(String(seq));
      }
      if (now >= end) resolve();
      else setTimeout(tick, TICK_MS);
    };
    tick();
  });
  const elapsedSec = (performance.now() - started) / 1000;
  const drainUntil = performance.now() + request.drainMs;
  while (delivered < expected && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  const cpu = process.cpuUsage(cpuBefore);
  lastSeq = seq;
  reply({
    type: 'result',
    sent: seq - base,
    expected,
    delivered,
    elapsedSec,
    p50Ms: latency.quantileMs(0.5),
    p99Ms: latency.quantileMs(0.99),
    cpuMicros: cpu.user + cpu.system,
    firstError,
  });
}

process.on('message', (request: FleetRequest) => {
  const job = request.type === 'open' ? open(request) : request.type === 'run' ? runWindow(request) : Promise.resolve(closeAll());
  job.catch((error: unknown) => reply({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
});
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });

function closeAll(): void {
  for (const m of everyone) m.close();
  everyone = [];
  senders = [];
  reply({ type: 'closed' });
}
