/**
 * The C HTTP download client (bench/clients/httpload.c) as a `LoadGenerator` named `c-http`: one
 * process per window (connections are cheap to open on loopback, and a download straddling the
 * window's edge counts for the bytes that arrived inside it). Ops are MiB of body received (the
 * harness's `ops/s` is then MiB/s and its CPU per op server CPU per MiB), or responses for small
 * pages (`http-hello`'s keep-alive case, where wrk is the limit before the server).
 */
import { ensureClientBinary } from './c-client.js';
import { spawnTracked, stopChild } from './processes.js';
import type { GeneratorSession, LoadGenerator, LoadResult, LoadSpec } from './scenario.js';

/** Tool name in the tables. */
export const C_HTTP_TOOL = 'c-http';

const MiB = 1024 * 1024;

/** Seconds a window may overrun before the client is declared hung. */
const OVERRUN_GRACE_SEC = 30;

/** A download load shape: `path` of a representation of `totalBytes`, whole or in `rangeBytes` at random offsets. */
export interface HttpDownloadSpec extends LoadSpec {
  /** 0: whole downloads (200); else one `Range` of this many bytes at a random offset per request (206). */
  readonly rangeBytes: number;
  /** The representation's length (every server serves the same bytes). */
  readonly totalBytes: number;
  /** The same bytes as a file: the client compares the first bytes of every read with it (none: lengths and statuses only). */
  readonly file?: string;
}

/** The JSON line httpload prints (the fields the harness reads). */
interface HttploadRun {
  readonly ops: number;
  readonly elapsedSec: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly bodyBytes: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly mismatches: number;
  readonly reconnects: number;
  readonly recvCalls: number;
  readonly cpuMicros: number;
}

/** Where the generator reports. */
export interface HttpLoadLog {
  log(line: string): void;
  note(line: string): void;
}

/** bench/clients/httpload.c compiled when needed; returns the binary's path. */
export function ensureHttploadBinary(log: (line: string) => void, hint = 'the audio-http scenario has no other client fast enough for 256 MiB bodies'): string {
  return ensureClientBinary('httpload', log, hint);
}

async function runHttpload(binary: string, out: HttpLoadLog, url: string, spec: HttpDownloadSpec, seconds: number, ops: HttpOps): Promise<LoadResult> {
  const { hostname, port } = new URL(url);
  const args = [
    '--host', hostname, '--port', port, '--path', spec.path, '--connections', String(spec.connections),
    '--size', String(spec.totalBytes), '--range', String(spec.rangeBytes), ...(spec.file === undefined ? [] : ['--file', spec.file]),
    '--warmup', '0', '--duration', String(seconds),
  ];
  const child = spawnTracked(binary, args, { keepStdout: true });
  const killer = setTimeout(() => void stopChild(child.child, 0), (seconds + OVERRUN_GRACE_SEC) * 1000);
  const code = await child.exited;
  clearTimeout(killer);
  if (code !== 0) throw new Error(`httpload exited with ${code}:\n${child.outputTail()}`);
  const run = JSON.parse(child.stdout().trim().split('\n').pop() ?? '') as HttploadRun;
  const label = `c-http ${spec.path} on ${port}`;
  out.log(`  ${run.ops} responses, ${run.reconnects} reconnects, ${run.recvCalls} recv calls (${(run.bodyBytes / Math.max(1, run.recvCalls) / 1024).toFixed(1)} KiB of body each)`);
  if (run.errors > 0) out.note(`${label}: ${run.errors} error(s) (${run.mismatches} byte mismatches, ${run.non2xx} unexpected statuses); first: ${run.firstError ?? 'unknown'}`);
  return {
    ops: ops === 'MiB' ? run.bodyBytes / MiB : run.ops,
    elapsedSec: run.elapsedSec,
    p50Ms: run.p50Ms,
    p99Ms: run.p99Ms,
    non2xx: run.non2xx,
    errors: run.errors,
    bytes: null, // lengths, statuses and Content-Range are checked by the client
    clientCpuMicros: run.cpuMicros,
  };
}

/** What the generator counts as an op: MiB of body (downloads), or responses (small pages). */
export type HttpOps = 'MiB' | 'responses';

/** Requests with the C client, one in flight per connection (keep-alive); `binary` comes from {@link ensureHttploadBinary}. */
export function cHttpGenerator(out: HttpLoadLog, binary: string, ops: HttpOps = 'MiB'): LoadGenerator {
  return {
    name: C_HTTP_TOOL,
    threads: 1,
    open(): Promise<GeneratorSession> {
      return Promise.resolve({
        run(url: string, spec: LoadSpec, seconds: number): Promise<LoadResult> {
          const download = spec as HttpDownloadSpec;
          if (typeof download.totalBytes !== 'number') throw new TypeError('c-http needs an HttpDownloadSpec');
          return runHttpload(binary, out, url, download, seconds, ops);
        },
        close: () => Promise.resolve(),
      });
    },
  };
}
