/**
 * Harness side of the lean WebSocket load client: forks bench/lib/ws-load-child.ts, talks to
 * it over IPC, and exposes it as `LoadGenerator`s for runMatrix (echo, fan-out) and as an
 * idle-connection holder for the memory scenario. One child per session, like autocannon.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopChild, trackChild } from './processes.js';
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

/** A reply of one type. */
type Reply<T extends WsChildReply['type']> = Extract<WsChildReply, { type: T }>;

/** One forked lean client; progress lines from it go to `log`. */
export class WsLoadChild {
  private constructor(private readonly child: ChildProcess) {}

  /** Forks the child and waits for it to be ready. */
  static async start(log: (line: string) => void): Promise<WsLoadChild> {
    const child = fork(CHILD_ENTRY, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    trackChild(child);
    child.on('message', (message: WsChildReply) => {
      if (message.type === 'progress') log(`  ${message.line}`);
    });
    // 'error' (e.g. a failed kill) must not crash the harness; a pending request still ends on 'exit' or its timeout.
    child.on('error', (error) => log(`  ws load client: ${error.message}`));
    const client = new WsLoadChild(child);
    await client.reply('ready', 30_000);
    return client;
  }

  /** Sends one request and waits for its reply (`expect`), at most `timeoutMs`. */
  request<T extends WsChildReply['type']>(message: WsChildRequest, expect: T, timeoutMs: number): Promise<Reply<T>> {
    if (!this.child.connected) return Promise.reject(new Error(`ws load client is gone; cannot send ${message.type}`));
    const reply = this.reply(expect, timeoutMs);
    // With a callback, a send on a channel that closed meanwhile (Ctrl-C) is reported here,
    // not as an 'error' event; the child is then killed and `reply` rejects on its exit.
    this.child.send(message, (error) => {
      if (error !== null) this.child.kill('SIGKILL');
    });
    return reply;
  }

  async close(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stopChild(this.child);
  }

  /** The next non-progress message, which must be of type `expect`; rejects on error, exit or timeout. */
  private reply<T extends WsChildReply['type']>(expect: T, timeoutMs: number): Promise<Reply<T>> {
    const child = this.child;
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onMessage = (message: WsChildReply): void => {
        if (message.type === 'progress') return;
        cleanup();
        if (message.type === 'error') reject(new Error(`ws load client: ${message.message}`));
        else if (message.type !== expect) reject(new Error(`ws load client sent ${message.type}, expected ${expect}`));
        else resolve(message as Reply<T>);
      };
      const onExit = (code: number | null, signal: string | null): void => {
        cleanup();
        reject(new Error(`ws load client exited (${code ?? signal}) while waiting for ${expect}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        child.kill('SIGKILL');
        reject(new Error(`ws load client: no ${expect} after ${timeoutMs} ms; killed`));
      }, timeoutMs);
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }
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
      const child = await WsLoadChild.start(out.log);
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
