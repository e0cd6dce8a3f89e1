/**
 * The C WebSocket client (bench/clients/wsload.c) as `LoadGenerator`s named `c-ws`, for echo,
 * fan-out and rooms, and as the idle-connection opener of ws-idle-memory ({@link CWsIdleClient}):
 * compiled on demand into bench/results/bin/wsload, then one process per session. The first
 * `run()` (the warm-up, or the measured window under --quick) starts it with `--control`: it
 * connects, runs that window and prints one JSON line; each later `run()` writes
 * `run <seconds>` on its stdin and reads the next line, so the connections stay open between
 * the warm-up and the measured window, as with the Node lean client. `close()` ends stdin.
 */
import { StringDecoder } from 'node:string_decoder';
import { ensureClientBinary, NoCompilerError } from './c-client.js';
import { spawnTracked, stopChild, type TrackedChild } from './processes.js';
import type { RoomsSpec } from './rooms-load.js';
import type { GeneratorSession, LoadGenerator, LoadResult, LoadSpec } from './scenario.js';
import type { WindowTotals } from './timed-window.js';
import type { WsIdleOpened } from './ws-load-child.js';
import { hostPort, type WsLoadLog, type WsLoadSpec } from './ws-load.js';

/** Tool name in the tables. */
export const C_WS_TOOL = 'c-ws';

/** Seconds a window may overrun (connect, drain) before the client is declared hung. */
const OVERRUN_GRACE_SEC = 30;

export { NoCompilerError };

/** What wsload measures: `--mode echo`, `fanout` or `rooms` (`--mode idle` is {@link CWsIdleClient}'s). */
type WsloadMode = 'echo' | 'fanout' | 'rooms';

/** Rooms: per upgrade, generous because the bench machine is shared (as the Node rooms client's). */
const ROOMS_CONNECT_TIMEOUT_SEC = 30;
/** Rooms: deliveries still missing this long after the window count as lost (as the Node rooms client's). */
const ROOMS_DRAIN_TIMEOUT_SEC = 3;
/**
 * Rooms: the sender's tick, as the Node rooms client's (TICK_MS): at 400/s four danmaku go
 * together, and a server may send each member the four in one write. The same traffic whichever
 * client runs, so switching clients changes only what the client costs.
 */
const ROOMS_TICK_MS = 10;

/**
 * The JSON line wsload prints per run (fields the harness reads; it prints a few more): the same
 * window totals as the Node load children's, and its own counters.
 */
interface WsloadRun extends Omit<WindowTotals, 'type'> {
  readonly connections: number;
  readonly connectionsOpened: number;
  readonly sentMsgs: number;
  readonly echoedMsgs: number;
  readonly sentBytes: number;
  readonly echoedBytes: number;
  readonly mismatches: number;
  /** Fan-out only: receivers, and rounds every receiver got. */
  readonly receivers?: number;
  readonly rounds?: number;
  /** Rooms only: danmaku sent in the window, deliveries expected, deliveries of earlier runs' danmaku, the last seq sent. */
  readonly sent?: number;
  readonly expected?: number;
  readonly stale?: number;
  readonly lastSeq?: number;
}

/** bench/clients/wsload.c compiled when needed (see {@link ensureClientBinary}); returns the binary's path. */
export function ensureWsloadBinary(log: (line: string) => void): string {
  return ensureClientBinary('wsload', log, 'or run the Node client alone with --tool lean-ws');
}

/** Reads the child's stdout as lines, one waiter at a time. */
class LineReader {
  private buffered = '';
  private readonly lines: string[] = [];
  private waiter: ((line: string) => void) | null = null;

  push(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      if (this.waiter !== null) {
        const resolve = this.waiter;
        this.waiter = null;
        resolve(line);
      } else this.lines.push(line);
    }
  }

  next(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }
}

/** The arguments of a wsload process for one target and load shape (its first run: `seconds`). */
function runArgs(mode: WsloadMode, url: string, spec: WsLoadSpec, seconds: number): string[] {
  const { host, port } = hostPort(url);
  return [
    '--mode', mode, '--host', host, '--port', String(port), '--path', spec.path,
    '--connections', String(spec.connections), '--inflight', String(spec.pipelining),
    '--size', String(spec.messageBytes), '--warmup', '0', '--duration', String(seconds), '--control',
  ];
}

