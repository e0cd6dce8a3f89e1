import { fileURLToPath } from 'node:url';
import { C_WS_TOOL, cWsRoomsGenerator, ensureWsloadBinary, NoCompilerError } from '../lib/c-ws-load.js';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import type { ServerTarget } from '../lib/processes.js';
import { ROOMS_RATE_LIMIT_ARGS, roomsGenerator } from '../lib/rooms-load.js';
import { uwsPeers } from '../lib/uws-peer.js';
import type { LoadGenerator, Scenario, ScenarioContext } from '../lib/scenario.js';
import { LEAN_WS_TOOL } from '../lib/ws-load.js';

const PEER = fileURLToPath(new URL('../peers/ws-rooms.mjs', import.meta.url));

/** Rooms on `ws`: JSON once per message, then one `send` (one framing) per member. */
const wsRoomsPeer: ServerTarget = {
  label: 'ws',
  role: 'baseline',
  command: process.execPath,
  args: (port) => [PEER, '--port', String(port), '--host', '127.0.0.1'],
  readyPath: '/',
};

const MEMBERS = 1000;

const CASES: readonly LoadCase[] = [20, 100, 400].map((rate) => ({
  name: `room-${MEMBERS}x${rate}/s`,
  spec: { path: '/ws/room/bench', connections: MEMBERS + 1, pipelining: 1, rate },
}));

/** The first window opens 1,001 sockets (and 1,001 join broadcasts): keep that out of the measured one. */
const MIN_WARMUP_SEC = 1;

/**
 * The load generators: the C client by default; the Node rooms client with `--tool lean-ws`
 * (bench/README.md: "The WebSocket load clients").
 */
const TOOLS = [C_WS_TOOL, LEAN_WS_TOOL] as const;

/**
 * The generator `--tool` selects (c-ws unless lean-ws is asked for). The C client is compiled
 * here, before any server starts. Without a compiler, `--tool c-ws` fails; a run without
 * `--tool` notes it and measures with lean-ws.
 */
function generator(ctx: ScenarioContext): LoadGenerator {
  if (ctx.toolFilter === LEAN_WS_TOOL) return roomsGenerator(ctx, 'rooms');
  try {
    return cWsRoomsGenerator(ctx, ensureWsloadBinary(ctx.log), 'rooms');
  } catch (error) {
    if (!(error instanceof NoCompilerError) || ctx.toolFilter === C_WS_TOOL) throw error;
    ctx.note(`${error.message}; rooms runs lean-ws instead`);
    return roomsGenerator(ctx, 'rooms');
  }
}

/** What a row means, and what can be its limit, with each client. */
function clientNote(tool: string): string {
  const common =
    'rooms: a delivery is one danmaku arriving at one of the 1,000 receivers (the sender’s own confirmation is not counted). ' +
    'Latency is from the sender’s write to the receiver’s read, in the same client process. Open loop: a server that falls ' +
    'behind shows growing p99 and missing deliveries (errors), not a lower rate. slabcast runs with --rate-limit 1000000/1000000. ';
  if (tool === LEAN_WS_TOOL) {
    return common + 'lean-ws: the 1,000 receivers share one Node process, which pays libuv and JavaScript per read; at 400/s it can be the limit.';
  }
  return (
    common +
    'c-ws: the 1,000 receivers share one C process (edge-triggered epoll; the reads of each epoll_wait in one io_uring submission where the kernel allows it; the seq found in the first ' +
    '160 payload bytes); a danmaku a receiver gets twice or out of order is an error.'
  );
}

/** One room of 1,000 members, one sender at a fixed rate: slabcast rooms vs rooms on `ws`. */
export const scenario: Scenario = {
  name: 'rooms',
  description:
    `rooms: one room of ${MEMBERS.toLocaleString('en-US')} members, one sender posting danmaku at a fixed rate (open loop); ` +
    'deliveries/s and delivery latency; slabcast /ws/room (open mode) vs rooms on ws and on uWebSockets.js (pub/sub)',
  async run(ctx) {
    if (ctx.toolFilter !== null && !(TOOLS as readonly string[]).includes(ctx.toolFilter)) {
      ctx.note(`--tool ${ctx.toolFilter}: rooms runs ${TOOLS.join(' or ')} only; nothing to run`);
      return { rows: [], notes: [] };
    }
    const selected = generator(ctx);
    ctx.note(clientNote(selected.name));
    const base = ctx.slabcast(wsRoomsPeer);
    const subject: ServerTarget = { ...base, args: (port) => [...base.args(port), ...ROOMS_RATE_LIMIT_ARGS] };
    const run: ScenarioContext = ctx.warmupSec < MIN_WARMUP_SEC ? { ...ctx, warmupSec: MIN_WARMUP_SEC } : ctx;
    return runMatrix(run, { scenario: 'rooms', unit: 'delivery', cases: CASES, generators: [selected], targets: [subject, wsRoomsPeer, ...uwsPeers(ctx)] });
  },
};
