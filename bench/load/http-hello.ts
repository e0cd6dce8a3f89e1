import { fileURLToPath } from 'node:url';
import { autocannonGenerator } from '../lib/autocannon.js';
import { ensurePeerBinary, NoCompilerError } from '../lib/c-client.js';
import { C_HTTP_TOOL, cHttpGenerator, ensureHttploadBinary, type HttpDownloadSpec } from '../lib/c-http-load.js';
import { HELLO_BODY, HELLO_CONTENT_TYPE } from '../lib/hello.js';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import type { RunningServer, ServerTarget } from '../lib/processes.js';
import type { LoadGenerator, Scenario, ScenarioContext } from '../lib/scenario.js';
import { uwsPeers } from '../lib/uws-peer.js';
import { findWrk, wrkGenerator } from '../lib/wrk.js';

const PEER = fileURLToPath(new URL('../peers/node-http-hello.mjs', import.meta.url));

/** node:http serving the same bytes as slabcast's hello world. */
const nodeHttpPeer: ServerTarget = {
  label: 'node:http',
  role: 'baseline',
  command: process.execPath,
  args: (port) => [PEER, '--port', String(port), '--host', '127.0.0.1'],
  readyPath: '/',
};

/**
 * The floor (bench/peers/c-hello.c): a C epoll loop that answers every request head with the same
 * page and does nothing else, so what each server costs above it is the server's own work. Without
 * a compiler the rows run without it (noted).
 */
function cFloorPeer(ctx: ScenarioContext): ServerTarget | null {
  let binary: string;
  try {
    binary = ensurePeerBinary('c-hello', ctx.log, 'http-hello runs without the C floor');
  } catch (error) {
    if (!(error instanceof NoCompilerError)) throw error;
    ctx.note(error.message);
    return null;
  }
  return { label: 'C floor', role: 'baseline', command: binary, args: (port) => ['--port', String(port), '--host', '127.0.0.1'], readyPath: '/' };
}

/**
 * Plain HTTP/1.1 keep-alive (RFC 9112 §9.3): one request in flight per connection; the C client reads
 * the whole page each time. wrk runs two threads here (its default): one thread is at a full core
 * against every server (slabcast, uWebSockets.js and the C floor alike), so with one the row only
 * measures wrk; with two, wrk and the server share the machine and the server's CPU per request
 * decides the rate.
 */
const KEEP_ALIVE: HttpDownloadSpec = { path: '/', connections: 100, pipelining: 1, rangeBytes: 0, totalBytes: Buffer.byteLength(HELLO_BODY), wrkThreads: 2 };

const CASES: readonly LoadCase[] = [
  { name: 'keep-alive', spec: KEEP_ALIVE },
  // Pipelining (RFC 9112 §9.3.2): 16 requests written back to back, answered in order (the C client keeps one in flight).
  { name: 'pipeline-16', spec: { path: '/', connections: 100, pipelining: 16 }, tools: ['autocannon', 'wrk'] },
];

/**
 * The C client, compiled before any server starts (the compiler's CPU lands in no window); without
 * a compiler a run of every tool notes it and goes on with autocannon and wrk.
 */
function cHttp(ctx: ScenarioContext): LoadGenerator | null {
  try {
    return cHttpGenerator(ctx, ensureHttploadBinary(ctx.log, 'http-hello keep-alive needs a client leaner than wrk'), 'responses');
  } catch (error) {
    if (!(error instanceof NoCompilerError) || ctx.toolFilter === C_HTTP_TOOL) throw error;
    ctx.note(`${error.message}; http-hello runs autocannon and wrk only`);
    return null;
  }
}

/** Returns a note when a server's hello page is not byte-identical to HELLO_BODY. */
function checkHello(server: RunningServer): string | null {
  const { probe, target } = server;
  const problems: string[] = [];
  if (probe.body.toString('utf8') !== HELLO_BODY) problems.push(`body differs (${probe.body.length} B)`);
  const type = probe.headers.get('content-type');
  if (type !== HELLO_CONTENT_TYPE) problems.push(`Content-Type is ${JSON.stringify(type ?? null)}`);
  if (problems.length === 0) return null;
  return `${target.label}: response is not the reference hello page: ${problems.join('; ')}. Ratios compare unequal work.`;
}

/** HTTP/1.1 hello world: slabcast vs node:http, keep-alive and 16-deep pipelining. */
export const scenario: Scenario = {
  name: 'http-hello',
  description: 'GET / hello-world page, 100 connections: keep-alive (autocannon, wrk with two threads, the C client) and 16-deep pipelining (autocannon, wrk); slabcast vs node:http, uWebSockets.js and the C floor (an epoll loop that only answers)',
  async run(ctx) {
    const generators: LoadGenerator[] = [autocannonGenerator];
    const wrk = findWrk();
    if (wrk === null) ctx.note('wrk not installed (apt-get install -y wrk): wrk rows skipped');
    else {
      generators.push(wrkGenerator(wrk.path));
      if (ctx.toolFilter === null || ctx.toolFilter === 'wrk') {
        ctx.note('wrk pipeline-16 latency not reported: wrk records one sample per batch and its percentiles are broken there (wg/wrk#236)');
      }
    }
    if (ctx.toolFilter === null || ctx.toolFilter === C_HTTP_TOOL) {
      const c = cHttp(ctx);
      if (c !== null) generators.push(c);
    }
    const selected = generators.filter((g) => ctx.toolFilter === null || g.name === ctx.toolFilter);
    if (selected.length === 0) {
      ctx.note(`no generator matches --tool ${ctx.toolFilter}; nothing to run`);
      return { rows: [], notes: [] };
    }
    const floor = cFloorPeer(ctx);
    const servers = [ctx.slabcast(nodeHttpPeer), nodeHttpPeer, ...uwsPeers(ctx), ...(floor === null ? [] : [floor])];
    return runMatrix(ctx, {
      scenario: 'http-hello',
      unit: 'req',
      cases: CASES,
      generators: selected,
      targets: servers,
      checkServer: (server) => {
        const note = checkHello(server);
        const bytes = `${server.target.label}: ${server.probe.wireBytes} B per response on the wire`;
        return note === null ? bytes : `${bytes}. ${note}`;
      },
    });
  },
};