/** One wsload process under `--control`: commands on its stdin, one JSON line per answer. */
class WsloadProcess {
  private readonly tracked: TrackedChild;
  private readonly reader = new LineReader();
  private exitedWith: number | string | null = null;
  private readonly exited: Promise<number | string>;

  /** `key` names what the process is bound to (a session reuses it while the key stays the same). */
  constructor(binary: string, args: readonly string[], readonly key: string, log: (line: string) => void) {
    this.tracked = spawnTracked(binary, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const { child } = this.tracked;
    const outText = new StringDecoder('utf8');
    child.stdout?.on('data', (chunk: Buffer) => this.reader.push(outText.write(chunk)));
    const errDecoder = new StringDecoder('utf8');
    let errText = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      errText += errDecoder.write(chunk);
      let nl: number;
      while ((nl = errText.indexOf('\n')) >= 0) {
        log(`  ${errText.slice(0, nl)}`);
        errText = errText.slice(nl + 1);
      }
    });
    // EPIPE when the child died first: its exit is reported by `exited`.
    child.stdin?.on('error', () => undefined);
    this.exited = this.tracked.exited.then(
      (code) => (this.exitedWith = code),
      (error: unknown) => (this.exitedWith = String(error)),
    );
  }

  static keyOf(mode: WsloadMode, url: string, spec: WsLoadSpec): string {
    return `${mode} ${url} ${spec.path} ${spec.connections}×${spec.pipelining} ${spec.messageBytes}`;
  }

  get alive(): boolean {
    return this.exitedWith === null;
  }

  /** Writes one command line (`run <seconds>`, `open <n>`, `close`). */
  command(line: string): void {
    this.tracked.child.stdin?.write(`${line}\n`);
  }

  /** The next JSON line; rejects when the process exits or hangs first. */
  async result<T = WsloadRun>(timeoutMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void stopChild(this.tracked.child, 0);
        reject(new Error(`c-ws: no result after ${timeoutMs} ms; killed\n${this.tracked.outputTail()}`));
      }, timeoutMs);
    });
    const died = this.exited.then((code) => {
      throw new Error(`c-ws exited (${code}) before reporting:\n${this.tracked.outputTail()}`);
    });
    died.catch(() => undefined); // it rejects on any later exit too, after the race is over
    try {
      const line = await Promise.race([this.reader.next(), died, hung]);
      return JSON.parse(line) as T;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.tracked.child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    const quit = await Promise.race([this.exited, new Promise((resolve) => (timer = setTimeout(resolve, 2000, 'timeout')))]);
    clearTimeout(timer);
    if (quit === 'timeout') await stopChild(this.tracked.child);
  }
}

function toLoadResult(mode: WsloadMode, run: WsloadRun, label: string, out: WsLoadLog): LoadResult {
  if (run.errors > 0) out.note(`${label}: ${run.errors} error(s) (${run.mismatches} payload mismatches); first: ${run.firstError ?? 'unknown'}`);
  // Echo: every message comes back once; fan-out: every round reaches every receiver (wsload
  // exits on a wrong or missing delivery, so a difference here would be a client bug).
  const copies = mode === 'fanout' ? (run.receivers ?? 0) : 1;
  if (run.sentBytes * copies !== run.echoedBytes || run.sentMsgs * copies !== run.echoedMsgs) {
    const what = mode === 'fanout' ? `were delivered (${copies} receivers)` : 'came back';
    out.note(`${label}: sent ${run.sentMsgs} msgs / ${run.sentBytes} B but ${run.echoedMsgs} msgs / ${run.echoedBytes} B ${what}`);
  }
  return resultOf(run);
}

/** A wsload run as the harness's LoadResult. */
function resultOf(run: WsloadRun): LoadResult {
  return {
    ops: run.ops,
    elapsedSec: run.elapsedSec,
    p50Ms: run.p50Ms,
    p99Ms: run.p99Ms,
    non2xx: null,
    errors: run.errors,
    // As for lean-ws: lengths and payloads are checked by the client, and runMatrix would compare
    // bytes per op with the HTTP readiness probe's response size.
    bytes: null,
    clientCpuMicros: run.cpuMicros,
  };
}

