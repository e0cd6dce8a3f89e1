/**
 * The audio stream cache under load (issue 4): one stream per window, uploaded to slabcast's
 * /audio endpoint (START, binary chunks, STOP; the window ends at OK:STOP, i.e. when the bytes are
 * durable) and read back with GETs, in 64 KiB, 1 MiB and 4 MiB chunks; next to it, in the same run, the
 * same bytes through plain `fs` (fs.write + fsync, fs.read) as the baseline, labelled "fs".
 * Rows are MiB moved: MiB/s, server CPU µs/MiB, and the slabcast/fs ratios of the harness.
 * Windows are bounded in bytes (256 MiB, --quick 32 MiB) and in time; the temp directory and
 * both child processes (server, load child) are removed/stopped however the run ends.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from '../lib/format.js';
import { AUDIO_TOOL, type AudioLoadChild, startAudioLoadChild } from '../lib/audio-load.js';
import type { AudioChildRequest } from '../lib/audio-load-child.js';
import type { RunningServer, ServerTarget } from '../lib/processes.js';
import type { ResultRow, Scenario, ScenarioContext } from '../lib/scenario.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Chunk sizes: each is one binary frame on upload and one GET range on download. */
const CHUNK_SIZES = [64 * KiB, MiB, 4 * MiB] as const;
/** Bytes per window: one stream of this size per case and repeat (and as much again through fs). */
const WINDOW_BYTES = 256 * MiB;
const QUICK_WINDOW_BYTES = 32 * MiB;
/** GETs in flight on the download connection (the fs baseline reads one chunk at a time). */
const GET_WINDOW = 4;
/** A window slower than this fails (plus a fixed allowance): the run is bounded in time as well as bytes. */
const MIN_BYTES_PER_SEC = 4 * MiB;
const WINDOW_ALLOWANCE_MS = 30_000;
/** GET ranges as large as the largest chunk (the default --max-get-bytes is 1 MiB); the rest of the config is the default. */
const MAX_GET_BYTES = 4 * MiB;
/** Same thresholds as measure.ts (its limitOf is not exported). */
const CLIENT_SATURATION = 0.9;
const NOISY_OTHER_CPU_PCT = 25;

/** The baseline's label: plain `fs` calls in the load child, no server. */
const FS_TARGET = 'fs';

type Side = 'slabcast' | typeof FS_TARGET;
type Kind = 'upload' | 'download';

/** Passed to ctx.slabcast() only to learn whether this is a --stand-in run (no peer speaks the audio protocol). */
const NO_PEER: ServerTarget = { label: FS_TARGET, role: 'baseline', command: process.execPath, args: () => [], readyPath: '/' };

const size = (bytes: number): string => (bytes >= MiB ? `${bytes / MiB}MiB` : `${bytes / KiB}KiB`);
const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** What every window of one run shares. */
interface Run {
  readonly ctx: ScenarioContext;
  readonly server: RunningServer;
  readonly child: AudioLoadChild;
  /** Directory of the fs baseline's files. */
  readonly fsDir: string;
  /** Durable-ack times (ms after the last chunk) by "case target", for the report note. */
  readonly syncMs: Map<string, number[]>;
}

/** One stream (and its fs twin) moved in `chunkBytes` pieces. */
interface Job {
  readonly id: string;
  readonly chunkBytes: number;
  readonly totalBytes: number;
}

function timeoutMs(bytes: number): number {
  return WINDOW_ALLOWANCE_MS + Math.ceil((bytes / MIN_BYTES_PER_SEC) * 1000);
}

function requestOf(run: Run, side: Side, kind: Kind, job: Job): AudioChildRequest {
  const transfer = { chunkBytes: job.chunkBytes, totalBytes: job.totalBytes, timeoutMs: timeoutMs(job.totalBytes) };
  if (side === FS_TARGET) return { type: kind === 'upload' ? 'fs-write' : 'fs-read', file: join(run.fsDir, `${job.id}.bin`), ...transfer };
  const where = { host: '127.0.0.1', port: run.server.port, path: '/audio', id: job.id };
  return kind === 'upload' ? { type: 'ws-upload', ...where, ...transfer } : { type: 'ws-download', ...where, ...transfer, window: GET_WINDOW };
}

