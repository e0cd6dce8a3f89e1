import type { TreeTicks } from './cpu.js';
import type { RunningServer, ServerTarget } from './processes.js';
import type { LoadGenerator, LoadSpec, ResultRow, ScenarioContext } from './scenario.js';

/** A generator counts as saturated at this fraction of its cores. */
const CLIENT_SATURATION = 0.9;

/** Above this much of one core used by other processes, the window gets a noise note. */
const NOISY_OTHER_CPU_PCT = 25;

/** One sub-scenario: a name and a load shape. */
export interface LoadCase {
  readonly name: string;
  readonly spec: LoadSpec;
  /** The generators (by name) that run this case; every one when absent. */
  readonly tools?: readonly string[];
}

/** Everything {@link runMatrix} needs. */
export interface Matrix {
  readonly scenario: string;
  /** "req" for HTTP, "msg" for WebSocket. */
  readonly unit: string;
  readonly cases: readonly LoadCase[];
  readonly generators: readonly LoadGenerator[];
  /** Usually [slabcast, peer]; every case × generator runs them back to back. */
  readonly targets: readonly ServerTarget[];
  /**
   * The generator's `bytes` are what each op took on the wire by design (e.g. compressed WebSocket
   * deliveries), so they differ between targets and from the HTTP probe: no mismatch note.
   */
  readonly bytesDifferByTarget?: boolean;
  /** Called once per started server; a returned string becomes a report note (via ctx.note). */
  readonly checkServer?: (server: RunningServer) => string | null;
  /** Called once per started server, before any window (e.g. to upload what the windows read). */
  readonly prepare?: (server: RunningServer) => Promise<void>;
}

/**
 * Starts every target once, then for each case × generator × repeat measures each target
 * back to back, alternating the order between repeats (repeat 0: as given, repeat 1:
 * reversed, …) so neither side always gets the cooler machine. Servers stop in `finally`.
 */
