import { setTimeout as delay } from 'node:timers/promises';
import { median } from '../lib/format.js';
import type { RunningServer, ServerTarget } from '../lib/processes.js';
import type { ResultRow, Scenario, ScenarioContext } from '../lib/scenario.js';
import { collectGarbage, inspectorUrl, minRssBytes, withInspector, type HeapSample } from '../lib/server-memory.js';
import { C_WS_TOOL, CWsIdleClient, ensureWsloadBinary, NoCompilerError } from '../lib/c-ws-load.js';
import type { WsIdleOpened } from '../lib/ws-load-child.js';
import { hostPort, LEAN_WS_TOOL, startWsLoadChild } from '../lib/ws-load.js';
import { uwsPeers } from '../lib/uws-peer.js';
import { wsEchoPeer, wsPeerNote } from './ws-echo.js';

/** Idle WebSockets held open at once (the client child and each server hold this many fds). */
const CONNECTIONS = 10_000;
/**
 * Opened and closed before the baseline: one-time costs (lazily compiled code, first slab
 * pages touched, pools warmed) then land in the baseline instead of the per-connection figures.
 * V8 optimizes the accept and handshake functions over the first ~2,000 connections (about 60
 * functions, `--trace-opt`); fewer would put the optimizing compiler into the CPU per upgrade.
 */
const PREWARM_CONNECTIONS = 2_000;
/** Seconds between a phase's end and the first RSS reading (`--quick`: 1). */
const settleSecOf = (ctx: ScenarioContext): number => (ctx.quick ? 1 : 3);
const RSS_SAMPLES = 5;
const RSS_INTERVAL_MS = 200;
/**
 * Seconds after the last upgrade at which RSS is read again without a forced GC. A burst of
 * upgrades grows V8's young generation (its survivors, the new sockets, make the scavenger enlarge
 * it); V8 gives that back at its next memory-reducing GC, which it schedules itself (its memory
 * reducer runs some 8 s after a full GC, so after a burst without one it may not run at all). The
 * reading at the settle time shows the burst; this one whether V8 has shrunk the heap by then.
 */
const SETTLED_SEC = 15;
/** Targets: slabcast's RSS per idle connection at most a third of ws's, and at most uWebSockets.js's. */
const targetRatio = (peer: string): number => (peer === 'ws' ? 1 / 3 : 1);
/** Same thresholds as measure.ts (its limitOf is not exported). */
const CLIENT_SATURATION = 0.9;
const NOISY_OTHER_CPU_PCT = 25;

/**
 * Server memory at one point: the minimum RSS after the settle period (what the process
 * holds, garbage included), optionally again once V8 has had {@link SETTLED_SEC} to shrink on its
 * own, then after a forced full GC with the heap numbers (what it keeps alive). `gc` is null when
 * the inspector did not answer.
 */
interface MemoryPoint {
  readonly rss: number;
  /** RSS {@link SETTLED_SEC} after the phase ended, still without a forced GC; null when not read. */
  readonly settledRss: number | null;
  readonly gc: { readonly rss: number; readonly heap: HeapSample } | null;
}

/** Per-connection growth of one window, kept for the ratio notes. */
interface Growth {
  readonly target: string;
  readonly role: ResultRow['role'];
  /** The table's B/conn: after the forced GC when there was one. */
  readonly rssPerConn: number;
  /** Without the forced GC, at the settle time (the burst's young generation still grown). */
  readonly rssNoGcPerConn: number;
  /** Without the forced GC, {@link SETTLED_SEC} after the last upgrade; null when not read. */
  readonly rssSettledPerConn: number | null;
  readonly heapPerConn: number | null;
}

const MiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Measures at `settleSec` after the phase ended; with `settledSec`, again then (no GC) before the forced GC. */
async function memoryPoint(ctx: ScenarioContext, server: RunningServer, settleSec: number, settledSec: number | null): Promise<MemoryPoint> {
  const phaseEnded = performance.now();
  await delay(settleSec * 1000);
  const rss = await minRssBytes(server.pid, RSS_SAMPLES, RSS_INTERVAL_MS);
  let settledRss: number | null = null;
  if (settledSec !== null) {
    await delay(Math.max(0, settledSec * 1000 - (performance.now() - phaseEnded)));
    settledRss = await minRssBytes(server.pid, RSS_SAMPLES, RSS_INTERVAL_MS);
  }
  const url = inspectorUrl(server.outputTail());
  if (url === null) return { rss, settledRss, gc: null };
  try {
    const heap = await collectGarbage(url);
    return { rss, settledRss, gc: { rss: await minRssBytes(server.pid, RSS_SAMPLES, RSS_INTERVAL_MS), heap } };
  } catch (error) {
    ctx.note(`${server.target.label}: forced GC failed (${error instanceof Error ? error.message : String(error)}); RSS without it`);
    return { rss, settledRss, gc: null };
  }
}

