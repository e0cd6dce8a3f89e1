/**
 * The rebalance scenario's read load (bench/load/rebalance.ts), forked so its CPU is its own: a
 * closed loop of `Range` GETs of complete audio streams, one request in flight per keep-alive
 * connection, each connection bound to one instance and reading only the streams that instance
 * holds. A `307` (the instance handed the stream off) is counted and that stream is no longer read
 * there; any other status, a short body or a socket error is an error. HTTP/1.1 is parsed by hand
 * (status line, Content-Length; slabcast's reads always carry one), so the client costs little
 * CPU per response next to the servers.
 *
 * Time is cut into {@link BUCKET_MS} buckets (wall clock, ms since the epoch): body bytes,
 * responses, redirects, errors and this process's CPU per bucket, plus every response's latency,
 * so the parent can read any sub-window (before, during and after a join) from one run.
 *
 * IPC: parent → `{type:'start', …}` → `{type:'started'}`; `{type:'stop'}` → `{type:'result', …}`.
 */
import { connect, type Socket } from 'node:net';

/** Width of one timeline bucket. */
export const BUCKET_MS = 100;

/** Which streams an instance (by port) serves, and their sizes. */
export interface ReaderPlan {
  readonly type: 'start';
  readonly host: string;
  /** Per instance port: the ids of the streams it holds. */
  readonly holdings: readonly { readonly port: number; readonly streams: readonly string[] }[];
  readonly sizes: Readonly<Record<string, number>>;
  readonly connectionsPerInstance: number;
  readonly rangeBytes: number;
}

/** One bucket of the timeline. */
export interface Bucket {
  /** Start of the bucket, ms since the epoch. */
  readonly at: number;
  bodyBytes: number;
  responses: number;
  redirects: number;
  errors: number;
  cpuMicros: number;
}

export type ReaderReply =
  | { readonly type: 'started' }
  | { readonly type: 'result'; readonly buckets: Bucket[]; readonly latencies: number[]; readonly firstError: string | null }
  | { readonly type: 'error'; readonly message: string };

/** Latencies as pairs: [ms since the epoch at completion, latency ms, …] (flat, for a cheap IPC copy). */
const latencies: number[] = [];
const buckets: Bucket[] = [];
let firstError: string | null = null;
let running = false;
let lastCpu = process.cpuUsage();
const sockets: Socket[] = [];

function bucket(now: number): Bucket {
  const at = now - (now % BUCKET_MS);
  let last = buckets[buckets.length - 1];
  if (last === undefined || last.at !== at) {
    last = { at, bodyBytes: 0, responses: 0, redirects: 0, errors: 0, cpuMicros: 0 };
    buckets.push(last);
  }
  return last;
}

/** CPU since the last sample goes to the current bucket (sampled every bucket by a timer). */
function sampleCpu(): void {
  const cpu = process.cpuUsage();
  bucket(Date.now()).cpuMicros += cpu.user - lastCpu.user + (cpu.system - lastCpu.system);
  lastCpu = cpu;
}

function fail(message: string): void {
  firstError ??= message;
  bucket(Date.now()).errors++;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection's read loop against one instance. */
function runConnection(plan: ReaderPlan, port: number, held: string[], seed: number): void {
  let state = seed >>> 0 || 1;
  const random = (n: number): number => {
    // xorshift32: cheap, and every run reads the same sequence
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  let socket: Socket;
  let head: Buffer = Buffer.alloc(0);
  let bodyLeft = -1;
  let status = 0;
  let stream = '';
  let startedAt = 0;

  const request = (): void => {
    if (!running) return;
    if (held.length === 0) return; // everything it held was handed off: this connection idles
    stream = held[random(held.length)];
    const size = plan.sizes[stream];
    const length = Math.min(plan.rangeBytes, size);
    const offset = random(Math.floor((size - length) / 4096) + 1) * 4096;
    head = Buffer.alloc(0);
    bodyLeft = -1;
    startedAt = performance.now();
    socket.write(`GET /audio/${stream} HTTP/1.1\r\nHost: ${plan.host}:${port}\r\nRange: bytes=${offset}-${offset + length - 1}\r\n\r\n`);
  };

  const finish = (): void => {
    const now = Date.now();
    const b = bucket(now);
    b.responses++;
    latencies.push(now, performance.now() - startedAt);
    if (status === 307) {
      b.redirects++;
      const at = held.indexOf(stream);
      if (at >= 0) held.splice(at, 1);
    } else if (status !== 206) fail(`GET /audio/${stream} on ${port}: status ${status}`);
    request();
  };

  const onData = (chunk: Buffer): void => {
    let data = chunk;
    while (data.length > 0) {
      if (bodyLeft < 0) {
        head = head.length === 0 ? data : Buffer.concat([head, data]);
        const end = head.indexOf(HEAD_END);
        if (end < 0) return;
        const text = head.subarray(0, end).toString('latin1');
        status = Number(text.slice(9, 12));
        const match = /\r\ncontent-length:\s*(\d+)/i.exec(text);
        if (match === null) {
          fail(`GET /audio/${stream} on ${port}: no Content-Length (status ${status})`);
          socket.destroy();
          return;
        }
        bodyLeft = Number(match[1]);
        data = head.subarray(end + 4);
        head = Buffer.alloc(0);
      }
      const take = Math.min(bodyLeft, data.length);
      if (status === 206) bucket(Date.now()).bodyBytes += take;
      bodyLeft -= take;
      data = data.subarray(take);
      if (bodyLeft === 0) {
        if (data.length > 0) fail(`GET /audio/${stream} on ${port}: ${data.length} bytes after the body`);
        finish();
        return;
      }
    }
  };

  const open = (): void => {
    socket = connect({ host: plan.host, port, noDelay: true }, request);
    sockets.push(socket);
    socket.on('data', onData);
    socket.on('error', (error) => fail(`${port}: ${error.message}`));
    socket.on('close', () => {
      if (!running) return;
      if (bodyLeft !== 0 && bodyLeft !== -1) fail(`${port}: connection closed in a body`);
      setTimeout(open, 50); // a new connection after a close (an instance restarting its listener is not expected here)
    });
  };
  open();
}

function start(plan: ReaderPlan): void {
  running = true;
  lastCpu = process.cpuUsage();
  const timer = setInterval(sampleCpu, BUCKET_MS);
  process.once('message', () => {
    // The only message after 'start' is 'stop'.
    running = false;
    clearInterval(timer);
    sampleCpu();
    for (const s of sockets) s.destroy();
    const reply: ReaderReply = { type: 'result', buckets, latencies, firstError };
    process.send?.(reply, () => process.exit(0));
  });
  let seed = 1;
  for (const { port, streams } of plan.holdings) {
    // One list per instance, shared by its connections: a redirect taken by one is learnt by all.
    const held = [...streams];
    for (let i = 0; i < plan.connectionsPerInstance; i++) runConnection(plan, port, held, 0x9e3779b9 * seed++);
  }
  process.send?.({ type: 'started' } satisfies ReaderReply);
}

process.once('message', (message: ReaderPlan) => {
  try {
    start(message);
  } catch (error) {
    process.send?.({ type: 'error', message: error instanceof Error ? error.message : String(error) } satisfies ReaderReply);
  }
});
