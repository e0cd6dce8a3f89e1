/**
 * Harness side of the lean WebSocket load client: forks bench/lib/ws-load-child.ts, talks to
 * it over IPC, and exposes it as `LoadGenerator`s for runMatrix (echo, fan-out) and as an
 * idle-connection holder for the memory scenario. One child per session, like autocannon.
 */
import { fileURLToPath } from 'node:url';
import { LoadChild } from './load-child.js';
import type { GeneratorSession, LoadGenerator, LoadResult, LoadSpec, ScenarioContext } from './scenario.js';
import type { WsChildReply, WsChildRequest, WsWindowResult } from './ws-load-child.js';

const CHILD_ENTRY = fileURLToPath(new URL('./ws-load-child.ts', import.meta.url));

/** Tool name in the tables. */
export const LEAN_WS_TOOL = 'lean-ws';

/** Extra seconds a request may overrun (connecting 1,001 sockets, draining) before the child is declared hung. */
const OVERRUN_GRACE_SEC = 30;

/** What the generators log through: the scenario context's progress line and report note. */
export type WsLoadLog = Pick<ScenarioContext, 'log' | 'note'>;

/**
 * A `LoadSpec` for WebSocket cases. runMatrix hands each case's spec to the generator as it
 * is, so the message size rides along; `connections` counts every socket (fan-out: sender +
 * receivers).
 */
export interface WsLoadSpec extends LoadSpec {
  readonly messageBytes: number;
}

function wsSpec(spec: LoadSpec): WsLoadSpec {
  const bytes = (spec as Partial<WsLoadSpec>).messageBytes;
  if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 0) {
    throw new TypeError('WebSocket load cases need spec.messageBytes (a WsLoadSpec)');
  }
  return spec as WsLoadSpec;
}

/** One forked lean client (bench/lib/ws-load-child.ts). */
export type WsLoadChild = LoadChild<WsChildRequest, WsChildReply>;

/** Forks the lean client and waits for it to be ready; its progress lines go to `log`. */
export function startWsLoadChild(log: (line: string) => void): Promise<WsLoadChild> {
  return LoadChild.start<WsChildRequest, WsChildReply>(CHILD_ENTRY, 'ws load client', log);
}

/** host + port of a RunningServer's url (always http://127.0.0.1:<port>/…). */
export function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

function toLoadResult(reply: WsWindowResult, label: string, out: WsLoadLog): LoadResult {
  if (reply.errors > 0) out.note(`${label}: ${reply.errors} error(s); first: ${reply.firstError ?? 'unknown'}`);
  return {
    ops: reply.ops,
    elapsedSec: reply.elapsedSec,
    p50Ms: reply.p50Ms,
    p99Ms: reply.p99Ms,
    non2xx: null,
    errors: reply.errors,
    // Frame sizes are checked by the client (a wrong length is an error). `bytes` stays null
    // because runMatrix compares bytes per op with the HTTP readiness probe's response size.
    bytes: null,
    clientCpuMicros: reply.cpuMicros,
  };
}

function generator(kind: 'echo' | 'fanout', out: WsLoadLog): LoadGenerator {
  return {
    name: LEAN_WS_TOOL,
    threads: 1,
    async open(): Promise<GeneratorSession> {
      const child = await startWsLoadChild(out.log);
      return {
        async run(url: string, spec: LoadSpec, seconds: number): Promise<LoadResult> {
          const { messageBytes } = wsSpec(spec);
          const target = { ...hostPort(url), path: spec.path };
          const timeoutMs = (seconds + OVERRUN_GRACE_SEC) * 1000;
          const request: WsChildRequest =
            kind === 'echo'
              ? { type: 'echo', ...target, connections: spec.connections, messageBytes, seconds }
              : { type: 'fanout', ...target, receivers: spec.connections - 1, messageBytes, seconds, window: spec.pipelining };
          const reply = await child.request(request, 'result', timeoutMs);
          return toLoadResult(reply, `${kind} ${spec.path} ${messageBytes} B on ${target.port}`, out);
        },
        close: () => child.close(),
      };
    },
  };
}

/** Closed-loop echo: `spec.connections` sockets, one `spec.messageBytes` binary message in flight on each. */
export function wsEchoGenerator(out: WsLoadLog): LoadGenerator {
  return generator('echo', out);
}

/** Fan-out: one sender, `spec.connections - 1` receivers, one message per round (ws-load-child.ts). */
export function wsFanoutGenerator(out: WsLoadLog): LoadGenerator {
  return generator('fanout', out);
}