/**
 * The limit rule of measure.ts, applied to the connect phase: the client at ≥ 90% of a core
 * while the server used less is client-bound; neither saturated with > 25% of a core taken by
 * others is contended; anything else server-bound.
 */
function limitOf(serverPct: number, clientPct: number, otherPct: number): ResultRow['bound'] {
  const clientSaturated = clientPct >= CLIENT_SATURATION * 100;
  if (clientSaturated && serverPct < clientPct) return 'client-bound';
  if (serverPct < CLIENT_SATURATION * 100 && !clientSaturated && otherPct > NOISY_OTHER_CPU_PCT) return 'contended';
  return 'server-bound';
}

/** Opens and holds idle sockets on one server: the C client, or the Node lean client. */
interface IdleOpener {
  open(n: number, timeoutMs: number): Promise<WsIdleOpened>;
  closeAll(timeoutMs: number): Promise<{ readonly stillOpen: number }>;
  stop(): Promise<void>;
}

/** The Node lean client's child as an {@link IdleOpener} for `url`'s /echo. */
async function leanOpener(ctx: ScenarioContext, url: string): Promise<IdleOpener> {
  const child = await startWsLoadChild(ctx.log);
  const where = { ...hostPort(url), path: '/echo' };
  return {
    open: (connections, timeoutMs) => child.request({ type: 'idle-open', ...where, connections }, 'idle-opened', timeoutMs),
    closeAll: (timeoutMs) => child.request({ type: 'idle-close' }, 'idle-closed', timeoutMs),
    stop: () => child.close(),
  };
}

/**
 * The opener `--tool` selects: the C client by default (the Node client reaches a full core before
 * the servers do, so it would set the pace), lean-ws with `--tool lean-ws` or without a C compiler.
 * Returns null when `--tool` names neither.
 */
function openerTool(ctx: ScenarioContext): { tool: string; binary: string | null } | null {
  if (ctx.toolFilter === LEAN_WS_TOOL) return { tool: LEAN_WS_TOOL, binary: null };
  if (ctx.toolFilter !== null && ctx.toolFilter !== C_WS_TOOL) return null;
  try {
    return { tool: C_WS_TOOL, binary: ensureWsloadBinary(ctx.log) };
  } catch (error) {
    if (!(error instanceof NoCompilerError) || ctx.toolFilter === C_WS_TOOL) throw error;
    ctx.note(`${error.message}; ws-idle-memory opens its sockets with lean-ws`);
    return { tool: LEAN_WS_TOOL, binary: null };
  }
}

/** CPU shares over the window in which the connections opened (same accounting as measure.ts). */
interface OpenPhase {
  readonly opened: WsIdleOpened;
  readonly serverCpuMicros: number;
  /** Of serverCpuMicros, user mode. */
  readonly serverUserMicros: number;
  readonly serverCpuPct: number;
  readonly clientCpuPct: number;
  readonly otherCpuPct: number;
}

