import { fileURLToPath } from 'node:url';
import { C_WS_TOOL, cWsFanoutGenerator, ensureWsloadBinary, NoCompilerError } from '../lib/c-ws-load.js';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import type { ServerTarget } from '../lib/processes.js';
import type { LoadGenerator, Scenario, ScenarioContext } from '../lib/scenario.js';
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

/**
 * The load generators: the C client by default; the Node lean client with `--tool lean-ws`
 * (bench/README.md: "The WebSocket load clients").
 */
const TOOLS = [C_WS_TOOL, LEAN_WS_TOOL] as const;

/**
 * The generator `--tool` selects (c-ws unless lean-ws is asked for). The C client is compiled
 * here, before any server starts. Without a compiler, `--tool c-ws` fails; a run without
 * `--tool` notes it and measures with lean-ws.
 */
function generator(ctx: ScenarioContext): LoadGenerator {
  if (ctx.toolFilter === LEAN_WS_TOOL) return wsFanoutGenerator(ctx);
  try {
    return cWsFanoutGenerator(ctx, ensureWsloadBinary(ctx.log));
  } catch (error) {
    if (!(error instanceof NoCompilerError) || ctx.toolFilter === C_WS_TOOL) throw error;
    ctx.note(`${error.message}; ws-fanout runs lean-ws instead`);
    return wsFanoutGenerator(ctx);
  }
}

/** What a row means, and what can be its limit, with each client. */
function clientNote(tool: string): string {
  const common =
    'a delivery is one message arriving at one receiver; p50/p99 are delivery latencies (send time embedded in the payload), ' +
    'including the client reaching that socket among 1,000. CPU µs/delivery is the server side. ';
  if (tool === LEAN_WS_TOOL) {
    return (
      common +
      'lean-ws: the 1,000 receivers share one Node process, whose reads (one per socket per round) cost about as much as the ' +
      'server\'s writes, so the client can be the limit; with one message per round neither side may saturate (the round time is then the limit).'
    );
  }
  return (
    common +
    'c-ws: the 1,000 receivers share one C process (epoll; the reads of each epoll_wait in one io_uring submission where the kernel allows it); every receiver must get every round in order ' +
    'or the run fails. With one message per round neither side may saturate (the round time is then the limit).'
  );
}

/** One sender, 1,000 receivers: slabcast's encode-once broadcast vs `ws` sending per client. */
export const scenario: Scenario = {
  name: 'ws-fanout',
  description:
    `WebSocket fan-out: 1 sender, ${RECEIVERS.toLocaleString('en-US')} receivers, ${MESSAGE_BYTES} B binary, ` +
    `one message per round (the next goes when all receivers got it), and ${WINDOW} rounds in flight (-w${WINDOW}); deliveries/s; slabcast /fanout vs ws and uWebSockets.js (pub/sub)`,
  async run(ctx) {
    if (ctx.toolFilter !== null && !(TOOLS as readonly string[]).includes(ctx.toolFilter)) {
      ctx.note(`--tool ${ctx.toolFilter}: ws-fanout runs ${TOOLS.join(' or ')} only; nothing to run`);
      return { rows: [], notes: [] };
    }
    const selected = generator(ctx);
    ctx.note(wsPeerNote());
    ctx.note(clientNote(selected.name));
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
        generators: [selected],
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
