/**
 * The cost of a rebalance (issue 19): three instances with `--cluster-secret` hold N complete audio
 * streams, two copies each; a fourth joins. Measured: the time from its start until every stream is
 * on exactly its two successors of the new ring (copies made, old copies handed off, nothing queued
 * or fetching anywhere), the bytes copied against the bytes that had to move, the hand-offs, and
 * client Range GETs (forked lean client, bench/lib/range-reader-child.ts) running throughout:
 * throughput before the join against during the rebalance. Once at the default
 * `--replication-bytes-per-sec` (64 MiB/s) and once unbounded (0), each on a fresh cluster and Redis.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { limitOf } from '../lib/measure.js';
import { BENCH_HOST, stopChild, trackChild, type RunningServer } from '../lib/processes.js';
import { BUCKET_MS, type Bucket, type ReaderPlan, type ReaderReply } from '../lib/range-reader-child.js';
import { startRedisFleet, type RedisFleet } from '../lib/redis-fleet.js';
import { instanceTicks, type ResultRow, type Scenario, type ScenarioContext, type TitledTable } from '../lib/scenario.js';
import {
  heldStreams, instanceStatus, instanceTarget, mib, misplaced, placement, ringIs, ringOf, uploadAll, type InstanceStatus,
  type StreamStats,
} from '../lib/stream-cluster.js';

const READER = fileURLToPath(new URL('../lib/range-reader-child.ts', import.meta.url));
const KiB = 1024;
const MiB = 1024 * KiB;
const SECRET = 'bench-rebalance-secret-0123456789';
const REPLICAS = 2;
const FULL = { streams: 200, bytes: MiB };
const QUICK = { streams: 40, bytes: 256 * KiB };
const RANGE_BYTES = 64 * KiB;
const CONNECTIONS_PER_INSTANCE = 4;
/** Heartbeats as in bench/lib/cluster-launcher.ts: a join is seen within about half a second. */
const INSTANCE_ARGS = ['--heartbeat-ms', '500', '--heartbeat-ttl-ms', '2000'];
const POLL_MS = 100;
const SETTLE_TIMEOUT_MS = 180_000;
const TOOL = 'range-reader';

/** A value of --replication-bytes-per-sec (null: the default, 64 MiB/s). */
interface Setting {
  readonly label: string;
  readonly value: number | null;
}

/**
 * The values compared: the default and unbounded, and (not under --quick, to stay short) 16 MiB/s,
 * below what the copies reach on a small machine, where the pacer is what limits them.
 */
const DEFAULT_SETTING: Setting = { label: '64 MiB/s (default)', value: null };
const UNBOUNDED: Setting = { label: 'unbounded (0)', value: 0 };
const PACED: Setting = { label: '16 MiB/s', value: 16 * MiB };
const settingsFor = (quick: boolean): readonly Setting[] => (quick ? [DEFAULT_SETTING, UNBOUNDED] : [DEFAULT_SETTING, PACED, UNBOUNDED]);

/** Moments of one join, ms since the epoch. */
interface Timeline {
  /** The fourth instance spawned. */
  readonly start: number;
  /** It answered HTTP. */
  readonly ready: number;
  /** Every instance's ring has the four. */
  readonly ring: number;
  /** Every stream the new ring places on the fourth is complete there. */
  readonly copied: number;
  /** Every stream exactly on its successors, nothing queued or fetching anywhere. */
  readonly done: number;
}

/** What one setting's run measured. */
interface Run {
  readonly setting: string;
  readonly repeat: number;
  readonly baseline: ResultRow;
  readonly during: ResultRow;
  readonly boot: ResultRow;
  readonly copyPhase: ResultRow;
  readonly handOffPhase: ResultRow;
  readonly timeline: Timeline;
  readonly streams: number;
  readonly changed: number;
  readonly bytesToMove: number;
  readonly delta: StreamStats;
  readonly redirects: number;
  /** Time rb-4 had copies missing and none queued or fetching (polled). */
  readonly idleMs: number;
  /** Ring changes each instance counted during the join (rb-1…rb-4). */
  readonly ringChanges: readonly number[];
  /** Copies each instance made during the join (rb-1…rb-4). */
  readonly copiesBy: readonly number[];
}