/** Opens CONNECTIONS idle sockets through `client`, sampling server and machine CPU around it. */
async function openPhase(ctx: ScenarioContext, server: RunningServer, client: IdleOpener, label: string): Promise<OpenPhase> {
  const busyBefore = ctx.cpu.systemBusyTicks();
  const ticksBefore = ctx.cpu.processTreeSplit(server.pid);
  const runtimeBefore = ctx.cpu.processTreeRuntimeMicros(server.pid);
  const started = performance.now();
  const opened = await client.open(CONNECTIONS, 120_000);
  const runtimeAfter = ctx.cpu.processTreeRuntimeMicros(server.pid);
  const ticksAfter = ctx.cpu.processTreeSplit(server.pid);
  const windowMicros = (performance.now() - started) * 1000;
  const busyAfter = ctx.cpu.systemBusyTicks();
  if (opened.failed > 0) ctx.note(`${label}: ${opened.failed} of ${int(CONNECTIONS)} upgrades failed; first: ${opened.firstFailure}`);
  // The pass lasts about a second: a few dozen 10 ms ticks. The server's CPU is read from
  // schedstat where the kernel keeps it (finer: see processTreeRuntimeMicros), and split by the
  // ticks' user share.
  const ticks = ticksAfter.ticks - ticksBefore.ticks;
  const userTicks = ticksAfter.userTicks - ticksBefore.userTicks;
  const precise = runtimeBefore !== null && runtimeAfter !== null;
  const serverCpuMicros = precise ? runtimeAfter - runtimeBefore : ctx.cpu.ticksToMicros(ticks);
  const serverUserMicros = precise ? (ticks > 0 ? (serverCpuMicros * userTicks) / ticks : 0) : ctx.cpu.ticksToMicros(userTicks);
  const otherMicros = ctx.cpu.ticksToMicros(busyAfter - busyBefore) - serverCpuMicros - opened.cpuMicros;
  const otherCpuPct = Math.max(0, (otherMicros / windowMicros) * 100);
  if (otherCpuPct > NOISY_OTHER_CPU_PCT) {
    ctx.note(`${label}: other processes used ${otherCpuPct.toFixed(0)}% of a core while the connections opened; conn/s is noisy (B/conn is not affected)`);
  }
  return {
    opened,
    serverCpuMicros,
    serverUserMicros,
    serverCpuPct: (serverCpuMicros / windowMicros) * 100,
    clientCpuPct: opened.elapsedSec > 0 ? (opened.cpuMicros / (opened.elapsedSec * 1e6)) * 100 : 0,
    otherCpuPct,
  };
}

/** Growth per connection between two memory points, logged as a progress line. */
function growthOf(ctx: ScenarioContext, target: ServerTarget, before: MemoryPoint, after: MemoryPoint, count: number): Growth {
  const n = Math.max(1, count);
  // Both growths start from the collected baseline: the prewarm's garbage, collected or not during
  // the window, would otherwise count against (or for) the idle sockets.
  const baseline = before.gc?.rss ?? before.rss;
  const rssNoGcPerConn = (after.rss - baseline) / n;
  const rssSettledPerConn = after.settledRss === null ? null : (after.settledRss - baseline) / n;
  const gc = before.gc !== null && after.gc !== null ? { before: before.gc, after: after.gc } : null;
  const rssPerConn = gc === null ? rssNoGcPerConn : (gc.after.rss - gc.before.rss) / n;
  const heapPerConn = gc === null ? null : (gc.after.heap.heapUsed - gc.before.heap.heapUsed) / n;
  const gcPart =
    gc === null
      ? ' (no forced GC)'
      : `; after a forced GC ${MiB(gc.before.rss)} → ${MiB(gc.after.rss)}: ${int(rssPerConn)} B/conn, heap ${int(heapPerConn ?? 0)} B/conn, ` +
        `external ${int((gc.after.heap.external - gc.before.heap.external) / n)} B/conn`;
  const settledPart = rssSettledPerConn === null ? '' : `; ${SETTLED_SEC} s after the last upgrade ${int(rssSettledPerConn)} B/conn`;
  ctx.log(`  → RSS ${MiB(baseline)} → ${MiB(after.rss)}: ${int(rssNoGcPerConn)} B/conn${settledPart}${gcPart}`);
  return { target: target.label, role: target.role, rssPerConn, rssNoGcPerConn, rssSettledPerConn, heapPerConn };
}

