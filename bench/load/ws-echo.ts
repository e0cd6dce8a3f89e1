import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { C_WS_TOOL, cWsEchoGenerator, ensureWsloadBinary, NoCompilerError } from '../lib/c-ws-load.js';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import type { ServerTarget } from '../lib/processes.js';
import type { LoadGenerator, Scenario, ScenarioContext } from '../lib/scenario.js';
import { uwsPeers } from '../lib/uws-peer.js';
import { LEAN_WS_TOOL, wsEchoGenerator, type WsLoadSpec } from '../lib/ws-load.js';

const PEER = fileURLToPath(new URL('../peers/ws-echo.mjs', import.meta.url));

/** `ws` (WebSocketServer, permessage-deflate off) echoing on /echo like slabcast's echo endpoint. */
export const wsEchoPeer: ServerTarget = {
  label: 'ws',
  role: 'baseline',
  command: process.execPath,
  args: (port) => [PEER, '--port', String(port), '--host', '127.0.0.1'],
  readyPath: '/',
};

/** 100 connections, one message in flight on each (send, wait for the echo, send again). */
const CONNECTIONS = 100;

/** Connections of the 1 MiB case. */
const BIG_CONNECTIONS = 32;

const spec = (messageBytes: number): WsLoadSpec => ({ path: '/echo', connections: CONNECTIONS, pipelining: 1, messageBytes });

const CASES: readonly LoadCase[] = [
  // Small messages: per-message overhead (frame parse, dispatch, one write per echo).
  { name: 'echo-20B', spec: spec(20) },
  // 16 KiB: unmasking and copying dominate (RFC 6455 §5.3: every client byte is masked).
  { name: 'echo-16KiB', spec: spec(16 * 1024) },
  // 1 MiB: larger than a large slab section, so slabcast streams it into the oversize area and
  // echoes it from there; 32 connections keep 32 MiB in flight each way.
  { name: 'echo-1MiB', spec: { ...spec(1024 * 1024), connections: BIG_CONNECTIONS } },
];

/** The `ws` package version and whether its native helpers are installed (they change its speed). */
export function wsPeerNote(): string {
  const require = createRequire(import.meta.url);
  const version = (require('ws/package.json') as { version: string }).version;
  const natives = ['bufferutil', 'utf-8-validate'].filter((name) => {
    try {
      require.resolve(name);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return false;
      throw error;
    }
  });
  const helpers = natives.length === 0 ? 'without bufferutil/utf-8-validate (pure-JS masking)' : `with ${natives.join(' + ')}`;
  return `peer: ws ${version}, perMessageDeflate off, ${helpers}`;
}

/** The load generators: the Node lean client and the C client (bench/README.md: "The WebSocket load clients"). */
const TOOLS = [LEAN_WS_TOOL, C_WS_TOOL] as const;

/**
 * The generators `--tool` selects. The C client is compiled here, before any server starts, so
 * the compiler's CPU lands in no window. Without a compiler, `--tool c-ws` fails; a run of
 * every tool notes it and goes on with lean-ws.
 */
function generators(ctx: ScenarioContext): LoadGenerator[] {
  const wanted = (tool: string): boolean => ctx.toolFilter === null || ctx.toolFilter === tool;
  const out: LoadGenerator[] = [];
  if (wanted(LEAN_WS_TOOL)) out.push(wsEchoGenerator(ctx));
  if (wanted(C_WS_TOOL)) {
    try {
      out.push(cWsEchoGenerator(ctx, ensureWsloadBinary(ctx.log)));
    } catch (error) {
      if (!(error instanceof NoCompilerError) || ctx.toolFilter === C_WS_TOOL) throw error;
      ctx.note(`${error.message}; ws-echo runs lean-ws only`);
    }
  }
  return out;
}

/** WebSocket echo: slabcast /echo vs `ws` and uWebSockets.js, binary 20 B, 16 KiB and 1 MiB, one message in flight per connection. */
export const scenario: Scenario = {
  name: 'ws-echo',
  description: `WebSocket /echo, one binary message in flight per connection: 20 B and 16 KiB on ${CONNECTIONS} connections, 1 MiB on ${BIG_CONNECTIONS}; slabcast vs ws and uWebSockets.js`,
  async run(ctx) {
    if (ctx.toolFilter !== null && !(TOOLS as readonly string[]).includes(ctx.toolFilter)) {
      ctx.note(`--tool ${ctx.toolFilter}: ws-echo runs ${TOOLS.join(' and ')} only; nothing to run`);
      return { rows: [], notes: [] };
    }
    const selected = generators(ctx);
    ctx.note(wsPeerNote());
    return runMatrix(ctx, {
      scenario: 'ws-echo',
      unit: 'msg',
      cases: CASES,
      generators: selected,
      targets: [ctx.slabcast(wsEchoPeer), wsEchoPeer, ...uwsPeers(ctx)],
    });
  },
};
