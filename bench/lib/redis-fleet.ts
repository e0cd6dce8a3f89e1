/**
 * Redis for a benchmark: one `redis-server`, or a Redis Cluster of masters only (no replicas, so no
 * replication traffic in the counts), each on a free 127.0.0.1 port in a temporary directory, never
 * the machine's shared Redis. {@link readRedisCounters} reads what one server did (bytes written to
 * clients, commands, CPU) from `INFO` over a raw socket, so the bench can subtract its own probe.
 *
 * The cluster is joined like test/helpers/redis-cluster.ts does it (`redis-cli --cluster create`);
 * that harness keeps replicas and failover hooks the bench has no use for.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { BENCH_HOST, freePort, stopChild, type TrackedChild } from './processes.js';
import type { ScenarioContext } from './scenario.js';

const run = promisify(execFile);
const START_TIMEOUT_MS = 15_000;

/** Running Redis servers: one standalone, or the masters of one cluster. */
export interface RedisFleet {
  /** 'single' or 'cluster'. */
  readonly mode: 'single' | 'cluster';
  readonly ports: readonly number[];
  /** What slabcast's `--redis` takes: one URL, or every master's URL comma-separated. */
  readonly redisArg: string;
  stop(): Promise<void>;
}

/** One server's counters at one moment (`INFO stats cpu commandstats`). */
export interface RedisCounters {
  /** `total_net_output_bytes`: bytes written to clients (replies, pub/sub deliveries). */
  readonly outBytes: number;
  /** `total_net_input_bytes`: bytes read from clients (commands, script bodies sent with EVAL). */
  readonly inBytes: number;
  /** `total_commands_processed`. */
  readonly commands: number;
  /** `used_cpu_user` + `used_cpu_sys`, in µs. */
  readonly cpuMicros: number;
  /** Calls per command name (`cmdstat_*`), e.g. `evalsha`, `publish`, `ping`. */
  readonly calls: ReadonlyMap<string, number>;
  /** Wire size of this INFO reply, which the next reading's `outBytes` includes. */
  readonly replyBytes: number;
}

function serverArgs(port: number, dir: string, extra: readonly string[]): string[] {
  return ['--port', String(port), '--bind', BENCH_HOST, '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra];
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // A server still starting refuses the probe: ask again until the deadline.
    }
    if (Date.now() > deadline) throw new Error(`redis: ${what} within ${START_TIMEOUT_MS} ms`);
    await delay(50);
  }
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', BENCH_HOST, '-p', String(port), ...args], { timeout: 5000 });
  return stdout.trim();
}

/**
 * Starts one redis-server (`mode` 'single') or `masters` cluster-enabled servers joined into one
 * Redis Cluster with no replicas ('cluster'). Children are tracked by the harness (killed on exit).
 */
