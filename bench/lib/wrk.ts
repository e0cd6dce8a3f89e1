import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { reapedChildrenTicks, ticksToMicros } from './cpu.js';
import { spawnTracked, stopChild } from './processes.js';
import type { GeneratorSession, LoadGenerator, LoadResult, LoadSpec } from './scenario.js';

const PIPELINE_SCRIPT = fileURLToPath(new URL('./pipeline.lua', import.meta.url));
const REPORT_SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));

/** Extra seconds a wrk run may overrun before it is killed. */
const OVERRUN_GRACE_SEC = 30;

/** wrk on PATH: its path and version line, or null when it is not installed. */
export function findWrk(): { path: string; version: string } | null {
  const probe = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (probe.error !== undefined) return null; // ENOENT: not installed, the caller notes it
  const first = `${probe.stdout}${probe.stderr}`.split('\n')[0] ?? '';
  const version = first.replace(/\s*Copyright.*$/, '').trim() || 'wrk (unknown version)';
  const which = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
  return { path: which.stdout.trim() || 'wrk', version };
}

/** One wrk run, parsed. Latencies in ms; `statusErrors` counts responses with status ≥ 400. */
export interface WrkReport {
  readonly requests: number;
  readonly durationSec: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly statusErrors: number;
  readonly socketErrors: number;
  /** Response bytes read. */
  readonly bytes: number | null;
}

const TIME_UNITS_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseDurationMs(text: string): number | null {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (match === null) return null;
  return Number(match[1]) * TIME_UNITS_MS[match[2]];
}

/**
 * Parses wrk's output. Prefers the `WRK_JSON {…}` line our Lua `done()` prints (exact
 * µs percentiles); falls back to the human text (`--latency` block, "N requests in Ts",
 * "Socket errors: …", "Non-2xx or 3xx responses: N").
 */
export function parseWrkOutput(output: string): WrkReport {
  const jsonLine = /^WRK_JSON (\{.*\})$/m.exec(output);
  if (jsonLine !== null) {
    const j = JSON.parse(jsonLine[1]) as Record<string, number>;
    const n = (key: string): number => j[key] ?? 0;
    return {
      requests: n('requests'),
      durationSec: n('durationUs') / 1e6,
      p50Ms: n('p50Us') / 1000,
      p99Ms: n('p99Us') / 1000,
      statusErrors: n('statusErrors'),
      socketErrors: n('connectErrors') + n('readErrors') + n('writeErrors') + n('timeouts'),
      bytes: n('bytes'),
    };
  }
  const total = /(\d+) requests in ([\d.]+\w+),/.exec(output);
  if (total === null) throw new Error(`unrecognised wrk output:\n${output}`);
  const percentile = (p: string): number | null => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+\\w+)\\s*$`, 'm').exec(output);
    return match === null ? null : parseDurationMs(match[1]);
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  return {
    requests: Number(total[1]),
    durationSec: (parseDurationMs(total[2]) ?? 0) / 1000,
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    statusErrors: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors: socket === null ? 0 : socket.slice(1).reduce((sum, v) => sum + Number(v), 0),
    bytes: null, // the text form only has rounded MB
  };
}

/**
 * wrk as a generator. `threads` defaults to 1 so the generator, like autocannon, gets one
 * core and leaves the rest to the server; a case may ask for more ({@link LoadSpec.wrkThreads}).
 * Its CPU is read from this process's cutime/cstime delta across the run (wrk is reaped before
 * its /proc entry could be read).
 */
export function wrkGenerator(wrkPath: string, threads = 1): LoadGenerator {
  const threadsFor = (spec: LoadSpec): number => spec.wrkThreads ?? threads;
  return {
    name: 'wrk',
    threads,
    threadsFor,
    open(): Promise<GeneratorSession> {
      return Promise.resolve({
        run: (url, spec, seconds) => runWrk(wrkPath, threadsFor(spec), url, spec, seconds),
        close: () => Promise.resolve(),
      });
    },
  };
}

async function runWrk(wrkPath: string, threads: number, url: string, spec: LoadSpec, seconds: number): Promise<LoadResult> {
  const origin = new URL(url).origin + '/';
  const args = [
    `-t${threads}`,
    `-c${spec.connections}`,
    `-d${seconds}s`,
    '--latency',
    '--timeout', '5s',
    '-s', spec.pipelining > 1 ? PIPELINE_SCRIPT : REPORT_SCRIPT,
    spec.pipelining > 1 ? origin : url,
  ];
  if (spec.pipelining > 1) args.push('--', String(spec.pipelining), spec.path);
  const ticksBefore = reapedChildrenTicks();
  const wrk = spawnTracked(wrkPath, args, { keepStdout: true });
  const killer = setTimeout(() => void stopChild(wrk.child), (seconds + OVERRUN_GRACE_SEC) * 1000);
  const code = await wrk.exited;
  clearTimeout(killer);
  // The child is reaped before 'exit' fires, so its CPU is already in our cutime/cstime.
  const clientCpuMicros = ticksToMicros(reapedChildrenTicks() - ticksBefore);
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${wrk.outputTail()}`);
  const report = parseWrkOutput(wrk.stdout());
  // With pipelining wrk records one latency per batch and its percentiles come out as 0 or
  // garbage (wg/wrk#236, reproduced with 4.1.0): report none rather than a wrong number.
  const latencyValid = spec.pipelining <= 1;
  return {
    ops: report.requests,
    elapsedSec: report.durationSec,
    p50Ms: latencyValid ? report.p50Ms : null,
    p99Ms: latencyValid ? report.p99Ms : null,
    non2xx: report.statusErrors,
    errors: report.socketErrors,
    bytes: report.bytes,
    clientCpuMicros,
  };
}
