import { fileURLToPath } from 'node:url';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import type { ServerTarget } from '../lib/processes.js';
import { ROOMS_RATE_LIMIT_ARGS, roomsGenerator } from '../lib/rooms-load.js';
import { uwsPeers } from '../lib/uws-peer.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

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


/** One room of 1,000 members, one sender at a fixed rate: slabcast rooms vs rooms on `ws`. */
export const scenario: Scenario = {
  name: 'rooms',
  description:
    `rooms: one room of ${MEMBERS.toLocaleString('en-US')} members, one sender posting danmaku at a fixed rate (open loop); ` +
    'deliveries/s and delivery latency; slabcast /ws/room (open mode) vs rooms on ws and on uWebSockets.js (pub/sub)',
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
    const subject: ServerTarget = { ...base, args: (port) => [...base.args(port), ...ROOMS_RATE_LIMIT_ARGS] };
    const run: ScenarioContext = ctx.warmupSec < MIN_WARMUP_SEC ? { ...ctx, warmupSec: MIN_WARMUP_SEC } : ctx;
    return runMatrix(run, { scenario: 'rooms', unit: 'delivery', cases: CASES, generators: [roomsGenerator(ctx, 'rooms')], targets: [subject, wsRoomsPeer, ...uwsPeers(ctx)] });
  },
};
