import { fileURLToPath } from 'node:url';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import type { ServerTarget } from '../lib/processes.js';
import { ROOMS_RATE_LIMIT_ARGS, roomsGenerator } from '../lib/rooms-load.js';
import { uwsBinary, uwsPeer } from '../lib/uws-peer.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const WS_PEER = fileURLToPath(new URL('../peers/ws-rooms.mjs', import.meta.url));

/** Rooms on `ws` with its own permessage-deflate: one `send` per member, each compressed in that member's context. */
const wsDeflatePeer: ServerTarget = {
  label: 'ws',
  role: 'baseline',
  command: process.execPath,
  args: (port) => [WS_PEER, '--port', String(port), '--host', '127.0.0.1', '--deflate'],
  readyPath: '/',
};

/** Rooms on uWebSockets.js pub/sub with SHARED_COMPRESSOR (each subscriber's send compresses with the loop's one compressor). */
const uwsSharedPeer: ServerTarget = {
  ...uwsPeer,
  args: (port) => [...uwsPeer.args(port), '--room-compression', 'shared'],
};

const MEMBERS = 1000;
/** 10/s: a rate `ws`, compressing for each member, can keep up with; 100/s: one it cannot, where the others still can. */
const RATES = [10, 100];

const CASES: readonly LoadCase[] = RATES.map((rate) => ({
  name: `deflate-${MEMBERS}x${rate}/s`,
  spec: { path: '/ws/room/bench', connections: MEMBERS + 1, pipelining: 1, rate },
}));

/** The first window opens 1,001 sockets (and 1,001 join broadcasts): keep that out of the measured one. */
const MIN_WARMUP_SEC = 1;

function peerNotes(ctx: ScenarioContext): ServerTarget[] {
  ctx.note(
    'rooms-deflate: every socket offers "permessage-deflate; client_max_window_bits" and the sender posts realistic danmaku ' +
      '(bench/lib/danmaku-samples.ts: 40 comments, mostly CJK, 140–230 B as members receive them). A delivery is one danmaku arriving at one of ' +
      'the 1,000 receivers; B/delivery = the wire bytes of the delivered frames (header + payload) ÷ deliveries. slabcast runs with ' +
      '--ws-compression on (its default; threshold 64 B, a message is sent compressed only when that makes it shorter, compressed once per broadcast) ' +
      'and --rate-limit 1000000/1000000; "slabcast plain" is the same server with --ws-compression off, for the uncompressed bytes.',
  );
  ctx.note(
    'peer ws: ws 8 WebSocketServer, perMessageDeflate: true (every default: context takeover both ways, 15-bit windows, zlib level 6 = ' +
      'Z_DEFAULT_COMPRESSION, memLevel 8, concurrencyLimit 10; its 1024 B threshold only applies without context takeover, so every message is compressed); ' +
      'one send per member, each compressed in that member’s own deflate context. The client inflates each of its deliveries in that receiver’s own ' +
      'context (minizlib, synchronous), so against ws the client pays per delivery.',
  );
  const targets: ServerTarget[] = [wsDeflatePeer];
  const found = uwsBinary();
  if ('missing' in found) ctx.note(`uWebSockets.js peer skipped: ${found.missing}`);
  else {
    ctx.note(
      `peer uWS.js: uWebSockets.js v${found.version.replace(/-unofficial.*$/, '')} (native binary loaded by path), room route with ` +
        'compression SHARED_COMPRESSOR, app.publish(room, json, false, true), maxBackpressure 1 MiB. Its pub/sub drain sends to each subscriber with ' +
        'ws->send(message, opCode, compress) (uWebSockets src/App.h), so each delivery is compressed on its own by the loop’s shared compressor: ' +
        'members get equal bytes, but the compression is not done once per publish',
    );
    targets.push(uwsSharedPeer);
  }
  return targets;
}

/** One room of 1,000 members with permessage-deflate: slabcast vs uWebSockets.js (shared compressor) vs ws (per member). */
export const scenario: Scenario = {
  name: 'rooms-deflate',
  description:
    `rooms-deflate: one room of ${MEMBERS.toLocaleString('en-US')} members that all negotiated permessage-deflate, one sender posting realistic danmaku ` +
    'at a fixed rate (open loop); deliveries/s, server CPU per delivery and wire bytes per delivery; slabcast (compressed once per broadcast) ' +
    'vs uWebSockets.js (SHARED_COMPRESSOR, pub/sub) vs ws (perMessageDeflate defaults, per member, context takeover)',
  async run(ctx) {
    if (ctx.toolFilter !== null && ctx.toolFilter !== 'lean-ws') {
      ctx.note(`--tool ${ctx.toolFilter}: rooms-deflate only runs the lean-ws client; nothing to run`);
      return { rows: [], notes: [] };
    }
    const base = ctx.slabcast(wsDeflatePeer);
    const subject: ServerTarget = { ...base, args: (port) => [...base.args(port), ...ROOMS_RATE_LIMIT_ARGS, '--ws-compression', 'on'] };
    const plain: ServerTarget = {
      ...base,
      label: `${base.label} plain`,
      role: 'baseline',
      args: (port) => [...base.args(port), ...ROOMS_RATE_LIMIT_ARGS, '--ws-compression', 'off'],
    };
    const labels = new Map<number, string>();
    const run: ScenarioContext = ctx.warmupSec < MIN_WARMUP_SEC ? { ...ctx, warmupSec: MIN_WARMUP_SEC } : ctx;
    return runMatrix(run, {
      scenario: 'rooms-deflate',
      unit: 'delivery',
      cases: CASES,
      generators: [roomsGenerator(ctx, 'rooms-deflate', undefined, { deflate: true, labelOf: (port) => labels.get(port) ?? `port ${port}` })],
      targets: [subject, ...peerNotes(ctx), plain],
      bytesDifferByTarget: true,
      checkServer: (server) => {
        labels.set(server.port, server.target.label);
        return null;
      },
    });
  },
};
