import type { TreeTicks } from './cpu.js';
import type { RunningServer, ServerTarget, TrackedChild } from './processes.js';
import type { SpawnOptions } from 'node:child_process';

/**
 * The contract every load scenario (bench/load/*.ts) implements. A scenario file exports
 * `scenario: Scenario`; bench/run.ts discovers it, hands it a context, and collects rows.
 */
export interface Scenario {
  /** Used by `--only` and in progress lines: kebab-case, e.g. "http-hello", "ws-echo". */
  readonly name: string;
  /** One line for `--help` and the Markdown report. */
  readonly description: string;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

/** What a scenario returns: one row per measured window, plus free-form notes. */
export interface ScenarioResult {
  readonly rows: ResultRow[];
  readonly notes: string[];
  /** Tables of what the rows have no columns for (cluster-redis: Redis bytes and commands per message). */
  readonly tables?: readonly TitledTable[];
}

/** A scenario's own table, printed and written after its rows (renders like format.ts `Table`). */
export interface TitledTable {
  readonly title: string;
  readonly header: readonly string[];
  readonly align: readonly ('left' | 'right')[];
  readonly rows: readonly (readonly string[])[];
}

/** Load shape for one measured window. WebSocket scenarios reuse it (`pipelining` = 1). */
export interface LoadSpec {
  readonly path: string;
  readonly connections: number;
  /** Requests in flight per connection (1 = plain keep-alive). */
  readonly pipelining: number;
  /** wrk's `-t` for this case (default: the generator's); the other generators run one thread and ignore it. */
  readonly wrkThreads?: number;
}

/** What a load generator measured in one window. */
export interface LoadResult {
  /** Completed operations (HTTP responses, echoed messages, …). */
  readonly ops: number;
  /** The generator's own measured duration in seconds. */
  readonly elapsedSec: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** Responses outside 2xx (HTTP only; null where it means nothing). */
  readonly non2xx: number | null;
  /** Socket errors + timeouts. */
  readonly errors: number;
  /** Response bytes read (headers + bodies), for a bytes-per-op sanity check; null if unknown. */
  readonly bytes: number | null;
  /** CPU the generator process used during the window (user + system), in µs. */
  readonly clientCpuMicros: number;
}

/** One open generator: a long-lived child (autocannon) or a spawner (wrk). */
export interface GeneratorSession {
  run(url: string, spec: LoadSpec, seconds: number): Promise<LoadResult>;
  close(): Promise<void>;
}

/** A load-generating tool. */
export interface LoadGenerator {
  /** "autocannon", "wrk", "ws-client", … */
  readonly name: string;
  /** Cores the generator can use: the client-bound threshold is ~90% of this many cores. */
  readonly threads: number;
  /** The cores it uses for `spec`, when that differs from {@link threads}. */
  threadsFor?(spec: LoadSpec): number;
  open(): Promise<GeneratorSession>;
}

/** One measured window, as written to latest.json. */
export interface ResultRow {
  readonly scenario: string;
  /** Sub-scenario, e.g. "keep-alive", "pipeline-16". */
  readonly case: string;
  readonly tool: string;
  readonly target: string;
  readonly role: 'subject' | 'baseline';
  /** 0-based repeat index; the target order alternates between repeats. */
  readonly repeat: number;
  readonly connections: number;
  readonly pipelining: number;
  /** What `ops` counts: "req" for HTTP, "msg" for WebSocket. */
  readonly unit: string;
  readonly durationSec: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly non2xx: number | null;
  readonly errors: number;
  /** Bytes read per op: must match the probed response size, else the targets did different work. */
  readonly bytesPerOp: number | null;
  /** Server CPU (process tree, utime + stime) over the window, in ms. */
  readonly serverCpuMs: number;
  /** Server CPU per completed op, in µs (null when nothing completed). */
  readonly serverCpuUsPerOp: number | null;
  /**
   * The user-mode part of {@link serverCpuUsPerOp}: the server's own code (JavaScript, V8, native
   * code, libc); the rest is kernel time spent for it (system calls, TCP on loopback). Null where
   * the scenario does not sample it.
   */
  readonly serverUserUsPerOp: number | null;
  /** Server CPU as % of one core over the window. */
  readonly serverCpuPct: number;
  /** Generator CPU as % of one core over the window. */
  readonly clientCpuPct: number;
  /**
   * CPU used by everything else on the machine (other processes, the harness, unattributed
   * kernel work) as % of one core over the window. High values mean a noisy measurement.
   */
  readonly otherCpuPct: number;
  /**
   * Which side limited throughput: the generator (≥ 90% of its cores while the server used
   * less), the server, or neither because other processes were taking the CPUs.
   */
  readonly bound: 'client-bound' | 'server-bound' | 'contended';
}

/** What bench/run.ts gives each scenario. */
export interface ScenarioContext {
  /** Repository root (cwd for every child). */
  readonly root: string;
  readonly quick: boolean;
  /** Measured seconds per window. */
  readonly durationSec: number;
  /** Warm-up seconds before each measured window (0 = none). */
  readonly warmupSec: number;
  readonly repeats: number;
  /** `--tool` filter, or null for every available tool. */
  readonly toolFilter: string | null;
  /** Progress line on stderr, prefixed with `[scenario]`. */
  readonly log: (line: string) => void;
  /** A caveat that belongs in the report (also logged). */
  note(line: string): void;
  /**
   * The slabcast server (`node dist/server.js --port <p> --host 127.0.0.1`), or, under
   * `--stand-in`, `standIn` relabelled "slabcast" so the harness can be exercised without a build.
   */
  slabcast(standIn: ServerTarget): ServerTarget;
  startServer(target: ServerTarget): Promise<RunningServer>;
  spawn(command: string, args: readonly string[], options?: SpawnOptions): TrackedChild;
  cpu: {
    /** CPU ticks of a process and its live descendants. */
    processTreeTicks(pid: number): number;
    /** The same, with the user-mode part apart. */
    processTreeSplit(pid: number): TreeTicks;
    /** Time on a CPU of a process and its live descendants in µs, finer than ticks (schedstat); null without schedstat. */
    processTreeRuntimeMicros(pid: number): number | null;
    /** Busy ticks of all CPUs (from /proc/stat). */
    systemBusyTicks(): number;
    ticksToMicros(ticks: number): number;
  };
}

/** CPU ticks of `servers` (each with its children) now; a server that exited fails the run with its output's tail. */
export function instanceTicks(ctx: ScenarioContext, servers: readonly RunningServer[]): number {
  return servers.reduce((sum, s) => {
    try {
      return sum + ctx.cpu.processTreeTicks(s.pid);
    } catch (error) {
      throw new Error(`${s.target.label} died during the benchmark:\n${s.outputTail()}`, { cause: error });
    }
  }, 0);
}
