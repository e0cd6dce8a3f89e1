import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AutocannonChildResult, AutocannonRunMessage } from './autocannon-child.js';
import { stopChild, trackChild } from './processes.js';
import type { GeneratorSession, LoadGenerator, LoadResult, LoadSpec } from './scenario.js';

const CHILD_ENTRY = fileURLToPath(new URL('./autocannon-child.ts', import.meta.url));

/** Extra seconds a window may overrun before the child is declared hung and killed. */
const OVERRUN_GRACE_SEC = 30;

type ChildMessage = { type: 'ready' } | AutocannonChildResult | { type: 'error'; message: string };

/**
 * autocannon in a forked child (single-threaded: no `workers`), one child per session so
 * warm-up and the measured window share a warm JIT while the harness stays idle.
 */
export const autocannonGenerator: LoadGenerator = {
  name: 'autocannon',
  threads: 1,
  async open(): Promise<GeneratorSession> {
    const child = fork(CHILD_ENTRY, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    trackChild(child);
    await nextMessage(child, 30_000, 'ready');
    return {
      async run(url: string, spec: LoadSpec, seconds: number): Promise<LoadResult> {
        const message: AutocannonRunMessage = {
          type: 'run',
          url,
          connections: spec.connections,
          pipelining: spec.pipelining,
          seconds,
        };
        child.send(message);
        const reply = await nextMessage(child, (seconds + OVERRUN_GRACE_SEC) * 1000, 'result');
        if (reply.type !== 'result') throw new Error('unreachable');
        return {
          ops: reply.completed,
          elapsedSec: reply.elapsedSec,
          p50Ms: reply.p50Ms,
          p99Ms: reply.p99Ms,
          non2xx: reply.non2xx,
          errors: reply.errors + reply.timeouts,
          bytes: reply.bytes,
          clientCpuMicros: reply.cpuMicros,
        };
      },
      async close(): Promise<void> {
        if (child.connected) child.disconnect();
        await stopChild(child);
      },
    };
  },
};

/** Waits for the next IPC message of `type`, rejecting on child error/exit or timeout. */
function nextMessage(child: ChildProcess, timeoutMs: number, type: 'ready' | 'result'): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: ChildMessage): void => {
      cleanup();
      if (message.type === 'error') reject(new Error(`autocannon failed: ${message.message}`));
      else if (message.type !== type) reject(new Error(`autocannon child sent ${message.type}, expected ${type}`));
      else resolve(message);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`autocannon child exited (${code ?? signal}) while waiting for ${type}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`autocannon child: no ${type} after ${timeoutMs} ms; killed`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