function hasRedis(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    // Probing for an optional tool: absence is the answer (the scenario says so and runs nothing).
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Random bytes (incompressible) behind an ID3 header, so the cache sniffs audio/mpeg. */
function makeStreams(count: number, bytes: number): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const data = randomFillSync(Buffer.allocUnsafe(bytes));
    data.write('ID3\x04\x00\x00\x00\x00\x00\x00', 0, 'latin1');
    out.set(`rb-${String(i).padStart(3, '0')}`, data);
  }
  return out;
}

/** Forks the reader and starts it on `plan`. */
async function startReader(plan: ReaderPlan): Promise<{ child: ChildProcess; stop: () => Promise<Extract<ReaderReply, { type: 'result' }>> }> {
  const child = fork(READER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  trackChild(child);
  const next = (): Promise<ReaderReply> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`range reader exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (reply: ReaderReply) => {
        child.off('exit', onExit);
        resolve(reply);
      });
    });
  const started = next();
  child.send(plan);
  const reply = await started;
  if (reply.type !== 'started') throw new Error(`range reader: ${reply.type === 'error' ? reply.message : reply.type}`);
  return {
    child,
    async stop() {
      const result = next();
      child.send({ type: 'stop' });
      const r = await result;
      if (r.type !== 'result') throw new Error(`range reader: ${r.type === 'error' ? r.message : r.type}`);
      return r;
    },
  };
}

/** A CPU sample of the instances and the machine at one moment. */
interface CpuMark {
  readonly at: number;
  readonly instances: number;
  readonly busy: number;
}

const mark = (ctx: ScenarioContext, servers: readonly RunningServer[]): CpuMark => ({ at: Date.now(), instances: instanceTicks(ctx, servers), busy: ctx.cpu.systemBusyTicks() });

function percentile(sorted: readonly number[], p: number): number | null {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** One window's row, from the reader's buckets and latencies between `from` and `to` (ms since the epoch). */
function windowRow(
  ctx: ScenarioContext, name: string, target: string, reader: { buckets: Bucket[]; latencies: number[] }, from: CpuMark, to: CpuMark, servers: number,
): ResultRow {
  // Buckets overlapping the window, each weighted by the part of it inside (the edges of short windows).
  const weight = (b: Bucket): number => Math.max(0, Math.min(b.at + BUCKET_MS, to.at) - Math.max(b.at, from.at)) / BUCKET_MS;
  const inside = reader.buckets.map((b) => ({ b, w: weight(b) })).filter((x) => x.w > 0);
  const total = (pick: (b: Bucket) => number): number => inside.reduce((s, x) => s + pick(x.b) * x.w, 0);
  const seconds = Math.max(0.001, (to.at - from.at) / 1000);
  const responses = Math.round(total((b) => b.responses - b.redirects));
  const bytes = total((b) => b.bodyBytes);
  const lat: number[] = [];
  for (let i = 0; i < reader.latencies.length; i += 2) if (reader.latencies[i] >= from.at && reader.latencies[i] < to.at) lat.push(reader.latencies[i + 1]);
  lat.sort((a, b) => a - b);
  const windowMicros = seconds * 1e6;
  const serverMicros = ctx.cpu.ticksToMicros(to.instances - from.instances);
  const clientMicros = total((b) => b.cpuMicros);
  const serverCpuPct = (serverMicros / windowMicros) * 100;
  const clientCpuPct = (clientMicros / windowMicros) * 100;
  const otherCpuPct = Math.max(0, ((ctx.cpu.ticksToMicros(to.busy - from.busy) - serverMicros - clientMicros) / windowMicros) * 100);
  return {
    scenario: 'rebalance',
    case: name,
    tool: TOOL,
    target,
    role: 'subject',
    repeat: 0,
    connections: servers * CONNECTIONS_PER_INSTANCE,
    pipelining: 1,
    unit: 'req',
    durationSec: seconds,
    ops: responses,
    opsPerSec: total((b) => b.responses - b.redirects) / seconds,
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
    non2xx: Math.round(total((b) => b.redirects)),
    errors: Math.round(total((b) => b.errors)),
    bytesPerOp: responses > 0 ? bytes / total((b) => b.responses - b.redirects) : null,
    serverCpuMs: serverMicros / 1000,
    serverCpuUsPerOp: responses > 0 ? serverMicros / responses : null,
    serverUserUsPerOp: null,
    serverCpuPct,
    clientCpuPct,
    otherCpuPct,
    bound: limitOf(clientCpuPct >= 90, serverCpuPct, clientCpuPct, otherCpuPct),
  };
}

function sumStats(list: readonly InstanceStatus[]): StreamStats {
  const keys = ['copiesMade', 'bytesCopied', 'handOffs', 'queued', 'active', 'underReplicated', 'copyFailures', 'holdAskFailures', 'digestMismatches'] as const;
  return Object.fromEntries(keys.map((k) => [k, list.reduce((s, st) => s + st.streams[k], 0)])) as unknown as StreamStats;
}

function statsDelta(after: StreamStats, before: StreamStats): StreamStats {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof StreamStats]])) as unknown as StreamStats;
}

/** Polls until `check` says yes; on timeout the error carries `detail()`. */
async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, detail: () => Promise<string>): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return Date.now();
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs / 1000} s; ${await detail()}`);
    await sleep(POLL_MS);
  }
}

