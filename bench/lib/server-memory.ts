/**
 * Memory of a server under test, read from outside: RSS from /proc (Linux only), and, when
 * the server runs with `--inspect=127.0.0.1:0`, a forced full GC plus heap numbers through
 * the V8 inspector protocol (slabcast has no GC hook of its own, and the peer gets the same
 * treatment so the two stay comparable).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { ServerTarget } from './processes.js';

/** Resident set size of `pid` in bytes (VmRSS in /proc/<pid>/status, reported in kB). */
export function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status (process gone or a kernel thread?)`);
  return Number(match[1]) * 1024;
}

/**
 * The smallest of `samples` RSS readings `intervalMs` apart. V8 gives pages back lazily after
 * a GC, so the minimum after a settle period is the steadiest estimate of what is really live.
 */
export async function minRssBytes(pid: number, samples: number, intervalMs: number): Promise<number> {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < samples; i++) {
    if (i > 0) await delay(intervalMs);
    min = Math.min(min, readRssBytes(pid));
  }
  return min;
}

/**
 * `target` with the inspector on a free loopback port, so {@link collectGarbage} can reach
 * it. Only node targets (command = this node) can take the flag; others are returned as they are.
 */
export function withInspector(target: ServerTarget): ServerTarget {
  if (target.command !== process.execPath) return target;
  return { ...target, args: (port) => ['--inspect=127.0.0.1:0', ...target.args(port)] };
}

/** The inspector's WebSocket URL from a server's output ("Debugger listening on ws://…"), or null. */
export function inspectorUrl(output: string): string | null {
  const all = [...output.matchAll(/Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/g)];
  return all.at(-1)?.[1] ?? null;
}

/** V8 heap numbers after a forced full GC. */
export interface HeapSample {
  /** JS heap in use (`process.memoryUsage().heapUsed`). */
  readonly heapUsed: number;
  /** Memory of C++ objects bound to JS, ArrayBuffers included (slabs, socket buffers). */
  readonly external: number;
}

/**
 * Forces a full GC in the process behind `url` (CDP `HeapProfiler.collectGarbage`) and reads
 * `process.memoryUsage()` there (`Runtime.evaluate`). The session is closed before returning.
 */
export async function collectGarbage(url: string, timeoutMs = 10_000): Promise<HeapSample> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  const replies = new Map<number, (result: unknown) => void>();
  let nextId = 0;
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve) => {
      const id = ++nextId;
      replies.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown; error?: { message: string } };
    if (message.id === undefined) return; // an event, not a reply
    const resolve = replies.get(message.id);
    replies.delete(message.id);
    resolve?.(message.error === undefined ? message.result : new Error(`inspector: ${message.error.message}`));
  });
  // Every socket error (before or after the upgrade) ends the session through `failed`.
  const failed = new Promise<never>((_, reject) => socket.on('error', reject));
  const session = (async (): Promise<HeapSample> => {
    await new Promise<void>((resolve) => socket.once('open', resolve));
    await call('HeapProfiler.collectGarbage');
    const reply = (await call('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    })) as { result?: { value?: string } } | Error;
    if (reply instanceof Error) throw reply;
    const usage = JSON.parse(reply.result?.value ?? '{}') as { heapUsed?: number; external?: number };
    if (typeof usage.heapUsed !== 'number' || typeof usage.external !== 'number') {
      throw new Error(`inspector: unexpected process.memoryUsage() reply ${JSON.stringify(reply)}`);
    }
    return { heapUsed: usage.heapUsed, external: usage.external };
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`inspector: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([session, failed, timeout]);
  } finally {
    clearTimeout(timer);
    socket.terminate();
  }
}