/** How one kind of window runs in a wsload process: the spec it needs, its arguments, its result. */
interface WindowPlan<S extends LoadSpec> {
  /** `loadSpec` as this plan's spec, or a TypeError. */
  spec(loadSpec: LoadSpec): S;
  /** Same key: the running process (and its connections) is reused for the next window. */
  key(url: string, spec: S): string;
  args(url: string, spec: S, seconds: number): string[];
  timeoutMs(seconds: number): number;
  result(run: WsloadRun, url: string, spec: S): LoadResult;
}

/**
 * A `c-ws` generator: one wsload process per session, started with `--control` by the first
 * window and told `run <seconds>` for each later one while the key stays the same.
 */
function sessionGenerator<S extends LoadSpec>(binary: string, out: WsLoadLog, plan: WindowPlan<S>): LoadGenerator {
  return {
    name: C_WS_TOOL,
    threads: 1,
    open(): Promise<GeneratorSession> {
      let proc: WsloadProcess | null = null;
      return Promise.resolve({
        async run(url: string, loadSpec: LoadSpec, seconds: number): Promise<LoadResult> {
          const spec = plan.spec(loadSpec);
          const key = plan.key(url, spec);
          if (proc !== null && (!proc.alive || proc.key !== key)) {
            await proc.close();
            proc = null;
          }
          if (proc === null) proc = new WsloadProcess(binary, plan.args(url, spec, seconds), key, out.log);
          else proc.command(`run ${seconds}`);
          return plan.result(await proc.result(plan.timeoutMs(seconds)), url, spec);
        },
        async close(): Promise<void> {
          await proc?.close();
          proc = null;
        },
      });
    },
  };
}

function generator(mode: WsloadMode, out: WsLoadLog, binary: string): LoadGenerator {
  return sessionGenerator<WsLoadSpec>(binary, out, {
    spec(loadSpec) {
      const spec = loadSpec as WsLoadSpec;
      if (typeof spec.messageBytes !== 'number') throw new TypeError('c-ws needs spec.messageBytes (a WsLoadSpec)');
      return spec;
    },
    key: (url, spec) => WsloadProcess.keyOf(mode, url, spec),
    args: (url, spec, seconds) => runArgs(mode, url, spec, seconds),
    timeoutMs: (seconds) => (seconds + OVERRUN_GRACE_SEC) * 1000,
    result(run, url, spec) {
      if (run.connections < spec.connections) {
        out.note(`c-ws: ${run.connections} of ${spec.connections} connections open at the end of the window`);
      }
      return toLoadResult(mode, run, `c-ws ${mode} ${spec.path} ${spec.messageBytes} B on ${hostPort(url).port}`, out);
    },
  });
}

/**
 * Closed-loop echo with the C client: `spec.connections` sockets, `spec.pipelining` binary
 * messages of `spec.messageBytes` in flight on each. `binary` comes from {@link ensureWsloadBinary}.
 */
export function cWsEchoGenerator(out: WsLoadLog, binary: string): LoadGenerator {
  return generator('echo', out, binary);
}

/**
 * Fan-out with the C client: one sender and `spec.connections - 1` receivers, `spec.pipelining`
 * rounds of one `spec.messageBytes` binary message in flight (1: the next round goes when every
 * receiver got the previous one). A delivery is one message at one receiver; its latency comes from
 * the send time in the payload. `binary` comes from {@link ensureWsloadBinary}.
 */
export function cWsFanoutGenerator(out: WsLoadLog, binary: string): LoadGenerator {
  return generator('fanout', out, binary);
}