async function measureSetting(ctx: ScenarioContext, entry: string, setting: Setting, streams: ReadonlyMap<string, Buffer>, repeat: number): Promise<Run> {
  const cacheRoot = mkdtempSync(join(tmpdir(), 'slabcast-bench-rebalance-'));
  const servers: RunningServer[] = [];
  let fleet: RedisFleet | null = null;
  let reader: Awaited<ReturnType<typeof startReader>> | null = null;
  const ids = [...streams.keys()];
  const size = streams.values().next().value?.length ?? 0;
  const extra = [...INSTANCE_ARGS, ...(setting.value === null ? [] : ['--replication-bytes-per-sec', String(setting.value)])];
  try {
    fleet = await startRedisFleet(ctx, 'single');
    const redisUrl = fleet.redisArg;
    const target = (id: string) => instanceTarget(entry, id, redisUrl, cacheRoot, SECRET, extra);
    ctx.log(`${setting.label}: redis-server and 3 instances`);
    servers.push(...(await Promise.all(['rb-1', 'rb-2', 'rb-3'].map((id) => ctx.startServer(target(id))))));
    const ring3 = ringOf(await ringIs(servers, ['rb-1', 'rb-2', 'rb-3'], 15_000));
    const uploadStart = Date.now();
    await uploadAll(servers, ring3, streams, 4);
    ctx.log(`  uploaded ${ids.length} × ${mib(size)} MiB to their owners in ${((Date.now() - uploadStart) / 1000).toFixed(1)} s`);
    const placed = await until(
      'two copies of every stream',
      SETTLE_TIMEOUT_MS,
      async () => sumStats(await Promise.all(servers.map((s) => instanceStatus(s.port)))).queued === 0 && (await misplaced(servers, ring3, ids, REPLICAS)).length === 0,
      async () => (await misplaced(servers, ring3, ids, REPLICAS)).slice(0, 5).join('; '),
    );
    ctx.log(`  every stream on its 2 successors ${((placed - uploadStart) / 1000).toFixed(1)} s after the first upload`);

    const holdings = await Promise.all(servers.map(async (s) => ({ port: s.port, streams: [...(await heldStreams(s.port))].sort() })));
    reader = await startReader({ type: 'start', host: BENCH_HOST, holdings, sizes: Object.fromEntries(ids.map((id) => [id, size])), connectionsPerInstance: CONNECTIONS_PER_INSTANCE, rangeBytes: RANGE_BYTES });
    await sleep(Math.max(500, ctx.warmupSec * 1000));
    const baseFrom = mark(ctx, servers);
    await sleep(ctx.durationSec * 1000);
    const baseTo = mark(ctx, servers);

    // The join. Stats before, then the fourth instance.
    const statuses3 = await Promise.all(servers.map((s) => instanceStatus(s.port)));
    const before = sumStats(statuses3);
    const ringBefore = statuses3.map((st) => st.ringChanges);
    const copiesBefore = statuses3.map((st) => st.streams.copiesMade);
    const joinFrom = mark(ctx, servers);
    const d = await ctx.startServer(target('rb-4'));
    const ready = Date.now();
    servers.push(d);
    const ring4 = ringOf(await ringIs(servers, ['rb-1', 'rb-2', 'rb-3', 'rb-4'], 30_000));
    const copyFrom = mark(ctx, servers);
    const ringAt = copyFrom.at;
    const changed = ids.filter((id) => placement(ring3, id, REPLICAS).join() !== placement(ring4, id, REPLICAS).join());
    const toD = ids.filter((id) => placement(ring4, id, REPLICAS).includes('rb-4'));
    // Time rb-4 spent with copies still missing and nothing queued or fetching: waiting to be asked.
    let idleMs = 0;
    let polledAt = Date.now();
    const copied = await until(
      'copies on the new instance',
      SETTLE_TIMEOUT_MS,
      async () => {
        const [held, own] = await Promise.all([heldStreams(d.port), instanceStatus(d.port)]);
        const now = Date.now();
        const done = toD.every((id) => held.has(id));
        if (!done && own.streams.queued + own.streams.active === 0) idleMs += now - polledAt;
        polledAt = now;
        return done;
      },
      async () => {
        const held = await heldStreams(d.port);
        return `${toD.filter((id) => !held.has(id)).length} of ${toD.length} not complete on rb-4`;
      },
    );
    const copyTo = mark(ctx, servers);
    const done = await until(
      'rebalance complete',
      SETTLE_TIMEOUT_MS,
      async () => {
        const s = sumStats(await Promise.all(servers.map((x) => instanceStatus(x.port))));
        return s.queued + s.active === 0 && (await misplaced(servers, ring4, ids, REPLICAS)).length === 0;
      },
      async () => (await misplaced(servers, ring4, ids, REPLICAS)).slice(0, 5).join('; '),
    );
    const joinTo = mark(ctx, servers);
    const statuses4 = await Promise.all(servers.map((s) => instanceStatus(s.port)));
    const after = sumStats(statuses4);
    const result = await reader.stop();
    reader = null;
    if (result.firstError !== null) ctx.note(`rebalance ${setting.label}: reader error: ${result.firstError}`);
    const label = `slabcast 3→4, ${setting.label}`;
    const timeline: Timeline = { start: joinFrom.at, ready, ring: ringAt, copied, done };
    const delta = statsDelta(after, before);
    const run: Run = {
      setting: setting.label,
      repeat,
      baseline: { ...windowRow(ctx, 'before the join (3 instances)', label, result, baseFrom, baseTo, 3), repeat },
      during: { ...windowRow(ctx, 'join → rebalance complete', label, result, joinFrom, joinTo, 3), repeat },
      boot: { ...windowRow(ctx, 'join → ring of 4 (its start-up)', label, result, joinFrom, copyFrom, 3), repeat },
      copyPhase: { ...windowRow(ctx, 'ring of 4 → copies made', label, result, copyFrom, copyTo, 3), repeat },
      handOffPhase: { ...windowRow(ctx, 'copies made → complete', label, result, copyTo, joinTo, 3), repeat },
      timeline,
      streams: ids.length,
      changed: changed.length,
      bytesToMove: changed.length * size,
      delta,
      redirects: result.buckets.reduce((s, b) => s + b.redirects, 0),
      idleMs,
      ringChanges: statuses4.map((st, i) => st.ringChanges - (i < 3 ? ringBefore[i] : 0)),
      copiesBy: statuses4.map((st, i) => st.streams.copiesMade - (i < 3 ? copiesBefore[i] : 0)),
    };
    ctx.log(
      `  joined: ring ${((ringAt - joinFrom.at) / 1000).toFixed(2)} s, copies ${((copied - joinFrom.at) / 1000).toFixed(2)} s, done ${((done - joinFrom.at) / 1000).toFixed(2)} s; ` +
        `${changed.length} streams moved, ${mib(delta.bytesCopied)} MiB copied of ${mib(run.bytesToMove)} MiB; ${delta.handOffs} hand-offs; ` +
        `GET ${Math.round(run.baseline.opsPerSec)} → ${Math.round(run.during.opsPerSec)} req/s`,
    );
    return run;
  } finally {
    if (reader !== null) await stopChild(reader.child);
    await Promise.all(servers.map((s) => s.stop()));
    if (fleet !== null) await fleet.stop();
    rmSync(cacheRoot, { recursive: true, force: true });
  }
}

