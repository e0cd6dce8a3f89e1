import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import { BENCH_HOST, type ServerTarget } from '../lib/processes.js';
import { ROOMS_RATE_LIMIT_ARGS, roomsGenerator } from '../lib/rooms-load.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const LAUNCHER = fileURLToPath(new URL('../lib/cluster-launcher.ts', import.meta.url));
const PEER = fileURLToPath(new URL('../peers/ws-rooms.mjs', import.meta.url));

const MEMBERS = 1000;
const MIN_WARMUP_SEC = 1;


const CASES: readonly LoadCase[] = [50, 200].map((rate) => ({
  name: `room-${MEMBERS}x${rate}/s`,
  // A room per case: a later case's joiners must not get an earlier case's messages replayed.
  spec: { path: `/ws/room/bench-${rate}`, connections: MEMBERS + 1, pipelining: 1, rate },
}));

/** GET a JSON document from 127.0.0.1:port on a fresh connection. */
function getJson(port: number, path: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: BENCH_HOST, port, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text));
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The ports of the instances behind `port`: the ring's members as `/api/push/status` reports them
 * (a single node has no `cluster`: just `port`). Waits until a cluster's ring is complete.
 */
async function instancePorts(port: number, expected: number): Promise<number[]> {
  const until = Date.now() + 10_000;
  for (;;) {
    const status = await getJson(port, '/api/push/status');
    const members = (status.cluster?.ring.members ?? []) as { url: string }[];
    if (status.cluster === undefined) return [port];
    if (members.length === expected) {
      const ports = members.map((m) => Number(new URL(m.url).port));
      return [port, ...ports.filter((p) => p !== port)];
    }
    if (Date.now() > until) throw new Error(`cluster on ${port}: ${members.length} of ${expected} instances on the ring after 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    // Probing for an optional tool: absence is the answer (the scenario says so and runs nothing).
    return false;
  }
}

/**
 * Cluster mode's cost and shape: one room of 1,000 members split over two instances sharing a
 * Redis (half of every delivery crosses Redis), against the same room on one instance, same run.
 */
export const scenario: Scenario = {
  name: 'cluster',
  description:
    `cluster: one room of ${MEMBERS.toLocaleString('en-US')} members split over 2 instances + Redis vs all on 1 instance; ` +
    'one sender at a fixed rate (open loop); deliveries/s and delivery latency',
  async run(ctx) {
    if (ctx.toolFilter !== null && ctx.toolFilter !== 'lean-ws') {
      ctx.note(`--tool ${ctx.toolFilter}: cluster only runs the lean-ws client; nothing to run`);
      return { rows: [], notes: [] };
    }
    if (!hasRedisServer()) {
      ctx.note('cluster: redis-server is not on PATH (apt-get install redis-server); scenario skipped');
      return { rows: [], notes: [] };
    }
    const base = ctx.slabcast({ label: 'ws', role: 'baseline', command: process.execPath, args: (port) => [PEER, '--port', String(port), '--host', BENCH_HOST], readyPath: '/' });
    if (base.standInFor !== undefined) {
      ctx.note('cluster: --stand-in has no cluster to stand in for; scenario skipped');
      return { rows: [], notes: [] };
    }
    const entry = base.args(0)[0];
    const single: ServerTarget = { ...base, label: 'slabcast x1', role: 'baseline', args: (port) => [...base.args(port), ...ROOMS_RATE_LIMIT_ARGS] };
    const cluster: ServerTarget = {
      label: 'slabcast x2+redis',
      role: 'subject',
      command: process.execPath,
      args: (port) => ['--import', 'tsx', LAUNCHER, '--port', String(port), '--entry', entry, '--', ...ROOMS_RATE_LIMIT_ARGS],
      readyPath: '/',
    };
    ctx.note(
      'cluster: a delivery is one danmaku reaching one of the 1,000 receivers (the sender’s confirmation is not counted). ' +
        'x2+redis: members split evenly over instances a (with the sender) and b; every message goes through Redis ' +
        '(INCR + a keep-and-PUBLISH script) and b frames it once for its 500. Server CPU is the whole tree: both ' +
        'instances and redis-server. On one 2-core machine the cluster cannot scale out: read it as the cost of ' +
        'cluster mode (CPU µs/delivery, latency), not as capacity.',
    );
    const run: ScenarioContext = ctx.warmupSec < MIN_WARMUP_SEC ? { ...ctx, warmupSec: MIN_WARMUP_SEC } : ctx;
    return runMatrix(run, { scenario: 'cluster', unit: 'delivery', cases: CASES, generators: [roomsGenerator(ctx, 'cluster', (port) => instancePorts(port, 2))], targets: [cluster, single] });
  },
};