/** The arguments of a `--mode rooms` process: `spec.connections` sockets (the sender first), seqs from `firstSeq`. */
function roomsArgs(url: string, spec: RoomsSpec, seconds: number, firstSeq: number): string[] {
  const { host, port } = hostPort(url);
  return [
    '--mode', 'rooms', '--host', host, '--port', String(port), '--path', spec.path,
    '--connections', String(spec.connections), '--rate', String(spec.rate), '--tick-ms', String(ROOMS_TICK_MS), '--first-seq', String(firstSeq),
    '--connect-timeout', String(ROOMS_CONNECT_TIMEOUT_SEC), '--drain-timeout', String(ROOMS_DRAIN_TIMEOUT_SEC),
    '--warmup', '0', '--duration', String(seconds), '--control',
  ];
}

/**
 * Rooms with the C client (`--mode rooms`), in the shape of the Node rooms client
 * (bench/lib/rooms-load.ts): one sender posting `spec.rate` danmaku/s (open loop) into the room on
 * `spec.path`, `spec.connections - 1` receivers; a delivery is one danmaku at one receiver, and the
 * deliveries still missing 3 s after the window are errors. `label` names the scenario in notes.
 */
export function cWsRoomsGenerator(out: WsLoadLog, binary: string, label: string): LoadGenerator {
  // Seqs go on from session to session: a room's history replays earlier sessions' danmaku to
  // every member that joins, and wsload counts those as stale only if their seqs are below its own.
  let nextSeq = 1;
  return sessionGenerator<RoomsSpec>(binary, out, {
    spec(loadSpec) {
      const spec = loadSpec as RoomsSpec;
      if (typeof spec.rate !== 'number') throw new TypeError('c-ws rooms needs spec.rate (a RoomsSpec)');
      return spec;
    },
    key: (url, spec) => `rooms ${url} ${spec.path} ${spec.connections} ${spec.rate}/s`,
    args: (url, spec, seconds) => roomsArgs(url, spec, seconds, nextSeq),
    timeoutMs: (seconds) => (seconds + ROOMS_DRAIN_TIMEOUT_SEC + OVERRUN_GRACE_SEC) * 1000,
    result(run, url, spec) {
      if (run.lastSeq !== undefined) nextSeq = run.lastSeq + 1;
      const { port } = hostPort(url);
      if (run.errors > 0) out.note(`${label} ${spec.rate}/s on ${port}: ${run.errors} error(s); first: ${run.firstError ?? 'unknown'}`);
      return resultOf(run);
    },
  });
}

/** What `open <n>` prints in `--mode idle` (with a few more fields: tool, mode, held). */
type WsloadOpened = Omit<WsIdleOpened, 'type'>;

/**
 * Idle WebSockets held by the C client (`--mode idle`): {@link open} upgrades `n` more sockets on
 * one path (200 in flight) and holds them (answering pings) until {@link closeAll}. Answers in the
 * shapes of the Node lean client's `idle-open` / `idle-close` replies.
 */
export class CWsIdleClient {
  private constructor(private readonly proc: WsloadProcess) {}

  /** A client for `url` + `path` that holds at most `capacity` sockets at once. */
  static start(binary: string, url: string, path: string, capacity: number, log: (line: string) => void): CWsIdleClient {
    const { host, port } = hostPort(url);
    const args = ['--mode', 'idle', '--control', '--host', host, '--port', String(port), '--path', path, '--connections', String(capacity)];
    return new CWsIdleClient(new WsloadProcess(binary, args, `idle ${url} ${path}`, log));
  }

  /** Opens `n` more sockets; resolves when every upgrade has succeeded or failed. */
  async open(n: number, timeoutMs: number): Promise<WsIdleOpened> {
    this.proc.command(`open ${n}`);
    const r = await this.proc.result<WsloadOpened>(timeoutMs);
    const { opened, failed, firstFailure, elapsedSec, p50Ms, p99Ms, cpuMicros } = r;
    return { type: 'idle-opened', opened, failed, firstFailure, elapsedSec, p50Ms, p99Ms, cpuMicros };
  }

  /** Closes every held socket; `stillOpen` is how many the server had not closed. */
  async closeAll(timeoutMs: number): Promise<{ readonly stillOpen: number }> {
    this.proc.command('close');
    const { stillOpen } = await this.proc.result<{ stillOpen: number }>(timeoutMs);
    return { stillOpen };
  }

  async stop(): Promise<void> {
    await this.proc.close();
  }
}
