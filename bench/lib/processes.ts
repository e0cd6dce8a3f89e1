import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { probeGet, type ProbeResponse } from './probe.js';

/** Bench traffic never leaves the machine. */
export const BENCH_HOST = '127.0.0.1';

const live = new Set<ChildProcess>();
let handlersInstalled = false;

/** Spawned children that can keep this much output for error reports. */
const OUTPUT_TAIL_BYTES = 8192;

/** A spawned child plus the tail of its stdout/stderr (pipes are always drained). */
export interface TrackedChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Last few KiB of combined stdout + stderr. */
  readonly outputTail: () => string;
  /** Full stdout, kept only when `keepStdout` was set (wrk's report). */
  stdout(): string;
  /** Resolves with the exit code (or the signal name) once the child is gone. */
  readonly exited: Promise<number | string>;
}

/**
 * Spawns a child that is killed when the harness exits for any reason (normal end,
 * error, Ctrl-C, SIGTERM). Output is drained so a chatty child never blocks on a full pipe.
 */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { keepStdout?: boolean } = {},
): TrackedChild {
  installExitHandlers();
  const { keepStdout = false, ...spawnOptions } = options;
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  live.add(child);
  let tail = '';
  let out = '';
  const keep = (chunk: Buffer, isStdout: boolean): void => {
    const text = chunk.toString('utf8');
    if (keepStdout && isStdout) out += text;
    tail = (tail + text).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on('data', (chunk: Buffer) => keep(chunk, true));
  child.stderr?.on('data', (chunk: Buffer) => keep(chunk, false));
  const exited = new Promise<number | string>((resolve, reject) => {
    child.once('error', (error) => {
      live.delete(child);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  // Callers that never await `exited` must not turn a spawn error into an unhandled rejection.
  exited.catch((error: unknown) => {
    tail += `\n[spawn error] ${String(error)}`;
  });
  // pid is undefined only when spawn failed (ENOENT…); `exited` rejects with that error.
  return { child, pid: child.pid ?? -1, outputTail: () => tail, stdout: () => out, exited };
}

/** Registers a child created elsewhere (e.g. by `fork`) so it is killed on exit too. */
export function trackChild(child: ChildProcess): void {
  installExitHandlers();
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/**
 * Stops one child: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited.
 */
export async function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** Stops every live child, in parallel. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((child) => stopChild(child)));
}

function killAllNow(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is the only thing that surely lands.
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping ${live.size} child process(es)\n`);
      void stopAllChildren().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
      // A second signal or a hung child must not keep us alive.
      setTimeout(() => process.exit(1), 4000).unref();
    });
  }
}

/** Asks the kernel for a free port on {@link BENCH_HOST} (tiny race until the child binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, BENCH_HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : -1;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** How to start one server under test or peer. */
export interface ServerTarget {
  /** Shown in tables: "slabcast", "node:http", "ws", … */
  readonly label: string;
  /** `subject` is slabcast; `baseline` is the peer ratios are computed against. */
  readonly role: 'subject' | 'baseline';
  readonly command: string;
  /** Full argument list for a given port (host is always {@link BENCH_HOST}). */
  args(port: number): string[];
  /** Path probed for readiness; the answer must be 200. */
  readonly readyPath: string;
  /** Set when this target stands in for another (e.g. the peer run under the slabcast label). */
  readonly standInFor?: string;
}

/** A server child that answered 200 on its ready path. */
export interface RunningServer {
  readonly target: ServerTarget;
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  /** The readiness response (body, headers, wire size) for cross-target checks. */
  readonly probe: ProbeResponse;
  outputTail(): string;
  stop(): Promise<void>;
}

/**
 * Starts a target and waits until it is ready: poll a TCP connect + `GET readyPath`
 * until 200, failing fast if the child exits and giving up after `timeoutMs`.
 */
export async function startServer(target: ServerTarget, cwd: string, timeoutMs = 15_000): Promise<RunningServer> {
  const port = await freePort();
  const tracked = spawnTracked(target.command, target.args(port), { cwd, env: { ...process.env, NODE_ENV: 'production' } });
  let exitedWith: number | string | null = null;
  tracked.exited.then(
    (code) => {
      exitedWith = code;
    },
    (error: unknown) => {
      exitedWith = String(error);
    },
  );
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt yet';
  for (;;) {
    if (exitedWith !== null) {
      throw new Error(`${target.label} exited (${String(exitedWith)}) before it was ready:\n${tracked.outputTail()}`);
    }
    if (Date.now() > deadline) {
      await stopChild(tracked.child);
      throw new Error(`${target.label} not ready after ${timeoutMs} ms (${lastError}):\n${tracked.outputTail()}`);
    }
    try {
      const probe = await probeGet(BENCH_HOST, port, target.readyPath, 1000);
      if (probe.status === 200) {
        return {
          target,
          pid: tracked.pid,
          port,
          url: `http://${BENCH_HOST}:${port}${target.readyPath}`,
          probe,
          outputTail: tracked.outputTail,
          stop: () => stopChild(tracked.child),
        };
      }
      lastError = `status ${probe.status}`;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await delay(25); // poll interval between readiness attempts, not a fixed boot wait
  }
}
