import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FleetReply, FleetRequest, RoomPlan } from '../lib/fleet-rooms-child.js';
import { limitOf } from '../lib/measure.js';
import { BENCH_HOST, stopChild, trackChild, type RunningServer, type ServerTarget } from '../lib/processes.js';
import { channelSubscribers, readRedisCounters, redisDelta, startRedisFleet, type RedisDelta, type RedisFleet } from '../lib/redis-fleet.js';
import { ROOMS_RATE_LIMIT_ARGS } from '../lib/rooms-load.js';
import { instanceTicks, type ResultRow, type Scenario, type ScenarioContext, type TitledTable } from '../lib/scenario.js';

const CHILD = fileURLToPath(new URL('../lib/fleet-rooms-child.ts', import.meta.url));
const PEER = fileURLToPath(new URL('../peers/socketio-rooms.mjs', import.meta.url));

const INSTANCES = 4;
const ROOMS = 40;
/** Receivers of one room on each of its two instances (the sender is an 11th member, on the first). */
const RECEIVERS_PER_INSTANCE = 5;
/** Messages per second over all rooms (5 per room), open loop. */
const RATE = 200;
const SHARDS = 3;
const MIN_WARMUP_SEC = 1;
const DRAIN_MS = 3000;
/** Longest idle window (joined, nothing sent): what each system costs with no messages. */
const MAX_IDLE_SEC = 5;
/**
 * Which two of the four instances hold a room's members: the six pairs in turn, so every
 * instance has members in 20 of the 40 rooms and every pair shares 6–7 rooms.
 */
const PAIRS: readonly (readonly [number, number])[] = [[0, 1], [2, 3], [0, 2], [1, 3], [0, 3], [1, 2]];
const CASE = `${ROOMS} rooms × ${2 * RECEIVERS_PER_INSTANCE} on 2 of ${INSTANCES}, ${RATE} msg/s`;
const TOOL = 'rooms-client';

/** One system under test: a Redis layout and how to start one of its instances. */
interface System {
  readonly label: string;
  readonly role: 'subject' | 'baseline';
  readonly protocol: 'slabcast' | 'socket.io';
  readonly redis: 'single' | 'cluster';
  /** The pub/sub channel a room's messages go out on (docs/cluster.md's key table; the adapter's `channel + room + '#'`). */
  channel(room: string): string;
  instance(index: number, redisArg: string, cacheDir: string): ServerTarget;
}

/** What one system's window measured. */
interface Measured {
  readonly system: System;
  readonly row: ResultRow;
  readonly sent: number;
  readonly expected: number;
  readonly delivered: number;
  readonly redis: readonly RedisDelta[];
  readonly idle: Idle;
  /** On a cluster: how many rooms' channels each master carries. */
  readonly roomsPerShard: readonly number[];
  /** Subscriptions a room's message reaches in Redis (PUBSUB, after the joins), averaged over the rooms. */
  readonly copies: number;
}

const sum = (list: readonly RedisDelta[], pick: (r: RedisDelta) => number): number => list.reduce((s, r) => s + pick(r), 0);

/** Cost per second with every member joined and nothing sent. */
interface Idle {
  readonly seconds: number;
  readonly redisBytesPerSec: number;
  readonly redisCommandsPerSec: number;
  readonly redisCpuPct: number;
  readonly instanceCpuPct: number;
}

async function measureIdle(ctx: ScenarioContext, ports: readonly number[], servers: readonly RunningServer[], seconds: number): Promise<Idle> {
  const before = await Promise.all(ports.map((p) => readRedisCounters(p)));
  const ticksBefore = instanceTicks(ctx, servers);
  const started = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const ticksAfter = instanceTicks(ctx, servers);
  const elapsed = (performance.now() - started) / 1000;
  const after = await Promise.all(ports.map((p) => readRedisCounters(p)));
  const deltas = ports.map((p, i) => redisDelta(p, before[i], after[i]));
  return {
    seconds: elapsed,
    redisBytesPerSec: sum(deltas, (r) => r.outBytes) / elapsed,
    redisCommandsPerSec: sum(deltas, (r) => r.commands) / elapsed,
    redisCpuPct: sum(deltas, (r) => r.cpuMicros) / elapsed / 1e4,
    instanceCpuPct: ctx.cpu.ticksToMicros(ticksAfter - ticksBefore) / elapsed / 1e4,
  };
}