/** The limit rule of measure.ts, applied to one window. */
function limitOf(serverPct: number, clientPct: number, otherPct: number): ResultRow['bound'] {
  const clientSaturated = clientPct >= CLIENT_SATURATION * 100;
  if (clientSaturated && serverPct < clientPct) return 'client-bound';
  if (serverPct < CLIENT_SATURATION * 100 && !clientSaturated && otherPct > NOISY_OTHER_CPU_PCT) return 'contended';
  return 'server-bound';
}

/**
 * One measured window. slabcast's CPU comes from /proc (its process tree) around the child's
 * request, like the other scenarios. In fs windows the load child does all the work, so its own
 * CPU is the "server" figure and its "gen CPU" is 0; it is taken with process.cpuUsage() inside
 * the child (getrusage: every thread, µs resolution), as fs windows are short for 10 ms ticks.
 */
async function measure(run: Run, side: Side, kind: Kind, job: Job, repeat: number): Promise<ResultRow> {
  const { ctx, server, child } = run;
  const caseName = `${kind}-${size(job.chunkBytes)}`;
  const label = `${side} ${caseName}${ctx.repeats > 1 ? ` (repeat ${repeat + 1}/${ctx.repeats})` : ''}`;
  ctx.log(`${label}… ${int(job.totalBytes / MiB)} MiB`);
  const busyBefore = ctx.cpu.systemBusyTicks();
  const ticksBefore = sampleServer(ctx, server);
  const started = performance.now();
  const r = await child.request(requestOf(run, side, kind, job), 'result', timeoutMs(job.totalBytes) + 5000);
  const ticksAfter = sampleServer(ctx, server);
  const windowMicros = (performance.now() - started) * 1000;
  const busyAfter = ctx.cpu.systemBusyTicks();

  const serverCpuMicros = side === FS_TARGET ? r.cpuMicros : ctx.cpu.ticksToMicros(ticksAfter - ticksBefore);
  const clientCpuMicros = side === FS_TARGET ? 0 : r.cpuMicros;
  const serverCpuPct = (serverCpuMicros / windowMicros) * 100;
  const clientCpuPct = (clientCpuMicros / windowMicros) * 100;
  const otherCpuPct = Math.max(0, ((ctx.cpu.ticksToMicros(busyAfter - busyBefore) - serverCpuMicros - clientCpuMicros) / windowMicros) * 100);
  const mib = r.bytes / MiB;
  const row: ResultRow = {
    scenario: 'audio',
    case: caseName,
    tool: AUDIO_TOOL,
    target: side,
    role: side === FS_TARGET ? 'baseline' : 'subject',
    repeat,
    connections: side === FS_TARGET ? 0 : 1,
    pipelining: side === FS_TARGET || kind === 'upload' ? 1 : GET_WINDOW,
    unit: 'MiB',
    durationSec: r.elapsedSec,
    ops: mib,
    opsPerSec: r.elapsedSec > 0 ? mib / r.elapsedSec : 0,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    non2xx: null,
    errors: r.errors,
    bytesPerOp: null,
    serverCpuMs: serverCpuMicros / 1000,
    serverCpuUsPerOp: mib > 0 ? serverCpuMicros / mib : null,
    serverUserUsPerOp: null,
    serverCpuPct,
    clientCpuPct,
    otherCpuPct,
    bound: limitOf(serverCpuPct, clientCpuPct, otherCpuPct),
  };
  const sync = r.syncMs === null ? '' : `, ${side === FS_TARGET ? 'fsync' : 'OK:STOP'} ${r.syncMs.toFixed(0)} ms after the last chunk`;
  ctx.log(
    `  → ${row.opsPerSec.toFixed(0)} MiB/s, server ${int(row.serverCpuUsPerOp ?? 0)} µs/MiB (${serverCpuPct.toFixed(0)}% core), ` +
      `client ${clientCpuPct.toFixed(0)}% core, others ${otherCpuPct.toFixed(0)}%${sync}, ${row.bound}`,
  );
  if (r.syncMs !== null) {
    const key = `${caseName} ${side}`;
    run.syncMs.set(key, [...(run.syncMs.get(key) ?? []), r.syncMs]);
  }
  if (r.errors > 0) ctx.note(`${label}: ${r.errors} error(s); first: ${r.firstError ?? 'unknown'}`);
  if (otherCpuPct > NOISY_OTHER_CPU_PCT) ctx.note(`${label}: other processes used ${otherCpuPct.toFixed(0)}% of a core during the window; treat as noisy`);
  return row;
}

