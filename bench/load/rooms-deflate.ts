import { fileURLToPath } from 'node:url';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import type { ServerTarget } from '../lib/processes.js';
import { ROOMS_RATE_LIMIT_ARGS, roomsGenerator, type RoomsSpec } from '../lib/rooms-load.js';
import { uwsPeers } from '../lib/uws-peer.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const WS_ROOMS = fileURLToPath(new URL('../peers/ws-rooms.mjs', import.meta.url));

/** Rooms on `ws` with permessage-deflate: it compresses each message once per recipient. */
const wsDeflatePeer: ServerTarget = {
  label: 'ws',
  role: 'baseline',
  command: process.execPath,
  args: (port) => [WS_ROOMS, '--port', String(port), '--host', '127.0.0.1', '--deflate'],
  readyPath: '/',
};

const MEMBERS = 1000;

const CASES: readonly LoadCase[] = [20, 100].map((rate) => ({
  name: `room-deflate-${MEMBERS}x${rate}/s`,
  spec: { path: '/ws/room/bench', connections: MEMBERS + 1, pipelining: 1, rate, deflate: true } satisfies RoomsSpec,
}));

/** As rooms.ts: keep the first window's 1,001 upgrades and joins out of the measured one. */
const MIN_WARMUP_SEC = 1;

/** One room of 1,000 members who all negotiated permessage-deflate: slabcast vs uWebSockets.js (SHARED_COMPRESSOR) vs ws. */
export const scenario: Scenario = {
  name: 'rooms-deflate',
  description:
    `rooms with permessage-deflate: one room of ${MEMBERS.toLocaleString('en-US')} members that all offer it (as browsers do), one sender ` +
    'at a fixed rate; deliveries/s, server CPU and wire bytes per delivery; slabcast (compressed once per broadcast) vs uWebSockets.js ' +
    '(SHARED_COMPRESSOR) vs ws (perMessageDeflate, once per recipient)',
  async run(ctx) {
    if (ctx.toolFilter !== null && ctx.toolFilter !== 'lean-ws') {
      ctx.note(`--tool ${ctx.toolFilter}: rooms-deflate only runs the lean-ws client; nothing to run`);
      return { rows: [], notes: [] };
    }
    ctx.note(
      'rooms-deflate: every member offers "permessage-deflate; client_max_window_bits". slabcast answers with no context takeover both ways ' +
        'and compresses a broadcast once for all members; uWebSockets.js publishes with SHARED_COMPRESSOR (compressed once per publish); ws runs ' +
        'perMessageDeflate with serverNoContextTakeover, clientNoContextTakeover and a 64-byte threshold (slabcast\'s threshold; ws\'s default 1,024 B ' +
        'would leave these danmaku uncompressed) and compresses once per recipient. B/delivery = bytes the receivers read off their sockets ' +
        '(frame headers included) ÷ deliveries. The client reads a danmaku\'s sequence number by inflating each distinct compressed payload once.',
    );
    const base = ctx.slabcast(wsDeflatePeer);
    const subject: ServerTarget = { ...base, args: (port) => [...base.args(port), ...ROOMS_RATE_LIMIT_ARGS] };
    const uws = uwsPeers(ctx).map((peer): ServerTarget => ({ ...peer, args: (port) => [...peer.args(port), '--deflate'] }));
    const run: ScenarioContext = ctx.warmupSec < MIN_WARMUP_SEC ? { ...ctx, warmupSec: MIN_WARMUP_SEC } : ctx;
    return runMatrix(run, { scenario: 'rooms-deflate', unit: 'delivery', cases: CASES, generators: [roomsGenerator(ctx, 'rooms-deflate')], targets: [subject, wsDeflatePeer, ...uws] });
  },
};