/** One target, fresh server: prewarm, baseline, open CONNECTIONS idle sockets, settle, measure, close. */
async function measureIdle(ctx: ScenarioContext, target: ServerTarget, repeat: number, growth: Growth[], opener: { tool: string; binary: string | null }): Promise<ResultRow> {
  const settleSec = settleSecOf(ctx);
  ctx.log(`starting ${target.label}…`);
  const server = await ctx.startServer(target);
  const client = opener.binary === null ? await leanOpener(ctx, server.url) : CWsIdleClient.start(opener.binary, server.url, '/echo', CONNECTIONS, ctx.log);
  try {
    const label = `${target.label}${ctx.repeats > 1 ? ` (repeat ${repeat + 1}/${ctx.repeats})` : ''}`;
    const warm = await client.open(PREWARM_CONNECTIONS, 60_000);
    if (warm.failed > 0) throw new Error(`${target.label}: ${warm.failed} prewarm upgrades failed; first: ${warm.firstFailure}`);
    await client.closeAll(10_000);
    const before = await memoryPoint(ctx, server, settleSec, null);
    const heap = before.gc === null ? '' : `, heap ${MiB(before.gc.heap.heapUsed)}`;
    ctx.log(`${label}: baseline RSS ${MiB(before.gc?.rss ?? before.rss)}${heap}; opening ${int(CONNECTIONS)} idle WebSockets…`);

    const opened = await client.open(CONNECTIONS, 120_000);
    if (opened.failed > 0) ctx.note(`${label}: ${opened.failed} of ${int(CONNECTIONS)} upgrades failed; first: ${opened.firstFailure}`);
    ctx.log(`${label}: ${int(opened.opened)} open in ${opened.elapsedSec.toFixed(2)} s; settling ${settleSec} s`);
    const after = await memoryPoint(ctx, server, settleSec, ctx.quick ? null : SETTLED_SEC);
    const closed = await client.closeAll(10_000);
    const dropped = opened.opened - closed.stillOpen;
    if (dropped > 0) ctx.note(`${label}: the server closed ${dropped} idle connection(s) before the measurement ended`);
    const grown = growthOf(ctx, target, before, after, opened.opened);
    if (opened.opened > 0) growth.push(grown);
    // The upgrade pass (conn/s, latency, CPU) comes last, after a second prewarm of as many
    // upgrades: a forced GC reduces memory by dropping compiled code too, and V8 keeps optimizing
    // (and, as the burst's objects die, re-optimizing) the upgrade and close paths for tens of
    // thousands of connections after it; the pass is to measure upgrades, not V8 warming up.
    // (Before the memory pass it would leave its sockets' freed memory in the baseline, to be
    // reused by the measured ones.)
    await client.open(CONNECTIONS, 120_000);
    await client.closeAll(10_000);
    const phase = await openPhase(ctx, server, client, label);
    ctx.log(`${label}: upgrade pass: ${int(phase.opened.opened)} open in ${phase.opened.elapsedSec.toFixed(2)} s`);
    return idleRow(target, repeat, phase, dropped + opened.failed, opened.opened > 0 ? grown.rssPerConn : null, opener.tool);
  } finally {
    await client.stop();
    await server.stop();
  }
}

/**
 * The table row: conn/s, upgrade latency and CPU of the upgrade pass; B/conn = RSS growth per idle
 * connection of the memory pass; `lost` = its failed upgrades and the sockets the server closed.
 */
function idleRow(target: ServerTarget, repeat: number, phase: OpenPhase, lost: number, rssPerConn: number | null, tool: string): ResultRow {
  const { opened } = phase;
  return {
    scenario: 'ws-idle-memory',
    case: `idle-${CONNECTIONS / 1000}k`,
    tool,
    target: target.label,
    role: target.role,
    repeat,
    connections: CONNECTIONS,
    pipelining: 1,
    unit: 'conn',
    durationSec: opened.elapsedSec,
    ops: opened.opened,
    opsPerSec: opened.elapsedSec > 0 ? opened.opened / opened.elapsedSec : 0,
    p50Ms: opened.p50Ms,
    p99Ms: opened.p99Ms,
    non2xx: null,
    errors: opened.failed + lost,
    bytesPerOp: rssPerConn,
    serverCpuMs: phase.serverCpuMicros / 1000,
    serverCpuUsPerOp: opened.opened > 0 ? phase.serverCpuMicros / opened.opened : null,
    serverUserUsPerOp: opened.opened > 0 ? phase.serverUserMicros / opened.opened : null,
    serverCpuPct: phase.serverCpuPct,
    clientCpuPct: phase.clientCpuPct,
    otherCpuPct: phase.otherCpuPct,
    bound: limitOf(phase.serverCpuPct, phase.clientCpuPct, phase.otherCpuPct),
  };
}