export async function startRedisFleet(ctx: ScenarioContext, mode: 'single' | 'cluster', masters = 3): Promise<RedisFleet> {
  const dir = mkdtempSync(join(tmpdir(), 'slabcast-bench-redis-'));
  const count = mode === 'single' ? 1 : masters;
  const ports: number[] = [];
  const children: TrackedChild[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((c) => stopChild(c.child)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      // cluster-port: the bus port would otherwise be port + 10000, which may be taken or past 65535.
      const extra = mode === 'single' ? [] : ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-port', String(await freePort())];
      children.push(ctx.spawn('redis-server', serverArgs(port, dir, extra)));
      ports.push(port);
    }
    await waitFor('every server answers PING', async () => (await Promise.all(ports.map((p) => cli(p, 'PING')))).every((r) => r === 'PONG'));
    if (mode === 'cluster') {
      await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `${BENCH_HOST}:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 20_000 });
      await waitFor('cluster_state:ok on every master', async () => (await Promise.all(ports.map((p) => cli(p, 'CLUSTER', 'INFO')))).every((i) => /cluster_state:ok/.test(i)));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const urls = ports.map((p) => `redis://${BENCH_HOST}:${p}`);
  return { mode, ports, redisArg: urls.join(','), stop };
}

/**
 * How many subscriptions a message on each channel reaches (`perChannel`), summed over the servers,
 * and on how many of the channels each server has subscribers (`channelsPerServer`): `PUBSUB NUMSUB`
 * (classic channels), `SHARDNUMSUB` (sharded) and every client's pattern subscriptions (`psub=` in
 * `CLIENT LIST`; `PUBSUB NUMPAT` counts distinct patterns, not subscribers), each counted for every
 * channel: the only patterns here are Socket.IO classic's, which match all its rooms.
 */
export async function channelSubscribers(ports: readonly number[], channels: readonly string[]): Promise<{ perChannel: number[]; channelsPerServer: number[] }> {
  const perChannel = channels.map(() => 0);
  const channelsPerServer: number[] = [];
  for (const port of ports) {
    let patterns = 0;
    for (const m of (await cli(port, 'CLIENT', 'LIST')).matchAll(/ psub=(\d+)/g)) patterns += Number(m[1]);
    const here = channels.map(() => 0);
    for (const sub of ['NUMSUB', 'SHARDNUMSUB']) {
      const lines = (await cli(port, 'PUBSUB', sub, ...channels)).split('\n');
      channels.forEach((_, i) => (here[i] += Number(lines[2 * i + 1])));
    }
    channelsPerServer.push(here.filter((n) => n > 0).length);
    channels.forEach((_, i) => (perChannel[i] += here[i] + patterns));
  }
  return { perChannel, channelsPerServer };
}

const INFO_REQUEST = '*4\r\n$4\r\nINFO\r\n$5\r\nstats\r\n$3\r\ncpu\r\n$12\r\ncommandstats\r\n';

/** Reads one server's counters over a fresh connection (the connection itself costs no command). */
export function readRedisCounters(port: number): Promise<RedisCounters> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: BENCH_HOST, port });
    let buffered = Buffer.alloc(0);
    socket.setTimeout(5000, () => socket.destroy(new Error(`redis ${port}: INFO timed out`)));
    socket.once('error', reject);
    socket.once('connect', () => socket.write(INFO_REQUEST));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const eol = buffered.indexOf('\r\n');
      if (eol < 0) return;
      if (buffered[0] !== 0x24) {
        socket.destroy();
        reject(new Error(`redis ${port}: INFO answered ${buffered.toString('latin1', 0, eol)}`));
        return;
      }
      const length = Number(buffered.toString('latin1', 1, eol));
      const total = eol + 2 + length + 2;
      if (buffered.length < total) return;
      socket.destroy();
      resolve(parseInfo(buffered.toString('latin1', eol + 2, eol + 2 + length), total));
    });
  });
}

function parseInfo(text: string, replyBytes: number): RedisCounters {
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  const num = (name: string): number => {
    const v = Number(fields.get(name));
    if (!Number.isFinite(v)) throw new Error(`redis INFO has no numeric ${name}`);
    return v;
  };
  const calls = new Map<string, number>();
  for (const [key, value] of fields) {
    if (!key.startsWith('cmdstat_')) continue;
    const m = /(?:^|,)calls=(\d+)/.exec(value);
    if (m !== null) calls.set(key.slice('cmdstat_'.length), Number(m[1]));
  }
  return {
    outBytes: num('total_net_output_bytes'),
    inBytes: num('total_net_input_bytes'),
    commands: num('total_commands_processed'),
    cpuMicros: Math.round((num('used_cpu_user') + num('used_cpu_sys')) * 1e6),
    calls,
    replyBytes,
  };
}

/** What one server did between two readings, without the first reading's own INFO (its reply and the command). */
export interface RedisDelta {
  readonly port: number;
  readonly outBytes: number;
  readonly inBytes: number;
  readonly commands: number;
  readonly cpuMicros: number;
  readonly calls: ReadonlyMap<string, number>;
}

/** `after − before`, minus one probe of its own: an INFO request, its reply (the `before` one) and its count. */
export function redisDelta(port: number, before: RedisCounters, after: RedisCounters): RedisDelta {
  const calls = new Map<string, number>();
  for (const [name, n] of after.calls) {
    const d = n - (before.calls.get(name) ?? 0) - (name === 'info' ? 1 : 0);
    if (d > 0) calls.set(name, d);
  }
  return {
    port,
    outBytes: after.outBytes - before.outBytes - before.replyBytes,
    inBytes: after.inBytes - before.inBytes - INFO_REQUEST.length,
    commands: after.commands - before.commands - 1,
    cpuMicros: after.cpuMicros - before.cpuMicros,
    calls,
  };
}