const secs = (ms: number): string => (ms / 1000).toFixed(2);
const mibPerSec = (r: ResultRow): string => ((r.opsPerSec * (r.bytesPerOp ?? 0)) / MiB).toFixed(0);

function costTable(runs: readonly Run[], size: number, settings: readonly Setting[]): TitledTable {
  const repeats = new Set(runs.map((r) => r.repeat)).size > 1;
  const order = (r: Run): number => settings.findIndex((s) => s.label === r.setting);
  const sorted = [...runs].sort((a, b) => order(a) - order(b) || a.repeat - b.repeat);
  return {
    title: `Rebalance cost (${mib(size)} MiB streams, 3 → 4 instances, ${runs[0]?.baseline.connections ?? 0} reader connections; times from the 4th instance's spawn)`,
    header: [
      '--replication-bytes-per-sec', ...(repeats ? ['rep'] : []), 'streams moved', 'MiB to move', 'MiB copied', 'copied ÷ to move', 'copies', 'hand-offs',
      'ring of 4 s', 'copies made s', 'rb-4 idle s', 'complete s', 'GET MiB/s before', 'GET MiB/s join→complete', 'GET MiB/s copy phase', 'p99 ms before → during',
    ],
    align: ['left', ...(repeats ? ['right' as const] : []), 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    rows: sorted.map((r) => [
      r.setting,
      ...(repeats ? [String(r.repeat + 1)] : []),
      `${r.changed} of ${r.streams}`,
      mib(r.bytesToMove),
      mib(r.delta.bytesCopied),
      r.bytesToMove === 0 ? '–' : (r.delta.bytesCopied / r.bytesToMove).toFixed(3),
      String(r.delta.copiesMade),
      String(r.delta.handOffs),
      secs(r.timeline.ring - r.timeline.start),
      secs(r.timeline.copied - r.timeline.start),
      secs(r.idleMs),
      secs(r.timeline.done - r.timeline.start),
      mibPerSec(r.baseline),
      `${mibPerSec(r.during)} (${(r.during.opsPerSec / r.baseline.opsPerSec).toFixed(2)}×)`,
      `${mibPerSec(r.copyPhase)} (${(r.copyPhase.opsPerSec / r.baseline.opsPerSec).toFixed(2)}×)`,
      `${r.baseline.p99Ms?.toFixed(1) ?? '–'} → ${r.during.p99Ms?.toFixed(1) ?? '–'}`,
    ]),
  };
}

export const scenario: Scenario = {
  name: 'rebalance',
  description:
    `rebalance: ${FULL.streams} complete streams × ${FULL.bytes / MiB} MiB, 2 copies each on 3 instances (--cluster-secret, one Redis); a 4th joins: ` +
    'time and bytes until every stream is on exactly its 2 successors of the new ring, and 64 KiB Range GET throughput before vs during, ' +
    'at --replication-bytes-per-sec 64 MiB/s (default), 16 MiB/s and 0 (unbounded; --quick: the default and 0)',
  async run(ctx) {
    if (ctx.toolFilter !== null && ctx.toolFilter !== TOOL) {
      ctx.note(`--tool ${ctx.toolFilter}: rebalance only runs its own ${TOOL}; nothing to run`);
      return { rows: [], notes: [] };
    }
    if (!hasRedis()) {
      ctx.note('rebalance: redis-server is not on PATH (apt-get install redis-server); scenario skipped');
      return { rows: [], notes: [] };
    }
    const base = ctx.slabcast({ label: 'none', role: 'baseline', command: process.execPath, args: () => [], readyPath: '/' });
    if (base.standInFor !== undefined) {
      ctx.note('rebalance: --stand-in has no cluster to stand in for; scenario skipped');
      return { rows: [], notes: [] };
    }
    const entry = base.args(0)[0];
    const shape = ctx.quick ? QUICK : FULL;
    const streams = makeStreams(shape.streams, shape.bytes);
    ctx.note(
      `rebalance: ${shape.streams} streams × ${mib(shape.bytes)} MiB of random bytes, uploaded to their owners (WebSocket START/binary/STOP), then copied ` +
        `until each is on its ${REPLICAS} ring successors (--stream-replicas ${REPLICAS}); instances: --heartbeat-ms 500 --heartbeat-ttl-ms 2000 --services audio,admin,metrics, ` +
        'every other knob at its default (--replication-concurrency 2, --replication-interval-ms 5000, --scrub-bytes-per-sec 4 MiB/s); each setting gets a fresh Redis and fresh caches.',
    );
    ctx.note(
      `rebalance: reads = ${TOOL} (bench/lib/range-reader-child.ts, one Node process, raw sockets): ${CONNECTIONS_PER_INSTANCE} keep-alive connections to each of the 3 first ` +
        `instances, closed loop, each GET a ${RANGE_BYTES / KiB} KiB Range at a random 4 KiB-aligned offset of a random stream that instance held before the join; a 307 ` +
        '(the stream was handed off) is counted in non-2xx and that stream is no longer read there. The 4th instance gets no reads. Windows: "before" = ' +
        `${ctx.durationSec} s before the join; "join → complete" = spawn of the 4th to the rebalance complete; "copy phase" = all rings have 4 members to the last copy made. ` +
        'Server CPU = the instances (not Redis); the reader runs throughout. The new instance fetches every copy it now holds through its one pacer ' +
        '(src/cluster/byte-pacer.ts: a token bucket one second deep that starts full, so a rebalance\'s first --replication-bytes-per-sec bytes are not paced). Times are wall clock, polled every 100 ms; bytes are exact (sum of cluster.streams.bytesCopied deltas).',
    );
    const settings = settingsFor(ctx.quick);
    const runs: Run[] = [];
    for (let repeat = 0; repeat < ctx.repeats; repeat++) {
      // The order alternates between repeats, as runMatrix does.
      for (const setting of repeat % 2 === 0 ? settings : [...settings].reverse()) runs.push(await measureSetting(ctx, entry, setting, streams, repeat));
    }
    return {
      rows: runs.flatMap((r) => [r.baseline, r.during, r.boot, r.copyPhase, r.handOffPhase]),
      notes: runs.map(
        (r) =>
          `rebalance ${r.setting}${r.repeat > 0 ? ` (repeat ${r.repeat + 1})` : ''}: the 4th answered HTTP ${secs(r.timeline.ready - r.timeline.start)} s after its spawn; ${r.delta.copiesMade} copies, ` +
          `${r.delta.handOffs} hand-offs, ${r.delta.copyFailures} copy failures, ${r.delta.holdAskFailures} failed hold asks, ${r.delta.digestMismatches} digest mismatches; ` +
          `${r.redirects} reads redirected (handed-off streams); rb-4 idle (copies missing, none queued or fetching) ${secs(r.idleMs)} s of the copy phase; ` +
          `copies made by rb-1…rb-4 ${r.copiesBy.join('/')}, ring changes ${r.ringChanges.join('/')}; copies made → complete ${secs(r.timeline.done - r.timeline.copied)} s (an old holder drops its copy at its next pass after the new one is confirmed)`,
      ),
      tables: [costTable(runs, shape.bytes, settings)],
    };
  },
};
