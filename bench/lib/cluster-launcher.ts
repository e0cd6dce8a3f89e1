/**
 * One "server" for the harness that is a whole cluster (bench/load/cluster.ts): a redis-server
 * and two slabcast instances on 127.0.0.1. Instance A listens on `--port` (the port the harness
 * probes and measures), instance B on a free port; clients find B through A's
 * `/api/push/status` (cluster.ring.members). The harness samples this process's CPU tree, so the
 * figures cover Redis and both instances. SIGTERM/SIGINT stop everything within ~1.6 s.
 *
 * Usage: node --import tsx bench/lib/cluster-launcher.ts --port <p> --entry dist/server.js [-- <slabcast args>]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_HOST, freePort } from './processes.js';

/** Each of the two stop steps; the harness SIGKILLs this process 2 s after its SIGTERM. */
const STOP_GRACE_MS = 800;
const START_TIMEOUT_MS = 15_000;

const split = process.argv.indexOf('--');
const own = split < 0 ? process.argv.slice(2) : process.argv.slice(2, split);
const extra = split < 0 ? [] : process.argv.slice(split + 1);
const { values } = parseArgs({ args: own, options: { port: { type: 'string' }, entry: { type: 'string' } } });
if (values.port === undefined || values.entry === undefined) {
  process.stderr.write('cluster-launcher: --port and --entry are required\n');
  process.exit(2);
}
const port = Number(values.port);
const entry = values.entry;
const children: ChildProcess[] = [];
const cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-bench-cluster-'));
let stopping = false;
let redis: ChildProcess | null = null;

function track(child: ChildProcess, name: string): ChildProcess {
  children.push(child);
  child.stdout?.on('data', (d: Buffer) => process.stdout.write(d));
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  child.once('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`cluster-launcher: ${name} exited (${code ?? signal}); stopping the cluster\n`);
    void stop(1);
  });
  return child;
}

function ping(redisPort: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port: redisPort, host: BENCH_HOST });
    s.once('error', () => resolve(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
  });
}

async function startRedis(): Promise<string> {
  const redisPort = await freePort();
  redis = track(spawn('redis-server', ['--port', String(redisPort), '--bind', BENCH_HOST, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'ignore', 'inherit'] }), 'redis-server');
  const until = Date.now() + START_TIMEOUT_MS;
  while (!(await ping(redisPort))) {
    if (Date.now() > until) throw new Error('redis-server did not answer PING');
    await new Promise((r) => setTimeout(r, 20));
  }
  return `redis://${BENCH_HOST}:${redisPort}`;
}

/** Starts one instance and resolves once it has joined the cluster (its "cluster: joined" log line). */
function startInstance(id: string, instancePort: number, redisUrl: string): Promise<void> {
  const args = [entry, '--port', String(instancePort), '--host', BENCH_HOST, '--redis', redisUrl, '--instance-id', id, '--heartbeat-ms', '500', '--heartbeat-ttl-ms', '2000', '--cache-dir', join(cacheDir, id), ...extra];
  const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env }), id);
  return new Promise((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => reject(new Error(`${id} did not join within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    child.stdout!.on('data', (d: Buffer) => {
      pending += d.toString();
      if (pending.includes('"cluster: joined"')) {
        clearTimeout(timer);
        pending = '';
        resolve();
      } else if (pending.length > 65_536) pending = pending.slice(-1024);
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when every one has exited. */
async function terminate(list: readonly ChildProcess[]): Promise<void> {
  const live = list.filter((c) => c.exitCode === null && c.signalCode === null);
  const gone = Promise.all(live.map((c) => new Promise((r) => c.once('exit', r))));
  for (const c of live) c.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of live) c.kill('SIGKILL');
  }, STOP_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // The instances first (they leave the ring and quit Redis), then Redis.
  await terminate(children.filter((c) => c !== redis));
  if (redis !== null) await terminate([redis]);
  rmSync(cacheDir, { recursive: true, force: true });
  process.exit(code);
}

process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

try {
  const redisUrl = await startRedis();
  await startInstance('bench-b', await freePort(), redisUrl);
  await startInstance('bench-a', port, redisUrl); // last: its first ring poll already sees b
} catch (error) {
  process.stderr.write(`cluster-launcher: ${error instanceof Error ? error.message : String(error)}\n`);
  await stop(1);
}
