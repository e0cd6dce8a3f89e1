import { fileURLToPath } from 'node:url';
import type { AutocannonChildResult, AutocannonRunMessage } from './autocannon-child.js';
import { LoadChild } from './load-child.js';
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
    const child = await LoadChild.start<AutocannonRunMessage, ChildMessage>(CHILD_ENTRY, 'autocannon child', () => {});
    return {
      async run(url: string, spec: LoadSpec, seconds: number): Promise<LoadResult> {
        const message: AutocannonRunMessage = {
          type: 'run',
          url,
          connections: spec.connections,
          pipelining: spec.pipelining,
          seconds,
        };
        const reply = await child.request(message, 'result', (seconds + OVERRUN_GRACE_SEC) * 1000);
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
      close: () => child.close(),
    };
  },
};
