import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import { stopChild, trackChild, type ServerTarget } from '../lib/processes.js';
import type { RoomsReply, RoomsRequest } from '../lib/rooms-load-child.js';
import type { GeneratorSession, LoadGenerator, LoadResult, LoadSpec, Scenario, ScenarioContext } from '../lib/scenario.js';

const PEER = fileURLToPath(new URL('../peers/ws-rooms.mjs', import.meta.url));
const CHILD = fileURLToPath(new URL('../lib/rooms-load-child.ts', import.meta.url));

/** Rooms on `ws`: JSON once per message, then one `send` (one framing) per member. */
const wsRoomsPeer: ServerTarget = {
  label: 'ws',
  role: 'baseline',
  command: process.execPath,
  args: (port) => [PEER, '--port', String(port), '--host', '127.0.0.1'],
  readyPath: '/',
};

const MEMBERS = 1000;
/** The bench's one sender posts far above the default 10/s bucket: lift it on the command line. */
const RATE_LIMIT_ARGS = ['--rate-limit', '1000000/1000000'];

/** A LoadSpec carrying the sender's rate (danmaku/s). `connections` = members + the sender. */
interface RoomsSpec extends LoadSpec {
  readonly rate: number;
}

const CASES: readonly LoadCase[] = [20, 100, 400].map((rate) => ({
  name: `room-${MEMBERS}x${rate}/s`,
  spec: { path: '/ws/room/bench', connections: MEMBERS + 1, pipelining: 1, rate } as RoomsSpec,
}));

/** The first window opens 1,001 sockets (and 1,001 join broadcasts): keep that out of the measured one. */
const MIN_WARMUP_SEC = 1;
const OVERRUN_GRACE_SEC = 30;

function request(child: ChildProcess, message: RoomsRequest, timeoutMs: number, log: (line: string) => void): Promise<Extract<RoomsReply, { type: 'result' }>> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (reply: RoomsReply): void => {
      if (reply.type === 'progress') return log(`  ${reply.line}`);
      if (reply.type === 'ready') return;
      cleanup();
      if (reply.type === 'error') reject(new Error(`rooms load client: ${reply.message}`));
      else resolve(reply);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`rooms load client exited (${code}) during a window`));
    };
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`rooms load client: no result after ${timeoutMs} ms; killed`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}

function roomsGenerator(ctx: ScenarioContext): LoadGenerator {
  return {
    name: 'lean-ws',
    threads: 1,
    async open(): Promise<GeneratorSession> {
      const child = fork(CHILD, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      trackChild(child);
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`rooms load client exited (${code}) at start`)));
      });
      return {
        async run(url: string, spec: LoadSpec, seconds: number): Promise<LoadResult> {
          const { hostname, port } = new URL(url);
          const rate = (spec as RoomsSpec).rate;
          const reply = await request(
            child,
            { type: 'rooms', host: hostname, port: Number(port), path: spec.path, receivers: spec.connections - 1, rate, seconds },
            (seconds + OVERRUN_GRACE_SEC) * 1000,
            (line) => ctx.log(line),
          );
          if (reply.errors > 0) ctx.note(`rooms ${rate}/s on ${port}: ${reply.errors} error(s); first: ${reply.firstError ?? 'unknown'}`);
          return { ops: reply.ops, elapsedSec: reply.elapsedSec, p50Ms: reply.p50Ms, p99Ms: reply.p99Ms, non2xx: null, errors: reply.errors, bytes: null, clientCpuMicros: reply.cpuMicros };
        },
        async close() {
          if (child.connected) child.disconnect();
          await stopChild(child);
        },
      };
    },
  };
}

/** One room of 1,000 members, one sender at a fixed rate: slabcast rooms vs rooms on `ws`. */
export const scenario: Scenario = {
  name: 'rooms',
  description:
    `rooms: one room of ${MEMBERS.toLocaleString('en-US')} members, one sender posting danmaku at a fixed rate (open loop); ` +
    'deliveries/s and delivery latency; slabcast /ws/room (open mode) vs rooms on ws',
  async run(ctx) {
    if (ctx.toolFilter !== null && ctx.toolFilter !== 'lean-ws') {
      ctx.note(`--tool ${ctx.toolFilter}: rooms only runs the lean-ws client; nothing to run`);
      return { rows: [], notes: [] };
    }
    ctx.note(
      'rooms: a delivery is one danmaku arriving at one of the 1,000 receivers (the sender’s own confirmation is not counted). ' +
        'Latency is from the sender’s write to the receiver’s read, in the same client process. Open loop: a server that falls ' +
        'behind shows growing p99 and missing deliveries (errors), not a lower rate. slabcast runs with --rate-limit 1000000/1000000.',
    );
    const base = ctx.slabcast(wsRoomsPeer);
    const subject: ServerTarget = { ...base, args: (port) => [...base.args(port), ...RATE_LIMIT_ARGS] };
    const run: ScenarioContext = ctx.warmupSec < MIN_WARMUP_SEC ? { ...ctx, warmupSec: MIN_WARMUP_SEC } : ctx;
    return runMatrix(run, { scenario: 'rooms', unit: 'delivery', cases: CASES, generators: [roomsGenerator(ctx)], targets: [subject, wsRoomsPeer] });
  },
};