/** The headline: RSS (and heap) per idle connection, slabcast ÷ each peer, medians over repeats. */
function ratioNotes(growth: readonly Growth[], settleSec: number): string[] {
  const subject = growth.filter((g) => g.role === 'subject');
  const peers = [...new Set(growth.filter((g) => g.role === 'baseline').map((g) => g.target))];
  const notes: string[] = [];
  for (const peer of peers) {
    const baseline = growth.filter((g) => g.target === peer);
    const s = median(subject.map((g) => g.rssPerConn));
    const b = median(baseline.map((g) => g.rssPerConn));
    if (s === null || b === null || b <= 0) continue;
    const names = `${subject[0]?.target}/${peer}`;
    const ratio = s / b;
    const target = targetRatio(peer);
    const verdict = ratio <= target ? 'met' : 'NOT met';
    notes.push(`RSS per idle connection ${names}: ${ratio.toFixed(2)}× (${int(s)} B vs ${int(b)} B; target ≤ ${target.toFixed(2)}×: ${verdict})`);
    const sn = median(subject.map((g) => g.rssNoGcPerConn));
    const bn = median(baseline.map((g) => g.rssNoGcPerConn));
    if (sn !== null && bn !== null && bn > 0) {
      notes.push(`the same ${names} without a forced GC, ${settleSec} s after the last upgrade (the burst's young generation included): ${(sn / bn).toFixed(2)}× (${int(sn)} B vs ${int(bn)} B)`);
    }
    const ss = median(subject.flatMap((g) => (g.rssSettledPerConn === null ? [] : [g.rssSettledPerConn])));
    const bs = median(baseline.flatMap((g) => (g.rssSettledPerConn === null ? [] : [g.rssSettledPerConn])));
    if (ss !== null && bs !== null && bs > 0) {
      notes.push(`the same ${names} without a forced GC, ${SETTLED_SEC} s after the last upgrade (what an idle server holds): ${(ss / bs).toFixed(2)}× (${int(ss)} B vs ${int(bs)} B)`);
    }
    const sh = median(subject.map((g) => g.heapPerConn));
    const bh = median(baseline.map((g) => g.heapPerConn));
    if (sh !== null && bh !== null && bh > 0) notes.push(`V8 heap per idle connection ${names}: ${(sh / bh).toFixed(2)}× (${int(sh)} B vs ${int(bh)} B, after a forced GC)`);
  }
  return notes;
}

/** 10,000 idle WebSockets: server RSS growth per connection, slabcast vs ws and uWebSockets.js. */
export const scenario: Scenario = {
  name: 'ws-idle-memory',
  description:
    `${CONNECTIONS.toLocaleString('en-US')} idle WebSockets on /echo: server RSS growth per connection (B/conn, minimum of ` +
    `${RSS_SAMPLES} samples after a settle and a forced GC), upgrades/s and CPU µs per upgrade; slabcast vs ws and uWebSockets.js`,
  async run(ctx) {
    const opener = openerTool(ctx);
    if (opener === null) {
      ctx.note(`--tool ${ctx.toolFilter}: ws-idle-memory opens its sockets with ${C_WS_TOOL} or ${LEAN_WS_TOOL}; nothing to run`);
      return { rows: [], notes: [] };
    }
    ctx.note(wsPeerNote());
    ctx.note(
      `B/conn is the server RSS growth per idle connection (${int(CONNECTIONS)} opened after a prewarm and the baseline). conn/s, ` +
        'p50/p99 and CPU µs/conn describe a last pass of as many upgrades (TCP accept + upgrade, 200 in flight), after the memory ' +
        'readings and a second prewarm of as many (a forced GC also drops compiled code, which V8 rebuilds over tens of thousands of upgrades); the pass lasts about a second, so its server CPU is read ' +
        'from /proc/<pid>/task/*/schedstat where the kernel keeps it (finer than 10 ms ticks) (user time: that total times the ticks\' user share). ' +
        'Servers run one at a time with --inspect=127.0.0.1:0 for the forced GC.',
    );
    const targets = [ctx.slabcast(wsEchoPeer), wsEchoPeer, ...uwsPeers(ctx)].map(withInspector);
    const rows: ResultRow[] = [];
    const growth: Growth[] = [];
    for (let repeat = 0; repeat < ctx.repeats; repeat++) {
      // Alternate the order between repeats, like runMatrix.
      const order = repeat % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) rows.push(await measureIdle(ctx, target, repeat, growth, opener));
    }
    for (const line of ratioNotes(growth, settleSecOf(ctx))) ctx.note(line);
    return { rows, notes: [] };
  },
};
