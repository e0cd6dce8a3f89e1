import { fileURLToPath } from 'node:url';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import type { ServerTarget } from '../lib/processes.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';
import { LEAN_WS_TOOL, wsFanoutGenerator, type WsLoadSpec } from '../lib/ws-load.js';
import { uwsPeers } from '../lib/uws-peer.js';
import { wsPeerNote } from './ws-echo.js';

const PEER = fileURLToPath(new URL('../peers/ws-fanout.mjs', import.meta.url));

/** `ws` broadcasting the usual way: one `send` per other open client. */
const wsFanoutPeer: ServerTarget = {
  label: 'ws',
  role: 'baseline',
  command: process.execPath,
  args: (port) => [PEER, '--port', String(port), '--host', '127.0.0.1'],
  readyPath: '/',
};

/** slabcast serves /fanout only when asked (`--fanout-path`); a --stand-in peer takes no flags. */
function withFanoutPath(target: ServerTarget): ServerTarget {
  if (target.standInFor !== undefined) return target;
  return { ...target, args: (port) => [...target.args(port), '--fanout-path', FANOUT.path] };
}

const RECEIVERS = 1000;
const MESSAGE_BYTES = 64;

/** Sender + receivers in one spec: `connections` counts every socket. */
const FANOUT: WsLoadSpec = { path: '/fanout', connections: RECEIVERS + 1, pipelining: 1, messageBytes: MESSAGE_BYTES };

/** Rounds in flight for the throughput case: several messages meet in one server turn. */
const WINDOW = 16;

const CASES: readonly LoadCase[] = [
  { name: `fanout-${RECEIVERS}x${MESSAGE_BYTES}B`, spec: FANOUT },
  { name: `fanout-${RECEIVERS}x${MESSAGE_BYTES}B-w${WINDOW}`, spec: { ...FANOUT, pipelining: WINDOW } },
];

/**
 * The first window of each client session opens the 1,001 sockets (1,001 upgrades), which
 * is not fan-out work: at least this much warm-up keeps them out of the measured window,
 * even under --quick.
 */
const MIN_WARMUP_SEC = 1;

/** One sender, 1,000 receivers: slabcast's encode-once broadcast vs `ws` sending per client. */
export const scenario: Scenario = {
  name: 'ws-fanout',
  description:
    `WebSocket fan-out: 1 sender, ${RECEIVERS.toLocaleString('en-US')} receivers, ${MESSAGE_BYTES} B binary, ` +
    `one message per round (the next goes when all receivers got it), and ${WINDOW} rounds in flight (-w${WINDOW}); deliveries/s; slabcast /fanout vs ws and uWebSockets.js (pub/sub)`,
  async run(ctx) {
    if (ctx.toolFilter !== null && ctx.toolFilter !== LEAN_WS_TOOL) {
      ctx.note(`--tool ${ctx.toolFilter}: ws-fanout only runs the lean-ws client; nothing to run`);
      return { rows: [], notes: [] };
    }
    ctx.note(wsPeerNote());
    ctx.note(
      'a delivery is one message arriving at one receiver; p50/p99 are delivery latencies (send time embedded in the payload), ' +
        'including the client reaching that socket among 1,000. The 1,000 receivers share one client process, whose reads ' +
        '(one per socket per round) cost about as much as the server\'s writes, so the client can be the limit; with one ' +
        'message per round neither side may saturate (the round time is then the limit). CPU µs/delivery is the server side.',
    );
    let run: ScenarioContext = ctx;
    if (ctx.warmupSec < MIN_WARMUP_SEC) {
      ctx.note(`warm-up raised to ${MIN_WARMUP_SEC} s so the ${FANOUT.connections} upgrades stay out of the measured window`);
      run = { ...ctx, warmupSec: MIN_WARMUP_SEC };
    }
    try {
      return await runMatrix(run, {
        scenario: 'ws-fanout',
        unit: 'delivery',
        cases: CASES,
        generators: [wsFanoutGenerator(ctx)],
        targets: [withFanoutPath(ctx.slabcast(wsFanoutPeer)), wsFanoutPeer, ...uwsPeers(ctx)],
      });
    } catch (error) {
      if (error instanceof Error && / 404 /.test(error.message)) {
        throw new Error(
          `${error.message}\nslabcast did not serve ${FANOUT.path}: it is on only with --fanout-path (src/services/bench-fanout/fanout-endpoint.ts); rebuild with npm run build:ts`,
          { cause: error },
        );
      }
      throw error;
    }
  },
};