function sampleServer(ctx: ScenarioContext, server: RunningServer): number {
  try {
    return ctx.cpu.processTreeTicks(server.pid);
  } catch (error) {
    throw new Error(`slabcast died during the benchmark:\n${server.outputTail()}`, { cause: error });
  }
}

/** Removes a stream from slabcast and its twin from the fs directory. */
async function discard(run: Run, job: Job): Promise<void> {
  await run.child.request({ type: 'ws-delete', host: '127.0.0.1', port: run.server.port, path: '/audio', id: job.id, timeoutMs: 10_000 }, 'deleted', 15_000);
  rmSync(join(run.fsDir, `${job.id}.bin`), { force: true });
}

/** Upload then download of one stream per side, the sides in the given order each time. */
async function measureJob(run: Run, job: Job, order: readonly Side[], repeat: number): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const kind of ['upload', 'download'] as const) {
    for (const side of order) rows.push(await measure(run, side, kind, job, repeat));
  }
  await discard(run, job);
  return rows;
}

/** Unmeasured pass through both sides (JIT, first mappings, first file blocks), when warm-up is on. */
async function warmUp(run: Run, chunkBytes: number, totalBytes: number): Promise<void> {
  const job = { id: `warmup-${chunkBytes}`, chunkBytes, totalBytes: Math.max(chunkBytes, Math.floor(totalBytes / 4 / chunkBytes) * chunkBytes) };
  run.ctx.log(`warm-up ${size(chunkBytes)} chunks: ${int(job.totalBytes / MiB)} MiB each way, both sides`);
  for (const side of ['slabcast', FS_TARGET] as const) {
    for (const kind of ['upload', 'download'] as const) {
      const r = await run.child.request(requestOf(run, side, kind, job), 'result', timeoutMs(job.totalBytes) + 5000);
      if (r.errors > 0) throw new Error(`warm-up ${side} ${kind}: ${r.firstError ?? 'errors'}`);
    }
  }
  await discard(run, job);
}

/** The file system type and device holding `path` (longest mount point prefix in /proc/mounts). */
function fileSystemOf(path: string): string {
  let best = { point: '', text: 'unknown file system' };
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [device, point, type] = line.split(' ');
    if (point === undefined || type === undefined) continue;
    const inside = path === point || path.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && point.length >= best.point.length) best = { point, text: `${type} (${device} on ${point})` };
  }
  return best.text;
}

function describeRun(ctx: ScenarioContext, root: string, totalBytes: number): void {
  ctx.note(
    `audio: ${int(totalBytes / MiB)} MiB per window, ${CHUNK_SIZES.map(size).join(' and ')} chunks, MiB = 2^20 B. ` +
      'upload = slabcast START, one binary frame per chunk written as fast as the socket takes them, STOP; the window ends at OK:STOP ' +
      '(sent once fdatasync, trim and sidecar are durable) | fs = fs.write of the same chunks, one at a time, then fsync. ' +
      `download = GETs of consecutive chunk-sized ranges, ${GET_WINDOW} in flight on one connection | fs = fs.read of the same ranges, one at a time. ` +
      'The pages are in the page cache on both sides when read.',
  );
  ctx.note(
    `audio: slabcast runs with --cache-dir in a fresh temp dir and --max-get-bytes ${MAX_GET_BYTES} (GET ranges as large as the largest chunk), ` +
      'everything else default: a chunk is written to the file (pwrite) as it arrives (never assembled), and an upload is also checkpointed (fdatasync + sidecar) every --flush-bytes ' +
      '(4 MiB) or --flush-interval-ms (1 s), while the fs baseline syncs once at the end.',
  );
  ctx.note(
    `audio: files on ${fileSystemOf(root)}. fs rows: the load child does the work itself, so its CPU (process.cpuUsage(), every thread) is the "server CPU" and "gen CPU" is 0. ` +
      'Kernel writeback threads count as "other CPU" on both sides.',
  );
  if (ctx.quick) ctx.note('audio: --quick windows last well under a second; slabcast CPU from /proc has 10 ms resolution, so its CPU µs/MiB is coarse');
}