export async function runMatrix(ctx: ScenarioContext, matrix: Matrix): Promise<{ rows: ResultRow[]; notes: string[] }> {
  const rows: ResultRow[] = [];
  const servers: RunningServer[] = [];
  try {
    for (const target of matrix.targets) {
      ctx.log(`starting ${target.label}…`);
      const server = await ctx.startServer(target);
      servers.push(server);
      ctx.log(`${target.label} ready on port ${server.port} (pid ${server.pid}, ${server.probe.wireBytes} B/response)`);
      const problem = matrix.checkServer?.(server) ?? null;
      if (problem !== null) ctx.note(problem);
      await matrix.prepare?.(server);
    }
    for (const loadCase of matrix.cases) {
      for (const generator of matrix.generators) {
        if (loadCase.tools !== undefined && !loadCase.tools.includes(generator.name)) continue;
        for (let repeat = 0; repeat < ctx.repeats; repeat++) {
          const order = repeat % 2 === 0 ? servers : [...servers].reverse();
          for (const server of order) {
            await settle(ctx, servers);
            try {
              rows.push(await measure(ctx, matrix, server, generator, loadCase, repeat));
            } catch (error) {
              // A peer that cannot finish a window (its load client timed out behind its backlog)
              // loses that row, not the run; slabcast's own failures still end the run.
              if (server.target.role === 'subject') throw error;
              ctx.note(`${server.target.label} ${loadCase.name} ${generator.name}: no row, the window failed: ${error instanceof Error ? error.message : String(error)}`);
            }
          }
        }
      }
    }
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
  return { rows, notes: [] }; // notes went through ctx.note()
}

/**
 * One window: optional warm-up, then server CPU sampled right before and right after the
 * measured run, divided by completed ops.
 */
async function measure(
  ctx: ScenarioContext,
  matrix: Matrix,
  server: RunningServer,
  generator: LoadGenerator,
  loadCase: LoadCase,
  repeat: number,
): Promise<ResultRow> {
  const label = `${server.target.label} ${loadCase.name} ${generator.name}`;
  const session = await generator.open();
  try {
    if (ctx.warmupSec > 0) {
      ctx.log(`${label} warm-up… ${ctx.warmupSec}s`);
      await session.run(server.url, loadCase.spec, ctx.warmupSec);
    }
    const repeatTag = ctx.repeats > 1 ? ` (repeat ${repeat + 1}/${ctx.repeats})` : '';
    ctx.log(`${label}…${repeatTag} ${ctx.durationSec}s`);
    const busyBefore = ctx.cpu.systemBusyTicks();
    const ticksBefore = sampleServer(ctx, server);
    const started = performance.now();
    const result = await session.run(server.url, loadCase.spec, ctx.durationSec);
    const ticksAfter = sampleServer(ctx, server);
    const windowSec = (performance.now() - started) / 1000;
    const busyAfter = ctx.cpu.systemBusyTicks();

    const windowMicros = windowSec * 1e6;
    const serverCpuMicros = ctx.cpu.ticksToMicros(ticksAfter.ticks - ticksBefore.ticks);
    const serverUserMicros = ctx.cpu.ticksToMicros(ticksAfter.userTicks - ticksBefore.userTicks);
    const serverCpuPct = (serverCpuMicros / windowMicros) * 100;
    const clientCpuPct = (result.clientCpuMicros / (result.elapsedSec * 1e6)) * 100;
    const otherMicros = ctx.cpu.ticksToMicros(busyAfter - busyBefore) - serverCpuMicros - result.clientCpuMicros;
    const otherCpuPct = Math.max(0, (otherMicros / windowMicros) * 100);
    const clientThreads = generator.threadsFor?.(loadCase.spec) ?? generator.threads;
    const clientSaturated = clientCpuPct >= CLIENT_SATURATION * 100 * clientThreads;
    const row: ResultRow = {
      scenario: matrix.scenario,
      case: loadCase.name,
      tool: generator.name,
      target: server.target.label,
      role: server.target.role,
      repeat,
      connections: loadCase.spec.connections,
      pipelining: loadCase.spec.pipelining,
      unit: matrix.unit,
      durationSec: result.elapsedSec,
      ops: result.ops,
      opsPerSec: result.elapsedSec > 0 ? result.ops / result.elapsedSec : 0,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      non2xx: result.non2xx,
      errors: result.errors,
      bytesPerOp: result.bytes === null || result.ops === 0 ? null : result.bytes / result.ops,
      serverCpuMs: serverCpuMicros / 1000,
      serverCpuUsPerOp: result.ops > 0 ? serverCpuMicros / result.ops : null,
      serverUserUsPerOp: result.ops > 0 ? serverUserMicros / result.ops : null,
      serverCpuPct,
      clientCpuPct,
      otherCpuPct,
      bound: limitOf(clientSaturated, serverCpuPct, clientCpuPct, otherCpuPct),
    };
    ctx.log(
      `  → ${Math.round(row.opsPerSec).toLocaleString('en-US')} ${row.unit}/s, ` +
        `p99 ${row.p99Ms === null ? '–' : `${row.p99Ms.toFixed(row.p99Ms < 10 ? 3 : 1)} ms`}, ` +
        `server ${row.serverCpuUsPerOp?.toFixed(1) ?? '–'} µs/${row.unit} (${row.serverCpuPct.toFixed(0)}% core), ` +
        `${generator.name} ${row.clientCpuPct.toFixed(0)}% core, others ${row.otherCpuPct.toFixed(0)}%, ${row.bound}`,
    );
    const expected = server.probe.wireBytes;
    if (matrix.bytesDifferByTarget !== true && row.bytesPerOp !== null && Math.abs(row.bytesPerOp - expected) > expected * 0.02) {
      ctx.note(`${label}: ${row.bytesPerOp.toFixed(1)} B per response under load vs ${expected} B probed; check the responses`);
    }
    if (otherCpuPct > NOISY_OTHER_CPU_PCT) {
      ctx.note(`${label}: other processes used ${otherCpuPct.toFixed(0)}% of a core during the window; treat as noisy`);
    }
    return row;
  } finally {
    await session.close();
  }
}

/**
 * The brief's rule: a generator at ≥ 90% of its cores while the server used less is
 * "client-bound", anything else "server-bound". One exception, so a row never claims the
 * server was the limit while it idled: when neither side reached 90% of a core and other
 * processes took more than {@link NOISY_OTHER_CPU_PCT}% of one, the window was "contended".
 */
export function limitOf(clientSaturated: boolean, serverPct: number, clientPct: number, otherPct: number): ResultRow['bound'] {
  if (clientSaturated && serverPct < clientPct) return 'client-bound';
  const serverSaturated = serverPct >= CLIENT_SATURATION * 100;
  if (!serverSaturated && !clientSaturated && otherPct > NOISY_OTHER_CPU_PCT) return 'contended';
  return 'server-bound';
}

/** A server busier than this share of a core is still working off an earlier window. */
const SETTLED_CPU = 0.05;
/** How long {@link settle} waits at most. */
const SETTLE_LIMIT_MS = 30_000;

/**
 * Waits until no server of the matrix is still busy with an earlier window (a server that fell
 * behind keeps draining its backlog after its load client stopped, on the cores the next window
 * needs); notes it when one is still busy after {@link SETTLE_LIMIT_MS}.
 */
async function settle(ctx: ScenarioContext, servers: readonly RunningServer[]): Promise<void> {
  const started = performance.now();
  for (;;) {
    const before = servers.map((server) => sampleServer(ctx, server).ticks);
    const at = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 250));
    const micros = (performance.now() - at) * 1000;
    const busy = servers.filter((server, i) => ctx.cpu.ticksToMicros(sampleServer(ctx, server).ticks - (before[i] ?? 0)) > micros * SETTLED_CPU);
    if (busy.length === 0) return;
    if (performance.now() - started > SETTLE_LIMIT_MS) {
      ctx.note(`${busy.map((s) => s.target.label).join(', ')} still busy ${SETTLE_LIMIT_MS / 1000} s after the previous window; the next window runs alongside`);
      return;
    }
  }
}

function sampleServer(ctx: ScenarioContext, server: RunningServer): TreeTicks {
  try {
    return ctx.cpu.processTreeSplit(server.pid);
  } catch (error) {
    throw new Error(`${server.target.label} died during the benchmark:\n${server.outputTail()}`, { cause: error });
  }
}