function layout(ports: readonly number[]): RoomPlan[] {
  return Array.from({ length: ROOMS }, (_, i) => {
    const [a, b] = PAIRS[i % PAIRS.length];
    const members = [...Array<number>(RECEIVERS_PER_INSTANCE).fill(ports[a]), ...Array<number>(RECEIVERS_PER_INSTANCE).fill(ports[b])];
    return { room: `bench-${i}`, senderPort: ports[a], members };
  });
}

function hasRedis(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    execFileSync('redis-cli', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    // Probing for an optional tool: absence is the answer (the scenario says so and runs nothing).
    return false;
  }
}

/** Waits until a slabcast instance's Redis link is ready (`/api/push/status` → cluster.redis.state). */
async function redisLinkReady(port: number): Promise<void> {
  const until = Date.now() + 15_000;
  for (;;) {
    const res = await fetch(`http://${BENCH_HOST}:${port}/api/push/status`);
    const status: any = await res.json();
    if (status.cluster?.redis?.state === 'ready') return;
    if (Date.now() > until) throw new Error(`slabcast on ${port}: Redis link not ready after 15 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Forks the load client and returns a request function (one reply per request). */
async function openClient(log: (line: string) => void): Promise<{ child: ChildProcess; ask: (r: FleetRequest, timeoutMs: number) => Promise<FleetReply> }> {
  const child = fork(CHILD, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  trackChild(child);
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`load client exited (${code}) at start`)));
  });
  const ask = (request: FleetRequest, timeoutMs: number): Promise<FleetReply> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load client: no answer to ${request.type} in ${timeoutMs} ms`)), timeoutMs);
      child.once('message', (reply: FleetReply) => {
        clearTimeout(timer);
        if (reply.type === 'error') reject(new Error(`load client: ${reply.message}`));
        else resolve(reply);
      });
      child.send(request);
    });
  log('  load client ready');
  return { child, ask };
}