function syncNote(run: Run): string | null {
  const parts = [...run.syncMs].map(([key, values]) => `${key} ${(median(values) ?? 0).toFixed(0)} ms`);
  return parts.length === 0 ? null : `audio: durable ack after the last chunk was written (OK:STOP for slabcast, fsync for fs), median: ${parts.join(', ')}`;
}

/** The audio stream cache: upload and download throughput of slabcast next to plain fs, in the same run. */
export const scenario: Scenario = {
  name: 'audio',
  description:
    `audio stream cache, one stream per window: upload (START, binary chunks, STOP = durable) and download (GET, ${GET_WINDOW} in flight) ` +
    `in 64 KiB, 1 MiB and 4 MiB chunks; slabcast vs plain fs (fs.write + fsync, fs.read) of the same bytes`,
  async run(ctx) {
    if (ctx.toolFilter !== null && ctx.toolFilter !== AUDIO_TOOL) {
      ctx.note(`--tool ${ctx.toolFilter}: audio only runs ${AUDIO_TOOL}; nothing to run`);
      return { rows: [], notes: [] };
    }
    const base = ctx.slabcast(NO_PEER);
    if (base.standInFor !== undefined) {
      ctx.note('audio: no peer speaks the audio protocol, so --stand-in has nothing to stand in with; skipped');
      return { rows: [], notes: [] };
    }
    const root = mkdtempSync(join(tmpdir(), 'slabcast-bench-audio-'));
    // On Ctrl-C, processes.ts stops the children and exits: the finally below never runs, this does.
    const removeRoot = (): void => rmSync(root, { recursive: true, force: true });
    process.once('exit', removeRoot);
    const fsDir = join(root, 'fs');
    mkdirSync(fsDir);
    const target: ServerTarget = {
      ...base,
      args: (port) => [...base.args(port), '--cache-dir', join(root, 'cache'), '--max-get-bytes', String(MAX_GET_BYTES)],
    };
    const totalBytes = ctx.quick ? QUICK_WINDOW_BYTES : WINDOW_BYTES;
    describeRun(ctx, root, totalBytes);
    const rows: ResultRow[] = [];
    let server: RunningServer | null = null;
    let child: AudioLoadChild | null = null;
    try {
      ctx.log('starting slabcast…');
      server = await ctx.startServer(target);
      ctx.log(`slabcast ready on port ${server.port} (pid ${server.pid}), cache in ${root}`);
      child = await startAudioLoadChild(ctx.log);
      const run: Run = { ctx, server, child, fsDir, syncMs: new Map() };
      for (const chunkBytes of CHUNK_SIZES) {
        if (ctx.warmupSec > 0) await warmUp(run, chunkBytes, totalBytes);
        for (let repeat = 0; repeat < ctx.repeats; repeat++) {
          // Alternate who goes first, so neither side always gets the cooler machine or the emptier disk queue.
          const order: Side[] = repeat % 2 === 0 ? ['slabcast', FS_TARGET] : [FS_TARGET, 'slabcast'];
          rows.push(...(await measureJob(run, { id: `bench-${size(chunkBytes)}-${repeat}`, chunkBytes, totalBytes }, order, repeat)));
        }
      }
      const note = syncNote(run);
      if (note !== null) ctx.note(note);
    } finally {
      await child?.close();
      await server?.stop();
      removeRoot();
      process.off('exit', removeRoot);
    }
    return { rows, notes: [] };
  },
};