async function measureSystem(ctx: ScenarioContext, system: System, repeat: number): Promise<Measured> {
  ctx.log(`${system.label}: starting ${system.redis === 'single' ? 'redis-server' : `a Redis Cluster of ${SHARDS} masters`} and ${INSTANCES} instances`);
  const cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-bench-fleet-'));
  let fleet: RedisFleet | null = null;
  const servers: RunningServer[] = [];
  let client: Awaited<ReturnType<typeof openClient>> | null = null;
  try {
    fleet = await startRedisFleet(ctx, system.redis, SHARDS);
    const redisArg = fleet.redisArg;
    servers.push(...(await Promise.all(Array.from({ length: INSTANCES }, (_, i) => ctx.startServer(system.instance(i, redisArg, cacheDir))))));
    if (system.protocol === 'slabcast') await Promise.all(servers.map((s) => redisLinkReady(s.port)));
    client = await openClient(ctx.log);
    const plans = layout(servers.map((s) => s.port));
    const opened = await client.ask({ type: 'open', system: system.protocol, host: BENCH_HOST, rooms: plans }, 120_000);
    if (opened.type === 'opened') ctx.log(`  ${opened.connections} connections joined`);
    const { perChannel: subscribers, channelsPerServer } = await channelSubscribers(fleet.ports, plans.map((p) => system.channel(p.room)));
    const copies = subscribers.reduce((a, b) => a + b, 0) / subscribers.length;
    ctx.log(`  a room's message reaches ${Math.min(...subscribers)}–${Math.max(...subscribers)} subscription(s) in Redis`);
    const idle = await measureIdle(ctx, fleet.ports, servers, Math.min(ctx.durationSec, MAX_IDLE_SEC));
    const warmupSec = Math.max(ctx.warmupSec, MIN_WARMUP_SEC);
    await client.ask({ type: 'run', rate: RATE, seconds: warmupSec, drainMs: 1000 }, (warmupSec + 30) * 1000);

    const ports = fleet.ports;
    const redisBefore = await Promise.all(ports.map((p) => readRedisCounters(p)));
    const ticksBefore = instanceTicks(ctx, servers);
    const busyBefore = ctx.cpu.systemBusyTicks();
    const started = performance.now();
    const result = await client.ask({ type: 'run', rate: RATE, seconds: ctx.durationSec, drainMs: DRAIN_MS }, (ctx.durationSec + 30) * 1000);
    const ticksAfter = instanceTicks(ctx, servers);
    const busyAfter = ctx.cpu.systemBusyTicks();
    const windowMicros = (performance.now() - started) * 1000;
    const redisAfter = await Promise.all(ports.map((p) => readRedisCounters(p)));
    if (result.type !== 'result') throw new Error(`load client answered ${result.type}`);

    const redis = ports.map((p, i) => redisDelta(p, redisBefore[i], redisAfter[i]));
    const redisCpu = redis.reduce((s, r) => s + r.cpuMicros, 0);
    const instanceMicros = ctx.cpu.ticksToMicros(ticksAfter - ticksBefore);
    const serverCpuPct = (instanceMicros / windowMicros) * 100;
    const clientCpuPct = (result.cpuMicros / windowMicros) * 100;
    const otherCpuPct = Math.max(0, ((ctx.cpu.ticksToMicros(busyAfter - busyBefore) - instanceMicros - redisCpu - result.cpuMicros) / windowMicros) * 100);
    const lost = result.expected - result.delivered;
    if (lost !== 0 || result.firstError !== null) {
      ctx.note(`${system.label}: ${result.delivered} of ${result.expected} deliveries arrived within ${DRAIN_MS} ms after the window; first error: ${result.firstError ?? 'none'}`);
    }
    const row: ResultRow = {
      scenario: 'cluster-redis',
      case: CASE,
      tool: TOOL,
      target: system.label,
      role: system.role,
      repeat,
      connections: ROOMS * (2 * RECEIVERS_PER_INSTANCE + 1),
      pipelining: 1,
      unit: 'delivery',
      durationSec: result.elapsedSec,
      ops: result.delivered,
      opsPerSec: result.delivered / result.elapsedSec,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      non2xx: null,
      errors: lost,
      bytesPerOp: null,
      serverCpuMs: instanceMicros / 1000,
      serverCpuUsPerOp: result.delivered > 0 ? instanceMicros / result.delivered : null,
      serverUserUsPerOp: null,
      serverCpuPct,
      clientCpuPct,
      otherCpuPct,
      bound: limitOf(clientCpuPct >= 90, serverCpuPct, clientCpuPct, otherCpuPct),
    };
    ctx.log(
      `  → ${result.sent} msgs, ${result.delivered}/${result.expected} deliveries, Redis ${(redis.reduce((s, r) => s + r.outBytes, 0) / result.sent).toFixed(0)} B/msg, ` +
        `instances ${row.serverCpuUsPerOp?.toFixed(1) ?? '–'} µs/delivery`,
    );
    return { system, row, sent: result.sent, expected: result.expected, delivered: result.delivered, redis, copies, idle, roomsPerShard: channelsPerServer };
  } finally {
    if (client !== null) {
      await client.ask({ type: 'close' }, 10_000).catch((error: unknown) => ctx.log(`  load client close: ${String(error)}`));
      if (client.child.connected) client.child.disconnect();
      await stopChild(client.child);
    }
    await Promise.all(servers.map((s) => s.stop()));
    if (fleet !== null) await fleet.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

/** The Redis cost table: per message, per delivery, ratios to each Socket.IO adapter. */
function costTable(measured: readonly Measured[]): TitledTable {
  const bytesPerMsg = (m: Measured): number => sum(m.redis, (r) => r.outBytes) / m.sent;
  const peer = (m: Measured, label: string): Measured | undefined => measured.find((p) => p.system.label === label && p.row.repeat === m.row.repeat);
  const vs = (m: Measured, label: string): string => {
    const p = peer(m, label);
    return p === undefined ? '–' : `${(bytesPerMsg(m) / bytesPerMsg(p)).toFixed(2)}×`;
  };
  const repeats = new Set(measured.map((m) => m.row.repeat)).size > 1;
  return {
    title: 'Redis cost per message (sum over masters; a message = one danmaku to its room)',
    header: ['target', ...(repeats ? ['rep'] : []), 'msgs', 'deliveries', 'copies/msg', 'Redis B/msg', 'Redis cmds/msg (in scripts too)', 'Redis CPU µs/msg', 'Redis CPU per shard (rooms)', 'instance CPU µs/delivery', 'B/msg vs sio classic', 'B/msg vs sio sharded'],
    align: ['left', ...(repeats ? ['right' as const] : []), 'right', 'right', 'right', 'right', 'right', 'right', 'left', 'right', 'right', 'right'],
    rows: measured.map((m) => {
      const cpu = sum(m.redis, (r) => r.cpuMicros);
      return [
        m.system.label,
        ...(repeats ? [String(m.row.repeat + 1)] : []),
        String(m.sent),
        `${m.delivered}/${m.expected}`,
        m.copies.toFixed(1),
        bytesPerMsg(m).toFixed(1),
        (sum(m.redis, (r) => r.commands) / m.sent).toFixed(3),
        (cpu / m.sent).toFixed(1),
        m.redis.length === 1 ? '–' : m.redis.map((r, i) => `${((r.cpuMicros / cpu) * 100).toFixed(0)}% (${m.roomsPerShard[i]})`).join(' / '),
        m.row.serverCpuUsPerOp?.toFixed(1) ?? '–',
        vs(m, 'socket.io classic'),
        vs(m, 'socket.io sharded'),
      ];
    }),
  };
}

/** Per message: which commands Redis ran, and the bytes each master wrote. */
function breakdown(m: Measured): string {
  const calls = new Map<string, number>();
  for (const r of m.redis) for (const [name, n] of r.calls) calls.set(name, (calls.get(name) ?? 0) + n);
  const list = [...calls].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${(n / m.sent).toFixed(3)}`);
  const shards = m.redis.length === 1 ? '' : `; B/msg per master ${m.redis.map((r) => (r.outBytes / m.sent).toFixed(1)).join(' / ')}`;
  const bytes = sum(m.redis, (r) => r.outBytes) / m.sent;
  const i = m.idle;
  const idle =
    `; idle (joined, nothing sent, ${i.seconds.toFixed(1)} s): Redis ${i.redisBytesPerSec.toFixed(0)} B/s, ${i.redisCommandsPerSec.toFixed(1)} commands/s, ` +
    `${i.redisCpuPct.toFixed(1)}% of a core; instances ${i.instanceCpuPct.toFixed(1)}% of a core (${((i.instanceCpuPct * 1e4) / (m.row.opsPerSec || 1)).toFixed(1)} µs per delivery at this rate)`;
  return `${m.system.label}${m.row.repeat > 0 ? ` (repeat ${m.row.repeat + 1})` : ''}: ${bytes.toFixed(1)} B/msg over ${m.copies.toFixed(1)} copies (≈ ${(bytes / m.copies).toFixed(0)} B per copy, reply included), ${(sum(m.redis, (r) => r.inBytes) / m.sent).toFixed(0)} B/msg into Redis; commands per message (a script's own calls counted): ${list.join(', ')}${shards}${idle}`;
}

export const scenario: Scenario = {
  name: 'cluster-redis',
  description:
    `cluster-redis: ${INSTANCES} instances, ${ROOMS} rooms of ${2 * RECEIVERS_PER_INSTANCE} receivers + 1 sender each, every room's members on 2 of the ${INSTANCES}; ` +
    `${RATE} msg/s in all (open loop); Redis bytes, commands and CPU per message and instance CPU per delivery: ` +
    'slabcast on one Redis and on a Redis Cluster vs Socket.IO 4 with @socket.io/redis-adapter (classic, sharded)',
  async run(ctx) {
    if (ctx.toolFilter !== null && ctx.toolFilter !== TOOL) {
      ctx.note(`--tool ${ctx.toolFilter}: cluster-redis only runs its own ${TOOL}; nothing to run`);
      return { rows: [], notes: [] };
    }
    if (!hasRedis()) {
      ctx.note('cluster-redis: redis-server or redis-cli is not on PATH (apt-get install redis-server); scenario skipped');
      return { rows: [], notes: [] };
    }
    const base = ctx.slabcast({ label: 'socket.io', role: 'baseline', command: process.execPath, args: () => [PEER], readyPath: '/' });
    if (base.standInFor !== undefined) {
      ctx.note('cluster-redis: --stand-in has no slabcast cluster to stand in for; scenario skipped');
      return { rows: [], notes: [] };
    }
    const entry = base.args(0)[0];
    const slabcast = (label: string, redis: 'single' | 'cluster'): System => ({
      label,
      role: 'subject',
      protocol: 'slabcast',
      redis,
      channel: (room) => (redis === 'cluster' ? `{slabcast:room:${room}}` : `slabcast:room:${room}`),
      instance: (i, redisArg, cacheDir) => ({
        label: `${label} #${i + 1}`,
        role: 'subject',
        command: process.execPath,
        args: (port) => [entry, '--port', String(port), '--host', BENCH_HOST, '--redis', redisArg, '--instance-id', `bench-${i + 1}`, '--cache-dir', join(cacheDir, `i${i + 1}`), ...ROOMS_RATE_LIMIT_ARGS],
        readyPath: '/',
      }),
    });
    const socketIo = (label: string, adapter: 'classic' | 'sharded'): System => ({
      label,
      role: 'baseline',
      protocol: 'socket.io',
      redis: adapter === 'classic' ? 'single' : 'cluster',
      channel: (room) => `socket.io#/#${room}#`,
      instance: (i, redisArg) => ({
        label: `${label} #${i + 1}`,
        role: 'baseline',
        command: process.execPath,
        args: (port) => [PEER, '--port', String(port), '--host', BENCH_HOST, '--redis', redisArg, '--adapter', adapter],
        readyPath: '/',
      }),
    });
    const systems = [slabcast('slabcast 1 Redis', 'single'), slabcast('slabcast Redis Cluster', 'cluster'), socketIo('socket.io classic', 'classic'), socketIo('socket.io sharded', 'sharded')];
    ctx.note(
      `cluster-redis: room i has ${RECEIVERS_PER_INSTANCE} receivers on each of instances ${PAIRS.map(([a, b]) => `${a + 1}+${b + 1}`).join(', ')} (i mod 6) ` +
        'and its sender on the first, so every instance has members in 20 rooms; each system gets its own fresh Redis ' +
        `(one redis-server, or a Redis Cluster of ${SHARDS} masters without replicas). Redis counters are INFO deltas over the window and its drain ` +
        '(the probe’s own INFO subtracted): bytes = total_net_output_bytes (replies and pub/sub deliveries to the instances), ' +
        'commands = total_commands_processed, CPU = used_cpu_user + used_cpu_sys. They include what runs regardless of messages ' +
        '(slabcast: a PING per connection every --redis-ping-ms, heartbeats and ring reads every --heartbeat-ms; both adapters send nothing while idle), ' +
        'shown alone in each system’s idle note. slabcast keeps its defaults ' +
        '(room history on: each message is one script that takes its id, keeps it and publishes it); Socket.IO keeps no history and has no ' +
        'cluster-wide ids. Instance CPU = the 4 instance processes (not Redis) ÷ deliveries. A delivery is one receiver’s copy (the sender’s own is not counted).',
    );
    const measured: Measured[] = [];
    for (let repeat = 0; repeat < ctx.repeats; repeat++) {
      // The order alternates between repeats, as runMatrix does.
      for (const system of repeat % 2 === 0 ? systems : [...systems].reverse()) measured.push(await measureSystem(ctx, system, repeat));
    }
    return { rows: measured.map((m) => m.row), notes: measured.map(breakdown), tables: [costTable(measured)] };
  },
};
